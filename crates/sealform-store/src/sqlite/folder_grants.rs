//! Grants on folders on SQLite: reads on the pool, writes through the single writer.

use sealform_core::audit::PendingAudit;
use sealform_core::folder_grants::{FolderGrant, FolderGrantRecord};
use sealform_core::ids::{FolderId, UserId};
use sealform_core::store::{FolderGrantStore, StoreError};
use sealform_core::tenant::OrgScope;

use super::{SqliteStore, queries};

impl FolderGrantStore for SqliteStore {
    async fn folder_grants_of(&self, scope: OrgScope, folder: FolderId) -> Result<Vec<FolderGrantRecord>, StoreError> {
        queries::folder_grants_of(&self.reads, scope.id(), Some(folder)).await
    }

    async fn folder_grants_of_org(&self, scope: OrgScope) -> Result<Vec<FolderGrantRecord>, StoreError> {
        queries::folder_grants_of(&self.reads, scope.id(), None).await
    }

    async fn folder_grant(
        &self,
        scope: OrgScope,
        folder: FolderId,
        user: UserId,
    ) -> Result<Option<FolderGrant>, StoreError> {
        queries::folder_grant(&self.reads, scope.id(), folder, user).await
    }

    async fn put_folder_grant(
        &self,
        _scope: OrgScope,
        grant: FolderGrant,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::put_folder_grant(conn, grant, audit))).await
    }

    async fn delete_folder_grant(
        &self,
        scope: OrgScope,
        folder: FolderId,
        user: UserId,
        audit: PendingAudit,
    ) -> Result<bool, StoreError> {
        self.writer
            .write(move |conn| Box::pin(queries::delete_folder_grant(conn, scope.id(), folder, user, audit)))
            .await
    }
}
