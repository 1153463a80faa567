DROP INDEX answers_round_scores;
