-- Idempotency keys of the native API's submission POSTs (issue #10). One row per organisation, API key and client
-- key; written in the same transaction as the submission it answers for, so a retry after a crash either finds both
-- or neither. Rows hold ids, a keyed digest of the request and the response metadata; never answers.
CREATE TABLE api_idempotency (
    org_id         UUID NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    api_key_id     UUID NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    idem_key       TEXT NOT NULL,
    request_digest BYTEA NOT NULL, -- HMAC under the form's blind-index key of the form id and body
    submission_id  UUID NOT NULL,
    status         INTEGER NOT NULL,
    response       TEXT NOT NULL,   -- the JSON answered: submission metadata only
    created_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, api_key_id, idem_key)
);
-- Expired rows are dropped per organisation by age.
CREATE INDEX api_idempotency_by_age ON api_idempotency (org_id, created_at);
