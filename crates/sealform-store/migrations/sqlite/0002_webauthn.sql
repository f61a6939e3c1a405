-- WebAuthn / passkeys as a second factor (DESIGN.md §7). Keep in step with migrations/postgres/0002_webauthn.sql.

-- A user's registered credentials. The public key is the COSE key the authenticator sent; the counter must grow
-- with each use whenever it is not zero (a counter that stalls betrays a cloned authenticator).
CREATE TABLE webauthn_credentials (
    id            BLOB PRIMARY KEY,             -- UUIDv7
    user_id       BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id BLOB NOT NULL UNIQUE,         -- as the authenticator chose it
    public_key    BLOB NOT NULL,                -- COSE key bytes
    sign_count    INTEGER NOT NULL,
    name          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT
) STRICT;
CREATE INDEX webauthn_credentials_by_user ON webauthn_credentials (user_id);

-- Challenges issued for a registration or a sign-in: single use, five minutes, bound to the session that asked.
-- Only the SHA-256 of the challenge is stored.
CREATE TABLE webauthn_challenges (
    challenge_hash BLOB PRIMARY KEY,
    user_id        BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id     BLOB NOT NULL,                -- the session's token hash
    purpose        TEXT NOT NULL CHECK (purpose IN ('register', 'authenticate')),
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    used           INTEGER NOT NULL DEFAULT 0
) STRICT;
