-- What readers search: each disc's titles (every linked record's, in every script, and the
-- librarian's label), authors, ISBNs in both forms, barcode and the names of the files on it.
-- SQLite: an FTS5 table with the trigram tokenizer, so LIKE '%…%' finds any substring,
-- Chinese included. A disc is searched again once it is linked or read after `searched_at`.

ALTER TABLE discs ADD COLUMN searched_at BIGINT;

CREATE VIRTUAL TABLE search_text USING fts5(
    disc_id UNINDEXED,
    field UNINDEXED,
    text,
    tokenize = 'trigram'
);
