//! Grants on folders on PostgreSQL: reads on the pool, each write in its own transaction.

use sealform_core::audit::PendingAudit;
use sealform_core::folder_grants::{FolderGrant, FolderGrantRecord};
use sealform_core::ids::{FolderId, UserId};
use sealform_core::store::{FolderGrantStore, StoreError};
use sealform_core::tenant::OrgScope;

use super::{PgStore, queries};

impl FolderGrantStore for PgStore {
    async fn folder_grants_of(&self, scope: OrgScope, folder: FolderId) -> Result<Vec<FolderGrantRecord>, StoreError> {
        queries::folder_grants_of(&self.pool, scope.id(), Some(folder)).await
    }

    async fn folder_grants_of_org(&self, scope: OrgScope) -> Result<Vec<FolderGrantRecord>, StoreError> {
        queries::folder_grants_of(&self.pool, scope.id(), None).await
    }

    async fn folder_grant(
        &self,
        scope: OrgScope,
        folder: FolderId,
        user: UserId,
    ) -> Result<Option<FolderGrant>, StoreError> {
        queries::folder_grant(&self.pool, scope.id(), folder, user).await
    }

    async fn put_folder_grant(
        &self,
        _scope: OrgScope,
        grant: FolderGrant,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.in_transaction("store folder grant", async |conn| queries::put_folder_grant(conn, grant, audit).await)
            .await
    }

    async fn delete_folder_grant(
        &self,
        scope: OrgScope,
        folder: FolderId,
        user: UserId,
        audit: PendingAudit,
    ) -> Result<bool, StoreError> {
        self.in_transaction("revoke folder grant", async |conn| {
            queries::delete_folder_grant(conn, scope.id(), folder, user, audit).await
        })
        .await
    }
}
