-- A study's clock: every time a person reads or types is on it. Studies made before it existed
-- were Danish.
ALTER TABLE studies ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'Europe/Copenhagen';
