DROP TABLE minority_statements;
ALTER TABLE rounds DROP COLUMN feedback_by_group;
ALTER TABLE studies DROP COLUMN groups_by;
