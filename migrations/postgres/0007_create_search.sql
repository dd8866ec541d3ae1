-- What readers search: each disc's titles (every linked record's, in every script, and the
-- librarian's label), authors, ISBNs in both forms, barcode and the names of the files on it.
-- PostgreSQL: pg_trgm (a trusted extension: the database's owner may create it) indexes
-- ILIKE '%…%' for any substring, Chinese included. A disc is searched again once it is
-- linked or read after `searched_at`.

ALTER TABLE discs ADD COLUMN searched_at BIGINT;

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE search_text (
    disc_id  BIGINT NOT NULL,
    field    TEXT NOT NULL,
    text     TEXT NOT NULL
);
CREATE INDEX search_text_trgm ON search_text USING gin (text gin_trgm_ops);
CREATE INDEX search_text_by_disc ON search_text (disc_id);
