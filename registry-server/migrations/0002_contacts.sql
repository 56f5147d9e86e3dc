-- Contacts: `owner` added `contact` to their list, and so shares their
-- presence (online, offline, last seen) with `contact`. Nobody else sees it.
CREATE TABLE contacts (
    owner     TEXT NOT NULL REFERENCES users (username),
    contact   TEXT NOT NULL REFERENCES users (username),
    added_at  INTEGER NOT NULL,
    PRIMARY KEY (owner, contact)
) STRICT, WITHOUT ROWID;
-- Who shares with a user: read once when that user's push socket connects.
CREATE INDEX contacts_by_contact ON contacts (contact, owner);

-- The retention sweep deletes call records by the time they last changed.
CREATE INDEX calls_by_updated_at ON calls (updated_at);
