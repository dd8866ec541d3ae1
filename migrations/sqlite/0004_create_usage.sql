-- Usage statistics (COUNTER R5.1): the members' network ranges readers are attributed by,
-- the daily keys of the pseudonyms (deleted after two days, so no event can be tied to an
-- address afterwards), raw pseudonymous events, the days rolled up, the daily figures, and
-- the SUSHI API keys.

CREATE TABLE member_networks (
    id          INTEGER PRIMARY KEY,
    member_id   BIGINT NOT NULL REFERENCES members(id),
    cidr        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (member_id, cidr)
);

CREATE TABLE usage_keys (
    day     TEXT PRIMARY KEY,
    secret  TEXT NOT NULL
);

-- One row per counted action or refusal. `members` is the attributed members as ",1,5,"
-- ("" when none); the keys are HMACs under the day's key, never an address or a cookie.
CREATE TABLE usage_events (
    id           INTEGER PRIMARY KEY,
    ts_ms        BIGINT NOT NULL,
    action       TEXT NOT NULL,
    disc_id      BIGINT,
    file_path    TEXT,
    url_key      TEXT NOT NULL,
    status       BIGINT NOT NULL,
    members      TEXT NOT NULL,
    dc_key       TEXT NOT NULL,
    dc_key_prev  TEXT,
    session_key  TEXT NOT NULL,
    robot        BOOLEAN NOT NULL,
    access_type  TEXT NOT NULL
);
CREATE INDEX usage_events_by_time ON usage_events (ts_ms);

CREATE TABLE usage_days (
    day        TEXT PRIMARY KEY,
    events     BIGINT NOT NULL,
    rolled_at  BIGINT NOT NULL
);

-- member_id: a member; 0 the consortium (attributed usage, each event once); -1 usage no
-- member is attributed (open discs read from elsewhere).
CREATE TABLE usage_daily (
    day             TEXT NOT NULL,
    member_id       BIGINT NOT NULL,
    disc_id         BIGINT NOT NULL,
    data_type       TEXT NOT NULL,
    access_type     TEXT NOT NULL,
    yop             TEXT NOT NULL,
    tii             BIGINT NOT NULL,
    tir             BIGINT NOT NULL,
    uii             BIGINT NOT NULL,
    uir             BIGINT NOT NULL,
    no_license      BIGINT NOT NULL,
    limit_exceeded  BIGINT NOT NULL,
    views           BIGINT NOT NULL,
    downloads       BIGINT NOT NULL,
    launches        BIGINT NOT NULL,
    PRIMARY KEY (day, member_id, disc_id, data_type, access_type, yop)
);
CREATE INDEX usage_daily_by_member ON usage_daily (member_id, day);

CREATE TABLE usage_searches_daily (
    day        TEXT NOT NULL,
    member_id  BIGINT NOT NULL,
    searches   BIGINT NOT NULL,
    PRIMARY KEY (day, member_id)
);

-- member_id NULL: the consortium's key, good for every member's customer_id.
CREATE TABLE sushi_keys (
    id          INTEGER PRIMARY KEY,
    member_id   BIGINT REFERENCES members(id),
    key_hash    TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
