-- Counts changes made through any server, so that the reports a server keeps in memory
-- (report::cache) are not served after another server on the same database changed something.
CREATE TABLE change_counter (
    id INTEGER PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO change_counter (id, value) VALUES (1, 0);
