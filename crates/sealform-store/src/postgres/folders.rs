//! Folders and per-form settings on PostgreSQL: reads on the pool, each write in its own transaction.

use sealform_core::audit::PendingAudit;
use sealform_core::folders::Folder;
use sealform_core::form_settings::Webhook;
use sealform_core::ids::{FolderId, FormId, OrgId};
use sealform_core::store::{FolderStore, FormSettingsStore, StoreError};
use time::OffsetDateTime;

use super::{PgStore, queries};

impl FolderStore for PgStore {
    async fn folders_of(&self, org: OrgId) -> Result<Vec<Folder>, StoreError> {
        queries::folders_of(&self.pool, org).await
    }

    async fn folder(&self, org: OrgId, folder: FolderId) -> Result<Option<Folder>, StoreError> {
        queries::folder(&self.pool, org, folder).await
    }

    async fn form_folders(&self, org: OrgId) -> Result<Vec<(FormId, FolderId)>, StoreError> {
        queries::form_folders(&self.pool, org).await
    }

    async fn insert_folder(&self, folder: Folder, audit: PendingAudit) -> Result<(), StoreError> {
        self.in_transaction("create folder", async |conn| queries::insert_folder(conn, folder, audit).await).await
    }

    async fn update_folder(&self, folder: Folder, forms: Vec<FormId>, audit: PendingAudit) -> Result<(), StoreError> {
        self.in_transaction("update folder", async |conn| queries::update_folder(conn, folder, forms, audit).await)
            .await
    }

    async fn delete_folder(&self, org: OrgId, folder: FolderId, audit: PendingAudit) -> Result<bool, StoreError> {
        self.in_transaction("delete folder", async |conn| queries::delete_folder(conn, org, folder, audit).await).await
    }
}

impl FormSettingsStore for PgStore {
    async fn webhooks_of(&self, org: OrgId, form: FormId) -> Result<Vec<Webhook>, StoreError> {
        queries::webhooks_of(&self.pool, org, form).await
    }

    async fn insert_webhook(
        &self,
        org: OrgId,
        form: FormId,
        url: String,
        at: OffsetDateTime,
        audit: PendingAudit,
    ) -> Result<Webhook, StoreError> {
        self.in_transaction("add webhook", async |conn| queries::insert_webhook(conn, org, form, url, at, audit).await)
            .await
    }

    async fn delete_webhook(&self, org: OrgId, form: FormId, id: i64, audit: PendingAudit) -> Result<bool, StoreError> {
        self.in_transaction("delete webhook", async |conn| queries::delete_webhook(conn, org, form, id, audit).await)
            .await
    }

    async fn form_properties(&self, org: OrgId, form: FormId) -> Result<Vec<(String, String)>, StoreError> {
        queries::form_properties(&self.pool, org, form).await
    }

    async fn put_form_properties(
        &self,
        org: OrgId,
        form: FormId,
        properties: Vec<(String, String)>,
        audit: PendingAudit,
    ) -> Result<(), StoreError> {
        self.in_transaction("store form properties", async |conn| {
            queries::put_form_properties(conn, org, form, properties, audit).await
        })
        .await
    }
}
