ALTER TABLE studies DROP COLUMN funding_and_interests;
ALTER TABLE studies DROP COLUMN limitations;
ALTER TABLE studies DROP COLUMN panel_size_rationale;
ALTER TABLE studies DROP COLUMN rationale;
DROP TABLE protocol_amendments;
DROP TABLE protocols;
