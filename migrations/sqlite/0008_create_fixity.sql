-- Fixity: `verified_at` (already on blobs) is when a blob's bytes were last re-hashed and
-- found to match its key; these say when they did not, and why. A failing blob is flagged and
-- reported, never deleted or served as if nothing were wrong.
ALTER TABLE blobs ADD COLUMN fixity_failed_at BIGINT;
ALTER TABLE blobs ADD COLUMN fixity_error TEXT;
CREATE INDEX blobs_by_verified ON blobs (verified_at);
