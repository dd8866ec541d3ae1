-- Issue 21: a member's sign-on may be a signing-in proxy in front (SAML/CARSI through a
-- Shibboleth SP) as well as CAS and OpenID Connect.

ALTER TABLE identity_providers DROP CONSTRAINT identity_providers_kind_check;
ALTER TABLE identity_providers ADD CONSTRAINT identity_providers_kind_check
    CHECK (kind IN ('cas', 'oidc', 'proxy'));
