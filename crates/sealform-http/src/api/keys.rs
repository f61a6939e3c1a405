//! API keys of the organisation, for owners and admins with an `admin`-scoped key: list (prefixes, never secrets),
//! create (the key is in the answer once, and only a hash is kept) and revoke. Through [`sealform_core::api_keys`],
//! which refuses scopes beyond the user's role and audits each change.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use sealform_core::DomainError;
use sealform_core::api_keys::{ApiKeyRecord, create as create_key, revoke as revoke_key};
use sealform_core::ids::OrgId;
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
    /// Its scopes; never more than the user's role allows.
    scopes: Vec<String>,
    /// The member it acts for (default: the calling key's user).
    #[serde(default)]
    email: Option<String>,
    /// Restrict it to one form.
    #[serde(default)]
    #[schema(format = Uuid)]
    form_id: Option<String>,
    /// Days until it expires, 1 to 36500 (default: never).
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
        Some(email) => email,
        None => {
            let user = state.store.user_by_id(caller.key.user).await.found()?;
            user.email.as_str().to_owned()
        }
    };
    // A key acts with its user's role: one made for an owner by an admin would hand the admin the owner's powers,
    // which roles and deactivation keep from them.
    if caller.key.role != Role::Owner && member_role(&state, org, &email).await? == Some(Role::Owner) {
        return Err(crate::console::forbidden("only owners create keys for owners"));
    }
    let scopes = sealform_core::api_keys::parse_scopes(new.scopes.iter().map(String::as_str))?;
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

/// The role in `org` of the member with this e-mail, if there is one (an unknown or malformed address is left to
/// the key's creation to refuse).
async fn member_role<S: Store>(state: &AppState<S>, org: OrgId, email: &str) -> Result<Option<Role>, ApiError> {
    let Ok(email) = Email::parse(email) else { return Ok(None) };
    let Some(user) = state.store.user_by_email(&email).await.map_err(DomainError::from)? else { return Ok(None) };
    let members = state.store.tenant(org).members_of().await.map_err(DomainError::from)?;
    Ok(members.into_iter().find(|(member, _)| member.id == user.id).map(|(_, role)| role))
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
    revoke_key(&state.store, state.clock.as_ref(), caller.audit(&state), caller.org(), &prefix).await?;
    Ok(StatusCode::NO_CONTENT)
}
