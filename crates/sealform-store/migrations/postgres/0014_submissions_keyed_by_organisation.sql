-- One index fewer per new submission (issue #8), as SQLite's 0013 did: every query and every foreign key reaches a
-- submission by (org_id, id), so the primary key on id alone is an index that is written on every insert and never
-- read. UNIQUE (org_id, id) stays and is the table's key. A submission id stays unique across organisations: ids
-- are random (UUIDv7) and made by the server, and every submission's revisions are keyed by (submission_id,
-- revision) alone.
ALTER TABLE submissions DROP CONSTRAINT submissions_pkey;
