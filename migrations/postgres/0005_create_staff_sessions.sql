-- Staff signed in from a browser: the hash of the session cookie, the token the session was
-- opened with (revoking the token ends its sessions), the form token that guards every
-- form against cross-site requests, and when the session ends.

CREATE TABLE staff_sessions (
    id_hash     TEXT PRIMARY KEY,
    token_id    BIGINT NOT NULL REFERENCES tokens(id),
    csrf        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX staff_sessions_by_expiry ON staff_sessions (expires_at);
