//! Statements for [`sealform_core::store::IdempotencyStore`], shared by both backends as [`crate::queries`] are:
//! written once with `$n` placeholders and instantiated per backend by [`idempotency_queries!`], next to that
//! backend's shared statements (the insert reuses their `insert_submission` inside the same transaction).

/// Instantiates the idempotency statements for one backend, in a module beside its `queries`.
macro_rules! idempotency_queries {
    ($Conn:ty, $Pool:ty) => {
        use sealform_core::audit::PendingAudit;
        use sealform_core::idempotency::{IdempotencyRecord, KEY_TAKEN};
        use sealform_core::ids::{OrgId, SubmissionId};
        use sealform_core::store::StoreError;
        use sealform_core::submission::NewSubmission;
        use time::OffsetDateTime;
        use uuid::Uuid;

        use $crate::error::{backend, conflict_on_unique};

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
    };
}

pub(crate) use idempotency_queries;
