-- As on SQLite (see its 0011): the audit search walks an organisation's entries newest first on (org_id, seq) and
-- stops at its limit; its optional filters (`$3 IS NULL OR actor_id = $3`) keep a cached generic plan from using the
-- actor or target index, and the random target hash cost every entry an index page of its own. Nothing reads a
-- form's submissions by creation time: the inbox, the count and the export use (org_id, form_id, id).
DROP INDEX audit_events_by_target;
DROP INDEX audit_events_by_actor;
DROP INDEX audit_events_by_org;
CREATE INDEX audit_events_by_org ON audit_events (org_id, seq);
DROP INDEX submissions_by_form;
