-- One row per searched disc with what a list of results shows and sorts by (issue 22): its
-- member, whether it is open, its number in a set, its content class and the title it is shown
-- under (the first linked record's, else the label, else the file name). A query matching a
-- thousand discs then reads one row each for its count, facets and order, not the disc, its
-- image, its links and their records. Written by the search refresh in the same transaction as
-- the search text (a disc's facts change only when it is linked or its image indexed, both of
-- which refresh it); filled here for the discs already searched.
CREATE TABLE search_discs (
    disc_id        BIGINT PRIMARY KEY,
    member_id      BIGINT NOT NULL,
    is_open        BOOLEAN NOT NULL,
    disc_number    BIGINT NOT NULL,
    content_class  TEXT,
    title          TEXT NOT NULL
);
INSERT INTO search_discs (disc_id, member_id, is_open, disc_number, content_class, title)
SELECT d.id, d.member_id, d.is_open, d.disc_number, i.content_class,
       COALESCE((SELECT r.title FROM disc_links l JOIN bib_records r ON r.id = l.bib_record_id
                 WHERE l.disc_id = d.id AND l.state = 'linked' ORDER BY r.id LIMIT 1),
                d.label, d.filename)
FROM discs d LEFT JOIN images i ON i.sha256 = d.sha256
WHERE d.searched_at IS NOT NULL;
