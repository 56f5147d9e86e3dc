-- Accounts: one identity key per username, first come first served.
CREATE TABLE users (
    username        TEXT PRIMARY KEY NOT NULL,
    identity_key    BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    key_updated_at  INTEGER NOT NULL,
    last_seen       INTEGER
) STRICT;

-- Call-signaling records. The signed offer/answer blobs are relayed from
-- memory and never stored: after a call is set up nobody needs them.
CREATE TABLE calls (
    call_id     TEXT PRIMARY KEY NOT NULL,
    caller      TEXT NOT NULL,
    callee      TEXT NOT NULL,
    state       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    ended_by    TEXT
) STRICT;
CREATE INDEX calls_caller ON calls (caller, created_at);
CREATE INDEX calls_callee ON calls (callee, created_at);

-- Server secrets (the token MAC key), created once on first start.
CREATE TABLE secrets (
    name   TEXT PRIMARY KEY NOT NULL,
    value  BLOB NOT NULL
) STRICT;
