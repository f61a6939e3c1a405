//! Statements for folders, form webhooks and form properties (migration 0006), shared by both backends like
//! [`crate::queries`]: instantiated in the same module as the shared statements, so writes append their audit entry
//! with the same `append_audit` in the same transaction. Every statement filters by organisation.

/// Instantiates the folder and form-settings statements for one backend; `$lock_update` and `$instant` as for
/// [`crate::queries::shared_queries!`].
macro_rules! folder_queries {
    ($Conn:ty, $Pool:ty, $lock_update:literal, $instant:ident) => {
        use sealform_core::folders::Folder;
        use sealform_core::store::{FOLDER_CHANGED, FOLDER_HAS_GRANTS};
        use sealform_core::form_settings::Webhook;
        use sealform_core::ids::FolderId;

        type FolderTuple = (Uuid, Uuid, Option<Uuid>, String, String, OffsetDateTime);

        fn folder_from((org, id, parent, name, color, created_at): FolderTuple) -> Folder {
            Folder {
                org: OrgId::from_uuid(org),
                id: FolderId::from_uuid(id),
                parent: parent.map(FolderId::from_uuid),
                name,
                color,
                created_at,
            }
        }

        pub(crate) async fn folders_of(pool: &$Pool, org: OrgId) -> Result<Vec<Folder>, StoreError> {
            let rows: Vec<FolderTuple> = sqlx::query_as(concat!(
                "SELECT org_id, id, parent_id, name, color, created_at FROM folders WHERE org_id = $1 ORDER BY ",
                $instant!("created_at"),
                ", id"
            ))
            .bind(org.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(backend("list folders"))?;
            Ok(rows.into_iter().map(folder_from).collect())
        }

        pub(crate) async fn folder(pool: &$Pool, org: OrgId, folder: FolderId) -> Result<Option<Folder>, StoreError> {
            let row: Option<FolderTuple> = sqlx::query_as(
                "SELECT org_id, id, parent_id, name, color, created_at FROM folders WHERE org_id = $1 AND id = $2",
            )
            .bind(org.as_uuid())
            .bind(folder.as_uuid())
            .fetch_optional(pool)
            .await
            .map_err(backend("read folder"))?;
            Ok(row.map(folder_from))
        }

        pub(crate) async fn form_folders(pool: &$Pool, org: OrgId) -> Result<Vec<(FormId, FolderId)>, StoreError> {
            let rows: Vec<(Uuid, Uuid)> =
                sqlx::query_as("SELECT form_id, folder_id FROM folder_forms WHERE org_id = $1")
                    .bind(org.as_uuid())
                    .fetch_all(pool)
                    .await
                    .map_err(backend("list forms in folders"))?;
            Ok(rows.into_iter().map(|(form, folder)| (FormId::from_uuid(form), FolderId::from_uuid(folder))).collect())
        }

        async fn folder_exists(conn: &mut $Conn, org: OrgId, folder: FolderId) -> Result<bool, StoreError> {
            let row: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM folders WHERE org_id = $1 AND id = $2")
                .bind(org.as_uuid())
                .bind(folder.as_uuid())
                .fetch_optional(&mut *conn)
                .await
                .map_err(backend("check folder"))?;
            Ok(row.is_some())
        }

        async fn form_exists(conn: &mut $Conn, org: OrgId, form: FormId) -> Result<bool, StoreError> {
            let row: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM forms WHERE org_id = $1 AND id = $2")
                .bind(org.as_uuid())
                .bind(form.as_uuid())
                .fetch_optional(&mut *conn)
                .await
                .map_err(backend("check form"))?;
            Ok(row.is_some())
        }

        pub(crate) async fn insert_folder(
            conn: &mut $Conn,
            folder: Folder,
            audit: PendingAudit,
        ) -> Result<(), StoreError> {
            if let Some(parent) = folder.parent
                && !folder_exists(conn, folder.org, parent).await?
            {
                return Err(StoreError::NotFound("no such parent folder".into()));
            }
            sqlx::query(
                "INSERT INTO folders (org_id, id, parent_id, name, color, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(folder.org.as_uuid())
            .bind(folder.id.as_uuid())
            .bind(folder.parent.map(|p| *p.as_uuid()))
            .bind(&folder.name)
            .bind(&folder.color)
            .bind(folder.created_at)
            .execute(&mut *conn)
            .await
            .map_err(backend("create folder"))?;
            append_audit(conn, &[audit]).await
        }

        pub(crate) async fn update_folder(
            conn: &mut $Conn,
            folder: Folder,
            forms: Vec<FormId>,
            audit: PendingAudit,
        ) -> Result<(), StoreError> {
            let changed = sqlx::query("UPDATE folders SET name = $1, color = $2 WHERE org_id = $3 AND id = $4")
                .bind(&folder.name)
                .bind(&folder.color)
                .bind(folder.org.as_uuid())
                .bind(folder.id.as_uuid())
                .execute(&mut *conn)
                .await
                .map_err(backend("update folder"))?
                .rows_affected();
            if changed == 0 {
                return Err(StoreError::NotFound("no such folder".into()));
            }
            for form in forms {
                if !form_exists(conn, folder.org, form).await? {
                    return Err(StoreError::NotFound("no such form".into()));
                }
                sqlx::query(
                    "INSERT INTO folder_forms (org_id, form_id, folder_id) VALUES ($1, $2, $3) \
                     ON CONFLICT (org_id, form_id) DO UPDATE SET folder_id = excluded.folder_id",
                )
                .bind(folder.org.as_uuid())
                .bind(form.as_uuid())
                .bind(folder.id.as_uuid())
                .execute(&mut *conn)
                .await
                .map_err(backend("move form into folder"))?;
            }
            append_audit(conn, &[audit]).await
        }

        /// See `FolderStore::delete_folder`. The organisation's folders are locked first (on PostgreSQL; SQLite's
        /// single writer runs one write at a time): a new folder grant or form filing checks its folder's row, so
        /// none can reach the doomed folders between the checks and the delete.
        pub(crate) async fn delete_folder(
            conn: &mut $Conn,
            org: OrgId,
            folder: FolderId,
            doomed: Vec<FolderId>,
            freed: Vec<FormId>,
            audit: PendingAudit,
        ) -> Result<bool, StoreError> {
            macro_rules! with_doomed {
                ($select:literal) => {
                    concat!(
                        "WITH RECURSIVE doomed (id) AS (SELECT id FROM folders WHERE org_id = $1 AND id = $2 \
                         UNION SELECT f.id FROM folders f JOIN doomed d ON f.org_id = $1 AND f.parent_id = d.id) ",
                        $select
                    )
                };
            }
            sqlx::query(concat!("SELECT id FROM folders WHERE org_id = $1 ORDER BY id", $lock_update))
                .bind(org.as_uuid())
                .fetch_all(&mut *conn)
                .await
                .map_err(backend("lock folders"))?;
            let granted: bool = sqlx::query_scalar(with_doomed!(
                "SELECT EXISTS (SELECT 1 FROM folder_grants WHERE org_id = $1 AND folder_id IN (SELECT id FROM doomed))"
            ))
            .bind(org.as_uuid())
            .bind(folder.as_uuid())
            .fetch_one(&mut *conn)
            .await
            .map_err(backend("check folder grants"))?;
            if granted {
                return Err(StoreError::Conflict(FOLDER_HAS_GRANTS.into()));
            }
            let filed: Vec<Uuid> = sqlx::query_scalar(with_doomed!(
                "SELECT form_id FROM folder_forms WHERE org_id = $1 AND folder_id IN (SELECT id FROM doomed)"
            ))
            .bind(org.as_uuid())
            .bind(folder.as_uuid())
            .fetch_all(&mut *conn)
            .await
            .map_err(backend("read folder forms"))?;
            let folders: Vec<Uuid> = sqlx::query_scalar(with_doomed!("SELECT id FROM doomed"))
                .bind(org.as_uuid())
                .bind(folder.as_uuid())
                .fetch_all(&mut *conn)
                .await
                .map_err(backend("read folders"))?;
            let as_set = |ids: Vec<Uuid>| ids.into_iter().collect::<std::collections::BTreeSet<_>>();
            // A form filed or a subfolder made since the entry was written would go unnamed by it.
            if as_set(filed) != as_set(freed.iter().map(|form| *form.as_uuid()).collect())
                || as_set(folders) != as_set(doomed.iter().map(|f| *f.as_uuid()).collect())
            {
                return Err(StoreError::Conflict(FOLDER_CHANGED.into()));
            }
            // Subfolders and folder memberships go by ON DELETE CASCADE; forms themselves stay.
            let deleted = sqlx::query("DELETE FROM folders WHERE org_id = $1 AND id = $2")
                .bind(org.as_uuid())
                .bind(folder.as_uuid())
                .execute(&mut *conn)
                .await
                .map_err(backend("delete folder"))?
                .rows_affected()
                > 0;
            if deleted {
                append_audit(conn, &[audit]).await?;
            }
            Ok(deleted)
        }

        pub(crate) async fn webhooks_of(pool: &$Pool, org: OrgId, form: FormId) -> Result<Vec<Webhook>, StoreError> {
            let rows: Vec<(i64, String, OffsetDateTime)> = sqlx::query_as(
                "SELECT id, url, created_at FROM form_webhooks WHERE org_id = $1 AND form_id = $2 ORDER BY id",
            )
            .bind(org.as_uuid())
            .bind(form.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(backend("list webhooks"))?;
            Ok(rows.into_iter().map(|(id, url, created_at)| Webhook { id, url, created_at }).collect())
        }

        pub(crate) async fn insert_webhook(
            conn: &mut $Conn,
            org: OrgId,
            form: FormId,
            url: String,
            at: OffsetDateTime,
            audit: PendingAudit,
        ) -> Result<Webhook, StoreError> {
            if !form_exists(conn, org, form).await? {
                return Err(StoreError::NotFound("no such form".into()));
            }
            // One past the largest number present (Jotform numbers a form's webhooks in order of creation).
            let (next,): (i64,) =
                sqlx::query_as("SELECT COALESCE(MAX(id) + 1, 0) FROM form_webhooks WHERE org_id = $1 AND form_id = $2")
                    .bind(org.as_uuid())
                    .bind(form.as_uuid())
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(backend("number webhook"))?;
            sqlx::query("INSERT INTO form_webhooks (org_id, form_id, id, url, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(org.as_uuid())
                .bind(form.as_uuid())
                .bind(next)
                .bind(&url)
                .bind(at)
                .execute(&mut *conn)
                .await
                .map_err(conflict_on_unique("add webhook", "another webhook was added at the same time; retry"))?;
            append_audit(conn, &[audit]).await?;
            Ok(Webhook { id: next, url, created_at: at })
        }

        pub(crate) async fn delete_webhook(
            conn: &mut $Conn,
            org: OrgId,
            form: FormId,
            id: i64,
            audit: PendingAudit,
        ) -> Result<bool, StoreError> {
            let deleted = sqlx::query("DELETE FROM form_webhooks WHERE org_id = $1 AND form_id = $2 AND id = $3")
                .bind(org.as_uuid())
                .bind(form.as_uuid())
                .bind(id)
                .execute(&mut *conn)
                .await
                .map_err(backend("delete webhook"))?
                .rows_affected()
                > 0;
            if deleted {
                append_audit(conn, &[audit]).await?;
            }
            Ok(deleted)
        }

        pub(crate) async fn form_properties(
            pool: &$Pool,
            org: OrgId,
            form: FormId,
        ) -> Result<Vec<(String, String)>, StoreError> {
            sqlx::query_as("SELECT key, value FROM form_properties WHERE org_id = $1 AND form_id = $2 ORDER BY key")
                .bind(org.as_uuid())
                .bind(form.as_uuid())
                .fetch_all(pool)
                .await
                .map_err(backend("list form properties"))
        }

        pub(crate) async fn put_form_properties(
            conn: &mut $Conn,
            org: OrgId,
            form: FormId,
            properties: Vec<(String, String)>,
            audit: PendingAudit,
        ) -> Result<(), StoreError> {
            if !form_exists(conn, org, form).await? {
                return Err(StoreError::NotFound("no such form".into()));
            }
            for (key, value) in &properties {
                sqlx::query(
                    "INSERT INTO form_properties (org_id, form_id, key, value) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (org_id, form_id, key) DO UPDATE SET value = excluded.value",
                )
                .bind(org.as_uuid())
                .bind(form.as_uuid())
                .bind(key)
                .bind(value)
                .execute(&mut *conn)
                .await
                .map_err(backend("store form property"))?;
            }
            append_audit(conn, &[audit]).await
        }
    };
}
pub(crate) use folder_queries;
