-- Fewer indexes for every new submission to update (issue #8), keeping every one a query uses (checked with
-- EXPLAIN QUERY PLAN on the statements in queries.rs and native_api.rs).
--
-- The audit search (an organisation's entries, newest first, filtered by action, actor, target or time) is written
-- with optional filters (`$3 IS NULL OR actor_id = $3`), so SQLite's planner never chose the actor or target index
-- for it: it read every entry of the organisation through (org_id, at) and sorted them. On (org_id, seq) it walks
-- the entries newest first and stops at its limit, with no sort. The target hash is random, so its index also cost
-- every entry a page write of its own.
DROP INDEX audit_events_by_target;
DROP INDEX audit_events_by_actor;
DROP INDEX audit_events_by_org;
CREATE INDEX audit_events_by_org ON audit_events (org_id, seq);

-- The inbox, the count and the export read a form's submissions through (org_id, form_id, id) (0004); nothing reads
-- them by creation time.
DROP INDEX submissions_by_form;
