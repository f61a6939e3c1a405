-- SQLite's 0015 rewrites two CHECK constraints that it evaluated through a temporary b-tree on every insert;
-- PostgreSQL checks `x IN (...)` against an array in place. Nothing to change here: the file keeps the two backends'
-- migration numbers the same.
SELECT 1;
