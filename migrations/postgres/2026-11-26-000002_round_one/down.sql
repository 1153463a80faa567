DROP TABLE questionnaire_answers;
ALTER TABLE outbox DROP COLUMN attachments;
