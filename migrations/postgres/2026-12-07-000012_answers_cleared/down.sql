DROP INDEX answers_cleared;
