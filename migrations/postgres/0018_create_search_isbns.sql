-- A disc's ISBN in each form it is searched by (ISBN-13, and ISBN-10 for the 978 prefix), one
-- row each (issue 22): an ISBN query is then a B-tree lookup, not a trigram match of digits
-- that every disc's ISBN shares ("978…", read in full at every size). Kept with the search text
-- by the same refresh; filled here from the search text's ISBN rows.
CREATE TABLE search_isbns (
    isbn     TEXT NOT NULL,
    disc_id  BIGINT NOT NULL,
    PRIMARY KEY (isbn, disc_id)
);
CREATE INDEX search_isbns_by_disc ON search_isbns (disc_id);
INSERT INTO search_isbns (isbn, disc_id)
SELECT DISTINCT k.isbn, s.disc_id
FROM search_text s, unnest(string_to_array(s.text, E'\n')) AS k (isbn)
WHERE s.field = 'isbn' AND k.isbn <> '';
