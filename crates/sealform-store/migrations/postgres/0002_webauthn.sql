-- WebAuthn / passkeys as a second factor (DESIGN.md §7). Keep in step with migrations/sqlite/0002_webauthn.sql.

-- A user's registered credentials. The public key is the COSE key the authenticator sent; the counter must grow
-- with each use whenever it is not zero (a counter that stalls betrays a cloned authenticator).
CREATE TABLE webauthn_credentials (
    id            UUID PRIMARY KEY,             -- UUIDv7
    user_id       UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id BYTEA NOT NULL UNIQUE,         -- as the authenticator chose it
    public_key    BYTEA NOT NULL,                -- COSE key bytes
    sign_count    BIGINT NOT NULL,
    name          TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ
);
CREATE INDEX webauthn_credentials_by_user ON webauthn_credentials (user_id);

-- Challenges issued for a registration or a sign-in: single use, five minutes, bound to the session that asked.
-- Only the SHA-256 of the challenge is stored.
CREATE TABLE webauthn_challenges (
    challenge_hash BYTEA PRIMARY KEY,
    user_id        UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id     BYTEA NOT NULL,                -- the session's token hash
    purpose        TEXT NOT NULL CHECK (purpose IN ('register', 'authenticate')),
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL,
    used           INTEGER NOT NULL DEFAULT 0
);
