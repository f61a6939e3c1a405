//! The storage traits, shaped by the domain (not generic CRUD). SQLite and PostgreSQL implement them in
//! `sealform-store`; services are generic over [`Store`].
//!
//! Every method that touches tenant data takes the organisation id: no query reads across tenants.

use std::future::Future;

use time::OffsetDateTime;

use crate::ids::{OrgId, UserId};
use crate::org::{OrgName, Organisation};
use crate::password::PasswordHash;
use crate::user::{Email, Membership, UserRecord};

/// Why storage failed. Messages name the operation and never contain row values.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule or a state check refused the write.
    #[error("{0}")]
    Conflict(String),
    /// The referenced row does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The database could not be reached or the statement failed.
    #[error("database error during {operation}")]
    Backend {
        /// What was being done, e.g. "create organisation".
        operation: &'static str,
        /// The driver's error, for logs only.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A stored value could not be decoded; the database holds something this version does not understand.
    #[error("stored data is not readable: {0}")]
    Corrupt(String),
    /// The schema is missing migrations this binary needs, or has ones it does not know.
    #[error("database schema is not ready: {0}")]
    NotMigrated(String),
}

/// A user to create, with the password already hashed.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// The new user's id.
    pub id: UserId,
    /// The login.
    pub email: Email,
    /// The argon2id hash.
    pub password_hash: PasswordHash,
}

/// Who owns a new organisation: a user created with it, or one who already has a login.
#[derive(Clone, Debug)]
pub enum Owner {
    /// Create this user in the same transaction.
    New(NewUser),
    /// An existing user becomes owner.
    Existing(UserId),
}

/// An organisation to create.
#[derive(Clone, Debug)]
pub struct NewOrganisation {
    /// Its id.
    pub id: OrgId,
    /// Its unique name.
    pub name: OrgName,
    /// Creation time, from the service's clock.
    pub created_at: OffsetDateTime,
}

/// Liveness of the database and its schema.
pub trait HealthStore {
    /// Ok when the database answers and every migration this binary embeds has been applied.
    fn readiness(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Organisations and their owners.
pub trait OrganisationStore {
    /// Creates the installation's first organisation and its owner, atomically. [`StoreError::Conflict`] when the
    /// installation was bootstrapped already, even by a concurrent call.
    fn bootstrap(&self, org: NewOrganisation, owner: NewUser) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Creates another organisation with its owner. [`StoreError::Conflict`] when the name is taken or a new
    /// owner's e-mail exists; [`StoreError::NotFound`] when an existing owner does not.
    fn create_organisation(
        &self,
        org: NewOrganisation,
        owner: Owner,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The organisation with this name, if any.
    fn organisation_by_name(
        &self,
        name: &OrgName,
    ) -> impl Future<Output = Result<Option<Organisation>, StoreError>> + Send;

    /// All organisations, oldest first. For operators of multi-clinic installations.
    fn list_organisations(&self) -> impl Future<Output = Result<Vec<Organisation>, StoreError>> + Send;
}

/// Users and memberships.
pub trait UserStore {
    /// The user with this login, if any.
    fn user_by_email(&self, email: &Email) -> impl Future<Output = Result<Option<UserRecord>, StoreError>> + Send;

    /// The user's memberships, one per organisation.
    fn memberships_of(&self, user: UserId) -> impl Future<Output = Result<Vec<Membership>, StoreError>> + Send;
}

/// Everything a backend provides. Services and the HTTP layer are generic over this.
pub trait Store: HealthStore + OrganisationStore + UserStore + Clone + Send + Sync + 'static {
    /// A short name for logs and `/readyz`: `sqlite` or `postgres`.
    fn backend_name(&self) -> &'static str;

    /// Lets queued writes commit and closes the connections. Called once, at shutdown.
    fn close(self) -> impl Future<Output = ()> + Send;
}
