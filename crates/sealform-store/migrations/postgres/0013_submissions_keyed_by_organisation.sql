-- SQLite's 0013 rebuilds its submissions and blind-index tables WITHOUT ROWID, keyed by organisation. PostgreSQL
-- tables have no rowid; nothing to change here: the file keeps the two backends' migration numbers the same.
SELECT 1;
