//! (placeholder while the inbox is written)

use sealform_core::store::Store;

use crate::AppState;

/// Templates of this module: (name, source).
pub(crate) const TEMPLATES: &[(&str, &str)] = &[];

/// Routes of this module.
pub(crate) fn routes<S: Store>() -> axum::Router<AppState<S>> {
    axum::Router::new()
}
