-- Secrets the nodes of one installation share: `link_secret` signs readers' access links.
-- Made at random by the first node that starts; rotating it ends every link given out.

CREATE TABLE app_secrets (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
