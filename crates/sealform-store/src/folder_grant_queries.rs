//! Statements for grants on folders (migration 0010), shared by both backends like [`crate::queries`] and
//! instantiated beside them, so writes append their audit entry in the same transaction. Every statement filters by
//! organisation. The expansion into per-form grants lives with the form grants (`grants_of_user`).

/// Instantiates the folder-grant statements for one backend.
macro_rules! folder_grant_queries {
    ($Conn:ty, $Pool:ty) => {
        use sealform_core::folder_grants::{FolderGrant, FolderGrantRecord};

        type FolderGrantTuple =
            (Uuid, Uuid, Uuid, String, bool, Option<OffsetDateTime>, Option<Uuid>, OffsetDateTime, String);

        /// The start of every read: a [`FolderGrantTuple`] per row.
        macro_rules! folder_grant_select {
            ($where:literal) => {
                concat!(
                    "SELECT g.org_id, g.folder_id, g.user_id, g.rights, g.hide_phi, g.expires_at, g.granted_by, \
                     g.created_at, u.email FROM folder_grants g JOIN users u ON u.id = g.user_id WHERE ",
                    $where
                )
            };
        }

        fn folder_grant_from(row: FolderGrantTuple) -> Result<FolderGrantRecord, StoreError> {
            let (org, folder, user, rights, hide_phi, expires_at, granted_by, created_at, email) = row;
            Ok(FolderGrantRecord {
                grant: FolderGrant {
                    org: OrgId::from_uuid(org),
                    folder: FolderId::from_uuid(folder),
                    user: UserId::from_uuid(user),
                    rights: sealform_core::grants::Right::parse_list(&rights)
                        .map_err($crate::error::corrupt("folder grant rights"))?,
                    hide_phi,
                    expires_at,
                    granted_by: granted_by.map(UserId::from_uuid),
                    created_at,
                },
                email: Email::parse(&email).map_err($crate::error::corrupt("user e-mail"))?,
            })
        }

        pub(crate) async fn folder_grants_of(
            pool: &$Pool,
            org: OrgId,
            folder: Option<FolderId>,
        ) -> Result<Vec<FolderGrantRecord>, StoreError> {
            let sql = folder_grant_select!("g.org_id = $1 AND ($2 IS NULL OR g.folder_id = $2) ORDER BY u.email");
            let rows: Vec<FolderGrantTuple> = sqlx::query_as(sql)
                .bind(org.as_uuid())
                .bind(folder.map(|f| *f.as_uuid()))
                .fetch_all(pool)
                .await
                .map_err(backend("list folder grants"))?;
            rows.into_iter().map(folder_grant_from).collect()
        }

        pub(crate) async fn folder_grant(
            pool: &$Pool,
            org: OrgId,
            folder: FolderId,
            user: UserId,
        ) -> Result<Option<FolderGrant>, StoreError> {
            let sql = folder_grant_select!("g.org_id = $1 AND g.folder_id = $2 AND g.user_id = $3");
            let row: Option<FolderGrantTuple> = sqlx::query_as(sql)
                .bind(org.as_uuid())
                .bind(folder.as_uuid())
                .bind(user.as_uuid())
                .fetch_optional(pool)
                .await
                .map_err(backend("read folder grant"))?;
            Ok(row.map(folder_grant_from).transpose()?.map(|r| r.grant))
        }

        pub(crate) async fn put_folder_grant(
            conn: &mut $Conn,
            grant: FolderGrant,
            audit: PendingAudit,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO folder_grants (org_id, folder_id, user_id, rights, hide_phi, expires_at, granted_by, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (org_id, folder_id, user_id) DO \
                 UPDATE SET rights = excluded.rights, hide_phi = excluded.hide_phi, expires_at = excluded.expires_at, \
                 granted_by = excluded.granted_by, created_at = excluded.created_at",
            )
            .bind(grant.org.as_uuid())
            .bind(grant.folder.as_uuid())
            .bind(grant.user.as_uuid())
            .bind(sealform_core::grants::Right::join(&grant.rights))
            .bind(grant.hide_phi)
            .bind(grant.expires_at)
            .bind(grant.granted_by.map(|u| *u.as_uuid()))
            .bind(grant.created_at)
            .execute(&mut *conn)
            .await
            .map_err(|err| match err {
                sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                    StoreError::NotFound("no such folder or member".into())
                }
                other => backend("store folder grant")(other),
            })?;
            append_audit(conn, &[audit]).await
        }

        pub(crate) async fn delete_folder_grant(
            conn: &mut $Conn,
            org: OrgId,
            folder: FolderId,
            user: UserId,
            audit: PendingAudit,
        ) -> Result<bool, StoreError> {
            let deleted =
                sqlx::query("DELETE FROM folder_grants WHERE org_id = $1 AND folder_id = $2 AND user_id = $3")
                    .bind(org.as_uuid())
                    .bind(folder.as_uuid())
                    .bind(user.as_uuid())
                    .execute(&mut *conn)
                    .await
                    .map_err(backend("revoke folder grant"))?;
            if deleted.rows_affected() == 0 {
                return Ok(false);
            }
            append_audit(conn, &[audit]).await?;
            Ok(true)
        }
    };
}

pub(crate) use folder_grant_queries;
