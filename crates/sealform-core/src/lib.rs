//! Sealform's domain: identifiers, organisations and users, the storage traits every backend implements, and the
//! services that the CLI and the HTTP layer call. Nothing here knows about HTTP or SQL (DESIGN.md §3).

pub mod admin;
pub mod api_keys;
pub mod audit;
pub mod break_glass;
pub mod clock;
pub mod common_passwords;
pub mod error;
pub mod examples;
pub mod files;
pub mod folder_grants;
pub mod folders;
pub mod form_model;
pub mod form_settings;
pub mod forms;
pub mod grants;
pub mod idempotency;
pub mod ids;
pub mod inbox;
pub mod invitations;
pub mod keys;
pub mod mail;
pub mod mfa;
pub mod org;
pub mod password;
pub mod policy;
pub mod resets;
pub mod rotation;
pub mod sealing;
pub mod sessions;
pub mod store;
pub mod submission;
pub mod tenant;
pub mod user;
pub mod webauthn;
mod wrap_sessions;

pub use error::DomainError;
