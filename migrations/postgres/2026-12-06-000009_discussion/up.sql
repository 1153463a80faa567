-- Anonymous discussion per theme of an open round: posts under a handle random per panellist
-- and thread, held for a researcher's approval unless the study moderates afterwards.
ALTER TABLE studies ADD COLUMN discussion TEXT NOT NULL DEFAULT 'moderated';
CREATE TABLE posts (
    id TEXT PRIMARY KEY,
    round_id TEXT NOT NULL REFERENCES rounds(id) ON DELETE CASCADE,
    theme_id TEXT NOT NULL REFERENCES themes(id) ON DELETE CASCADE,
    panellist_id TEXT REFERENCES panellists(id) ON DELETE SET NULL,
    facilitator_id TEXT REFERENCES researchers(id) ON DELETE SET NULL,
    reply_to TEXT REFERENCES posts(id) ON DELETE SET NULL,
    text TEXT NOT NULL,
    state TEXT NOT NULL,
    hidden_reason TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    published_at TIMESTAMP,
    published_seq INTEGER,
    cleared_at TIMESTAMP
);
CREATE INDEX posts_thread ON posts (round_id, theme_id, published_seq);
CREATE TABLE post_handles (
    round_id TEXT NOT NULL REFERENCES rounds(id) ON DELETE CASCADE,
    theme_id TEXT NOT NULL REFERENCES themes(id) ON DELETE CASCADE,
    panellist_id TEXT NOT NULL REFERENCES panellists(id) ON DELETE CASCADE,
    handle INTEGER NOT NULL,
    PRIMARY KEY (round_id, theme_id, panellist_id),
    UNIQUE (round_id, theme_id, handle)
);
-- Panellists who asked for the daily digest of new posts, and when it last went out.
CREATE TABLE discussion_digests (
    panellist_id TEXT PRIMARY KEY REFERENCES panellists(id) ON DELETE CASCADE,
    last_sent_at TIMESTAMP
);
