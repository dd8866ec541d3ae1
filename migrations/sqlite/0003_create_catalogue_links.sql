-- Each member's catalogue (its ILS connector and OPAC link template), the bibliographic
-- records fetched from it (raw MARC kept), and the links between discs and records, with
-- how each was found and why it scored as it did. Discs carry their linking status.

CREATE TABLE catalogues (
    member_id          BIGINT PRIMARY KEY REFERENCES members(id),
    kind               TEXT NOT NULL CHECK (kind IN ('sru')),
    settings           TEXT NOT NULL,
    opac_record_url    TEXT,
    oai_settings       TEXT,
    oai_harvested_to   TEXT,
    updated_at         BIGINT NOT NULL
);

CREATE TABLE bib_records (
    id            INTEGER PRIMARY KEY,
    member_id     BIGINT NOT NULL REFERENCES members(id),
    record_id     TEXT NOT NULL,
    flavour       TEXT NOT NULL,
    title         TEXT NOT NULL,
    year          BIGINT,
    isbns         TEXT NOT NULL,
    disc_count    BIGINT NOT NULL,
    disc_kind     TEXT,
    deleted       BOOLEAN NOT NULL,
    summary       TEXT NOT NULL,
    marc          TEXT NOT NULL,
    fetched_at    BIGINT NOT NULL,
    UNIQUE (member_id, record_id)
);
CREATE INDEX bib_records_by_isbns ON bib_records (isbns);

CREATE TABLE disc_links (
    disc_id         BIGINT NOT NULL REFERENCES discs(id),
    bib_record_id   BIGINT NOT NULL REFERENCES bib_records(id),
    state           TEXT NOT NULL CHECK (state IN ('linked', 'review', 'rejected')),
    score           BIGINT NOT NULL,
    method          TEXT NOT NULL,
    query           TEXT NOT NULL,
    explanation     TEXT NOT NULL,
    decided_by      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (disc_id, bib_record_id)
);
CREATE INDEX disc_links_by_record ON disc_links (bib_record_id);

ALTER TABLE discs ADD COLUMN title_hint TEXT;
ALTER TABLE discs ADD COLUMN year_hint BIGINT;
ALTER TABLE discs ADD COLUMN link_status TEXT NOT NULL DEFAULT 'no-catalogue';
ALTER TABLE discs ADD COLUMN link_error TEXT;
ALTER TABLE discs ADD COLUMN link_lease_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE discs ADD COLUMN linked_at BIGINT;
CREATE INDEX discs_by_link_status ON discs (link_status, link_lease_until);
