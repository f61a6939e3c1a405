//! Turning driver errors into [`StoreError`]s that name the operation, never the values.

use sealform_core::store::StoreError;

/// Wraps a driver error with the operation it interrupted.
pub(crate) fn backend(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Backend { operation, source: Box::new(source) }
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`] with `message`; anything else as [`backend`].
pub(crate) fn conflict_on_unique(
    operation: &'static str,
    message: &'static str,
) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |err| match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(message.into()),
        _ => backend(operation)(err),
    }
}

/// A stored value that does not decode into its domain type.
pub(crate) fn corrupt(what: &str) -> impl FnOnce(sealform_core::DomainError) -> StoreError + '_ {
    move |err| StoreError::Corrupt(format!("{what}: {err}"))
}
