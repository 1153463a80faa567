-- A study's protocol: the parts beyond the settings while it is a draft; once registered, the
-- canonical document and its SHA-256.
CREATE TABLE protocols (
    study_id TEXT PRIMARY KEY REFERENCES studies(id) ON DELETE CASCADE,
    draft TEXT NOT NULL,
    document TEXT,
    sha256 TEXT,
    registered_at TIMESTAMP,
    registered_by TEXT REFERENCES researchers(id) ON DELETE SET NULL
);
-- Changes after registration, each with its reason and the amended document's hash.
CREATE TABLE protocol_amendments (
    id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    at TIMESTAMP NOT NULL,
    reason TEXT NOT NULL,
    changes TEXT NOT NULL,
    document TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    amended_by TEXT REFERENCES researchers(id) ON DELETE SET NULL
);
CREATE INDEX protocol_amendments_study ON protocol_amendments (study_id, at);
-- What only the researchers can say, for the reporting checklist.
ALTER TABLE studies ADD COLUMN rationale TEXT NOT NULL DEFAULT '';
ALTER TABLE studies ADD COLUMN panel_size_rationale TEXT NOT NULL DEFAULT '';
ALTER TABLE studies ADD COLUMN limitations TEXT NOT NULL DEFAULT '';
ALTER TABLE studies ADD COLUMN funding_and_interests TEXT NOT NULL DEFAULT '';
