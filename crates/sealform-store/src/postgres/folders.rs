//! Folders and per-form settings on PostgreSQL: reads on the pool, each write in its own transaction.

use sealform_core::audit::PendingAudit;
use sealform_core::folders::Folder;
use sealform_core::form_settings::Webhook;
use sealform_core::ids::{FolderId, FormId};
use sealform_core::store::{FolderStore, FormSettingsStore, StoreError};
use sealform_core::tenant::OrgScope;
use time::OffsetDateTime;

use super::{PgStore, queries};

impl FolderStore for PgStore {
    async fn folders_of(&self, scope: OrgScope) -> Result<Vec<Folder>, StoreError> {
        queries::folders_of(&self.pool, scope.id()).await
    }

    async fn folder(&self, scope: OrgScope, folder: FolderId) -> Result<Option<Folder>, StoreError> {
        queries::folder(&self.pool, scope.id(), folder).await
    }

    async fn form_folders(&self, scope: OrgScope) -> Result<Vec<(FormId, FolderId)>, StoreError> {
        queries::form_folders(&self.pool, scope.id()).await
    }

    async fn insert_folder(&self, _scope: OrgScope, folder: Folder, audit: PendingAudit) -> Result<(), StoreError> {
        self.in_transaction("create folder", async |conn| queries::insert_folder(conn, folder, audit).await).await
    }

    async fn update_folder(
        &self,
        _scope: OrgScope,
        folder: Folder,
        forms: Vec<FormId>,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.in_transaction("update folder", async |conn| queries::update_folder(conn, folder, forms, audit).await)
            .await
    }

    async fn delete_folder(
        &self,
        scope: OrgScope,
        folder: FolderId,
        doomed: Vec<FolderId>,
        freed: Vec<FormId>,
        audit: PendingAudit,
    ) -> Result<bool, StoreError> {
        self.in_transaction("delete folder", async |conn| {
            queries::delete_folder(conn, scope.id(), folder, doomed, freed, audit).await
        })
        .await
    }
}

impl FormSettingsStore for PgStore {
    async fn webhooks_of(&self, scope: OrgScope, form: FormId) -> Result<Vec<Webhook>, StoreError> {
        queries::webhooks_of(&self.pool, scope.id(), form).await
    }

    async fn insert_webhook(
        &self,
        scope: OrgScope,
        form: FormId,
        url: String,
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> Result<Webhook, StoreError> {
        self.in_transaction("add webhook", async |conn| {
            queries::insert_webhook(conn, scope.id(), form, url, at, audit).await
        })
        .await
    }

    async fn delete_webhook(
        &self,
        scope: OrgScope,
        form: FormId,
        id: i64,
        audit: PendingAudit,
    ) -> Result<bool, StoreError> {
        self.in_transaction("delete webhook", async |conn| {
            queries::delete_webhook(conn, scope.id(), form, id, audit).await
        })
        .await
    }

    async fn form_properties(&self, scope: OrgScope, form: FormId) -> Result<Vec<(String, String)>, StoreError> {
        queries::form_properties(&self.pool, scope.id(), form).await
    }

    async fn put_form_properties(
        &self,
        scope: OrgScope,
        form: FormId,
        properties: Vec<(String, String)>,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.in_transaction("store form properties", async |conn| {
            queries::put_form_properties(conn, scope.id(), form, properties, audit).await
        })
        .await
    }
}
