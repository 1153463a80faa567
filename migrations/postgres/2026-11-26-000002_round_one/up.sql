-- Round 1: e-mail attachments (an interview guide, a calendar invitation) and the answers of a
-- written questionnaire, one per panellist and question.
ALTER TABLE outbox ADD COLUMN attachments TEXT NOT NULL DEFAULT '[]';

CREATE TABLE questionnaire_answers (
    id TEXT PRIMARY KEY,
    round_id TEXT NOT NULL REFERENCES rounds(id) ON DELETE CASCADE,
    panellist_id TEXT NOT NULL REFERENCES panellists(id) ON DELETE CASCADE,
    question_id TEXT NOT NULL REFERENCES guide_questions(id) ON DELETE CASCADE,
    text TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (round_id, panellist_id, question_id)
);
