//! Sealform's HTTP layer: routes, middleware and the connection loop. Handlers extract, call one core service and
//! render; they never run SQL or touch key material (DESIGN.md §3).

mod api;
mod app;
mod auth;
mod client_ip;
mod console;
mod headers;
mod jotform;
mod pages;
mod problem;
mod public;
pub mod rate_limit;
mod request_id;
mod serve;
mod system;

pub use api::openapi_document;
pub use api::operations::native_routes;
pub use app::{AppState, DEFAULT_PUBLIC_SUBMISSIONS_PER_MINUTE, HttpSettings, route_table, router};
pub use client_ip::TrustedProxies;
pub use problem::ApiError;
pub use request_id::RequestId;
pub use serve::{ConnectionLimits, serve};
