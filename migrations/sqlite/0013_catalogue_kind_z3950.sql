-- Issue 20: a member's catalogue may speak Z39.50 as well as SRU. SQLite cannot change a
-- CHECK in place, so the table is rebuilt with the same columns and rows.

CREATE TABLE catalogues_new (
    member_id          BIGINT PRIMARY KEY REFERENCES members(id),
    kind               TEXT NOT NULL CHECK (kind IN ('sru', 'z3950')),
    settings           TEXT NOT NULL,
    opac_record_url    TEXT,
    oai_settings       TEXT,
    oai_harvested_to   TEXT,
    updated_at         BIGINT NOT NULL
);

INSERT INTO catalogues_new (member_id, kind, settings, opac_record_url, oai_settings,
                            oai_harvested_to, updated_at)
SELECT member_id, kind, settings, opac_record_url, oai_settings, oai_harvested_to, updated_at
FROM catalogues;

DROP TABLE catalogues;
ALTER TABLE catalogues_new RENAME TO catalogues;
