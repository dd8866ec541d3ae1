-- Which members hold which stored bytes: a member that uploaded an image, or answered a
-- challenge on it from its own copy, may register discs of it. Knowing a SHA-256 is not
-- enough (the hash is shown on disc pages).
CREATE TABLE blob_holders (
    sha256     TEXT NOT NULL,
    member_id  BIGINT NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    since      BIGINT NOT NULL,
    PRIMARY KEY (sha256, member_id)
);

-- Members already hold what they registered or uploaded before this rule.
INSERT INTO blob_holders (sha256, member_id, since)
SELECT DISTINCT sha256, member_id, 0 FROM discs;
INSERT INTO blob_holders (sha256, member_id, since)
SELECT DISTINCT p.part_sha256, d.member_id, 0 FROM image_parts p JOIN discs d ON d.sha256 = p.image_sha256 WHERE true
ON CONFLICT DO NOTHING;
INSERT INTO blob_holders (sha256, member_id, since)
SELECT DISTINCT u.sha256, u.member_id, 0 FROM uploads u
JOIN blobs b ON b.sha256 = u.sha256
WHERE u.member_id IS NOT NULL AND u.state = 'complete'
ON CONFLICT DO NOTHING;

-- A challenge: ranges of a stored blob the member must hash from its own copy. The expected
-- answers are kept (SHA-256 of each range, hex, comma-separated); each challenge is answered
-- once.
CREATE TABLE blob_challenges (
    id          TEXT PRIMARY KEY,
    sha256      TEXT NOT NULL,
    member_id   BIGINT NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    ranges      TEXT NOT NULL,
    expected    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX blob_challenges_by_expiry ON blob_challenges (expires_at);
