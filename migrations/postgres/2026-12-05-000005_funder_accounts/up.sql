-- Read-only accounts for funders who follow several studies: the reports shared with them, as
-- a funder link shows them, and nothing else. Apart from researchers' accounts on purpose: no
-- session or check of one kind can ever stand for the other.
CREATE TABLE funders (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    -- Empty until the funder sets a password through the link in their invitation.
    password_hash TEXT,
    locale TEXT NOT NULL DEFAULT 'da',
    -- The link that sets the password, while it works.
    setup_token_hash TEXT UNIQUE,
    setup_expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    disabled_at TIMESTAMP
);

CREATE TABLE funder_sessions (
    id TEXT PRIMARY KEY,
    funder_id TEXT NOT NULL REFERENCES funders(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL
);
CREATE INDEX funder_sessions_funder ON funder_sessions (funder_id);

-- Which study's report a funder account may read; withdrawn access stays as a record.
CREATE TABLE funder_access (
    study_id TEXT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    funder_id TEXT NOT NULL REFERENCES funders(id) ON DELETE CASCADE,
    granted_by TEXT REFERENCES researchers(id) ON DELETE SET NULL,
    granted_at TIMESTAMP NOT NULL,
    withdrawn_at TIMESTAMP,
    last_viewed_at TIMESTAMP,
    PRIMARY KEY (study_id, funder_id)
);
CREATE INDEX funder_access_funder ON funder_access (funder_id);
