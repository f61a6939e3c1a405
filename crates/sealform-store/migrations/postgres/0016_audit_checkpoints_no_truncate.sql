-- The audit checkpoints anchor the chain's tail (a truncated trail shows as a checkpoint past its end), so they are as
-- append-only as the entries: 0001 refused UPDATE and DELETE on them row by row, which TRUNCATE skips, and gave only
-- audit_events a statement trigger against it. Now both have one.
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
