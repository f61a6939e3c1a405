//! SQLite statements. Writes take the writer's connection (already inside a transaction and a savepoint); reads
//! take the read pool.

use sealform_core::ids::UserId;
use sealform_core::org::{OrgName, Organisation};
use sealform_core::store::{NewOrganisation, NewUser, Owner, StoreError};
use sealform_core::user::{Email, Membership, Role, UserRecord, UserStatus};
use sqlx::{SqliteConnection, SqlitePool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{backend, conflict_on_unique};
use crate::rows::{OrgRow, UserRow, membership, name_key, org_columns, user_columns};

pub(super) async fn bootstrap(
    conn: &mut SqliteConnection,
    org: NewOrganisation,
    owner: NewUser,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO installation (id, bootstrapped_at) VALUES (1, ?)")
        .bind(org.created_at)
        .execute(&mut *conn)
        .await
        .map_err(conflict_on_unique("bootstrap", "the installation is already bootstrapped"))?;
    create_organisation(conn, org, Owner::New(owner)).await
}

pub(super) async fn create_organisation(
    conn: &mut SqliteConnection,
    org: NewOrganisation,
    owner: Owner,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO organisations (id, name, name_key, created_at) VALUES (?, ?, ?, ?)")
        .bind(org.id.as_uuid())
        .bind(org.name.as_str())
        .bind(name_key(&org.name))
        .bind(org.created_at)
        .execute(&mut *conn)
        .await
        .map_err(conflict_on_unique("create organisation", "an organisation with this name exists already"))?;
    let owner_id = match owner {
        Owner::New(user) => {
            insert_user(conn, &user, org.created_at).await?;
            user.id
        }
        Owner::Existing(id) => {
            let exists: Option<(Uuid,)> = sqlx::query_as("SELECT id FROM users WHERE id = ?")
                .bind(id.as_uuid())
                .fetch_optional(&mut *conn)
                .await
                .map_err(backend("find owner"))?;
            exists.ok_or_else(|| StoreError::NotFound("no such user".into()))?;
            id
        }
    };
    sqlx::query("INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (?, ?, ?, ?)")
        .bind(org.id.as_uuid())
        .bind(owner_id.as_uuid())
        .bind(Role::Owner.as_str())
        .bind(org.created_at)
        .execute(&mut *conn)
        .await
        .map_err(backend("add owner membership"))?;
    Ok(())
}

async fn insert_user(conn: &mut SqliteConnection, user: &NewUser, now: OffsetDateTime) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, status, created_at, password_changed_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(user.id.as_uuid())
    .bind(user.email.as_str())
    .bind(user.password_hash.as_phc())
    .bind(UserStatus::Active.as_str())
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(conflict_on_unique("create user", "a user with this e-mail exists already"))?;
    Ok(())
}

pub(super) async fn organisation_by_name(
    pool: &SqlitePool,
    name: &OrgName,
) -> Result<Option<Organisation>, StoreError> {
    let row: Option<OrgRow> =
        sqlx::query_as(concat!("SELECT ", org_columns!(), " FROM organisations WHERE name_key = ?"))
            .bind(name_key(name))
            .fetch_optional(pool)
            .await
            .map_err(backend("find organisation"))?;
    row.map(OrgRow::into_domain).transpose()
}

pub(super) async fn list_organisations(pool: &SqlitePool) -> Result<Vec<Organisation>, StoreError> {
    let rows: Vec<OrgRow> =
        sqlx::query_as(concat!("SELECT ", org_columns!(), " FROM organisations ORDER BY created_at, id"))
            .fetch_all(pool)
            .await
            .map_err(backend("list organisations"))?;
    rows.into_iter().map(OrgRow::into_domain).collect()
}

pub(super) async fn user_by_email(pool: &SqlitePool, email: &Email) -> Result<Option<UserRecord>, StoreError> {
    let row: Option<UserRow> = sqlx::query_as(concat!("SELECT ", user_columns!(), " FROM users WHERE email = ?"))
        .bind(email.as_str())
        .fetch_optional(pool)
        .await
        .map_err(backend("find user"))?;
    row.map(UserRow::into_domain).transpose()
}

pub(super) async fn memberships_of(pool: &SqlitePool, user: UserId) -> Result<Vec<Membership>, StoreError> {
    let rows: Vec<(Uuid, Uuid, String)> =
        sqlx::query_as("SELECT org_id, user_id, role FROM memberships WHERE user_id = ? ORDER BY created_at, org_id")
            .bind(user.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(backend("list memberships"))?;
    rows.into_iter().map(membership).collect()
}
