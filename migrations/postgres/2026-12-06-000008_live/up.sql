-- Live rating rounds: the snapshots of the panel's figures published while a round runs, and
-- who changed a score since the last snapshot of a theme (a new one needs more than k of them).
ALTER TABLE rounds ADD COLUMN mode TEXT NOT NULL DEFAULT 'classic';
CREATE TABLE live_snapshots (
    id TEXT PRIMARY KEY,
    round_id TEXT NOT NULL REFERENCES rounds(id) ON DELETE CASCADE,
    theme_id TEXT NOT NULL REFERENCES themes(id) ON DELETE CASCADE,
    published_at TIMESTAMP NOT NULL,
    n INTEGER NOT NULL,
    counts TEXT NOT NULL,
    median DOUBLE PRECISION
);
CREATE INDEX live_snapshots_round ON live_snapshots (round_id, theme_id, published_at);
CREATE TABLE live_changes (
    round_id TEXT NOT NULL REFERENCES rounds(id) ON DELETE CASCADE,
    theme_id TEXT NOT NULL REFERENCES themes(id) ON DELETE CASCADE,
    panellist_id TEXT NOT NULL REFERENCES panellists(id) ON DELETE CASCADE,
    at TIMESTAMP NOT NULL,
    PRIMARY KEY (round_id, theme_id, panellist_id)
);
