-- Background work shared by every node, done once (issue 22). `work_leases` names a job one
-- node at a time runs (the usage rollup): its holder renews it while alive, and another node
-- takes it once `until_ms` has passed. A blob's fixity check is claimed the same way, per
-- blob, so two nodes never re-read the same blob at once and a dead node's claim lapses;
-- `fixity_checks` counts the checks recorded, so a pass that found a blob due takes it only
-- if nobody has checked it since.
CREATE TABLE work_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until_ms BIGINT NOT NULL
);
ALTER TABLE blobs ADD COLUMN fixity_claimed_until BIGINT; -- milliseconds, as until_ms
ALTER TABLE blobs ADD COLUMN fixity_claimed_by TEXT;
ALTER TABLE blobs ADD COLUMN fixity_checks BIGINT NOT NULL DEFAULT 0;
