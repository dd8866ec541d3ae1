-- Environments for running discs in the browser (v86): an operating system's boot disk an
-- admin uploaded (a blob like any other, kept while an environment names it), its licence
-- note, and the members whose discs may be run in it.
CREATE TABLE environments (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    licence     TEXT NOT NULL,
    sha256      TEXT NOT NULL REFERENCES blobs (sha256),
    disk        TEXT NOT NULL,
    memory_mib  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX environments_by_sha ON environments (sha256);

CREATE TABLE environment_members (
    environment TEXT NOT NULL REFERENCES environments (code) ON DELETE CASCADE,
    member_id   BIGINT NOT NULL REFERENCES members (id),
    PRIMARY KEY (environment, member_id)
);
CREATE INDEX environment_members_by_member ON environment_members (member_id);
