//! The scale-out backend. Each write is one transaction on a pooled connection; PostgreSQL group-commits
//! concurrent transactions itself, so there is no writer task here.

use std::time::Duration;

use sealform_core::ids::UserId;
use sealform_core::org::{OrgName, Organisation};
use sealform_core::store::{
    HealthStore, NewOrganisation, NewUser, OrganisationStore, Owner, Store, StoreError, UserStore,
};
use sealform_core::user::{Email, Membership, Role, UserRecord, UserStatus};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions as _, PgConnection};
use uuid::Uuid;

use crate::error::{backend, conflict_on_unique};
use crate::migrations::{self, Applied};
use crate::rows::{OrgRow, UserRow, membership, name_key, org_columns, user_columns};

/// PostgreSQL storage over a connection pool.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects (failing within `connect_timeout` when the server is unreachable) and applies migrations.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the URL is invalid, the server cannot be reached or a migration fails.
    pub async fn open(url: &str, max_connections: u32, connect_timeout: Duration) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.parse().map_err(backend("parse database URL"))?;
        let options = options.log_statements(tracing::log::LevelFilter::Trace);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(connect_timeout)
            .connect_with(options)
            .await
            .map_err(backend("connect to PostgreSQL"))?;
        migrations::POSTGRES
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend { operation: "apply migrations", source: Box::new(e) })?;
        Ok(Self { pool })
    }

    async fn in_transaction<T>(
        &self,
        operation: &'static str,
        work: impl AsyncFnOnce(&mut PgConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend(operation))?;
        let value = work(&mut tx).await?;
        tx.commit().await.map_err(backend(operation))?;
        Ok(value)
    }
}

impl HealthStore for PgStore {
    async fn readiness(&self) -> Result<(), StoreError> {
        let applied: Vec<(i64, bool, Vec<u8>)> =
            sqlx::query_as(migrations::APPLIED_QUERY).fetch_all(&self.pool).await.map_err(backend("readiness"))?;
        let applied: Vec<Applied> =
            applied.into_iter().map(|(version, success, checksum)| Applied { version, success, checksum }).collect();
        migrations::check_applied(&migrations::POSTGRES, &applied)
    }
}

impl OrganisationStore for PgStore {
    async fn bootstrap(&self, org: NewOrganisation, owner: NewUser) -> Result<(), StoreError> {
        self.in_transaction("bootstrap", async |conn| {
            sqlx::query("INSERT INTO installation (id, bootstrapped_at) VALUES (1, $1)")
                .bind(org.created_at)
                .execute(&mut *conn)
                .await
                .map_err(conflict_on_unique("bootstrap", "the installation is already bootstrapped"))?;
            insert_organisation(conn, &org, Owner::New(owner)).await
        })
        .await
    }

    async fn create_organisation(&self, org: NewOrganisation, owner: Owner) -> Result<(), StoreError> {
        self.in_transaction("create organisation", async |conn| insert_organisation(conn, &org, owner).await).await
    }

    async fn organisation_by_name(&self, name: &OrgName) -> Result<Option<Organisation>, StoreError> {
        let row: Option<OrgRow> =
            sqlx::query_as(concat!("SELECT ", org_columns!(), " FROM organisations WHERE name_key = $1"))
                .bind(name_key(name))
                .fetch_optional(&self.pool)
                .await
                .map_err(backend("find organisation"))?;
        row.map(OrgRow::into_domain).transpose()
    }

    async fn list_organisations(&self) -> Result<Vec<Organisation>, StoreError> {
        let rows: Vec<OrgRow> =
            sqlx::query_as(concat!("SELECT ", org_columns!(), " FROM organisations ORDER BY created_at, id"))
                .fetch_all(&self.pool)
                .await
                .map_err(backend("list organisations"))?;
        rows.into_iter().map(OrgRow::into_domain).collect()
    }
}

impl UserStore for PgStore {
    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(concat!("SELECT ", user_columns!(), " FROM users WHERE email = $1"))
            .bind(email.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend("find user"))?;
        row.map(UserRow::into_domain).transpose()
    }

    async fn memberships_of(&self, user: UserId) -> Result<Vec<Membership>, StoreError> {
        let rows: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
            "SELECT org_id, user_id, role FROM memberships WHERE user_id = $1 ORDER BY created_at, org_id",
        )
        .bind(user.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(backend("list memberships"))?;
        rows.into_iter().map(membership).collect()
    }
}

impl Store for PgStore {
    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    /// Closes the pool, waiting for connections in use.
    async fn close(self) {
        self.pool.close().await;
    }
}

async fn insert_organisation(conn: &mut PgConnection, org: &NewOrganisation, owner: Owner) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO organisations (id, name, name_key, created_at) VALUES ($1, $2, $3, $4)")
        .bind(org.id.as_uuid())
        .bind(org.name.as_str())
        .bind(name_key(&org.name))
        .bind(org.created_at)
        .execute(&mut *conn)
        .await
        .map_err(conflict_on_unique("create organisation", "an organisation with this name exists already"))?;
    let owner_id = match owner {
        Owner::New(user) => {
            sqlx::query(
                "INSERT INTO users (id, email, password_hash, status, created_at, password_changed_at) \
                 VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(user.id.as_uuid())
            .bind(user.email.as_str())
            .bind(user.password_hash.as_phc())
            .bind(UserStatus::Active.as_str())
            .bind(org.created_at)
            .execute(&mut *conn)
            .await
            .map_err(conflict_on_unique("create user", "a user with this e-mail exists already"))?;
            user.id
        }
        Owner::Existing(id) => {
            let exists: Option<(Uuid,)> = sqlx::query_as("SELECT id FROM users WHERE id = $1")
                .bind(id.as_uuid())
                .fetch_optional(&mut *conn)
                .await
                .map_err(backend("find owner"))?;
            exists.ok_or_else(|| StoreError::NotFound("no such user".into()))?;
            id
        }
    };
    sqlx::query("INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)")
        .bind(org.id.as_uuid())
        .bind(owner_id.as_uuid())
        .bind(Role::Owner.as_str())
        .bind(org.created_at)
        .execute(&mut *conn)
        .await
        .map_err(backend("add owner membership"))?;
    Ok(())
}
