ALTER TABLE answer_changes DROP COLUMN kept;
ALTER TABLE candidates DROP COLUMN decline_category;
DROP INDEX themes_active_number;
DROP INDEX categories_live_code;
ALTER TABLE participation_tokens DROP COLUMN purpose;

DROP INDEX codings_coder;
ALTER TABLE codings DROP CONSTRAINT codings_coder_id_fkey;
DELETE FROM codings WHERE coder_id IN (SELECT id FROM coders WHERE researcher_id IS NULL);
UPDATE codings SET coder_id = k.researcher_id FROM coders k WHERE k.id = codings.coder_id;
ALTER TABLE codings ADD CONSTRAINT codings_coder_id_fkey
    FOREIGN KEY (coder_id) REFERENCES researchers(id) ON DELETE CASCADE;
DROP TABLE coders;
