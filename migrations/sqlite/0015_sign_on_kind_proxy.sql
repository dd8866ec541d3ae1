-- Issue 21: a member's sign-on may be a signing-in proxy in front (SAML/CARSI through a
-- Shibboleth SP) as well as CAS and OpenID Connect. SQLite cannot change a CHECK in place,
-- so the table is rebuilt with the same columns and rows.

CREATE TABLE identity_providers_new (
    member_id    BIGINT PRIMARY KEY REFERENCES members(id),
    kind         TEXT NOT NULL CHECK (kind IN ('cas', 'oidc', 'proxy')),
    settings     TEXT NOT NULL,
    staff_rules  TEXT NOT NULL,
    readers      BOOLEAN NOT NULL,
    updated_at   BIGINT NOT NULL
);

INSERT INTO identity_providers_new (member_id, kind, settings, staff_rules, readers, updated_at)
SELECT member_id, kind, settings, staff_rules, readers, updated_at
FROM identity_providers;

DROP TABLE identity_providers;
ALTER TABLE identity_providers_new RENAME TO identity_providers;
