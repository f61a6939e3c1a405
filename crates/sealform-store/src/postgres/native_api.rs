//! [`IdempotencyStore`] and [`AuditPageStore`] on PostgreSQL: the insert in one transaction with the submission; a concurrent request with
//! the same key waits on the primary key and then fails as a conflict.

use sealform_core::audit::{AuditQuery, AuditRow, PendingAudit};
use sealform_core::idempotency::IdempotencyRecord;
use sealform_core::store::{AuditPageStore, IdempotencyStore, StoreError};
use sealform_core::submission::NewSubmission;
use sealform_core::tenant::OrgScope;
use time::OffsetDateTime;

use super::PgStore;

mod queries {
    use crate::instants::postgres_instant;

    crate::native_api::native_api_queries!(
        sqlx::PgConnection,
        sqlx::PgPool,
        postgres_instant,
        crate::instants::postgres_bound
    );
}

impl IdempotencyStore for PgStore {
    async fn idempotency_record(
        &self,
        scope: OrgScope,
        api_key: uuid::Uuid,
        key: &str,
        not_before: OffsetDateTime,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        queries::idempotency_record(&self.pool, scope.id(), api_key, key, not_before).await
    }

    async fn insert_submission_once(
        &self,
        _scope: OrgScope,
        submission: NewSubmission,
        audit: PendingAudit,
        record: IdempotencyRecord,
        expired_before: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.in_transaction("store submission", async |conn| {
            queries::insert_submission_once(conn, submission, audit, record, expired_before).await
        })
        .await
    }
}

impl AuditPageStore for PgStore {
    async fn audit_page(
        &self,
        _scope: OrgScope,
        query: AuditQuery,
        before: Option<i64>,
    ) -> Result<Vec<AuditRow>, StoreError> {
        queries::audit_page(&self.pool, query, before).await
    }
}
