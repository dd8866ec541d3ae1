-- Disc-image indexes: one per stored image (a disc that ten members own is indexed once).
-- A CUE sheet's image lists the BIN files it names as parts. Files keep their extents so that
-- browsing and single-file download cost one database read plus ranged reads of the image.

CREATE TABLE images (
    sha256         TEXT PRIMARY KEY REFERENCES blobs(sha256),
    status         TEXT NOT NULL CHECK (status IN ('pending', 'indexing', 'indexed', 'failed')),
    attempts       BIGINT NOT NULL DEFAULT 0,
    lease_until    BIGINT NOT NULL DEFAULT 0,
    error_code     TEXT,
    error          TEXT,
    formats        TEXT,
    view           TEXT,
    volume_label   TEXT,
    bootable       BOOLEAN NOT NULL DEFAULT FALSE,
    file_count     BIGINT,
    dir_count      BIGINT,
    files_size     BIGINT,
    launch_path    TEXT,
    content_class  TEXT,
    layout         TEXT,
    index_millis   BIGINT,
    ranged_reads   BIGINT,
    indexed_at     BIGINT,
    created_at     BIGINT NOT NULL
);
CREATE INDEX images_by_status ON images (status, lease_until);

CREATE TABLE image_parts (
    image_sha256  TEXT NOT NULL REFERENCES images(sha256) ON DELETE CASCADE,
    position      BIGINT NOT NULL,
    name          TEXT NOT NULL,
    part_sha256   TEXT NOT NULL REFERENCES blobs(sha256),
    PRIMARY KEY (image_sha256, position)
);

CREATE TABLE image_files (
    image_sha256  TEXT NOT NULL REFERENCES images(sha256) ON DELETE CASCADE,
    path          TEXT NOT NULL,
    dir           TEXT NOT NULL,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('file', 'dir', 'symlink')),
    size          BIGINT NOT NULL,
    mtime         BIGINT,
    source        BIGINT NOT NULL,
    extents       TEXT NOT NULL,
    target        TEXT,
    PRIMARY KEY (image_sha256, path)
);
CREATE INDEX image_files_by_dir ON image_files (image_sha256, dir);

-- Discs registered before images were read: queue their images once.
INSERT INTO images (sha256, status, created_at)
SELECT DISTINCT sha256, 'pending', 0 FROM discs;
