-- Inbox and export pages walk a form's submissions by id (UUIDv7, so in time order): this index lets each page start
-- where the last one ended instead of scanning from the first submission.
CREATE INDEX submissions_by_form_id ON submissions (org_id, form_id, id);
