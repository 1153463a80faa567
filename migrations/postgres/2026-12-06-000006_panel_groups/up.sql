-- The stratum whose values are the study's panel groups (locked with the consensus rule).
ALTER TABLE studies ADD COLUMN groups_by TEXT;
-- A feedback round may show each group's distribution beside the whole panel's.
ALTER TABLE rounds ADD COLUMN feedback_by_group BOOLEAN NOT NULL DEFAULT FALSE;
-- A researcher's written account of a theme's minority view, carried by the round's report.
CREATE TABLE minority_statements (
    round_id TEXT NOT NULL REFERENCES rounds(id) ON DELETE CASCADE,
    theme_id TEXT NOT NULL REFERENCES themes(id) ON DELETE CASCADE,
    statement TEXT NOT NULL,
    written_by TEXT REFERENCES researchers(id) ON DELETE SET NULL,
    written_at TIMESTAMP NOT NULL,
    PRIMARY KEY (round_id, theme_id)
);
