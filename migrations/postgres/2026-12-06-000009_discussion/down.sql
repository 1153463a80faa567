DROP TABLE discussion_digests;
DROP TABLE post_handles;
DROP TABLE posts;
ALTER TABLE studies DROP COLUMN discussion;
