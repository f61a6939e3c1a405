//! [`IdempotencyStore`] and [`AuditPageStore`] on SQLite: reads from the pool, the insert through the single writer (one transaction with
//! the submission).

use sealform_core::audit::{AuditQuery, AuditRow, PendingAudit};
use sealform_core::idempotency::IdempotencyRecord;
use sealform_core::store::{AuditPageStore, IdempotencyStore, StoreError};
use sealform_core::submission::NewSubmission;
use sealform_core::tenant::OrgScope;
use time::OffsetDateTime;

use super::SqliteStore;

mod queries {
    use crate::instants::sqlite_instant;

    crate::native_api::native_api_queries!(
        sqlx::SqliteConnection,
        sqlx::SqlitePool,
        sqlite_instant,
        crate::instants::sqlite_bound
    );
}

impl IdempotencyStore for SqliteStore {
    async fn idempotency_record(
        &self,
        scope: OrgScope,
        api_key: uuid::Uuid,
        key: &str,
        not_before: OffsetDateTime,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        queries::idempotency_record(&self.reads, scope.id(), api_key, key, not_before).await
    }

    async fn insert_submission_once(
        &self,
        _scope: OrgScope,
        submission: NewSubmission,
        audit: PendingAudit,
        record: IdempotencyRecord,
        expired_before: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.writer
            .write(move |conn| {
                Box::pin(queries::insert_submission_once(conn, submission, audit, record, expired_before))
            })
            .await
    }
}

impl AuditPageStore for SqliteStore {
    async fn audit_page(
        &self,
        _scope: OrgScope,
        query: AuditQuery,
        before: Option<i64>,
    ) -> Result<Vec<AuditRow>, StoreError> {
        queries::audit_page(&self.reads, query, before).await
    }
}
