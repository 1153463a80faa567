-- Coders are study-local: a name, linked to a researcher's account only when a member of the
-- team coded. Imported coders (from REFI-QDA projects or archives) are never accounts.
CREATE TABLE coders (
    id TEXT PRIMARY KEY,
    study_id TEXT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    researcher_id TEXT REFERENCES researchers(id) ON DELETE SET NULL,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (study_id, researcher_id)
);
CREATE INDEX coders_study ON coders(study_id);

INSERT INTO coders (id, study_id, researcher_id, name, created_at)
SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2)
             || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2)
             || '-' || hex(randomblob(6))),
       pairs.study_id, pairs.coder_id, r.name, CURRENT_TIMESTAMP
FROM (SELECT DISTINCT t.study_id AS study_id, c.coder_id AS coder_id
      FROM codings c
      JOIN excerpts e ON e.id = c.excerpt_id
      JOIN transcripts t ON t.id = e.transcript_id) AS pairs
JOIN researchers r ON r.id = pairs.coder_id;

CREATE TABLE codings_new (
    id TEXT PRIMARY KEY,
    excerpt_id TEXT NOT NULL REFERENCES excerpts(id) ON DELETE CASCADE,
    theme_id TEXT NOT NULL REFERENCES themes(id) ON DELETE CASCADE,
    coder_id TEXT NOT NULL REFERENCES coders(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (excerpt_id, theme_id, coder_id)
);
INSERT INTO codings_new (id, excerpt_id, theme_id, coder_id, created_at)
SELECT c.id, c.excerpt_id, c.theme_id, k.id, c.created_at
FROM codings c
JOIN excerpts e ON e.id = c.excerpt_id
JOIN transcripts t ON t.id = e.transcript_id
JOIN coders k ON k.study_id = t.study_id AND k.researcher_id = c.coder_id;
DROP TABLE codings;
ALTER TABLE codings_new RENAME TO codings;
CREATE INDEX codings_theme ON codings(theme_id);
CREATE INDEX codings_coder ON codings(coder_id);

-- Coders that earlier imports created as accounts that cannot sign in become names only.
UPDATE coders SET researcher_id = NULL
WHERE researcher_id IN (SELECT id FROM researchers WHERE email LIKE 'imported-%@qda.invalid');

-- A link is either a person's personal link or a one-purpose unsubscribe link.
ALTER TABLE participation_tokens ADD COLUMN purpose TEXT NOT NULL DEFAULT 'access';

-- Two researchers adding the same code or number at once: the database keeps one.
CREATE UNIQUE INDEX categories_live_code ON categories(study_id, upper(code)) WHERE retired_at IS NULL;
CREATE UNIQUE INDEX themes_active_number ON themes(study_id, number) WHERE status = 'active';

-- Why a candidate declined, as one of a few categories that funders may see (the words the
-- candidate wrote stay with the researchers).
ALTER TABLE candidates ADD COLUMN decline_category TEXT;

-- A change of an answer keeps only the texts that changed: `kept` names those that stayed as
-- they were (and are stored empty), so a long comment is not copied at every change of score.
ALTER TABLE answer_changes ADD COLUMN kept TEXT NOT NULL DEFAULT '';
