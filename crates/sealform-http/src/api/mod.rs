//! The native API (`/api/v1`, DESIGN.md §9): JSON over bearer API keys, cursor pagination, RFC 9457 problems, and
//! its OpenAPI 3.1 document. Every handler authenticates the key ([`caller`]), finds the resource in the key's
//! organisation (404 otherwise), asks the one policy ([`sealform_core::policy::authorize`]; 403), and only then
//! reads the body and calls the same core service the console calls: sealing, masking and audit (with the key as
//! the actor) are never done differently here.
//!
//! One operation per handler, one area per module; [`operations`] lists them for the document.

use axum::Json;
use axum::extract::State;
use axum::routing::{delete, get, post, put};
use sealform_core::store::Store;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::app::Routes;

mod access;
mod admission;
mod audit;
mod caller;
mod exports;
mod files;
mod forms;
mod input;
mod keys;
mod openapi;
pub(crate) mod operations;
mod page;
mod schema;
mod submissions;
mod users;

pub use openapi::document as openapi_document;

/// The native API's routes: the document and its page are public; every other route is behind
/// [`admission::admit`] (key and budget).
pub(crate) fn routes<S: Store>(state: &AppState<S>) -> Routes<S> {
    let public = Routes::new()
        .route("/api/v1/openapi.json", get(openapi::openapi_json))
        .route("/api/v1/docs", get(openapi::reference::<S>));
    let keyed = Routes::new()
        .route("/api/v1/me", get(me::<S>))
        .route("/api/v1/files/{file}", get(files::download::<S>))
        .route("/api/v1/forms", get(forms::list::<S>).post(forms::create::<S>))
        .route("/api/v1/forms/{form}", get(forms::show::<S>).patch(forms::update::<S>).delete(forms::archive::<S>))
        .route("/api/v1/forms/{form}/questions", get(forms::questions::<S>).put(forms::replace_questions::<S>))
        .route("/api/v1/forms/{form}/submissions", get(submissions::list::<S>).post(submissions::create::<S>))
        .route("/api/v1/forms/{form}/export", get(exports::export::<S>))
        .route(
            "/api/v1/submissions/{submission}",
            get(submissions::show::<S>)
                .put(submissions::edit::<S>)
                .patch(submissions::set::<S>)
                .delete(submissions::delete::<S>),
        )
        .route("/api/v1/submissions/{submission}/revisions", get(submissions::revisions::<S>))
        .route("/api/v1/submissions/{submission}/files", get(files::list::<S>))
        .route("/api/v1/forms/{form}/grants", get(access::grants::<S>))
        .route("/api/v1/forms/{form}/grants/{user}", put(access::grant::<S>).delete(access::revoke::<S>))
        .route("/api/v1/forms/{form}/access-requests", get(access::requests::<S>).post(access::ask::<S>))
        .route("/api/v1/forms/{form}/access-requests/{request}", post(access::decide::<S>))
        .route("/api/v1/api-keys", get(keys::list::<S>).post(keys::create::<S>))
        .route("/api/v1/api-keys/{prefix}", delete(keys::revoke::<S>))
        .route("/api/v1/users", get(users::list::<S>).post(users::invite::<S>))
        .route("/api/v1/users/{user}", axum::routing::patch(users::update::<S>))
        .route("/api/v1/users/{user}/deactivate", post(users::deactivate::<S>))
        .route("/api/v1/audit", get(audit::search::<S>))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), admission::admit::<S>));
    public.merge(keyed)
}

/// Who a key acts for and what it may do.
#[derive(Serialize, ToSchema)]
pub(crate) struct Me {
    /// The key's visible prefix.
    key_prefix: String,
    /// Its organisation.
    #[schema(format = Uuid)]
    org_id: String,
    /// The user it acts for.
    #[schema(format = Uuid)]
    user_id: String,
    /// That user's role.
    role: String,
    /// Its scopes, narrowed to what the role allows today.
    scopes: Vec<String>,
    /// The one form it is restricted to.
    #[schema(format = Uuid)]
    form_id: Option<String>,
}

/// `GET /api/v1/me`.
pub(crate) async fn me<S: Store>(State(_state): State<AppState<S>>, caller: caller::Caller) -> Json<Me> {
    let key = &caller.key;
    Json(Me {
        key_prefix: key.prefix.clone(),
        org_id: key.org.to_string(),
        user_id: key.user.to_string(),
        role: key.role.as_str().to_owned(),
        scopes: key.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        form_id: key.form.map(|f| f.to_string()),
    })
}
