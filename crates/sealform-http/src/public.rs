//! (placeholder while the public fill page is written)

use sealform_core::store::Store;

use crate::AppState;

/// Templates of this module: (name, source).
pub(crate) const TEMPLATES: &[(&str, &str)] = &[];

/// Routes of the public pages, under the general body limit.
pub(crate) fn routes<S: Store>() -> axum::Router<AppState<S>> {
    axum::Router::new()
}

/// Routes that take uploads, under the upload limit.
pub(crate) fn upload_routes<S: Store>() -> axum::Router<AppState<S>> {
    axum::Router::new()
}
