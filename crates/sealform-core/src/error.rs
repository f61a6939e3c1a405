//! The domain error: one enum the HTTP layer maps to problems in one place (DESIGN.md §3).
//! Messages say what was wrong and never contain PHI or secrets.

use crate::store::StoreError;

/// What can go wrong in a domain service.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The input broke a rule; the message names the rule, not the value.
    #[error("{0}")]
    Invalid(String),
    /// The thing already exists or the state does not allow the operation.
    #[error("{0}")]
    Conflict(String),
    /// No such thing (or not visible to the caller).
    #[error("{0}")]
    NotFound(String),
    /// The caller proved no right to do this.
    #[error("{0}")]
    Unauthorized(String),
    /// Storage failed; details are logged, not shown.
    #[error("storage unavailable")]
    Store(#[source] StoreError),
    /// An internal step failed (RNG, hashing, a background task).
    #[error("internal error")]
    Internal(String),
}

impl From<StoreError> for DomainError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(what) => Self::Conflict(what),
            StoreError::NotFound(what) => Self::NotFound(what),
            other => Self::Store(other),
        }
    }
}

/// Maps a crypto failure to [`DomainError::Internal`], naming the step (crypto errors never say more than that).
pub(crate) fn crypto_failure(what: &'static str) -> impl FnOnce(sealform_crypto::CryptoError) -> DomainError {
    move |err| DomainError::Internal(format!("{what}: {err}"))
}
