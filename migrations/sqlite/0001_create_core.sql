-- Members, staff tokens, content-addressed blobs, resumable uploads and discs.
-- Times are Unix seconds (BIGINT) in both dialects.

CREATE TABLE members (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE tokens (
    id            INTEGER PRIMARY KEY,
    member_id     BIGINT REFERENCES members(id),
    role          TEXT NOT NULL CHECK (role IN ('librarian', 'admin')),
    token_hash    TEXT NOT NULL UNIQUE,
    label         TEXT,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT,
    CHECK ((role = 'admin' AND member_id IS NULL) OR (role = 'librarian' AND member_id IS NOT NULL))
);

CREATE TABLE blobs (
    sha256       TEXT PRIMARY KEY,
    size         BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    verified_at  BIGINT
);

CREATE TABLE uploads (
    id             TEXT PRIMARY KEY,
    token_id       BIGINT NOT NULL REFERENCES tokens(id),
    member_id      BIGINT REFERENCES members(id),
    sha256         TEXT NOT NULL,
    length         BIGINT NOT NULL,
    part_size      BIGINT NOT NULL,
    upload_offset  BIGINT NOT NULL,
    metadata       TEXT NOT NULL,
    filename       TEXT,
    target_kind    TEXT NOT NULL,
    target_id      TEXT NOT NULL,
    hash_state     BLOB NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'complete', 'failed', 'expired', 'terminated')),
    failure        TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    lease_until    BIGINT NOT NULL
);
CREATE INDEX uploads_by_state_expiry ON uploads (state, expires_at);

CREATE TABLE upload_parts (
    upload_id   TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
    part_index  BIGINT NOT NULL,
    receipt     TEXT NOT NULL,
    PRIMARY KEY (upload_id, part_index)
);

CREATE TABLE discs (
    id           INTEGER PRIMARY KEY,
    member_id    BIGINT NOT NULL REFERENCES members(id),
    sha256       TEXT NOT NULL REFERENCES blobs(sha256),
    filename     TEXT NOT NULL,
    label        TEXT,
    isbn         TEXT,
    barcode      TEXT,
    record_id    TEXT,
    disc_number  BIGINT NOT NULL,
    is_open      BOOLEAN NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX discs_by_member_barcode ON discs (member_id, barcode, disc_number);
CREATE INDEX discs_by_sha256 ON discs (sha256);
CREATE INDEX discs_by_isbn ON discs (isbn);
