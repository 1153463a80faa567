ALTER TABLE answer_changes DROP COLUMN kept;
ALTER TABLE candidates DROP COLUMN decline_category;
DROP INDEX themes_active_number;
DROP INDEX categories_live_code;
ALTER TABLE participation_tokens DROP COLUMN purpose;

CREATE TABLE codings_old (
    id TEXT PRIMARY KEY,
    excerpt_id TEXT NOT NULL REFERENCES excerpts(id) ON DELETE CASCADE,
    theme_id TEXT NOT NULL REFERENCES themes(id) ON DELETE CASCADE,
    coder_id TEXT NOT NULL REFERENCES researchers(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (excerpt_id, theme_id, coder_id)
);
INSERT INTO codings_old (id, excerpt_id, theme_id, coder_id, created_at)
SELECT c.id, c.excerpt_id, c.theme_id, k.researcher_id, c.created_at
FROM codings c JOIN coders k ON k.id = c.coder_id
WHERE k.researcher_id IS NOT NULL;
DROP TABLE codings;
ALTER TABLE codings_old RENAME TO codings;
CREATE INDEX codings_theme ON codings(theme_id);
DROP TABLE coders;
