-- One index fewer per new submission (issue #8), as SQLite's 0013 did: every query and every foreign key reaches a
-- submission by (org_id, id), so the primary key on id alone was an index written on every insert and never read.
-- (org_id, id) becomes the primary key in place of both it and the unique constraint on (org_id, id); the three
-- foreign keys that name that constraint are dropped first and made again on the new key (each checks its rows
-- again). The table keeps a primary key for the tools that need one (logical replication's replica identity,
-- pg_repack). A submission id stays unique across organisations: ids are random (UUIDv7) and made by the server,
-- and every submission's revisions are keyed by (submission_id, revision) alone.
ALTER TABLE submission_revisions DROP CONSTRAINT submission_revisions_org_id_submission_id_fkey;
ALTER TABLE submission_index DROP CONSTRAINT submission_index_org_id_submission_id_fkey;
ALTER TABLE files DROP CONSTRAINT files_org_id_submission_id_fkey;
ALTER TABLE submissions
    DROP CONSTRAINT submissions_pkey,
    DROP CONSTRAINT submissions_org_id_id_key,
    ADD PRIMARY KEY (org_id, id);
ALTER TABLE submission_revisions ADD CONSTRAINT submission_revisions_org_id_submission_id_fkey
    FOREIGN KEY (org_id, submission_id) REFERENCES submissions (org_id, id) ON DELETE CASCADE;
ALTER TABLE submission_index ADD CONSTRAINT submission_index_org_id_submission_id_fkey
    FOREIGN KEY (org_id, submission_id) REFERENCES submissions (org_id, id) ON DELETE CASCADE;
ALTER TABLE files ADD CONSTRAINT files_org_id_submission_id_fkey
    FOREIGN KEY (org_id, submission_id) REFERENCES submissions (org_id, id) ON DELETE CASCADE;
