-- A disc's ISBN in each form it is searched by (ISBN-13, and ISBN-10 for the 978 prefix), one
-- row each (issue 22): an ISBN query is then a B-tree lookup, not a trigram match of digits
-- that every disc's ISBN shares. Kept with the search text by the same refresh; filled here
-- from the search text's ISBN rows (digits and X only, so each row splits as a JSON array).
CREATE TABLE search_isbns (
    isbn     TEXT NOT NULL,
    disc_id  BIGINT NOT NULL,
    PRIMARY KEY (isbn, disc_id)
);
CREATE INDEX search_isbns_by_disc ON search_isbns (disc_id);
INSERT OR IGNORE INTO search_isbns (isbn, disc_id)
SELECT k.value, CAST(s.disc_id AS INTEGER)
FROM search_text s, json_each('["' || replace(s.text, char(10), '","') || '"]') AS k
WHERE s.field = 'isbn' AND k.value <> '';
