ALTER TABLE studies DROP COLUMN time_zone;
