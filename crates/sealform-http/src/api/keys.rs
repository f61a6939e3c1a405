//! API keys of the organisation, for owners and admins with an `admin`-scoped key: list (prefixes, never secrets),
//! create (the key is in the answer once, and only a hash is kept) and revoke. Through [`sealform_core::api_keys`],
//! which refuses scopes beyond the user's role and audits each change.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use sealform_core::DomainError;
use sealform_core::api_keys::{ApiKeyRecord, create as create_key, revoke as revoke_key};
use sealform_core::ids::UserId;
use sealform_core::policy::Action;
use sealform_core::store::Store;
use sealform_core::user::{Email, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::Caller;
use super::input::{PathParams, RawBody, id};
use super::page::rfc3339;
use crate::AppState;
use crate::problem::ApiError;
use crate::problem::Found as _;

/// A key as listed: its visible prefix and what it may do.
#[derive(Serialize, ToSchema)]
pub(crate) struct ApiKey {
    /// The visible prefix (`sf_…`), which names the key.
    prefix: String,
    /// A name for people.
    name: String,
    /// The user it acts for.
    #[schema(format = Uuid)]
    user_id: String,
    /// Its scopes: read, submit, write, export, admin.
    scopes: Vec<String>,
    /// The one form it is restricted to.
    #[schema(format = Uuid)]
    #[serde(skip_serializing_if = "Option::is_none")]
    form_id: Option<String>,
    /// When it expires (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    /// When it was last used.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_used_at: Option<String>,
    /// When it was revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<String>,
    /// When it was created.
    created_at: String,
}

impl From<&ApiKeyRecord> for ApiKey {
    fn from(r: &ApiKeyRecord) -> Self {
        Self {
            prefix: r.key.prefix.clone(),
            name: r.key.name.clone(),
            user_id: r.key.user.to_string(),
            scopes: r.key.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            form_id: r.key.form.map(|f| f.to_string()),
            expires_at: r.key.expires_at.map(rfc3339),
            last_used_at: r.last_used_at.map(rfc3339),
            revoked_at: r.revoked_at.map(rfc3339),
            created_at: rfc3339(r.key.created_at),
        }
    }
}

/// A key to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewApiKey {
    /// A name for people: one line of 1 to 100 characters.
    name: String,
    /// Its scopes; never more than the user's role allows, nor than the calling key holds.
    scopes: Vec<String>,
    /// The member it acts for (default: the calling key's user); only an owner's key names another member.
    #[serde(default)]
    email: Option<String>,
    /// Restrict it to one form.
    #[serde(default)]
    #[schema(format = Uuid)]
    form_id: Option<String>,
    /// Days until it expires, 1 to 36500 (default: never; a calling key that expires must give one within its own).
    #[serde(default)]
    valid_days: Option<u32>,
}

/// A created key: the only time its text is shown.
#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedApiKey {
    /// The key, to send as `Authorization: Bearer <key>`. Shown once; store it now.
    key: String,
    /// Its visible prefix.
    prefix: String,
}

/// `GET /api/v1/api-keys`: every key of the organisation, newest first per member.
pub(crate) async fn list<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
) -> Result<Json<Vec<ApiKey>>, ApiError> {
    caller.require_org(Action::ManageMembers)?;
    let org = caller.org();
    let mut keys = Vec::new();
    for (user, _) in state.store.tenant(org).members_of().await.map_err(DomainError::from)? {
        let of_user = state.store.tenant(org).api_keys_of(user.id).await.map_err(DomainError::from)?;
        keys.extend(of_user.iter().map(ApiKey::from));
    }
    Ok(Json(keys))
}

/// `POST /api/v1/api-keys`.
pub(crate) async fn create<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    body: RawBody,
) -> Result<Response, ApiError> {
    caller.require_org(Action::ManageMembers)?;
    let new: NewApiKey = body.json()?;
    let org = caller.org();
    let email = match new.email {
        // A key acts as its user, with whatever role they hold at each use: one an admin made for a colleague would
        // let the admin act as them (as an owner, once they are promoted) and outlive the admin's own demotion.
        // Owners may make keys for members; everyone else only for themselves.
        Some(email) => {
            if caller.key.role != Role::Owner && member_id(&state, &email).await? != Some(caller.key.user) {
                return Err(crate::console::forbidden("only owners make keys for other members"));
            }
            email
        }
        None => {
            let user = state.store.user_by_id(caller.key.user).await.found()?;
            user.email.as_str().to_owned()
        }
    };
    let scopes = sealform_core::api_keys::parse_scopes(new.scopes.iter().map(String::as_str))?;
    // Nor may a key make a stronger one: more scopes, or a longer life, than its own.
    if let Some(extra) = scopes.iter().find(|s| !caller.key.scopes.contains(s)) {
        return Err(crate::console::forbidden(&format!("this key does not hold the {extra} scope it would give")));
    }
    let own = state.store.api_key_by_prefix(&caller.key.prefix).await.map_err(DomainError::from)?;
    if let Some(ends) = own.and_then(|own| own.key.expires_at) {
        let new_ends = new.valid_days.map(|days| caller.now.saturating_add(time::Duration::days(i64::from(days))));
        if new_ends.is_none_or(|new_ends| new_ends > ends) {
            return Err(crate::console::forbidden("a key that expires cannot make one that outlives it"));
        }
    }
    let form = match new.form_id.as_deref() {
        Some(raw) => {
            let form = id(raw).map_err(|_| {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "form_id is not a form of this organisation")
            })?;
            state.store.tenant(org).form(form).await.map_err(DomainError::from)?.ok_or_else(|| {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "form_id is not a form of this organisation")
            })?;
            Some(form)
        }
        None => None,
    };
    let (key, prefix) = create_key(
        &state.store,
        state.clock.as_ref(),
        caller.audit(&state),
        org,
        &email,
        &new.name,
        scopes,
        form,
        new.valid_days,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(CreatedApiKey { key: key.to_string(), prefix })).into_response())
}

/// The user with this e-mail, if there is one.
async fn member_id<S: Store>(state: &AppState<S>, email: &str) -> Result<Option<UserId>, ApiError> {
    let Ok(email) = Email::parse(email) else { return Ok(None) };
    Ok(state.store.user_by_email(&email).await.map_err(DomainError::from)?.map(|user| user.id))
}

/// `DELETE /api/v1/api-keys/{prefix}`: revokes the key at once.
pub(crate) async fn revoke<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    PathParams(prefix): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_org(Action::ManageMembers)?;
    // Only what could be a prefix reaches the store (`sf_` and ten letters or digits); anything else names no key.
    let well_formed = prefix
        .strip_prefix("sf_")
        .is_some_and(|rest| rest.len() == 10 && rest.bytes().all(|b| b.is_ascii_alphanumeric()));
    if !well_formed {
        return Err(ApiError::not_found());
    }
    // As for roles and deactivation: an owner's keys are an owner's to revoke (a key of another organisation is
    // left to the revocation to answer as unknown).
    let record = state.store.api_key_by_prefix(&prefix).await.map_err(DomainError::from)?;
    if record.is_some_and(|r| r.key.org == caller.org() && r.role == Role::Owner) && caller.key.role != Role::Owner {
        return Err(crate::console::forbidden("only owners revoke owners' keys"));
    }
    revoke_key(&state.store, state.clock.as_ref(), caller.audit(&state), caller.org(), &prefix).await?;
    Ok(StatusCode::NO_CONTENT)
}
