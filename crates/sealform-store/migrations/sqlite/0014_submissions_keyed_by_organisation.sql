-- PostgreSQL's 0014 drops the primary key on a submission's id alone; SQLite's 0013 already keys the table by
-- (org_id, id). Nothing to change here: the file keeps the two backends' migration numbers the same.
SELECT 1;
