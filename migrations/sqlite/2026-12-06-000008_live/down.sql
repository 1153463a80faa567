DROP TABLE live_changes;
DROP TABLE live_snapshots;
ALTER TABLE rounds DROP COLUMN mode;
