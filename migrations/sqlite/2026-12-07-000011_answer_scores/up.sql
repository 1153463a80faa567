-- A report reads every score of a round (and the round before) in panellist and theme order,
-- and counts who answered each round: with the score and "don't know" in the index it reads
-- the index alone, not each answer's row with its texts.
CREATE INDEX answers_round_scores ON answers(round_id, panellist_id, theme_id, score, dont_know);
