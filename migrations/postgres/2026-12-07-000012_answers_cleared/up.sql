-- A report quotes the comments the researchers cleared, a few of a round's answers: found by
-- this index instead of reading the whole round.
CREATE INDEX answers_cleared ON answers(round_id) WHERE comment_cleared_at IS NOT NULL;
