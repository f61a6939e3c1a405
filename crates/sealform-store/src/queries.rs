//! The statements both backends share. SQLite and PostgreSQL read the same `$n` placeholders and column sets, so
//! each function is written once here and instantiated per backend by [`shared_queries!`]; only the few statements
//! whose locking differs take a backend-specific fragment. Write functions take a connection that is already inside
//! a transaction; read functions take the pool.

/// Instantiates the shared statements for one backend.
/// `$lock_share` / `$lock_update` are `""` on SQLite (whose single writer already serialises writes) and
/// `" FOR SHARE"` / `" FOR UPDATE"` on PostgreSQL; `$instant` and `$bound` are the backend's pair from
/// [`crate::instants`], for time filters.
macro_rules! shared_queries {
    ($Conn:ty, $Pool:ty, $lock_share:literal, $lock_update:literal, $instant:ident, $bound:path) => {
        use sealform_core::api_keys::{ApiKeyRecord, ApiRateLimit, NewApiKey};
        use sealform_core::audit::{AuditQuery, AuditRow, ChainHead, CheckpointRow, PendingAudit};
        use sealform_core::ids::{FileId, FormId, OrgId, SubmissionId, UserId};
        use sealform_core::invitations::{InvitationRecord, NewInvitation};
        use sealform_core::keys::{
            KeyState, MasterWrapped, MasterWrappedBlob, MasterWrappedRef, NewOrgKey, OrgKeyRecord, RewrapUpdate,
            StoredAuditKeys, WrappedKeyRef,
        };
        use sealform_core::org::{OrgName, Organisation};
        use sealform_core::store::{
            ByMember, KEY_RETIRED, LAST_OWNER, NewOrganisation, NewUser, OWNERS_ONLY, Owner, SUBMISSION_CHANGED,
            SUBMISSION_EXISTS, StoreError,
        };
        use sealform_core::mfa::{MfaCompletion, SecondFactor, TotpEnrolment};
        use sealform_core::password::PasswordHash;
        use sealform_core::resets::{CompletedReset, NewReset};
        use sealform_core::sessions::{NewSession, PasswordChange, SessionRecord};
        use sealform_core::submission::{
            FileRecord, FormChange, FormRecord, NewForm, NewSubmission, Order, SealedRevision, StoredRevision,
            SubmissionQuery, SubmissionStatus, SubmissionSummary,
        };
        use sealform_core::user::{Email, Membership, Role, UserRecord, UserStatus};
        use sealform_core::webauthn::{ChallengePurpose, NewChallenge, WebauthnCredential};
        use sealform_crypto::KeyId;
        use time::OffsetDateTime;
        use uuid::Uuid;

        use $crate::error::{backend, conflict_on_unique};
        use $crate::rows::{
            ApiKeyRow, AuditEventRow, FileRow, FormRow, SealedSummaryRow, SummaryRow, file_columns, form_select, inbox_filter, bind_inbox_filter, summary_columns, InvitationRow, MemberRow, SessionRow, OrgKeyRow, OrgRow, RevisionRow, UserRow, audit_columns, checkpoint_row,
            fingerprint, key_uuid, master_wrapped, membership, name_key, org_columns, org_key_columns,
            revision_columns, user_columns, wrapped_ref,
        };

        // ----- the audit trail -----

        /// The chain head, row-locked until the transaction ends (on PostgreSQL; SQLite's single writer needs no
        /// lock).
        pub(crate) async fn locked_audit_head(conn: &mut $Conn) -> Result<ChainHead, StoreError> {
            let (seq, hash, last_checkpoint_micros): (i64, Vec<u8>, i64) = sqlx::query_as(concat!(
                "SELECT seq, chain_hash, last_checkpoint_micros FROM audit_head WHERE id = 1",
                $lock_update
            ))
            .fetch_one(&mut *conn)
            .await
            .map_err(backend("read audit head"))?;
            let hash: [u8; 32] =
                hash.as_slice().try_into().map_err(|_| StoreError::Corrupt("audit head hash".into()))?;
            Ok(ChainHead { seq, hash, last_checkpoint_micros })
        }

        /// Appends entries after the chain head, which is read under a row lock and moved in this transaction.
        pub(crate) async fn append_audit(conn: &mut $Conn, entries: &[PendingAudit]) -> Result<(), StoreError> {
            if entries.is_empty() {
                return Ok(());
            }
            let mut head = locked_audit_head(conn).await?;
            for entry in entries {
                let sealed = entry.seal(head);
                let row = &sealed.row;
                sqlx::query(
                    "INSERT INTO audit_events \
                     (seq, org_id, at, action, actor_id, outcome, target_hash, detail, chain_hash) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(row.seq)
                .bind(row.org.map(|o| *o.as_uuid()))
                .bind(row.at)
                .bind(&row.action)
                .bind(row.actor_id)
                .bind(&row.outcome)
                .bind(row.target_hash.as_deref())
                .bind(&row.detail)
                .bind(row.chain_hash.as_slice())
                .execute(&mut *conn)
                .await
                .map_err(backend("append audit entry"))?;
                if let Some((checkpoint, signature)) = &sealed.checkpoint {
                    sqlx::query(
                        "INSERT INTO audit_checkpoints (seq, chain_hash, at_micros, signature) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(checkpoint.seq)
                    .bind(checkpoint.hash.as_slice())
                    .bind(checkpoint.at_micros)
                    .bind(signature)
                    .execute(&mut *conn)
                    .await
                    .map_err(backend("append audit checkpoint"))?;
                }
                head = sealed.head;
            }
            sqlx::query("UPDATE audit_head SET seq = $1, chain_hash = $2, last_checkpoint_micros = $3 WHERE id = 1")
                .bind(head.seq)
                .bind(head.hash.as_slice())
                .bind(head.last_checkpoint_micros)
                .execute(&mut *conn)
                .await
                .map_err(backend("move audit head"))?;
            Ok(())
        }

        pub(crate) async fn audit_entries(pool: &$Pool, after: i64, limit: u32) -> Result<Vec<AuditRow>, StoreError> {
            let rows: Vec<AuditEventRow> = sqlx::query_as(concat!(
                "SELECT ",
                audit_columns!(),
                " FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2"
            ))
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(backend("read audit entries"))?;
            rows.into_iter().map(AuditEventRow::into_domain).collect()
        }

        pub(crate) async fn audit_entry(pool: &$Pool, seq: i64) -> Result<Option<AuditRow>, StoreError> {
            let row: Option<AuditEventRow> =
                sqlx::query_as(concat!("SELECT ", audit_columns!(), " FROM audit_events WHERE seq = $1"))
                    .bind(seq)
                    .fetch_optional(pool)
                    .await
                    .map_err(backend("read audit entry"))?;
            row.map(AuditEventRow::into_domain).transpose()
        }

        pub(crate) async fn audit_search(pool: &$Pool, query: AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
            let rows: Vec<AuditEventRow> = sqlx::query_as(concat!(
                "SELECT ",
                audit_columns!(),
                " FROM audit_events WHERE org_id = $1 AND ($2 IS NULL OR action = $2) \
                 AND ($3 IS NULL OR actor_id = $3) AND ($4 IS NULL OR target_hash = $4) \
                 AND ($5 IS NULL OR ",
                $instant!("at"),
                " >= $5) AND ($6 IS NULL OR ",
                $instant!("at"),
                " < $6) ORDER BY seq DESC LIMIT $7"
            ))
            .bind(query.org.as_uuid())
            .bind(query.action.map(|a| a.as_str()))
            .bind(query.actor)
            .bind(query.target_hash.map(|h| h.to_vec()))
            .bind($bound(query.from))
            .bind($bound(query.to))
            .bind(i64::from(query.limit))
            .fetch_all(pool)
            .await
            .map_err(backend("search audit entries"))?;
            rows.into_iter().map(AuditEventRow::into_domain).collect()
        }

        pub(crate) async fn audit_checkpoints(pool: &$Pool) -> Result<Vec<CheckpointRow>, StoreError> {
            let rows: Vec<(i64, Vec<u8>, i64, Vec<u8>)> =
                sqlx::query_as("SELECT seq, chain_hash, at_micros, signature FROM audit_checkpoints ORDER BY seq")
                    .fetch_all(pool)
                    .await
                    .map_err(backend("read audit checkpoints"))?;
            rows.into_iter().map(checkpoint_row).collect()
        }

        pub(crate) async fn audit_keyset(pool: &$Pool) -> Result<Option<StoredAuditKeys>, StoreError> {
            let row: Option<(Vec<u8>, Vec<u8>, Vec<u8>)> =
                sqlx::query_as("SELECT wrapped, fingerprint, verifying_key FROM audit_keyset WHERE id = 1")
                    .fetch_optional(pool)
                    .await
                    .map_err(backend("read audit keys"))?;
            row.map(|(wrapped, fp, verifying_key)| {
                Ok(StoredAuditKeys {
                    wrapped: MasterWrappedBlob { wrapped, fingerprint: fingerprint(&fp)? },
                    verifying_key,
                })
            })
            .transpose()
        }

        pub(crate) async fn insert_audit_keyset(
            conn: &mut $Conn,
            wrapped: Vec<u8>,
            fingerprint: [u8; 8],
            verifying_key: Vec<u8>,
            at: OffsetDateTime,
        ) -> Result<bool, StoreError> {
            let inserted = sqlx::query(
                "INSERT INTO audit_keyset (id, wrapped, fingerprint, verifying_key, created_at) \
                 VALUES (1, $1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
            )
            .bind(wrapped)
            .bind(fingerprint.as_slice())
            .bind(verifying_key)
            .bind(at)
            .execute(&mut *conn)
            .await
            .map_err(backend("store audit keys"))?;
            Ok(inserted.rows_affected() == 1)
        }

        // ----- API keys -----

        pub(crate) async fn insert_api_key(conn: &mut $Conn, key: NewApiKey, audit: PendingAudit) -> Result<(), StoreError> {
            let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
            sqlx::query(
                "INSERT INTO api_keys (id, org_id, user_id, name, prefix, key_hash, scopes, form_id, expires_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(key.id)
            .bind(key.org.as_uuid())
            .bind(key.user.as_uuid())
            .bind(&key.name)
            .bind(&key.prefix)
            .bind(key.key_hash.as_slice())
            .bind(scopes.join(","))
            .bind(key.form.map(|f| *f.as_uuid()))
            .bind(key.expires_at)
            .bind(key.created_at)
            .execute(&mut *conn)
            .await
            .map_err(conflict_on_unique("store API key", "an API key with this prefix exists already"))?;
            append_audit(conn, &[audit]).await
        }

        pub(crate) async fn api_key_by_prefix(pool: &$Pool, prefix: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
            let row: Option<ApiKeyRow> = sqlx::query_as(
                "SELECT k.id, k.org_id, k.user_id, k.name, k.prefix, k.key_hash, k.scopes, k.form_id, k.expires_at, \
                 k.last_used_at, k.revoked_at, k.created_at, m.role, u.status, o.api_requests_per_minute, \
                 o.api_burst \
                 FROM api_keys k JOIN memberships m ON m.org_id = k.org_id AND m.user_id = k.user_id \
                 JOIN users u ON u.id = k.user_id JOIN organisations o ON o.id = k.org_id WHERE k.prefix = $1",
            )
            .bind(prefix)
            .fetch_optional(pool)
            .await
            .map_err(backend("find API key"))?;
            row.map(ApiKeyRow::into_domain).transpose()
        }

        pub(crate) async fn api_keys_of(pool: &$Pool, org: OrgId, user: UserId) -> Result<Vec<ApiKeyRecord>, StoreError> {
            let rows: Vec<ApiKeyRow> = sqlx::query_as(concat!(
                "SELECT k.id, k.org_id, k.user_id, k.name, k.prefix, k.key_hash, k.scopes, k.form_id, k.expires_at, \
                 k.last_used_at, k.revoked_at, k.created_at, m.role, u.status, o.api_requests_per_minute, \
                 o.api_burst \
                 FROM api_keys k JOIN memberships m ON m.org_id = k.org_id AND m.user_id = k.user_id \
                 JOIN users u ON u.id = k.user_id JOIN organisations o ON o.id = k.org_id WHERE k.org_id = $1 AND k.user_id = $2 ORDER BY ",
                $instant!("k.created_at"),
                " DESC, k.id DESC"
            ))
            .bind(org.as_uuid())
            .bind(user.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(backend("list API keys"))?;
            rows.into_iter().map(ApiKeyRow::into_domain).collect()
        }

        pub(crate) async fn touch_api_key(conn: &mut $Conn, id: Uuid, at: OffsetDateTime) -> Result<(), StoreError> {
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                .bind(at)
                .bind(id)
                .execute(&mut *conn)
                .await
                .map_err(backend("record API key use"))?;
            Ok(())
        }

        pub(crate) async fn revoke_api_key(
            conn: &mut $Conn,
            org: OrgId,
            id: Uuid,
            at: OffsetDateTime,
            audit: PendingAudit,
        ) -> Result<(), StoreError> {
            // A key already revoked keeps its first revocation time; only a key of another organisation is absent.
            let found = sqlx::query(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE org_id = $2 AND id = $3",
            )
            .bind(at)
            .bind(org.as_uuid())
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(backend("revoke API key"))?
            .rows_affected();
            if found == 0 {
                return Err(StoreError::NotFound("no such API key".into()));
            }
            append_audit(conn, &[audit]).await
        }

        // ----- logins and sessions -----

        pub(crate) async fn record_login_failure(
            conn: &mut $Conn,
            user: UserId,
            failed_logins: u32,
            locked_until: Option<OffsetDateTime>,
            audit: Vec<PendingAudit>,
        ) -> Result<(), StoreError> {
            sqlx::query("UPDATE users SET failed_logins = $1, locked_until = $2 WHERE id = $3")
                .bind(i32::try_from(failed_logins).unwrap_or(i32::MAX))
                .bind(locked_until)
                .bind(user.as_uuid())
                .execute(&mut *conn)
                .await
                .map_err(backend("record login failure"))?;
            append_audit(conn, &audit).await
        }

        pub(crate) async fn open_session(conn: &mut $Conn, session: NewSession, audit: PendingAudit) -> Result<(), StoreError> {
            sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1")
                .bind(session.user.as_uuid())
                .execute(&mut *conn)
                .await
                .map_err(backend("open session"))?;
            insert_session(conn, &session).await?;
            append_audit(conn, &[audit]).await
        }

        pub(crate) async fn enrol_totp(conn: &mut $Conn, enrolment: TotpEnrolment, audit: PendingAudit) -> Result<(), StoreError> {
            let user = enrolment.user;
            sqlx::query("UPDATE users SET totp_secret = $1, totp_fp = $2, totp_last_step = $3 WHERE id = $4")
                .bind(&enrolment.secret.wrapped)
                .bind(enrolment.secret.fingerprint.as_slice())
                .bind(i64::try_from(enrolment.last_step).unwrap_or(i64::MAX))
                .bind(user.as_uuid())
                .execute(&mut *conn)
                .await
                .map_err(backend("enrol TOTP"))?;
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                .bind(user.as_uuid())
                .execute(&mut *conn)
                .await
                .map_err(backend("replace recovery codes"))?;
            for hash in &enrolment.recovery_hashes {
                sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                    .bind(user.as_uuid())
                    .bind(hash.as_slice())
                    .execute(&mut *conn)
                    .await
                    .map_err(backend("store recovery code"))?;
            }
            append_audit(conn, &[audit]).await
        }

        pub(crate) async fn complete_mfa(conn: &mut $Conn, completion: MfaCompletion, audit: PendingAudit) -> Result<bool, StoreError> {
            let user = completion.user;
            let consumed = match completion.factor {
                SecondFactor::Totp(step) => sqlx::query(
                    "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
                )
                .bind(i64::try_from(step).unwrap_or(i64::MAX))
                .bind(user.as_uuid()),
                SecondFactor::Recovery(hash) => sqlx::query(
                    "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
                )
                .bind(completion.session.created_at)
                .bind(*user.as_uuid())
                .bind(hash.to_vec()),
                // The counter must grow, unless the authenticator keeps it at 0 (then the single-use challenge is
                // what stops a replay).
                SecondFactor::WebAuthn { credential, sign_count } => sqlx::query(
                    "UPDATE webauthn_credentials SET sign_count = $1, last_used_at = $2 \
                     WHERE id = $3 AND user_id = $4 AND (sign_count < $1 OR (sign_count = 0 AND $1 = 0))",
                )
                .bind(i64::from(sign_count))
                .bind(completion.session.created_at)
                .bind(credential)
                .bind(*user.as_uuid()),
            }
            .execute(&mut *conn)
            .await
            .map_err(backend("check second factor"))?
            .rows_affected()
                == 1;
            if !consumed {
                return Ok(false);
            }
            sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1")
                .bind(user.as_uuid())
                .execute(&mut *conn)
                .await
                .map_err(backend("complete login"))?;
            sqlx::query("DELETE FROM sessions WHERE id = $1")
                .bind(completion.pending_session.as_slice())
                .execute(&mut *conn)
                .await
                .map_err(backend("complete login"))?;
            let session = completion.session;
            insert_session(conn, &session).await?;
            append_audit(conn, &[audit]).await?;
            Ok(true)
        }

        // ----- WebAuthn -----

        pub(crate) async fn insert_webauthn_challenge(conn: &mut $Conn, challenge: NewChallenge) -> Result<(), StoreError> {
            sqlx::query("DELETE FROM webauthn_challenges WHERE expires_at < $1")
                .bind(challenge.created_at)
                .execute(&mut *conn)
                .await
                .map_err(backend("drop expired WebAuthn challenges"))?;
            sqlx::query(
                "INSERT INTO webauthn_challenges (challenge_hash, user_id, session_id, purpose, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(challenge.hash.as_slice())
            .bind(challenge.user.as_uuid())
            .bind(challenge.session.as_slice())
            .bind(challenge.purpose.as_str())
            .bind(challenge.created_at)
            .bind(challenge.expires_at)
            .execute(&mut *conn)
            .await
            .map_err(backend("store WebAuthn challenge"))?;
            Ok(())
        }

        pub(crate) async fn take_webauthn_challenge(
            conn: &mut $Conn,
            hash: [u8; 32],
            purpose: ChallengePurpose,
            session: [u8; 32],
            user: UserId,
            now: OffsetDateTime,
        ) -> Result<bool, StoreError> {
            let taken = sqlx::query(
                "UPDATE webauthn_challenges SET used = 1 WHERE challenge_hash = $1 AND purpose = $2 \
                 AND session_id = $3 AND user_id = $4 AND used = 0 AND expires_at > $5",
            )
            .bind(hash.as_slice())
            .bind(purpose.as_str())
            .bind(session.as_slice())
            .bind(user.as_uuid())
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(backend("use WebAuthn challenge"))?
            .rows_affected()
                == 1;
            Ok(taken)
        }

        pub(crate) async fn webauthn_credentials_of(pool: &$Pool, user: UserId) -> Result<Vec<WebauthnCredential>, StoreError> {
            type Row = (Uuid, Vec<u8>, Vec<u8>, i64, String, OffsetDateTime, Option<OffsetDateTime>);
            let rows: Vec<Row> = sqlx::query_as(
                "SELECT id, credential_id, public_key, sign_count, name, created_at, last_used_at \
                 FROM webauthn_credentials WHERE user_id = $1 ORDER BY id",
            )
            .bind(user.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(backend("list WebAuthn credentials"))?;
            rows.into_iter()
                .map(|(id, credential_id, public_key, sign_count, name, created_at, last_used_at)| {
                    Ok(WebauthnCredential {
                        id,
                        user,
                        credential_id,
                        public_key,
                        sign_count: u32::try_from(sign_count).map_err(|_| StoreError::Corrupt("sign count".into()))?,
                        name,
                        created_at,
                        last_used_at,
                    })
                })
                .collect()
        }

        pub(crate) async fn insert_webauthn_credential(
            conn: &mut $Conn,
            credential: WebauthnCredential,
            audit: PendingAudit,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO webauthn_credentials (id, user_id, credential_id, public_key, sign_count, name, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(credential.id)
            .bind(credential.user.as_uuid())
            .bind(&credential.credential_id)
            .bind(&credential.public_key)
            .bind(i64::from(credential.sign_count))
            .bind(&credential.name)
            .bind(credential.created_at)
            .execute(&mut *conn)
            .await
            .map_err(conflict_on_unique("store WebAuthn credential", "this security key is already registered"))?;
            append_audit(conn, &[audit]).await
        }

        pub(crate) async fn delete_webauthn_credential(
            conn: &mut $Conn,
            user: UserId,
            id: Uuid,
            audit: PendingAudit,
        ) -> Result<bool, StoreError> {
            let deleted = sqlx::query("DELETE FROM webauthn_credentials WHERE id = $1 AND user_id = $2")
                .bind(id)
                .bind(user.as_uuid())
                .execute(&mut *conn)
                .await
                .map_err(backend("remove WebAuthn credential"))?
                .rows_affected()
                > 0;
            if deleted {
                append_audit(conn, &[audit]).await?;
            }
            Ok(deleted)
        }

        async fn insert_session(conn: &mut $Conn, session: &NewSession) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO sessions \
                 (id, org_id, user_id, created_at, last_seen_at, expires_at, csrf_token, must_change_password, mfa_pending) \
                 VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8)",
            )
            .bind(session.id_hash.as_slice())
            .bind(session.org.as_uuid())
            .bind(session.user.as_uuid())
            .bind(session.created_at)
            .bind(session.expires_at)
            .bind(&session.csrf_token)
            .bind(i32::from(session.must_change_password))
            .bind(i32::from(session.mfa_pending))
            .execute(&mut *conn)
            .await
            .map_err(backend("open session"))?;
            Ok(())
        }

        pub(crate) async fn insert_reset(conn: &mut $Conn, reset: NewReset, audit: PendingAudit) -> Result<(), StoreError> {
            sqlx::query("INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
                .bind(reset.token_hash.as_slice())
                .bind(reset.user.as_uuid())
                .bind(reset.created_at)
                .bind(reset.expires_at)
                .execute(&mut *conn)
                .await
                .map_err(backend("store password reset"))?;
            append_audit(conn, &[audit]).await
        }

        pub(crate) async fn reset_by_token(
            pool: &$Pool,
            token_hash: [u8; 32],
        ) -> Result<Option<(NewReset, Option<OffsetDateTime>)>, StoreError> {
            let row: Option<(Uuid, OffsetDateTime, OffsetDateTime, Option<OffsetDateTime>)> = sqlx::query_as(
                "SELECT user_id, created_at, expires_at, used_at FROM password_resets WHERE token_hash = $1",
            )
            .bind(token_hash.as_slice())
            .fetch_optional(pool)
            .await
            .map_err(backend("find password reset"))?;
            Ok(row.map(|(user, created_at, expires_at, used_at)| {
                (NewReset { token_hash, user: UserId::from_uuid(user), created_at, expires_at }, used_at)
            }))
        }

        pub(crate) async fn complete_reset(conn: &mut $Conn, reset: CompletedReset, audit: PendingAudit) -> Result<bool, StoreError> {
            let claimed = sqlx::query(
                "UPDATE password_resets SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1",
            )
            .bind(reset.at)
            .bind(reset.token_hash.as_slice())
            .execute(&mut *conn)
            .await
            .map_err(backend("use password reset"))?
            .rows_affected()
                == 1;
            if !claimed {
                return Ok(false);
            }
            store_new_password(conn, reset.user, &reset.new_hash, &reset.old_hash, reset.keep, reset.at).await?;
            append_audit(conn, &[audit]).await?;
            Ok(true)
        }

        /// Sets a new password hash, keeps the old one in the (trimmed) history and ends every session of the user.
        async fn store_new_password(
            conn: &mut $Conn,
            user: UserId,
            new_hash: &PasswordHash,
            old_hash: &PasswordHash,
            keep: usize,
            at: OffsetDateTime,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "UPDATE users SET password_hash = $1, password_changed_at = $2, failed_logins = 0, locked_until = NULL \
                 WHERE id = $3",
            )
            .bind(new_hash.as_phc())
            .bind(at)
            .bind(user.as_uuid())
            .execute(&mut *conn)
            .await
            .map_err(backend("change password"))?;
            sqlx::query("INSERT INTO password_history (id, user_id, password_hash, created_at) VALUES ($1, $2, $3, $4)")
                .bind(Uuid::now_v7())
                .bind(user.as_uuid())
                .bind(old_hash.as_phc())
                .bind(at)
                .execute(&mut *conn)
                .await
                .map_err(backend("record password history"))?;
            sqlx::query(
                "DELETE FROM password_history WHERE user_id = $1 AND id NOT IN \
                 (SELECT id FROM password_history WHERE user_id = $1 ORDER BY id DESC LIMIT $2)",
            )
            .bind(user.as_uuid())
            .bind(i64::try_from(keep).unwrap_or(i64::MAX))
            .execute(&mut *conn)
            .await
            .map_err(backend("trim password history"))?;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user.as_uuid())
                .execute(&mut *conn)
                .await
                .map_err(backend("revoke sessions"))?;
            Ok(())
        }

        pub(crate) async fn password_history(pool: &$Pool, user: UserId, limit: usize) -> Result<Vec<PasswordHash>, StoreError> {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT password_hash FROM password_history WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(user.as_uuid())
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await
            .map_err(backend("read password history"))?;
            Ok(rows.into_iter().map(|(phc,)| PasswordHash::from_phc(phc)).collect())
        }

        pub(crate) async fn change_password(conn: &mut $Conn, change: PasswordChange, audit: PendingAudit) -> Result<(), StoreError> {
            // A password change ends every session of the user; the new session replaces the one that changed it.
            store_new_password(conn, change.user, &change.new_hash, &change.old_hash, change.keep, change.at).await?;
            let session = change.session;
            insert_session(conn, &session).await?;
            append_audit(conn, &[audit]).await
        }

        pub(crate) async fn hit_rate_limit(
            conn: &mut $Conn,
            key: String,
            now: OffsetDateTime,
            window_start_after: OffsetDateTime,
        ) -> Result<u32, StoreError> {
            let (count,): (i32,) = sqlx::query_as(
                "INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, 1) \
                 ON CONFLICT (key) DO UPDATE SET \
                 count = CASE WHEN rate_limits.window_start <= $3 THEN 1 ELSE rate_limits.count + 1 END, \
                 window_start = CASE WHEN rate_limits.window_start <= $3 THEN $2 ELSE rate_limits.window_start END \
                 RETURNING count",
            )
            .bind(&key)
            .bind(now)
            .bind(window_start_after)
            .fetch_one(&mut *conn)
            .await
            .map_err(backend("count rate limit"))?;
            Ok(count.unsigned_abs())
        }

        pub(crate) async fn rate_limit_count(pool: &$Pool, key: &str, window_start_after: OffsetDateTime) -> Result<u32, StoreError> {
            let row: Option<(i32,)> =
                sqlx::query_as("SELECT count FROM rate_limits WHERE key = $1 AND window_start > $2")
                    .bind(key)
                    .bind(window_start_after)
                    .fetch_optional(pool)
                    .await
                    .map_err(backend("read rate limit"))?;
            Ok(row.map_or(0, |(count,)| count.unsigned_abs()))
        }

        pub(crate) async fn sessions_of(
            pool: &$Pool,
            user: UserId,
        ) -> Result<Vec<([u8; 32], OffsetDateTime, OffsetDateTime)>, StoreError> {
            let rows: Vec<(Vec<u8>, OffsetDateTime, OffsetDateTime)> = sqlx::query_as(concat!(
                "SELECT id, created_at, last_seen_at FROM sessions WHERE user_id = $1 ORDER BY ",
                $instant!("created_at"),
                " DESC"
            ))
            .bind(user.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(backend("list sessions"))?;
            rows.into_iter()
                .map(|(id, created, seen)| {
                    let id = id.as_slice().try_into().map_err(|_| StoreError::Corrupt("session id".into()))?;
                    Ok((id, created, seen))
                })
                .collect()
        }

        pub(crate) async fn revoke_session_of(
            conn: &mut $Conn,
            user: UserId,
            id_hash: [u8; 32],
            audit: PendingAudit,
        ) -> Result<bool, StoreError> {
            let revoked = sqlx::query("DELETE FROM sessions WHERE id = $1 AND user_id = $2")
                .bind(id_hash.as_slice())
                .bind(user.as_uuid())
                .execute(&mut *conn)
                .await
                .map_err(backend("revoke session"))?
                .rows_affected()
                > 0;
            if revoked {
                append_audit(conn, &[audit]).await?;
            }
            Ok(revoked)
        }

        pub(crate) async fn mark_reauthenticated(
            conn: &mut $Conn,
            id_hash: [u8; 32],
            at: OffsetDateTime,
            audit: PendingAudit,
        ) -> Result<(), StoreError> {
            sqlx::query("UPDATE sessions SET reauthenticated_at = $1 WHERE id = $2")
                .bind(at)
                .bind(id_hash.as_slice())
                .execute(&mut *conn)
                .await
                .map_err(backend("record re-authentication"))?;
            append_audit(conn, &[audit]).await
        }

        pub(crate) async fn session(pool: &$Pool, id_hash: [u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
            let row: Option<SessionRow> = sqlx::query_as(
                "SELECT s.id, s.org_id, s.user_id, u.email, m.role, u.status, s.last_seen_at, s.expires_at, s.csrf_token, \
                 s.must_change_password, s.mfa_pending, s.reauthenticated_at, m.emergency_access, \
                 CASE WHEN o.mfa_required <> 0 AND u.totp_secret IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM webauthn_credentials w WHERE w.user_id = u.id) \
                 THEN 1 ELSE 0 END AS needs_mfa_enrolment \
                 FROM sessions s JOIN users u ON u.id = s.user_id JOIN organisations o ON o.id = s.org_id \
                 JOIN memberships m ON m.org_id = s.org_id AND m.user_id = s.user_id WHERE s.id = $1",
            )
            .bind(id_hash.as_slice())
            .fetch_optional(pool)
            .await
            .map_err(backend("read session"))?;
            row.map(SessionRow::into_domain).transpose()
        }

        pub(crate) async fn touch_session(conn: &mut $Conn, id_hash: [u8; 32], at: OffsetDateTime) -> Result<(), StoreError> {
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2")
                .bind(at)
                .bind(id_hash.as_slice())
                .execute(&mut *conn)
                .await
                .map_err(backend("touch session"))?;
            Ok(())
        }

        pub(crate) async fn close_session(
            conn: &mut $Conn,
            id_hash: [u8; 32],
            audit: Option<PendingAudit>,
        ) -> Result<bool, StoreError> {
            let closed = sqlx::query("DELETE FROM sessions WHERE id = $1")
                .bind(id_hash.as_slice())
                .execute(&mut *conn)
                .await
                .map_err(backend("close session"))?
                .rows_affected()
                > 0;
            if closed && let Some(audit) = audit {
                append_audit(conn, &[audit]).await?;
            }
            Ok(closed)
        }

        // ----- organisations and users -----

        pub(crate) async fn bootstrap(
            conn: &mut $Conn,
            org: NewOrganisation,
            owner: NewUser,
            audit: Vec<PendingAudit>,
        ) -> Result<(), StoreError> {
            sqlx::query("INSERT INTO installation (id, bootstrapped_at) VALUES (1, $1)")
                .bind(org.created_at)
                .execute(&mut *conn)
                .await
                .map_err(conflict_on_unique("bootstrap", "the installation is already bootstrapped"))?;
            insert_organisation(conn, org, Owner::New(owner)).await?;
            append_audit(conn, &audit).await
        }

        pub(crate) async fn create_organisation(
            conn: &mut $Conn,
            org: NewOrganisation,
            owner: Owner,
            audit: PendingAudit,
        ) -> Result<(), StoreError> {
            insert_organisation(conn, org, owner).await?;
            append_audit(conn, &[audit]).await
        }

        async fn insert_organisation(conn: &mut $Conn, org: NewOrganisation, owner: Owner) -> Result<(), StoreError> {
            sqlx::query("INSERT INTO organisations (id, name, name_key, key_suite, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(org.id.as_uuid())
                .bind(org.name.as_str())
                .bind(name_key(&org.name))
                .bind(i32::from(org.key.suite.id()))
                .bind(org.created_at)
                .execute(&mut *conn)
                .await
                .map_err(conflict_on_unique("create organisation", "an organisation with this name exists already"))?;
            insert_org_key(conn, org.id, &org.key, KeyState::Active).await?;
            let owner_id = insert_or_find_user(conn, owner, org.created_at).await?;
            sqlx::query("INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)")
                .bind(org.id.as_uuid())
                .bind(owner_id.as_uuid())
                .bind(Role::Owner.as_str())
                .bind(org.created_at)
                .execute(&mut *conn)
                .await
                .map_err(backend("add owner membership"))?;
            Ok(())
        }

        pub(crate) async fn add_member(
            conn: &mut $Conn,
            org: OrgId,
            member: Owner,
            role: Role,
            at: OffsetDateTime,
            audit: PendingAudit,
        ) -> Result<(), StoreError> {
            let user_id = insert_or_find_user(conn, member, at).await?;
            sqlx::query("INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)")
                .bind(org.as_uuid())
                .bind(user_id.as_uuid())
                .bind(role.as_str())
                .bind(at)
                .execute(&mut *conn)
                .await
                .map_err(conflict_on_unique("add member", "the user is a member of this organisation already"))?;
            append_audit(conn, &[audit]).await
        }

        pub(crate) async fn insert_invitation(
            conn: &mut $Conn,
            invitation: NewInvitation,
            audit: PendingAudit,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO invitations (id, org_id, email, role, token_hash, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(invitation.id)
            .bind(invitation.org.as_uuid())
            .bind(invitation.email.as_str())
            .bind(invitation.role.as_str())
            .bind(invitation.token_hash.as_slice())
            .bind(invitation.created_at)
            .bind(invitation.expires_at)
            .execute(&mut *conn)
            .await
            .map_err(backend("store invitation"))?;
            append_audit(conn, &[audit]).await
        }

        pub(crate) async fn invitation_by_token(
            pool: &$Pool,
            token_hash: [u8; 32],
        ) -> Result<Option<InvitationRecord>, StoreError> {
            let row: Option<InvitationRow> = sqlx::query_as(
                "SELECT id, org_id, email, role, token_hash, created_at, expires_at, accepted_at \
                 FROM invitations WHERE token_hash = $1",
            )
            .bind(token_hash.as_slice())
            .fetch_optional(pool)
            .await
            .map_err(backend("find invitation"))?;
            row.map(InvitationRow::into_domain).transpose()
        }

        pub(crate) async fn accept_invitation(
            conn: &mut $Conn,
            id: Uuid,
            member: Owner,
            org: OrgId,
            role: Role,
            at: OffsetDateTime,
            audit: PendingAudit,
        ) -> Result<bool, StoreError> {
            let claimed = sqlx::query(
                "UPDATE invitations SET accepted_at = $1 WHERE id = $2 AND org_id = $3 AND accepted_at IS NULL \
                 AND expires_at > $1",
            )
            .bind(at)
            .bind(id)
            .bind(org.as_uuid())
            .execute(&mut *conn)
            .await
            .map_err(backend("accept invitation"))?
            .rows_affected()
                == 1;
            if !claimed {
                return Ok(false);
            }
            add_member(conn, org, member, role, at, audit).await?;
            Ok(true)
        }

        /// Locks the organisation's row until the transaction ends (PostgreSQL; SQLite's writer runs one write at
        /// a time), so that checks of its members' roles made after it stand until the commit.
        async fn lock_organisation(conn: &mut $Conn, org: OrgId) -> Result<(), StoreError> {
            sqlx::query(concat!("SELECT id FROM organisations WHERE id = $1", $lock_update))
                .bind(org.as_uuid())
                .fetch_optional(&mut *conn)
                .await
                .map_err(backend("lock organisation"))?;
            Ok(())
        }

        /// A member's role in the organisation, as stored (`None`: not a member).
        async fn member_role(conn: &mut $Conn, org: OrgId, user: UserId) -> Result<Option<String>, StoreError> {
            sqlx::query_scalar("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
                .bind(org.as_uuid())
                .bind(user.as_uuid())
                .fetch_optional(&mut *conn)
                .await
                .map_err(backend("read role"))
        }

        pub(crate) async fn set_role(
            conn: &mut $Conn,
            org: OrgId,
            user: UserId,
            role: Role,
            by: UserId,
            audit: PendingAudit,
        ) -> Result<(), StoreError> {
            // Locked first: two owners demoting each other at once would each count the other as the owner kept,
            // and both commit. Read under the lock: a promotion or demotion committed after the caller looked counts.
            lock_organisation(conn, org).await?;
            let Some(current) = member_role(conn, org, user).await? else {
                return Err(StoreError::NotFound("no such member".into()));
            };
            let by_owner = member_role(conn, org, by).await?.as_deref() == Some(Role::Owner.as_str());
            if !by_owner && (current == Role::Owner.as_str() || role == Role::Owner) {
                return Err(StoreError::Conflict(OWNERS_ONLY.into()));
            }
            sqlx::query("UPDATE memberships SET role = $1 WHERE org_id = $2 AND user_id = $3")
                .bind(role.as_str())
                .bind(org.as_uuid())
                .bind(user.as_uuid())
                .execute(&mut *conn)
                .await
                .map_err(backend("change role"))?;
            let (owners,): (i64,) =
                sqlx::query_as("SELECT count(*) FROM memberships WHERE org_id = $1 AND role = 'owner'")
                    .bind(org.as_uuid())
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(backend("change role"))?;
            if owners == 0 {
                return Err(StoreError::Conflict("the organisation must keep at least one owner".into()));
            }
            sqlx::query("DELETE FROM sessions WHERE org_id = $1 AND user_id = $2")
                .bind(org.as_uuid())
                .bind(user.as_uuid())
                .execute(&mut *conn)
                .await
                .map_err(backend("end sessions"))?;
            append_audit(conn, &[audit]).await
        }

        pub(crate) async fn set_user_status(
            conn: &mut $Conn,
            user: UserId,
            status: UserStatus,
            by: Option<ByMember>,
            audit: PendingAudit,
        ) -> Result<(), StoreError> {
            if let Some(ByMember { org, member }) = by
                && status != UserStatus::Active
            {
                // As for roles: both members' roles and the active owners are read under the organisation's lock.
                lock_organisation(conn, org).await?;
                let owner = Some(Role::Owner.as_str());
                if member_role(conn, org, user).await?.as_deref() == owner {
                    if member_role(conn, org, member).await?.as_deref() != owner {
                        return Err(StoreError::Conflict(OWNERS_ONLY.into()));
                    }
                    let (others,): (i64,) = sqlx::query_as(
                        "SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 \
                         AND m.role = 'owner' AND u.status = 'active' AND m.user_id <> $2",
                    )
                    .bind(org.as_uuid())
                    .bind(user.as_uuid())
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(backend("set user status"))?;
                    if others == 0 {
                        return Err(StoreError::Conflict(LAST_OWNER.into()));
                    }
                }
            }
            let changed = sqlx::query("UPDATE users SET status = $1 WHERE id = $2")
                .bind(status.as_str())
                .bind(user.as_uuid())
                .execute(&mut *conn)
                .await
                .map_err(backend("set user status"))?;
            if changed.rows_affected() == 0 {
                return Err(StoreError::NotFound("no such user".into()));
            }
            if status != UserStatus::Active {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(user.as_uuid())
                    .execute(&mut *conn)
                    .await
                    .map_err(backend("revoke sessions"))?;
            }
            append_audit(conn, &[audit]).await
        }

        /// Creates a new user or checks an existing one exists; returns its id.
        async fn insert_or_find_user(conn: &mut $Conn, member: Owner, at: OffsetDateTime) -> Result<UserId, StoreError> {
            match member {
                Owner::New(user) => {
                    sqlx::query(
                        "INSERT INTO users (id, email, password_hash, status, created_at, password_changed_at) \
                         VALUES ($1, $2, $3, $4, $5, $5)",
                    )
                    .bind(user.id.as_uuid())
                    .bind(user.email.as_str())
                    .bind(user.password_hash.as_phc())
                    .bind(UserStatus::Active.as_str())
                    .bind(at)
                    .execute(&mut *conn)
                    .await
                    .map_err(conflict_on_unique("create user", "a user with this e-mail exists already"))?;
                    Ok(user.id)
                }
                Owner::Existing(id) => {
                    let exists: Option<(Uuid,)> = sqlx::query_as("SELECT id FROM users WHERE id = $1")
                        .bind(id.as_uuid())
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(backend("find user"))?;
                    exists.ok_or_else(|| StoreError::NotFound("no such user".into()))?;
                    Ok(id)
                }
            }
        }

        pub(crate) async fn set_mfa_required(
            conn: &mut $Conn,
            org: OrgId,
            required: bool,
            audit: PendingAudit,
        ) -> Result<(), StoreError> {
            let changed = sqlx::query("UPDATE organisations SET mfa_required = $1 WHERE id = $2")
                .bind(i32::from(required))
                .bind(org.as_uuid())
                .execute(&mut *conn)
                .await
                .map_err(backend("set MFA policy"))?;
            if changed.rows_affected() == 0 {
                return Err(StoreError::NotFound("no such organisation".into()));
            }
            append_audit(conn, &[audit]).await
        }

        pub(crate) async fn organisation_settings(
            pool: &$Pool,
            org: OrgId,
        ) -> Result<Option<(bool, ApiRateLimit)>, StoreError> {
            let row: Option<(i32, i64, i64)> = sqlx::query_as(
                "SELECT mfa_required, api_requests_per_minute, api_burst FROM organisations WHERE id = $1",
            )
            .bind(org.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(backend("read organisation settings"))?;
            row.map(|(mfa, per_minute, burst)| {
                let limit = $crate::rows::api_rate_limit(per_minute, burst)
                    .ok_or_else(|| StoreError::Corrupt("organisation API rate limit".into()))?;
                Ok((mfa != 0, limit))
            })
            .transpose()
        }

        pub(crate) async fn set_api_rate_limit(
            conn: &mut $Conn,
            org: OrgId,
            limit: ApiRateLimit,
            audit: PendingAudit,
        ) -> Result<(), StoreError> {
            let changed =
                sqlx::query("UPDATE organisations SET api_requests_per_minute = $1, api_burst = $2 WHERE id = $3")
                    .bind(i64::from(limit.per_minute))
                    .bind(i64::from(limit.burst))
                    .bind(org.as_uuid())
                    .execute(&mut *conn)
                    .await
                    .map_err(backend("set API rate limit"))?;
            if changed.rows_affected() == 0 {
                return Err(StoreError::NotFound("no such organisation".into()));
            }
            append_audit(conn, &[audit]).await
        }

        pub(crate) async fn organisation_by_name(pool: &$Pool, name: &OrgName) -> Result<Option<Organisation>, StoreError> {
            let row: Option<OrgRow> =
                sqlx::query_as(concat!("SELECT ", org_columns!(), " FROM organisations WHERE name_key = $1"))
                    .bind(name_key(name))
                    .fetch_optional(pool)
                    .await
                    .map_err(backend("find organisation"))?;
            row.map(OrgRow::into_domain).transpose()
        }

        pub(crate) async fn list_organisations(pool: &$Pool) -> Result<Vec<Organisation>, StoreError> {
            let rows: Vec<OrgRow> =
                sqlx::query_as(concat!("SELECT ", org_columns!(), " FROM organisations ORDER BY ", $instant!("created_at"), ", id"))
                    .fetch_all(pool)
                    .await
                    .map_err(backend("list organisations"))?;
            rows.into_iter().map(OrgRow::into_domain).collect()
        }

        pub(crate) async fn user_by_email(pool: &$Pool, email: &Email) -> Result<Option<UserRecord>, StoreError> {
            let row: Option<UserRow> = sqlx::query_as(concat!("SELECT ", user_columns!(), " FROM users WHERE email = $1"))
                .bind(email.as_str())
                .fetch_optional(pool)
                .await
                .map_err(backend("find user"))?;
            row.map(UserRow::into_domain).transpose()
        }

        pub(crate) async fn user_by_id(pool: &$Pool, user: UserId) -> Result<Option<UserRecord>, StoreError> {
            let row: Option<UserRow> = sqlx::query_as(concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1"))
                .bind(user.as_uuid())
                .fetch_optional(pool)
                .await
                .map_err(backend("find user"))?;
            row.map(UserRow::into_domain).transpose()
        }

        pub(crate) async fn rehash_password(conn: &mut $Conn, user: UserId, hash: PasswordHash) -> Result<(), StoreError> {
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(hash.as_phc())
                .bind(user.as_uuid())
                .execute(&mut *conn)
                .await
                .map_err(backend("re-hash password"))?;
            Ok(())
        }

        pub(crate) async fn members_of(pool: &$Pool, org: OrgId) -> Result<Vec<(UserRecord, Role)>, StoreError> {
            let rows: Vec<MemberRow> = sqlx::query_as(
                // user_columns!() qualified with the table: `created_at` exists in both tables.
                "SELECT u.id, u.email, u.password_hash, u.status, u.created_at, u.password_changed_at, \
                 u.failed_logins, u.locked_until, u.totp_secret, u.totp_fp, u.totp_last_step, m.role \
                 FROM users u JOIN memberships m ON m.user_id = u.id WHERE m.org_id = $1 ORDER BY u.email",
            )
            .bind(org.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(backend("list members"))?;
            rows.into_iter().map(MemberRow::into_domain).collect()
        }

        pub(crate) async fn memberships_of(pool: &$Pool, user: UserId) -> Result<Vec<Membership>, StoreError> {
            // Oldest first: the first is where the member signs in.
            let rows: Vec<(Uuid, Uuid, String)> = sqlx::query_as(concat!(
                "SELECT org_id, user_id, role FROM memberships WHERE user_id = $1 ORDER BY ",
                $instant!("created_at"),
                ", org_id"
            ))
            .bind(user.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(backend("list memberships"))?;
            rows.into_iter().map(membership).collect()
        }

        // ----- organisation keys -----

        pub(crate) async fn insert_org_key(
            conn: &mut $Conn,
            org: OrgId,
            key: &NewOrgKey,
            state: KeyState,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO org_keys \
                 (id, org_id, suite, public_key, wrapped_private_key, master_fingerprint, state, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(key_uuid(key.id))
            .bind(org.as_uuid())
            .bind(i32::from(key.suite.id()))
            .bind(&key.public_key)
            .bind(&key.wrapped_private_key)
            .bind(key.master_fingerprint.as_slice())
            .bind(state.as_str())
            .bind(key.created_at)
            .execute(&mut *conn)
            .await
            .map_err(backend("store organisation key"))?;
            Ok(())
        }

        pub(crate) async fn org_keys(pool: &$Pool, org: OrgId) -> Result<Vec<OrgKeyRecord>, StoreError> {
            let rows: Vec<OrgKeyRow> = sqlx::query_as(concat!(
                "SELECT ",
                org_key_columns!(),
                " FROM org_keys WHERE org_id = $1 ORDER BY ",
                $instant!("created_at"),
                " DESC, id DESC"
            ))
            .bind(org.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(backend("list organisation keys"))?;
            rows.into_iter().map(OrgKeyRow::into_domain).collect()
        }


        pub(crate) async fn begin_rotation(
            conn: &mut $Conn,
            org: OrgId,
            new_key: NewOrgKey,
            audit: PendingAudit,
        ) -> Result<(), StoreError> {
            let keys: Vec<(String,)> =
                sqlx::query_as(concat!("SELECT state FROM org_keys WHERE org_id = $1", $lock_update))
                    .bind(org.as_uuid())
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(backend("begin rotation"))?;
            if keys.iter().any(|(state,)| state == KeyState::Retiring.as_str()) {
                return Err(StoreError::Conflict("a key rotation is already in progress for this organisation".into()));
            }
            let demoted = sqlx::query("UPDATE org_keys SET state = 'retiring' WHERE org_id = $1 AND state = 'active'")
                .bind(org.as_uuid())
                .execute(&mut *conn)
                .await
                .map_err(backend("begin rotation"))?;
            if demoted.rows_affected() != 1 {
                return Err(StoreError::NotFound("no such organisation".into()));
            }
            insert_org_key(conn, org, &new_key, KeyState::Active).await?;
            append_audit(conn, &[audit]).await
        }

        pub(crate) async fn wrapped_keys_for(
            pool: &$Pool,
            org: OrgId,
            key: KeyId,
            limit: u32,
        ) -> Result<Vec<(WrappedKeyRef, Vec<u8>)>, StoreError> {
            let rows: Vec<(Uuid, Uuid, i64, Vec<u8>)> = sqlx::query_as(
                "SELECT r.submission_id, s.form_id, CAST(r.revision AS BIGINT), r.wrapped_key FROM submission_revisions r \
                 JOIN submissions s ON s.org_id = r.org_id AND s.id = r.submission_id \
                 WHERE r.org_id = $1 AND r.key_id = $2 ORDER BY r.submission_id, r.revision LIMIT $3",
            )
            .bind(org.as_uuid())
            .bind(key_uuid(key))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(backend("list wrapped keys"))?;
            let mut keys = rows.into_iter().map(wrapped_ref).collect::<Result<Vec<_>, _>>()?;
            let room = limit.saturating_sub(u32::try_from(keys.len()).unwrap_or(u32::MAX));
            if room > 0 {
                let files: Vec<(Uuid, Uuid, Uuid, Vec<u8>)> = sqlx::query_as(
                    "SELECT f.submission_id, s.form_id, f.id, f.wrapped_key FROM files f \
                     JOIN submissions s ON s.org_id = f.org_id AND s.id = f.submission_id \
                     WHERE f.org_id = $1 AND f.key_id = $2 ORDER BY f.id LIMIT $3",
                )
                .bind(org.as_uuid())
                .bind(key_uuid(key))
                .bind(i64::from(room))
                .fetch_all(pool)
                .await
                .map_err(backend("list wrapped file keys"))?;
                keys.extend(files.into_iter().map(|(submission, form, file, wrapped)| {
                    let at = WrappedKeyRef::File {
                        submission: SubmissionId::from_uuid(submission),
                        form: FormId::from_uuid(form),
                        file: FileId::from_uuid(file),
                    };
                    (at, wrapped)
                }));
            }
            Ok(keys)
        }

        pub(crate) async fn count_wrapped_keys(pool: &$Pool, org: OrgId, key: KeyId) -> Result<u64, StoreError> {
            let (count,): (i64,) =
                sqlx::query_as(
                    "SELECT (SELECT count(*) FROM submission_revisions WHERE org_id = $1 AND key_id = $2) \
                     + (SELECT count(*) FROM files WHERE org_id = $1 AND key_id = $2)",
                )
                    .bind(org.as_uuid())
                    .bind(key_uuid(key))
                    .fetch_one(pool)
                    .await
                    .map_err(backend("count wrapped keys"))?;
            Ok(count.unsigned_abs())
        }

        pub(crate) async fn replace_wrapped_keys(
            conn: &mut $Conn,
            org: OrgId,
            updates: Vec<RewrapUpdate>,
        ) -> Result<u64, StoreError> {
            let mut changed = 0;
            for update in updates {
                let query = match update.at {
                    WrappedKeyRef::Revision { submission, revision, .. } => sqlx::query(
                        "UPDATE submission_revisions SET wrapped_key = $1, key_id = $2 \
                         WHERE org_id = $3 AND submission_id = $4 AND revision = $5 AND key_id = $6",
                    )
                    .bind(&update.wrapped)
                    .bind(key_uuid(update.to))
                    .bind(org.as_uuid())
                    .bind(submission.as_uuid())
                    .bind(i32::try_from(revision).map_err(|_| StoreError::Corrupt("revision number".into()))?)
                    .bind(key_uuid(update.from)),
                    WrappedKeyRef::File { file, .. } => sqlx::query(
                        "UPDATE files SET wrapped_key = $1, key_id = $2 WHERE org_id = $3 AND id = $4 AND key_id = $5",
                    )
                    .bind(&update.wrapped)
                    .bind(key_uuid(update.to))
                    .bind(org.as_uuid())
                    .bind(file.as_uuid())
                    .bind(key_uuid(update.from)),
                };
                changed += query.execute(&mut *conn).await.map_err(backend("replace wrapped key"))?.rows_affected();
            }
            Ok(changed)
        }

        pub(crate) async fn retire_org_key(
            conn: &mut $Conn,
            org: OrgId,
            key: KeyId,
            at: OffsetDateTime,
            audit: PendingAudit,
        ) -> Result<bool, StoreError> {
            // On PostgreSQL the row lock waits for inserts that hold a share lock on this key; the next statement's
            // fresh snapshot then sees their rows, so a key is never retired under a data key that names it.
            sqlx::query(concat!("SELECT id FROM org_keys WHERE org_id = $1 AND id = $2", $lock_update))
                .bind(org.as_uuid())
                .bind(key_uuid(key))
                .fetch_optional(&mut *conn)
                .await
                .map_err(backend("retire organisation key"))?;
            let retired = sqlx::query(
                "UPDATE org_keys SET state = 'retired', wrapped_private_key = NULL, master_fingerprint = NULL, \
                 retired_at = $1 WHERE org_id = $2 AND id = $3 AND state = 'retiring' \
                 AND NOT EXISTS (SELECT 1 FROM submission_revisions WHERE org_id = $2 AND key_id = $3) \
                 AND NOT EXISTS (SELECT 1 FROM files WHERE org_id = $2 AND key_id = $3)",
            )
            .bind(at)
            .bind(org.as_uuid())
            .bind(key_uuid(key))
            .execute(&mut *conn)
            .await
            .map_err(backend("retire organisation key"))?;
            let retired = retired.rows_affected() == 1;
            if retired {
                append_audit(conn, &[audit]).await?;
            }
            Ok(retired)
        }

        pub(crate) async fn master_wrapped_secrets(pool: &$Pool) -> Result<Vec<MasterWrapped>, StoreError> {
            let keys: Vec<(Uuid, Uuid, Vec<u8>, Vec<u8>)> = sqlx::query_as(
                "SELECT org_id, id, wrapped_private_key, master_fingerprint FROM org_keys \
                 WHERE state <> 'retired' ORDER BY org_id, id",
            )
            .fetch_all(pool)
            .await
            .map_err(backend("list master-wrapped keys"))?;
            let forms: Vec<(Uuid, Uuid, Vec<u8>, Vec<u8>)> =
                sqlx::query_as("SELECT org_id, id, index_key, index_key_fp FROM forms ORDER BY org_id, id")
                    .fetch_all(pool)
                    .await
                    .map_err(backend("list master-wrapped keys"))?;
            let org_keys = keys.into_iter().map(|(org, key, wrapped, fp)| {
                let at = MasterWrappedRef::OrgKey { org: OrgId::from_uuid(org), key: KeyId(*key.as_bytes()) };
                master_wrapped(at, wrapped, &fp)
            });
            let form_keys = forms.into_iter().map(|(org, form, wrapped, fp)| {
                let at = MasterWrappedRef::FormIndexKey { org: OrgId::from_uuid(org), form: FormId::from_uuid(form) };
                master_wrapped(at, wrapped, &fp)
            });
            let totp: Vec<(Uuid, Vec<u8>, Vec<u8>)> = sqlx::query_as(
                "SELECT id, totp_secret, totp_fp FROM users WHERE totp_secret IS NOT NULL AND totp_fp IS NOT NULL",
            )
            .fetch_all(pool)
            .await
            .map_err(backend("list master-wrapped keys"))?;
            let totp_keys = totp.into_iter().map(|(user, wrapped, fp)| {
                master_wrapped(MasterWrappedRef::TotpSecret { user: UserId::from_uuid(user) }, wrapped, &fp)
            });
            let audit: Option<(Vec<u8>, Vec<u8>)> =
                sqlx::query_as("SELECT wrapped, fingerprint FROM audit_keyset WHERE id = 1")
                    .fetch_optional(pool)
                    .await
                    .map_err(backend("list master-wrapped keys"))?;
            let audit_keys = audit.map(|(wrapped, fp)| master_wrapped(MasterWrappedRef::AuditKeys, wrapped, &fp));
            org_keys.chain(form_keys).chain(totp_keys).chain(audit_keys).collect()
        }

        pub(crate) async fn form_index_key(
            pool: &$Pool,
            org: OrgId,
            form: FormId,
        ) -> Result<Option<MasterWrappedBlob>, StoreError> {
            let row: Option<(Vec<u8>, Vec<u8>)> =
                sqlx::query_as("SELECT index_key, index_key_fp FROM forms WHERE org_id = $1 AND id = $2")
                    .bind(org.as_uuid())
                    .bind(form.as_uuid())
                    .fetch_optional(pool)
                    .await
                    .map_err(backend("read form key"))?;
            row.map(|(wrapped, fp)| Ok(MasterWrappedBlob { wrapped, fingerprint: fingerprint(&fp)? })).transpose()
        }

        pub(crate) async fn replace_master_wrapped(
            conn: &mut $Conn,
            secrets: Vec<MasterWrapped>,
            audit: PendingAudit,
        ) -> Result<(), StoreError> {
            for secret in secrets {
                let query = match secret.at {
                    MasterWrappedRef::OrgKey { org, key } => sqlx::query(
                        "UPDATE org_keys SET wrapped_private_key = $1, master_fingerprint = $2 \
                         WHERE org_id = $3 AND id = $4 AND state <> 'retired'",
                    )
                    .bind(secret.wrapped)
                    .bind(secret.fingerprint.to_vec())
                    .bind(*org.as_uuid())
                    .bind(key_uuid(key)),
                    MasterWrappedRef::FormIndexKey { org, form } => sqlx::query(
                        "UPDATE forms SET index_key = $1, index_key_fp = $2 WHERE org_id = $3 AND id = $4",
                    )
                    .bind(secret.wrapped)
                    .bind(secret.fingerprint.to_vec())
                    .bind(*org.as_uuid())
                    .bind(*form.as_uuid()),
                    MasterWrappedRef::TotpSecret { user } => {
                        sqlx::query("UPDATE users SET totp_secret = $1, totp_fp = $2 WHERE id = $3")
                            .bind(secret.wrapped)
                            .bind(secret.fingerprint.to_vec())
                            .bind(*user.as_uuid())
                    }
                    MasterWrappedRef::AuditKeys => sqlx::query(
                        "UPDATE audit_keyset SET wrapped = $1, fingerprint = $2 WHERE id = 1",
                    )
                    .bind(secret.wrapped)
                    .bind(secret.fingerprint.to_vec()),
                };
                query.execute(&mut *conn).await.map_err(backend("re-wrap under master key"))?;
            }
            append_audit(conn, &[audit]).await
        }

        // ----- forms and sealed submissions -----

        pub(crate) async fn create_form(conn: &mut $Conn, form: NewForm, audit: PendingAudit) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO forms \
                 (id, org_id, title, status, current_version, index_key, index_key_fp, created_at, updated_at) \
                 VALUES ($1, $2, $3, 'draft', 1, $4, $5, $6, $6)",
            )
            .bind(form.id.as_uuid())
            .bind(form.org_id.as_uuid())
            .bind(&form.title)
            .bind(&form.index_key)
            .bind(form.index_key_fingerprint.as_slice())
            .bind(form.created_at)
            .execute(&mut *conn)
            .await
            .map_err(conflict_on_unique("create form", "a form with this id exists already"))?;
            sqlx::query(
                "INSERT INTO form_versions (org_id, form_id, version, definition, created_at) VALUES ($1, $2, 1, $3, $4)",
            )
            .bind(form.org_id.as_uuid())
            .bind(form.id.as_uuid())
            .bind(&form.definition)
            .bind(form.created_at)
            .execute(&mut *conn)
            .await
            .map_err(backend("create form version"))?;
            append_audit(conn, &[audit]).await
        }

        // SQLite writes submissions through its batched form (sqlite/queries.rs); PostgreSQL falls back to this.
        #[allow(dead_code)]
        pub(crate) async fn insert_submission(
            conn: &mut $Conn,
            new: NewSubmission,
            audit: PendingAudit,
        ) -> Result<(), StoreError> {
            let sealed = &new.revision;
            ensure_key_usable(conn, new.org_id, sealed.key_id).await?;
            for file in &new.files {
                ensure_key_usable(conn, new.org_id, file.key_id).await?;
            }
            let revision = i32::try_from(sealed.revision).map_err(|_| StoreError::Corrupt("revision number".into()))?;
            let form_version =
                i32::try_from(new.form_version).map_err(|_| StoreError::Corrupt("form version".into()))?;
            sqlx::query(
                "INSERT INTO submissions \
                 (id, org_id, form_id, form_version, status, current_revision, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, 'new', $5, $6, $6)",
            )
            .bind(new.id.as_uuid())
            .bind(new.org_id.as_uuid())
            .bind(new.form_id.as_uuid())
            .bind(form_version)
            .bind(revision)
            .bind(sealed.created_at)
            .execute(&mut *conn)
            .await
            .map_err(conflict_on_unique("store submission", SUBMISSION_EXISTS))?;
            insert_revision_row(conn, new.org_id, new.id, revision, sealed, SUBMISSION_EXISTS).await?;
            insert_index_rows(conn, new.org_id, new.form_id, new.id, &new.index).await?;
            for file in &new.files {
                sqlx::query(
                    "INSERT INTO files \
                     (id, org_id, submission_id, revision, question_id, object_key, sealed_size, wrapped_key, key_id, \
                      created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(file.id.as_uuid())
                .bind(new.org_id.as_uuid())
                .bind(new.id.as_uuid())
                .bind(revision)
                .bind(&file.question_id)
                .bind(&file.object_key)
                .bind(i64::try_from(file.sealed_size).map_err(|_| StoreError::Corrupt("file size".into()))?)
                .bind(&file.wrapped_key)
                .bind(key_uuid(file.key_id))
                .bind(sealed.created_at)
                .execute(&mut *conn)
                .await
                .map_err(backend("store file"))?;
            }
            append_audit(conn, &[audit]).await
        }

        pub(crate) async fn submissions_by_index(
            pool: &$Pool,
            org: OrgId,
            form: FormId,
            field: &str,
            digest: [u8; 16],
        ) -> Result<Vec<SubmissionId>, StoreError> {
            let rows: Vec<(Uuid,)> = sqlx::query_as(
                "SELECT submission_id FROM submission_index \
                 WHERE org_id = $1 AND form_id = $2 AND field = $3 AND digest = $4 ORDER BY submission_id",
            )
            .bind(org.as_uuid())
            .bind(form.as_uuid())
            .bind(field)
            .bind(digest.as_slice())
            .fetch_all(pool)
            .await
            .map_err(backend("search blind index"))?;
            Ok(rows.into_iter().map(|(id,)| SubmissionId::from_uuid(id)).collect())
        }

        pub(crate) async fn latest_revision(
            pool: &$Pool,
            org: OrgId,
            submission: SubmissionId,
        ) -> Result<Option<StoredRevision>, StoreError> {
            let row: Option<RevisionRow> = sqlx::query_as(concat!(
                "SELECT ",
                revision_columns!(),
                " FROM submissions s JOIN submission_revisions r \
                 ON r.org_id = s.org_id AND r.submission_id = s.id AND r.revision = s.current_revision \
                 WHERE s.org_id = $1 AND s.id = $2"
            ))
            .bind(org.as_uuid())
            .bind(submission.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(backend("read submission"))?;
            row.map(RevisionRow::into_domain).transpose()
        }

        pub(crate) async fn delete_submission(
            conn: &mut $Conn,
            org: OrgId,
            submission: SubmissionId,
            audit: PendingAudit,
        ) -> Result<bool, StoreError> {
            let deleted = sqlx::query("DELETE FROM submissions WHERE org_id = $1 AND id = $2")
                .bind(org.as_uuid())
                .bind(submission.as_uuid())
                .execute(&mut *conn)
                .await
                .map_err(backend("delete submission"))?;
            let deleted = deleted.rows_affected() > 0;
            if deleted {
                append_audit(conn, &[audit]).await?;
            }
            Ok(deleted)
        }

        pub(crate) async fn delete_organisation(
            conn: &mut $Conn,
            org: OrgId,
            audit: PendingAudit,
        ) -> Result<bool, StoreError> {
            let deleted = sqlx::query("DELETE FROM organisations WHERE id = $1")
                .bind(org.as_uuid())
                .execute(&mut *conn)
                .await
                .map_err(backend("delete organisation"))?;
            let deleted = deleted.rows_affected() > 0;
            if deleted {
                append_audit(conn, &[audit]).await?;
            }
            Ok(deleted)
        }

        pub(crate) async fn count_submissions(pool: &$Pool, org: OrgId, form: FormId) -> Result<u64, StoreError> {
            let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM submissions WHERE org_id = $1 AND form_id = $2")
                .bind(org.as_uuid())
                .bind(form.as_uuid())
                .fetch_one(pool)
                .await
                .map_err(backend("count submissions"))?;
            Ok(count.unsigned_abs())
        }

        // ----- forms, inbox, revisions, files -----

        /// Refuses a data key wrapped to an organisation key that no longer accepts new data keys (retired meanwhile).
        async fn ensure_key_usable(conn: &mut $Conn, org: OrgId, key: KeyId) -> Result<(), StoreError> {
            let state: Option<(String,)> =
                sqlx::query_as(concat!("SELECT state FROM org_keys WHERE org_id = $1 AND id = $2", $lock_share))
                    .bind(org.as_uuid())
                    .bind(key_uuid(key))
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(backend("check organisation key"))?;
            if state.is_some_and(|(s,)| s == KeyState::Active.as_str() || s == KeyState::Retiring.as_str()) {
                Ok(())
            } else {
                Err(StoreError::Conflict(KEY_RETIRED.into()))
            }
        }

        /// Stores a revision row; a revision already there (by its (submission, revision) key) is a conflict
        /// answered with `taken`.
        async fn insert_revision_row(
            conn: &mut $Conn,
            org: OrgId,
            submission: SubmissionId,
            revision: i32,
            sealed: &SealedRevision,
            taken: &'static str,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO submission_revisions \
                 (org_id, submission_id, revision, envelope, wrapped_key, key_id, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(org.as_uuid())
            .bind(submission.as_uuid())
            .bind(revision)
            .bind(&sealed.envelope)
            .bind(&sealed.wrapped_key)
            .bind(key_uuid(sealed.key_id))
            .bind(sealed.created_by.map(|u| *u.as_uuid()))
            .bind(sealed.created_at)
            .execute(&mut *conn)
            .await
            .map_err(conflict_on_unique("store submission revision", taken))?;
            Ok(())
        }

        async fn insert_index_rows(
            conn: &mut $Conn,
            org: OrgId,
            form: FormId,
            submission: SubmissionId,
            index: &[(String, [u8; 16])],
        ) -> Result<(), StoreError> {
            for (field, digest) in index {
                sqlx::query(
                    "INSERT INTO submission_index (org_id, form_id, field, digest, submission_id) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(org.as_uuid())
                .bind(form.as_uuid())
                .bind(field)
                .bind(digest.as_slice())
                .bind(submission.as_uuid())
                .execute(&mut *conn)
                .await
                .map_err(backend("store blind index"))?;
            }
            Ok(())
        }

        pub(crate) async fn forms_of(pool: &$Pool, org: OrgId) -> Result<Vec<FormRecord>, StoreError> {
            let rows: Vec<FormRow> = sqlx::query_as(concat!(
                form_select!(),
                " WHERE f.org_id = $1 ORDER BY ",
                $instant!("f.created_at"),
                " DESC, f.id DESC"
            ))
            .bind(org.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(backend("list forms"))?;
            rows.into_iter().map(FormRow::into_domain).collect()
        }

        pub(crate) async fn form(pool: &$Pool, org: OrgId, form: FormId) -> Result<Option<FormRecord>, StoreError> {
            let row: Option<FormRow> = sqlx::query_as(concat!(
                form_select!(),
                " WHERE f.org_id = $1 AND f.id = $2"
            ))
            .bind(org.as_uuid())
            .bind(form.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(backend("read form"))?;
            row.map(FormRow::into_domain).transpose()
        }

        pub(crate) async fn form_by_public_id(pool: &$Pool, form: FormId) -> Result<Option<FormRecord>, StoreError> {
            let row: Option<FormRow> = sqlx::query_as(concat!(
                form_select!(),
                " WHERE f.id = $1"
            ))
            .bind(form.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(backend("read form"))?;
            row.map(FormRow::into_domain).transpose()
        }

        pub(crate) async fn form_definition(
            pool: &$Pool,
            org: OrgId,
            form: FormId,
            version: u32,
        ) -> Result<Option<String>, StoreError> {
            let version = i32::try_from(version).map_err(|_| StoreError::NotFound("no such form version".into()))?;
            let row: Option<(String,)> = sqlx::query_as(
                "SELECT definition FROM form_versions WHERE org_id = $1 AND form_id = $2 AND version = $3",
            )
            .bind(org.as_uuid())
            .bind(form.as_uuid())
            .bind(version)
            .fetch_optional(pool)
            .await
            .map_err(backend("read form version"))?;
            Ok(row.map(|(d,)| d))
        }

        pub(crate) async fn change_form(
            conn: &mut $Conn,
            org: OrgId,
            form: FormId,
            change: FormChange,
            at: OffsetDateTime,
            audit: PendingAudit,
        ) -> Result<FormRecord, StoreError> {
            let current: Option<(i32,)> = sqlx::query_as(concat!(
                "SELECT current_version FROM forms WHERE org_id = $1 AND id = $2",
                $lock_update
            ))
            .bind(org.as_uuid())
            .bind(form.as_uuid())
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend("read form"))?;
            let Some((mut version,)) = current else { return Err(StoreError::NotFound("no such form".into())) };
            if let Some(definition) = &change.definition {
                version += 1;
                sqlx::query(
                    "INSERT INTO form_versions (org_id, form_id, version, definition, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(org.as_uuid())
                .bind(form.as_uuid())
                .bind(version)
                .bind(definition)
                .bind(at)
                .execute(&mut *conn)
                .await
                .map_err(backend("store form version"))?;
            }
            sqlx::query(
                "UPDATE forms SET title = COALESCE($3, title), status = COALESCE($4, status), current_version = $5, \
                 updated_at = $6 WHERE org_id = $1 AND id = $2",
            )
            .bind(org.as_uuid())
            .bind(form.as_uuid())
            .bind(change.title.as_deref())
            .bind(change.status.map(|s| s.as_str()))
            .bind(version)
            .bind(at)
            .execute(&mut *conn)
            .await
            .map_err(backend("change form"))?;
            let row: FormRow = sqlx::query_as(concat!(
                form_select!(),
                " WHERE f.org_id = $1 AND f.id = $2"
            ))
            .bind(org.as_uuid())
            .bind(form.as_uuid())
            .fetch_one(&mut *conn)
            .await
            .map_err(backend("read changed form"))?;
            append_audit(conn, &[audit]).await?;
            row.into_domain()
        }

        pub(crate) async fn submissions(
            pool: &$Pool,
            query: SubmissionQuery,
        ) -> Result<Vec<SubmissionSummary>, StoreError> {
            let sql = match query.order {
                Order::NewestFirst => concat!(
                    "SELECT ", summary_columns!(), " FROM submissions s", inbox_filter!("<", $instant),
                    " ORDER BY s.id DESC LIMIT $9"
                ),
                Order::OldestFirst => concat!(
                    "SELECT ", summary_columns!(), " FROM submissions s", inbox_filter!(">", $instant),
                    " ORDER BY s.id ASC LIMIT $9"
                ),
            };
            let rows: Vec<SummaryRow> = bind_inbox_filter!(sqlx::query_as(sql), &query, $bound)
                .fetch_all(pool)
                .await
                .map_err(backend("list submissions"))?;
            rows.into_iter().map(SummaryRow::into_domain).collect()
        }

        pub(crate) async fn submissions_sealed(
            pool: &$Pool,
            query: SubmissionQuery,
        ) -> Result<Vec<(SubmissionSummary, StoredRevision)>, StoreError> {
            macro_rules! sealed_page {
                ($cmp:literal, $dir:literal) => {
                    concat!(
                        "SELECT ", summary_columns!(), ", s.org_id, r.revision, r.envelope, r.wrapped_key, r.key_id, \
                         r.created_by, r.created_at AS revision_at FROM submissions s JOIN submission_revisions r \
                         ON r.org_id = s.org_id AND r.submission_id = s.id AND r.revision = s.current_revision",
                        inbox_filter!($cmp, $instant), " ORDER BY s.id ", $dir, " LIMIT $9"
                    )
                };
            }
            let sql = match query.order {
                Order::NewestFirst => sealed_page!("<", "DESC"),
                Order::OldestFirst => sealed_page!(">", "ASC"),
            };
            let rows: Vec<SealedSummaryRow> = bind_inbox_filter!(sqlx::query_as(sql), &query, $bound)
                .fetch_all(pool)
                .await
                .map_err(backend("export submissions"))?;
            rows.into_iter().map(SealedSummaryRow::into_domain).collect()
        }

        pub(crate) async fn submission(
            pool: &$Pool,
            org: OrgId,
            submission: SubmissionId,
        ) -> Result<Option<SubmissionSummary>, StoreError> {
            let row: Option<SummaryRow> = sqlx::query_as(concat!(
                "SELECT ",
                summary_columns!(),
                " FROM submissions s WHERE s.org_id = $1 AND s.id = $2"
            ))
            .bind(org.as_uuid())
            .bind(submission.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(backend("read submission"))?;
            row.map(SummaryRow::into_domain).transpose()
        }

        pub(crate) async fn set_submission_status(
            conn: &mut $Conn,
            org: OrgId,
            submission: SubmissionId,
            status: SubmissionStatus,
            audit: Option<PendingAudit>,
        ) -> Result<bool, StoreError> {
            let before: Option<(String,)> =
                sqlx::query_as(concat!("SELECT status FROM submissions WHERE org_id = $1 AND id = $2", $lock_update))
                    .bind(org.as_uuid())
                    .bind(submission.as_uuid())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(backend("read submission status"))?;
            let Some((before,)) = before else { return Ok(false) };
            if before == status.as_str() {
                return Ok(true);
            }
            sqlx::query("UPDATE submissions SET status = $3 WHERE org_id = $1 AND id = $2")
                .bind(org.as_uuid())
                .bind(submission.as_uuid())
                .bind(status.as_str())
                .execute(&mut *conn)
                .await
                .map_err(backend("set submission status"))?;
            if let Some(audit) = audit {
                append_audit(conn, &[audit]).await?;
            }
            Ok(true)
        }

        pub(crate) async fn insert_revision(
            conn: &mut $Conn,
            org: OrgId,
            submission: SubmissionId,
            sealed: SealedRevision,
            index: Vec<(String, [u8; 16])>,
            audit: PendingAudit,
        ) -> Result<(), StoreError> {
            let current: Option<(i32, Uuid)> = sqlx::query_as(concat!(
                "SELECT current_revision, form_id FROM submissions WHERE org_id = $1 AND id = $2",
                $lock_update
            ))
            .bind(org.as_uuid())
            .bind(submission.as_uuid())
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend("read submission"))?;
            let Some((current, form_id)) = current else {
                return Err(StoreError::NotFound("no such submission".into()));
            };
            let revision = i32::try_from(sealed.revision).map_err(|_| StoreError::Corrupt("revision number".into()))?;
            if revision != current + 1 {
                return Err(StoreError::Conflict(SUBMISSION_CHANGED.into()));
            }
            ensure_key_usable(conn, org, sealed.key_id).await?;
            insert_revision_row(conn, org, submission, revision, &sealed, SUBMISSION_CHANGED).await?;
            sqlx::query("UPDATE submissions SET current_revision = $3, updated_at = $4 WHERE org_id = $1 AND id = $2")
                .bind(org.as_uuid())
                .bind(submission.as_uuid())
                .bind(revision)
                .bind(sealed.created_at)
                .execute(&mut *conn)
                .await
                .map_err(backend("move submission to new revision"))?;
            sqlx::query("DELETE FROM submission_index WHERE org_id = $1 AND submission_id = $2")
                .bind(org.as_uuid())
                .bind(submission.as_uuid())
                .execute(&mut *conn)
                .await
                .map_err(backend("replace blind index"))?;
            insert_index_rows(conn, org, FormId::from_uuid(form_id), submission, &index).await?;
            append_audit(conn, &[audit]).await
        }

        pub(crate) async fn revisions(
            pool: &$Pool,
            org: OrgId,
            submission: SubmissionId,
        ) -> Result<Vec<StoredRevision>, StoreError> {
            let rows: Vec<RevisionRow> = sqlx::query_as(concat!(
                "SELECT ",
                revision_columns!(),
                " FROM submissions s JOIN submission_revisions r ON r.org_id = s.org_id AND r.submission_id = s.id \
                 WHERE s.org_id = $1 AND s.id = $2 ORDER BY r.revision"
            ))
            .bind(org.as_uuid())
            .bind(submission.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(backend("read revisions"))?;
            rows.into_iter().map(RevisionRow::into_domain).collect()
        }

        pub(crate) async fn files_of(
            pool: &$Pool,
            org: OrgId,
            submission: SubmissionId,
        ) -> Result<Vec<FileRecord>, StoreError> {
            let rows: Vec<FileRow> = sqlx::query_as(concat!(
                "SELECT ",
                file_columns!(),
                " FROM files f JOIN submissions s ON s.org_id = f.org_id AND s.id = f.submission_id \
                 WHERE f.org_id = $1 AND f.submission_id = $2 ORDER BY f.question_id, f.id"
            ))
            .bind(org.as_uuid())
            .bind(submission.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(backend("list files"))?;
            rows.into_iter().map(FileRow::into_domain).collect()
        }

        pub(crate) async fn file(pool: &$Pool, org: OrgId, file: FileId) -> Result<Option<FileRecord>, StoreError> {
            let row: Option<FileRow> = sqlx::query_as(concat!(
                "SELECT ",
                file_columns!(),
                " FROM files f JOIN submissions s ON s.org_id = f.org_id AND s.id = f.submission_id \
                 WHERE f.org_id = $1 AND f.id = $2"
            ))
            .bind(org.as_uuid())
            .bind(file.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(backend("read file"))?;
            row.map(FileRow::into_domain).transpose()
        }

        // ----- grants and access requests -----

        type GrantTuple =
            (Uuid, Uuid, Uuid, String, bool, Option<OffsetDateTime>, Option<Uuid>, OffsetDateTime, bool);
        /// A [`GrantTuple`] followed by the folder it comes from, for grants given on a folder.
        type ExpandedGrantTuple =
            (Uuid, Uuid, Uuid, String, bool, Option<OffsetDateTime>, Option<Uuid>, OffsetDateTime, bool, Option<Uuid>);

        /// The columns of a [`GrantTuple`], in its order.
        macro_rules! grant_columns {
            ($p:literal) => {
                concat!(
                    $p, "org_id, ", $p, "form_id, ", $p, "user_id, ", $p, "rights, ", $p, "hide_phi, ", $p,
                    "expires_at, ", $p, "granted_by, ", $p, "created_at, ", $p, "break_glass"
                )
            };
        }

        /// A [`GrantTuple`] followed by the member's e-mail.
        type GrantRecordTuple =
            (Uuid, Uuid, Uuid, String, bool, Option<OffsetDateTime>, Option<Uuid>, OffsetDateTime, bool, String);

        fn grant_record_from(row: GrantRecordTuple) -> Result<sealform_core::grants::GrantRecord, StoreError> {
            let (a, b, c, d, e, f, g, h, i, email) = row;
            Ok(sealform_core::grants::GrantRecord {
                grant: grant_from((a, b, c, d, e, f, g, h, i))?,
                email: Email::parse(&email).map_err($crate::error::corrupt("user e-mail"))?,
            })
        }

        fn grant_from(row: GrantTuple) -> Result<sealform_core::grants::Grant, StoreError> {
            let (org, form, user, rights, hide_phi, expires_at, granted_by, created_at, break_glass) = row;
            Ok(sealform_core::grants::Grant {
                org: OrgId::from_uuid(org),
                form: FormId::from_uuid(form),
                user: UserId::from_uuid(user),
                rights: sealform_core::grants::Right::parse_list(&rights)
                    .map_err($crate::error::corrupt("grant rights"))?,
                hide_phi,
                expires_at,
                granted_by: granted_by.map(UserId::from_uuid),
                created_at,
                break_glass,
                via_folder: None,
            })
        }

        pub(crate) async fn grants_of_user(
            pool: &$Pool,
            org: OrgId,
            user: UserId,
        ) -> Result<Vec<sealform_core::grants::Grant>, StoreError> {
            // The member's grants on forms, then each grant on a folder applied to every form in that folder and the
            // folders below it (a recursive walk down the tree, which the folder code keeps shallow).
            let rows: Vec<ExpandedGrantTuple> = sqlx::query_as(concat!(
                "SELECT ",
                grant_columns!(""),
                ", CAST(NULL AS UUID) FROM grants WHERE org_id = $1 AND user_id = $2 \
                 UNION ALL \
                 SELECT g.org_id, ff.form_id, g.user_id, g.rights, g.hide_phi, g.expires_at, g.granted_by, \
                 g.created_at, FALSE, g.folder_id FROM (WITH RECURSIVE reach (folder_id, granted_on) AS ( \
                 SELECT folder_id, folder_id FROM folder_grants WHERE org_id = $1 AND user_id = $2 \
                 UNION SELECT f.id, r.granted_on FROM folders f JOIN reach r ON f.parent_id = r.folder_id \
                 WHERE f.org_id = $1) SELECT folder_id, granted_on FROM reach) r \
                 JOIN folder_forms ff ON ff.org_id = $1 AND ff.folder_id = r.folder_id \
                 JOIN folder_grants g ON g.org_id = $1 AND g.user_id = $2 AND g.folder_id = r.granted_on"
            ))
            .bind(org.as_uuid())
            .bind(user.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(backend("list grants of user"))?;
            rows.into_iter()
                .map(|(a, b, c, d, e, f, g, h, i, folder)| {
                    let mut grant = grant_from((a, b, c, d, e, f, g, h, i))?;
                    grant.via_folder = folder.map(sealform_core::ids::FolderId::from_uuid);
                    Ok(grant)
                })
                .collect()
        }

        pub(crate) async fn grants_of_form(
            pool: &$Pool,
            org: OrgId,
            form: FormId,
        ) -> Result<Vec<sealform_core::grants::GrantRecord>, StoreError> {
            let rows: Vec<GrantRecordTuple> =
                sqlx::query_as(concat!(
                    "SELECT ",
                    grant_columns!("g."),
                    ", u.email FROM grants g JOIN users u ON u.id = g.user_id \
                     WHERE g.org_id = $1 AND g.form_id = $2 ORDER BY u.email"
                ))
                .bind(org.as_uuid())
                .bind(form.as_uuid())
                .fetch_all(pool)
                .await
                .map_err(backend("list grants of form"))?;
            rows.into_iter().map(grant_record_from).collect()
        }

        pub(crate) async fn grant(
            pool: &$Pool,
            org: OrgId,
            form: FormId,
            user: UserId,
        ) -> Result<Option<sealform_core::grants::Grant>, StoreError> {
            let row: Option<GrantTuple> = sqlx::query_as(concat!(
                "SELECT ",
                grant_columns!(""),
                " FROM grants WHERE org_id = $1 AND form_id = $2 AND user_id = $3"
            ))
            .bind(org.as_uuid())
            .bind(form.as_uuid())
            .bind(user.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(backend("read grant"))?;
            row.map(grant_from).transpose()
        }

        pub(crate) async fn break_glass_grants(
            pool: &$Pool,
            org: OrgId,
        ) -> Result<Vec<sealform_core::grants::GrantRecord>, StoreError> {
            let rows: Vec<GrantRecordTuple> =
                sqlx::query_as(concat!(
                    "SELECT ",
                    grant_columns!("g."),
                    ", u.email FROM grants g JOIN users u ON u.id = g.user_id \
                     WHERE g.org_id = $1 AND g.break_glass ORDER BY ",
                    $instant!("g.created_at"),
                    " DESC"
                ))
                .bind(org.as_uuid())
                .fetch_all(pool)
                .await
                .map_err(backend("list break-glass grants"))?;
            rows.into_iter().map(grant_record_from).collect()
        }

        pub(crate) async fn emergency_members(pool: &$Pool, org: OrgId) -> Result<Vec<UserId>, StoreError> {
            let rows: Vec<(Uuid,)> =
                sqlx::query_as("SELECT user_id FROM memberships WHERE org_id = $1 AND emergency_access <> 0")
                    .bind(org.as_uuid())
                    .fetch_all(pool)
                    .await
                    .map_err(backend("list emergency rights"))?;
            Ok(rows.into_iter().map(|(id,)| UserId::from_uuid(id)).collect())
        }

        pub(crate) async fn set_emergency_access(
            conn: &mut $Conn,
            org: OrgId,
            user: UserId,
            holds: bool,
            audit: PendingAudit,
        ) -> Result<bool, StoreError> {
            let changed =
                sqlx::query("UPDATE memberships SET emergency_access = $1 WHERE org_id = $2 AND user_id = $3")
                    .bind(i32::from(holds))
                    .bind(org.as_uuid())
                    .bind(user.as_uuid())
                    .execute(&mut *conn)
                    .await
                    .map_err(backend("set emergency right"))?;
            if changed.rows_affected() == 0 {
                return Ok(false);
            }
            append_audit(conn, &[audit]).await?;
            Ok(true)
        }

        /// Stores a grant, replacing the member's grant on the form: any grant there, or with `only_replacing`
        /// only the one the caller saw, named by its creation time (`None`: only where there is none). Times are
        /// compared for equality only: SQLite holds them as text, whose order is not time order across offsets and
        /// fractions.
        async fn upsert_grant(
            conn: &mut $Conn,
            grant: &sealform_core::grants::Grant,
            only_replacing: Option<Option<OffsetDateTime>>,
        ) -> Result<(), StoreError> {
            let stored = sqlx::query(
                "INSERT INTO grants (org_id, form_id, user_id, rights, hide_phi, expires_at, granted_by, created_at, \
                 break_glass) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (org_id, form_id, user_id) DO \
                 UPDATE SET rights = excluded.rights, hide_phi = excluded.hide_phi, expires_at = excluded.expires_at, \
                 granted_by = excluded.granted_by, created_at = excluded.created_at, break_glass = excluded.break_glass \
                 WHERE $10 OR grants.created_at = $11",
            )
            .bind(grant.org.as_uuid())
            .bind(grant.form.as_uuid())
            .bind(grant.user.as_uuid())
            .bind(sealform_core::grants::Right::join(&grant.rights))
            .bind(grant.hide_phi)
            .bind(grant.expires_at)
            .bind(grant.granted_by.map(|u| *u.as_uuid()))
            .bind(grant.created_at)
            .bind(grant.break_glass)
            .bind(only_replacing.is_none())
            .bind(only_replacing.flatten())
            .execute(&mut *conn)
            .await
            .map_err(backend("store grant"))?
            .rows_affected();
            if stored == 0 {
                return Err(StoreError::Conflict("access to this form changed meanwhile; look again".into()));
            }
            Ok(())
        }

        pub(crate) async fn put_grant(
            conn: &mut $Conn,
            grant: sealform_core::grants::Grant,
            audit: Vec<PendingAudit>,
        ) -> Result<(), StoreError> {
            upsert_grant(conn, &grant, None).await?;
            append_audit(conn, &audit).await
        }

        pub(crate) async fn open_break_glass(
            conn: &mut $Conn,
            grant: sealform_core::grants::Grant,
            replaces: Option<OffsetDateTime>,
            audit: Vec<PendingAudit>,
        ) -> Result<(), StoreError> {
            upsert_grant(conn, &grant, Some(replaces)).await?;
            append_audit(conn, &audit).await
        }

        pub(crate) async fn delete_grant(
            conn: &mut $Conn,
            org: OrgId,
            form: FormId,
            user: UserId,
            audit: PendingAudit,
        ) -> Result<bool, StoreError> {
            let done = sqlx::query("DELETE FROM grants WHERE org_id = $1 AND form_id = $2 AND user_id = $3")
                .bind(org.as_uuid())
                .bind(form.as_uuid())
                .bind(user.as_uuid())
                .execute(&mut *conn)
                .await
                .map_err(backend("revoke grant"))?
                .rows_affected()
                > 0;
            if done {
                append_audit(conn, &[audit]).await?;
            }
            Ok(done)
        }

        type RequestTuple =
            (Uuid, Uuid, Uuid, Uuid, String, String, OffsetDateTime, Option<Uuid>, Option<OffsetDateTime>);

        macro_rules! request_columns {
            () => {
                "r.id, r.org_id, r.form_id, r.user_id, r.reason, r.status, r.created_at, r.decided_by, r.decided_at"
            };
        }

        fn request_from(row: RequestTuple) -> Result<sealform_core::grants::AccessRequest, StoreError> {
            let (id, org, form, user, reason, status, created_at, decided_by, decided_at) = row;
            Ok(sealform_core::grants::AccessRequest {
                id,
                org: OrgId::from_uuid(org),
                form: FormId::from_uuid(form),
                user: UserId::from_uuid(user),
                reason,
                status: sealform_core::grants::RequestStatus::parse(&status)
                    .ok_or_else(|| StoreError::Corrupt("access request status".into()))?,
                created_at,
                decided_by: decided_by.map(UserId::from_uuid),
                decided_at,
            })
        }

        pub(crate) async fn insert_access_request(
            conn: &mut $Conn,
            request: sealform_core::grants::AccessRequest,
            audit: PendingAudit,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO access_requests (id, org_id, form_id, user_id, reason, status, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(request.id)
            .bind(request.org.as_uuid())
            .bind(request.form.as_uuid())
            .bind(request.user.as_uuid())
            .bind(&request.reason)
            .bind(request.status.as_str())
            .bind(request.created_at)
            .execute(&mut *conn)
            .await
            .map_err(backend("store access request"))?;
            append_audit(conn, &[audit]).await
        }

        pub(crate) async fn access_requests_of_form(
            pool: &$Pool,
            org: OrgId,
            form: FormId,
        ) -> Result<Vec<sealform_core::grants::AccessRequestRecord>, StoreError> {
            let query = concat!(
                "SELECT ",
                request_columns!(),
                ", u.email FROM access_requests r JOIN users u ON u.id = r.user_id \
                 WHERE r.org_id = $1 AND r.form_id = $2 AND r.status = 'pending' ORDER BY ",
                $instant!("r.created_at"),
                ", r.id"
            );
            let rows: Vec<(Uuid, Uuid, Uuid, Uuid, String, String, OffsetDateTime, Option<Uuid>, Option<OffsetDateTime>, String)> =
                sqlx::query_as(query)
                    .bind(org.as_uuid())
                    .bind(form.as_uuid())
                    .fetch_all(pool)
                    .await
                    .map_err(backend("list access requests"))?;
            rows.into_iter()
                .map(|(a, b, c, d, e, f, g, h, i, email)| {
                    Ok(sealform_core::grants::AccessRequestRecord {
                        request: request_from((a, b, c, d, e, f, g, h, i))?,
                        email: Email::parse(&email).map_err($crate::error::corrupt("user e-mail"))?,
                    })
                })
                .collect()
        }

        pub(crate) async fn access_request(
            pool: &$Pool,
            org: OrgId,
            id: Uuid,
        ) -> Result<Option<sealform_core::grants::AccessRequest>, StoreError> {
            let query =
                concat!("SELECT ", request_columns!(), " FROM access_requests r WHERE r.org_id = $1 AND r.id = $2");
            let row: Option<RequestTuple> = sqlx::query_as(query)
                .bind(org.as_uuid())
                .bind(id)
                .fetch_optional(pool)
                .await
                .map_err(backend("read access request"))?;
            row.map(request_from).transpose()
        }

        pub(crate) async fn decide_access_request(
            conn: &mut $Conn,
            decided: sealform_core::grants::AccessRequest,
            grant: Option<sealform_core::grants::Grant>,
            audit: Vec<PendingAudit>,
        ) -> Result<bool, StoreError> {
            let done = sqlx::query(
                "UPDATE access_requests SET status = $1, decided_by = $2, decided_at = $3 \
                 WHERE org_id = $4 AND id = $5 AND status = 'pending'",
            )
            .bind(decided.status.as_str())
            .bind(decided.decided_by.map(|u| *u.as_uuid()))
            .bind(decided.decided_at)
            .bind(decided.org.as_uuid())
            .bind(decided.id)
            .execute(&mut *conn)
            .await
            .map_err(backend("decide access request"))?
            .rows_affected()
                > 0;
            if !done {
                return Ok(false);
            }
            if let Some(grant) = &grant {
                upsert_grant(conn, grant, None).await?;
            }
            append_audit(conn, &audit).await?;
            Ok(true)
        }
    };
}
pub(crate) use shared_queries;
