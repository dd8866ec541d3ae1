-- Issue 21: a member's campus sign-on (CAS; OpenID Connect to come), the people who sign in
-- with it, tokens that belong to a person and may expire, and sessions that end when idle
-- or when the campus sign-on says so (single logout).

-- One sign-on per member. `settings` is the protocol's JSON (a client secret included,
-- never answered back); `staff_rules` the JSON list of rules that make people staff.
CREATE TABLE identity_providers (
    member_id    BIGINT PRIMARY KEY REFERENCES members(id),
    kind         TEXT NOT NULL CHECK (kind IN ('cas', 'oidc')),
    settings     TEXT NOT NULL,
    staff_rules  TEXT NOT NULL,
    readers      BOOLEAN NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- Staff who signed in through a member's sign-on: the role the rules gave them at their last
-- sign-in, and the role an admin granted (the higher of the two applies). Readers are never
-- stored here.
CREATE TABLE people (
    id               INTEGER PRIMARY KEY,
    member_id        BIGINT NOT NULL REFERENCES members(id),
    subject          TEXT NOT NULL,
    display_name     TEXT,
    rule_role        TEXT CHECK (rule_role IN ('librarian', 'admin')),
    granted_role     TEXT CHECK (granted_role IN ('librarian', 'admin')),
    created_at       BIGINT NOT NULL,
    last_sign_in_at  BIGINT NOT NULL,
    UNIQUE (member_id, subject)
);

-- A token is an operator's (made with the CLI), a person's own (made on their page), or the
-- one a person's sign-on sessions act through; personal tokens expire.
ALTER TABLE tokens ADD COLUMN person_id BIGINT REFERENCES people(id);
ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'operator'
    CHECK (kind IN ('operator', 'personal', 'sign-on'));
ALTER TABLE tokens ADD COLUMN expires_at BIGINT;
-- A personal token's owner: the token (operator's or sign-on) it was made with.
ALTER TABLE tokens ADD COLUMN made_by BIGINT REFERENCES tokens(id);

-- Sessions end after an idle time as well as at expires_at (existing sessions, seen at 0,
-- end at once), and a session opened by a CAS ticket remembers the ticket's hash so that the
-- CAS server's logoutRequest can end it.
ALTER TABLE staff_sessions ADD COLUMN last_seen_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE staff_sessions ADD COLUMN sso_ticket TEXT;
CREATE INDEX staff_sessions_by_ticket ON staff_sessions (sso_ticket);

-- A reader signed in with their library's sign-on: only the member it names (for access and
-- for COUNTER's institution), never who they are.
CREATE TABLE reader_sessions (
    id_hash       TEXT PRIMARY KEY,
    member_id     BIGINT NOT NULL REFERENCES members(id),
    sso_ticket    TEXT,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX reader_sessions_by_ticket ON reader_sessions (sso_ticket);
CREATE INDEX reader_sessions_by_expiry ON reader_sessions (expires_at);
