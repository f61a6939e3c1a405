-- PostgreSQL's 0012 keeps revision rows out of TOAST; SQLite stores rows up to a page inline already. Nothing to
-- change here: the file keeps the two backends' migration numbers the same.
SELECT 1;
