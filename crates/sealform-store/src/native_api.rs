//! Statements the native API needs beyond the console's: idempotency records
//! ([`sealform_core::store::IdempotencyStore`]) and keyset pages of the audit search
//! ([`sealform_core::store::AuditPageStore`]). Shared by both backends as [`crate::queries`] are: written once with
//! `$n` placeholders and instantiated per backend by [`native_api_queries!`], next to that backend's shared
//! statements (the idempotent insert reuses their `insert_submission` inside the same transaction).

/// Instantiates the native API's statements for one backend, in a module beside its `queries`; `$instant` and
/// `$bound` are the backend's pair from [`crate::instants`].
macro_rules! native_api_queries {
    ($Conn:ty, $Pool:ty, $instant:ident, $bound:path) => {
        use sealform_core::audit::{AuditQuery, AuditRow, PendingAudit};
        use sealform_core::idempotency::{IdempotencyRecord, KEY_TAKEN};
        use sealform_core::ids::{OrgId, SubmissionId};
        use sealform_core::store::StoreError;
        use sealform_core::submission::NewSubmission;
        use time::OffsetDateTime;
        use uuid::Uuid;

        use $crate::error::{backend, conflict_on_unique};
        use $crate::rows::{AuditEventRow, audit_columns};

        type RecordRow = (Uuid, Uuid, String, Vec<u8>, Uuid, i32, String, OffsetDateTime);

        pub(crate) async fn idempotency_record(
            pool: &$Pool,
            org: OrgId,
            api_key: Uuid,
            key: &str,
            not_before: OffsetDateTime,
        ) -> Result<Option<IdempotencyRecord>, StoreError> {
            let row: Option<RecordRow> = sqlx::query_as(
                "SELECT org_id, api_key_id, idem_key, request_digest, submission_id, status, response, created_at \
                 FROM api_idempotency WHERE org_id = $1 AND api_key_id = $2 AND idem_key = $3 AND created_at >= $4",
            )
            .bind(org.as_uuid())
            .bind(api_key)
            .bind(key)
            .bind(not_before)
            .fetch_optional(pool)
            .await
            .map_err(backend("find idempotency key"))?;
            row.map(|(org, api_key, key, digest, submission, status, response, created_at)| {
                Ok(IdempotencyRecord {
                    org: OrgId::from_uuid(org),
                    api_key,
                    key,
                    request_digest: digest
                        .as_slice()
                        .try_into()
                        .map_err(|_| StoreError::Corrupt("idempotency request digest".into()))?,
                    submission: SubmissionId::from_uuid(submission),
                    status: u16::try_from(status).map_err(|_| StoreError::Corrupt("idempotency status".into()))?,
                    response,
                    created_at,
                })
            })
            .transpose()
        }

        /// Drops the organisation's expired records, claims the key (a unique violation means a record in force
        /// holds it), then stores the submission: one transaction, so neither exists without the other.
        pub(crate) async fn insert_submission_once(
            conn: &mut $Conn,
            submission: NewSubmission,
            audit: PendingAudit,
            record: IdempotencyRecord,
            expired_before: OffsetDateTime,
        ) -> Result<(), StoreError> {
            sqlx::query("DELETE FROM api_idempotency WHERE org_id = $1 AND created_at < $2")
                .bind(record.org.as_uuid())
                .bind(expired_before)
                .execute(&mut *conn)
                .await
                .map_err(backend("drop expired idempotency keys"))?;
            sqlx::query(
                "INSERT INTO api_idempotency (org_id, api_key_id, idem_key, request_digest, submission_id, status, \
                 response, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(record.org.as_uuid())
            .bind(record.api_key)
            .bind(&record.key)
            .bind(record.request_digest.as_slice())
            .bind(record.submission.as_uuid())
            .bind(i32::from(record.status))
            .bind(&record.response)
            .bind(record.created_at)
            .execute(&mut *conn)
            .await
            .map_err(conflict_on_unique("store idempotency key", KEY_TAKEN))?;
            super::super::queries::insert_submission(conn, submission, audit).await
        }

        /// As the shared `audit_search`, continuing below sequence number `before` (keyset: exact whatever the
        /// entries' times).
        pub(crate) async fn audit_page(
            pool: &$Pool,
            query: AuditQuery,
            before: Option<i64>,
        ) -> Result<Vec<AuditRow>, StoreError> {
            let rows: Vec<AuditEventRow> = sqlx::query_as(concat!(
                "SELECT ",
                audit_columns!(),
                " FROM audit_events WHERE org_id = $1 AND ($2 IS NULL OR action = $2) \
                 AND ($3 IS NULL OR actor_id = $3) AND ($4 IS NULL OR target_hash = $4) \
                 AND ($5 IS NULL OR ",
                $instant!("at"),
                " >= $5) AND ($6 IS NULL OR ",
                $instant!("at"),
                " < $6) AND ($8 IS NULL OR seq < $8) ORDER BY seq DESC LIMIT $7"
            ))
            .bind(query.org.as_uuid())
            .bind(query.action.map(|a| a.as_str()))
            .bind(query.actor)
            .bind(query.target_hash.map(|h| h.to_vec()))
            .bind($bound(query.from))
            .bind($bound(query.to))
            .bind(i64::from(query.limit))
            .bind(before)
            .fetch_all(pool)
            .await
            .map_err(backend("search audit entries"))?;
            rows.into_iter().map(AuditEventRow::into_domain).collect()
        }
    };
}

pub(crate) use native_api_queries;
