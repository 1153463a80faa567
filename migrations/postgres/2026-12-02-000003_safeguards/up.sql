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
SELECT gen_random_uuid()::text, pairs.study_id, pairs.coder_id, r.name, now()::timestamp
FROM (SELECT DISTINCT t.study_id AS study_id, c.coder_id AS coder_id
      FROM codings c
      JOIN excerpts e ON e.id = c.excerpt_id
      JOIN transcripts t ON t.id = e.transcript_id) AS pairs
JOIN researchers r ON r.id = pairs.coder_id;

ALTER TABLE codings DROP CONSTRAINT codings_coder_id_fkey;
UPDATE codings SET coder_id = k.id
FROM excerpts e, transcripts t, coders k
WHERE e.id = codings.excerpt_id AND t.id = e.transcript_id
  AND k.study_id = t.study_id AND k.researcher_id = codings.coder_id;
ALTER TABLE codings ADD CONSTRAINT codings_coder_id_fkey
    FOREIGN KEY (coder_id) REFERENCES coders(id) ON DELETE CASCADE;
CREATE INDEX codings_coder ON codings(coder_id);

UPDATE coders SET researcher_id = NULL
WHERE researcher_id IN (SELECT id FROM researchers WHERE email LIKE 'imported-%@qda.invalid');

ALTER TABLE participation_tokens ADD COLUMN purpose TEXT NOT NULL DEFAULT 'access';

CREATE UNIQUE INDEX categories_live_code ON categories(study_id, upper(code)) WHERE retired_at IS NULL;
CREATE UNIQUE INDEX themes_active_number ON themes(study_id, number) WHERE status = 'active';

-- Why a candidate declined, as one of a few categories that funders may see (the words the
-- candidate wrote stay with the researchers).
ALTER TABLE candidates ADD COLUMN decline_category TEXT;

-- A change of an answer keeps only the texts that changed: `kept` names those that stayed as
-- they were (and are stored empty), so a long comment is not copied at every change of score.
ALTER TABLE answer_changes ADD COLUMN kept TEXT NOT NULL DEFAULT '';
