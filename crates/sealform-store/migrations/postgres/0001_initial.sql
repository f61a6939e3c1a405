-- Sealform schema, first cut (DESIGN.md §4). Every tenant table carries org_id; child tables reference their
-- parent through (org_id, id) so a row can never point into another organisation.
-- Keep in step with migrations/sqlite/0001_initial.sql: same tables, same columns, same version number.

CREATE TABLE installation (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    bootstrapped_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE organisations (
    id         UUID PRIMARY KEY,
    name       TEXT NOT NULL,
    name_key   TEXT NOT NULL UNIQUE, -- case-folded name, so "Clinic" and "clinic" cannot both exist
    key_suite  INTEGER NOT NULL,      -- envelope suite for new data keys: 1 hybrid ML-KEM-768+X25519, 2 RSA-OAEP-3072
    mfa_required INTEGER NOT NULL DEFAULT 0, -- 1: members must enrol a second factor before anything else
    created_at TIMESTAMPTZ NOT NULL
);

-- Organisation recipient keys (DESIGN.md §5). The private key is stored only wrapped under the master key, and is
-- destroyed (set NULL) when the key is retired; deleting the organisation deletes its keys (crypto-shredding).
CREATE TABLE org_keys (
    id                  UUID PRIMARY KEY, -- the key id named in every envelope
    org_id              UUID NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    suite               INTEGER NOT NULL,
    public_key          BYTEA NOT NULL,
    wrapped_private_key BYTEA,             -- NULL once retired
    master_fingerprint  BYTEA,             -- which master key wrapped it; NULL once retired
    state               TEXT NOT NULL CHECK (state IN ('active', 'retiring', 'retired')),
    created_at          TIMESTAMPTZ NOT NULL,
    retired_at          TIMESTAMPTZ,
    UNIQUE (org_id, id)
);
CREATE UNIQUE INDEX org_keys_one_active ON org_keys (org_id) WHERE state = 'active';

CREATE TABLE users (
    id                  UUID PRIMARY KEY,
    email               TEXT NOT NULL UNIQUE, -- normalised (lower-case) login
    password_hash       TEXT NOT NULL,        -- argon2id PHC string
    status              TEXT NOT NULL CHECK (status IN ('active', 'deactivated')),
    created_at          TIMESTAMPTZ NOT NULL,
    password_changed_at TIMESTAMPTZ NOT NULL,
    failed_logins       INTEGER NOT NULL DEFAULT 0, -- consecutive failures; reset by a success
    locked_until        TIMESTAMPTZ,                        -- set after too many failures (lockout)
    totp_secret         BYTEA,                      -- TOTP secret wrapped under the master key; NULL: no TOTP
    totp_fp             BYTEA,                      -- which master key wrapped it
    totp_last_step      BIGINT                        -- the last accepted time step (a code works once)
);

-- Password resets: a single-use link valid 30 minutes; only its SHA-256 is stored.
CREATE TABLE password_resets (
    token_hash BYTEA PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);

-- Single-use recovery codes for a lost authenticator; stored as SHA-256.
CREATE TABLE recovery_codes (
    user_id   UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BYTEA NOT NULL,
    used_at   TIMESTAMPTZ,
    PRIMARY KEY (user_id, code_hash)
);

-- Rate-limit counters kept in the database, so a limit holds across nodes (DESIGN.md §1).
CREATE TABLE rate_limits (
    key          TEXT PRIMARY KEY, -- e.g. "login-ip:<keyed hash of the IP>"
    window_start TIMESTAMPTZ NOT NULL,
    count        INTEGER NOT NULL
);

-- Earlier password hashes, so the last ones cannot be reused (DESIGN.md §7).
CREATE TABLE password_history (
    id            UUID PRIMARY KEY, -- UUIDv7: orders entries even when the clock does not move
    user_id       UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX password_history_by_user ON password_history (user_id, id);

CREATE TABLE memberships (
    org_id     UUID NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'form-manager', 'reviewer', 'approver', 'auditor')),
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id);

