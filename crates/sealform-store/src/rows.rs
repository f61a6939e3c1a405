//! Row types and conversions shared by both backends: the column sets are the same, only the SQL types differ.

use sealform_core::ids::{OrgId, UserId};
use sealform_core::org::{OrgName, Organisation};
use sealform_core::password::PasswordHash;
use sealform_core::store::StoreError;
use sealform_core::user::{Email, Membership, UserRecord, UserStatus};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::corrupt;

/// Columns of an organisation, in [`OrgRow`] order. A macro, so queries stay literal strings (sqlx refuses
/// dynamically built SQL unless audited).
macro_rules! org_columns {
    () => {
        "id, name, created_at"
    };
}
pub(crate) use org_columns;

/// Columns of a user, in [`UserRow`] order.
macro_rules! user_columns {
    () => {
        "id, email, password_hash, status, created_at, password_changed_at"
    };
}
pub(crate) use user_columns;

/// The case-folded organisation name that carries the uniqueness rule.
pub(crate) fn name_key(name: &OrgName) -> String {
    name.as_str().to_lowercase()
}

pub(crate) fn membership((org_id, user_id, role): (Uuid, Uuid, String)) -> Result<Membership, StoreError> {
    Ok(Membership {
        org_id: OrgId::from_uuid(org_id),
        user_id: UserId::from_uuid(user_id),
        role: role.parse().map_err(corrupt("membership role"))?,
    })
}

/// An `organisations` row, as both backends read it.
#[derive(sqlx::FromRow)]
pub(crate) struct OrgRow {
    id: Uuid,
    name: String,
    created_at: OffsetDateTime,
}

impl OrgRow {
    pub(crate) fn into_domain(self) -> Result<Organisation, StoreError> {
        Ok(Organisation {
            id: OrgId::from_uuid(self.id),
            name: OrgName::parse(&self.name).map_err(corrupt("organisation name"))?,
            created_at: self.created_at,
        })
    }
}

/// A `users` row, as both backends read it.
#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: Uuid,
    email: String,
    password_hash: String,
    status: String,
    created_at: OffsetDateTime,
    password_changed_at: OffsetDateTime,
}

impl UserRow {
    pub(crate) fn into_domain(self) -> Result<UserRecord, StoreError> {
        Ok(UserRecord {
            id: UserId::from_uuid(self.id),
            email: Email::parse(&self.email).map_err(corrupt("user e-mail"))?,
            password_hash: PasswordHash::from_phc(self.password_hash),
            status: UserStatus::parse(&self.status).map_err(corrupt("user status"))?,
            created_at: self.created_at,
            password_changed_at: self.password_changed_at,
        })
    }
}
