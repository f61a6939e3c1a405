//! Folders and per-form settings on SQLite: reads on the pool, writes through the single writer.

use sealform_core::audit::PendingAudit;
use sealform_core::folders::Folder;
use sealform_core::form_settings::Webhook;
use sealform_core::ids::{FolderId, FormId};
use sealform_core::store::{FolderStore, FormSettingsStore, StoreError};
use sealform_core::tenant::OrgScope;
use time::OffsetDateTime;

use super::{SqliteStore, queries};

impl FolderStore for SqliteStore {
    async fn folders_of(&self, scope: OrgScope) -> Result<Vec<Folder>, StoreError> {
        queries::folders_of(&self.reads, scope.id()).await
    }

    async fn folder(&self, scope: OrgScope, folder: FolderId) -> Result<Option<Folder>, StoreError> {
        queries::folder(&self.reads, scope.id(), folder).await
    }

    async fn form_folders(&self, scope: OrgScope) -> Result<Vec<(FormId, FolderId)>, StoreError> {
        queries::form_folders(&self.reads, scope.id()).await
    }

    async fn insert_folder(&self, _scope: OrgScope, folder: Folder, audit: PendingAudit) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::insert_folder(conn, folder, audit))).await
    }

    async fn update_folder(
        &self,
        _scope: OrgScope,
        folder: Folder,
        forms: Vec<FormId>,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::update_folder(conn, folder, forms, audit))).await
    }

    async fn delete_folder(
        &self,
        scope: OrgScope,
        folder: FolderId,
        doomed: Vec<FolderId>,
        freed: Vec<FormId>,
        audit: PendingAudit,
    ) -> Result<bool, StoreError> {
        self.writer
            .write(move |conn| Box::pin(queries::delete_folder(conn, scope.id(), folder, doomed, freed, audit)))
            .await
    }
}

impl FormSettingsStore for SqliteStore {
    async fn webhooks_of(&self, scope: OrgScope, form: FormId) -> Result<Vec<Webhook>, StoreError> {
        queries::webhooks_of(&self.reads, scope.id(), form).await
    }

    async fn insert_webhook(
        &self,
        scope: OrgScope,
        form: FormId,
        url: String,
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> Result<Webhook, StoreError> {
        self.writer.write(move |conn| Box::pin(queries::insert_webhook(conn, scope.id(), form, url, at, audit))).await
    }

    async fn delete_webhook(
        &self,
        scope: OrgScope,
        form: FormId,
        id: i64,
        audit: PendingAudit,
    ) -> Result<bool, StoreError> {
        self.writer.write(move |conn| Box::pin(queries::delete_webhook(conn, scope.id(), form, id, audit))).await
    }

    async fn form_properties(&self, scope: OrgScope, form: FormId) -> Result<Vec<(String, String)>, StoreError> {
        queries::form_properties(&self.reads, scope.id(), form).await
    }

    async fn put_form_properties(
        &self,
        scope: OrgScope,
        form: FormId,
        properties: Vec<(String, String)>,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.writer
            .write(move |conn| Box::pin(queries::put_form_properties(conn, scope.id(), form, properties, audit)))
            .await
    }
}