CREATE TABLE sessions (
    id           BYTEA PRIMARY KEY, -- SHA-256 of the cookie token; the token itself is never stored
    org_id       UUID NOT NULL,
    user_id      UUID NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,            -- absolute timeout
    csrf_token   TEXT NOT NULL,           -- synchroniser token for state-changing requests of this session
    must_change_password INTEGER NOT NULL DEFAULT 0, -- 1: the password expired; only the change page is open
    mfa_pending  INTEGER NOT NULL DEFAULT 0, -- 1: password checked, second factor not yet
    reauthenticated_at TIMESTAMPTZ,            -- last step-up re-authentication, for sensitive actions
    FOREIGN KEY (org_id, user_id) REFERENCES memberships (org_id, user_id) ON DELETE CASCADE
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Invitations: a single-use, expiring link sent by e-mail; only its SHA-256 is stored.
CREATE TABLE invitations (
    id          UUID PRIMARY KEY,
    org_id      UUID NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    role        TEXT NOT NULL,
    token_hash  BYTEA NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    accepted_at TIMESTAMPTZ
);

-- API keys (DESIGN.md §6): shown once, stored as SHA-256 only, found by their visible prefix.
CREATE TABLE api_keys (
    id           UUID PRIMARY KEY,
    org_id       UUID NOT NULL,
    user_id      UUID NOT NULL,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL UNIQUE, -- the visible part, e.g. sf_AB12CD34
    key_hash     BYTEA NOT NULL,      -- SHA-256 of the whole key
    scopes       TEXT NOT NULL,        -- comma-separated: read, submit, write, export, admin
    form_id      UUID,               -- restricted to one form when set
    expires_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (org_id, user_id) REFERENCES memberships (org_id, user_id) ON DELETE CASCADE
);
CREATE INDEX api_keys_by_user ON api_keys (org_id, user_id);

CREATE TABLE forms (
    id              UUID PRIMARY KEY,
    org_id          UUID NOT NULL REFERENCES organisations (id) ON DELETE CASCADE,
    title           TEXT NOT NULL, -- titles are not PHI; answers are
    status          TEXT NOT NULL CHECK (status IN ('draft', 'published', 'unpublished', 'archived')),
    current_version INTEGER,
    index_key       BYTEA NOT NULL, -- the form's blind-index key, wrapped under the master key
    index_key_fp    BYTEA NOT NULL, -- which master key wrapped it
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, id)
);
CREATE INDEX forms_by_org ON forms (org_id, created_at);

CREATE TABLE form_versions (
    org_id     UUID NOT NULL,
    form_id    UUID NOT NULL,
    version    INTEGER NOT NULL,
    definition TEXT NOT NULL, -- the question schema as JSON
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (form_id, version),
    FOREIGN KEY (org_id, form_id) REFERENCES forms (org_id, id) ON DELETE CASCADE
);

CREATE TABLE submissions (
    id               UUID PRIMARY KEY,
    org_id           UUID NOT NULL,
    form_id          UUID NOT NULL,
    form_version     INTEGER NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('new', 'read', 'flagged', 'archived')),
    current_revision INTEGER NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, form_id) REFERENCES forms (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (form_id, form_version) REFERENCES form_versions (form_id, version)
);
CREATE INDEX submissions_by_form ON submissions (org_id, form_id, created_at);

CREATE TABLE submission_revisions (
    org_id        UUID NOT NULL,
    submission_id UUID NOT NULL,
    revision      INTEGER NOT NULL,
    envelope      BYTEA NOT NULL, -- sealed answers (DESIGN.md §5); never plaintext
    wrapped_key   BYTEA NOT NULL, -- the revision's data key, wrapped to the organisation key; deleted to shred
    key_id        UUID NOT NULL, -- the organisation key wrapped_key names, for rotation
    created_by    UUID,           -- staff user id; NULL for the respondent's original
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (submission_id, revision),
    FOREIGN KEY (org_id, submission_id) REFERENCES submissions (org_id, id) ON DELETE CASCADE
);
CREATE INDEX submission_revisions_by_key ON submission_revisions (org_id, key_id);

