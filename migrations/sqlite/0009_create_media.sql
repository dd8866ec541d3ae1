-- Played media: HLS segments transcoded from a disc's titles, kept in the blob store under
-- their own SHA-256 and found here by (image, title, profile, segment); `used_at` orders them
-- for least-recently-used eviction. A segment row is written only once its bytes are stored.
CREATE TABLE media_segments (
    image_sha256 TEXT NOT NULL,
    title BIGINT NOT NULL,
    profile TEXT NOT NULL,
    n BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    used_at BIGINT NOT NULL,
    PRIMARY KEY (image_sha256, title, profile, n)
);
CREATE INDEX media_segments_by_use ON media_segments (used_at);
CREATE INDEX media_segments_by_sha ON media_segments (sha256);

-- Durations ffprobe found for titles whose index has none (a data disc's WMV, RM, AVI…).
-- Only what was found is kept: a failure is remembered in memory for a while, never here.
CREATE TABLE media_probes (
    image_sha256 TEXT NOT NULL,
    title BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    probed_at BIGINT NOT NULL,
    PRIMARY KEY (image_sha256, title)
);
