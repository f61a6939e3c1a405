//! Folders and per-form settings on SQLite: reads on the pool, writes through the single writer.

use sealform_core::audit::PendingAudit;
use sealform_core::folders::Folder;
use sealform_core::form_settings::Webhook;
use sealform_core::ids::{FolderId, FormId, OrgId};
use sealform_core::store::{FolderStore, FormSettingsStore, StoreError};
use time::OffsetDateTime;

use super::{SqliteStore, queries};

impl FolderStore for SqliteStore {
    async fn folders_of(&self, org: OrgId) -> Result<Vec<Folder>, StoreError> {
        queries::folders_of(&self.reads, org).await
    }

    async fn folder(&self, org: OrgId, folder: FolderId) -> Result<Option<Folder>, StoreError> {
        queries::folder(&self.reads, org, folder).await
    }

    async fn form_folders(&self, org: OrgId) -> Result<Vec<(FormId, FolderId)>, StoreError> {
        queries::form_folders(&self.reads, org).await
    }

    async fn insert_folder(&self, folder: Folder, audit: PendingAudit) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::insert_folder(conn, folder, audit))).await
    }

    async fn update_folder(&self, folder: Folder, forms: Vec<FormId>, audit: PendingAudit) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::update_folder(conn, folder, forms, audit))).await
    }

    async fn delete_folder(&self, org: OrgId, folder: FolderId, audit: PendingAudit) -> Result<bool, StoreError> {
        self.writer.write(move |conn| Box::pin(queries::delete_folder(conn, org, folder, audit))).await
    }
}

impl FormSettingsStore for SqliteStore {
    async fn webhooks_of(&self, org: OrgId, form: FormId) -> Result<Vec<Webhook>, StoreError> {
        queries::webhooks_of(&self.reads, org, form).await
    }

    async fn insert_webhook(
        &self,
        org: OrgId,
        form: FormId,
        url: String,
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> Result<Webhook, StoreError> {
        self.writer.write(move |conn| Box::pin(queries::insert_webhook(conn, org, form, url, at, audit))).await
    }

    async fn delete_webhook(&self, org: OrgId, form: FormId, id: i64, audit: PendingAudit) -> Result<bool, StoreError> {
        self.writer.write(move |conn| Box::pin(queries::delete_webhook(conn, org, form, id, audit))).await
    }

    async fn form_properties(&self, org: OrgId, form: FormId) -> Result<Vec<(String, String)>, StoreError> {
        queries::form_properties(&self.reads, org, form).await
    }

    async fn put_form_properties(
        &self,
        org: OrgId,
        form: FormId,
        properties: Vec<(String, String)>,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.writer.write(move |conn| Box::pin(queries::put_form_properties(conn, org, form, properties, audit))).await
    }
}