-- Blind indexes (DESIGN.md §5): keyed hashes of chosen answers for exact-match search, never the answers.
CREATE TABLE submission_index (
    org_id        UUID NOT NULL,
    form_id       UUID NOT NULL,
    field         TEXT NOT NULL,
    digest        BYTEA NOT NULL, -- HMAC-SHA256 under the form's index key, truncated to 16 bytes
    submission_id UUID NOT NULL,
    PRIMARY KEY (org_id, form_id, field, digest, submission_id),
    FOREIGN KEY (org_id, submission_id) REFERENCES submissions (org_id, id) ON DELETE CASCADE
);
CREATE INDEX submission_index_by_submission ON submission_index (org_id, submission_id);

CREATE TABLE files (
    id            UUID PRIMARY KEY,
    org_id        UUID NOT NULL,
    submission_id UUID NOT NULL,
    revision      INTEGER NOT NULL,
    question_id   TEXT NOT NULL,
    object_key    TEXT NOT NULL UNIQUE, -- where the sealed bytes live in the object store
    sealed_size   BIGINT NOT NULL,
    wrapped_key   BYTEA NOT NULL,
    key_id        UUID NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (org_id, submission_id) REFERENCES submissions (org_id, id) ON DELETE CASCADE
);
CREATE INDEX files_by_submission ON files (org_id, submission_id);
CREATE INDEX files_by_key ON files (org_id, key_id);

-- Append-only: no foreign key to organisations, because the trail outlives a deleted organisation (6 years).
CREATE TABLE audit_events (
    seq         BIGINT PRIMARY KEY, -- gapless, assigned inside the appending transaction
    org_id      UUID,               -- NULL for installation-wide events
    at          TIMESTAMPTZ NOT NULL,
    action      TEXT NOT NULL,
    actor_id    UUID,
    outcome     TEXT NOT NULL CHECK (outcome IN ('ok', 'denied', 'error')),
    target_hash BYTEA,              -- keyed hash of the target ids, for search without revealing them
    detail      BYTEA NOT NULL,     -- sealed detail: targets, fields, IP, user agent
    chain_hash  BYTEA NOT NULL      -- HMAC over the previous hash and this entry
);
CREATE INDEX audit_events_by_org ON audit_events (org_id, at);
CREATE INDEX audit_events_by_target ON audit_events (target_hash);
CREATE INDEX audit_events_by_actor ON audit_events (actor_id, at);

-- The head of the chain: every append reads and moves it inside its own transaction (row-locked on PostgreSQL),
-- so concurrent writers, CLI commands and nodes never fork the chain.
CREATE TABLE audit_head (
    id                     INTEGER PRIMARY KEY CHECK (id = 1),
    seq                    BIGINT NOT NULL,
    chain_hash             BYTEA NOT NULL,
    last_checkpoint_micros BIGINT NOT NULL
);
INSERT INTO audit_head (id, seq, chain_hash, last_checkpoint_micros) VALUES (1, 0, decode(repeat('00', 32), 'hex'), 0);

-- Signed checkpoints (seq, hash, time): a third party holding the public key can check them, and they expose a
-- truncated tail.
CREATE TABLE audit_checkpoints (
    seq        BIGINT PRIMARY KEY,
    chain_hash BYTEA NOT NULL,
    at_micros  BIGINT NOT NULL,
    signature  BYTEA NOT NULL
);

-- The audit keys (chain, detail, target, signing), wrapped under the master key; one set per installation.
CREATE TABLE audit_keyset (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    wrapped       BYTEA NOT NULL,
    fingerprint   BYTEA NOT NULL,
    verifying_key BYTEA NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

CREATE TABLE jobs (
    id           UUID PRIMARY KEY,
    org_id       UUID REFERENCES organisations (id) ON DELETE CASCADE, -- NULL for installation-wide jobs
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL, -- JSON with ids only, never PHI
    state        TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    run_at       TIMESTAMPTZ NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    locked_by    TEXT,
    locked_until TIMESTAMPTZ,
    last_error   TEXT,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX jobs_due ON jobs (state, run_at);

CREATE TRIGGER audit_checkpoints_no_change BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
