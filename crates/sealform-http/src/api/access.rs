//! Who may work on a form: grants (list, give or replace, revoke) and access requests (ask, list pending, approve
//! or deny), through the audited services of [`sealform_core::grants`]. Managing access needs an owner's or admin's
//! key with the `admin` scope; a key may ask for access on its own user's behalf (an admin still decides).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use sealform_core::DomainError;
use sealform_core::grants::{
    AccessRequest, Grant, GrantTerms, Right, decide_access, grant_access, request_access, revoke_access,
};
use sealform_core::ids::UserId;
use sealform_core::policy::Action;
use sealform_core::store::Store;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::Caller;
use super::forms::org_form;
use super::input::{PathParams, RawBody, id};
use super::page::{parse_time, rfc3339};
use crate::AppState;
use crate::problem::ApiError;

/// A member's grant on a form.
#[derive(Serialize, ToSchema)]
pub(crate) struct GrantOut {
    /// The member.
    #[schema(format = Uuid)]
    user_id: String,
    /// Their login (absent in the answer to a change).
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    /// The rights: view, edit, export, manage.
    rights: Vec<String>,
    /// Whether PHI answers are masked for them.
    hide_phi: bool,
    /// When it ends (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    /// Whether it is in force now.
    in_force: bool,
    /// Who gave it (absent when Sealform gave it to a form's creator).
    #[serde(skip_serializing_if = "Option::is_none")]
    granted_by: Option<String>,
    /// When it was given.
    created_at: String,
}

impl GrantOut {
    fn of(grant: &Grant, email: Option<String>, now: time::OffsetDateTime) -> Self {
        Self {
            user_id: grant.user.to_string(),
            email,
            rights: grant.rights.iter().map(|r| r.as_str().to_owned()).collect(),
            hide_phi: grant.hide_phi,
            expires_at: grant.expires_at.map(rfc3339),
            in_force: grant.in_force(now),
            granted_by: grant.granted_by.map(|u| u.to_string()),
            created_at: rfc3339(grant.created_at),
        }
    }
}

/// The terms of a grant.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Terms {
    /// The rights: view, edit, export, manage (never beyond what the member's role may hold).
    rights: Vec<String>,
    /// Mask PHI answers for them.
    #[serde(default)]
    hide_phi: bool,
    /// When it ends (RFC 3339, in the future).
    #[serde(default)]
    #[schema(format = DateTime)]
    expires_at: Option<String>,
}

impl Terms {
    fn checked(&self) -> Result<GrantTerms, ApiError> {
        let rights = self.rights.iter().map(|r| r.parse::<Right>()).collect::<Result<Vec<_>, _>>()?;
        Ok(GrantTerms {
            rights,
            hide_phi: self.hide_phi,
            expires_at: parse_time(self.expires_at.as_deref(), "expires_at")?,
        })
    }
}

/// An access request.
#[derive(Serialize, ToSchema)]
pub(crate) struct AccessRequestOut {
    /// Its id.
    #[schema(format = Uuid)]
    id: String,
    /// Who asks.
    #[schema(format = Uuid)]
    user_id: String,
    /// Their login (in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    /// Why.
    reason: String,
    /// pending, approved or denied.
    status: String,
    /// When it was asked.
    created_at: String,
}

impl AccessRequestOut {
    fn of(request: &AccessRequest, email: Option<String>) -> Self {
        Self {
            id: request.id.to_string(),
            user_id: request.user.to_string(),
            email,
            reason: request.reason.clone(),
            status: request.status.as_str().to_owned(),
            created_at: rfc3339(request.created_at),
        }
    }
}

/// An access request to make.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewAccessRequest {
    /// Why access is needed, 1 to 1000 characters (shown to owners and admins only).
    reason: String,
}

/// A decision on a request.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "lowercase", tag = "decision")]
pub(crate) enum Decision {
    /// Approve with these terms: a grant is made.
    Approve(Terms),
    /// Deny.
    Deny,
}

/// `GET /api/v1/forms/{form}/grants`.
pub(crate) async fn grants<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    PathParams(raw): PathParams<String>,
) -> Result<Json<Vec<GrantOut>>, ApiError> {
    let form = org_form(&state, &caller, &raw).await?;
    caller.require_on(Action::ManageAccess, form.id)?;
    let records = state.store.tenant(caller.org()).grants_of_form(form.id).await.map_err(DomainError::from)?;
    Ok(Json(records.iter().map(|r| GrantOut::of(&r.grant, Some(r.email.as_str().to_owned()), caller.now)).collect()))
}

/// `PUT /api/v1/forms/{form}/grants/{user}`: gives or replaces the member's grant (audited with before and after).
pub(crate) async fn grant<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    PathParams((raw, raw_user)): PathParams<(String, String)>,
    body: RawBody,
) -> Result<Json<GrantOut>, ApiError> {
    let form = org_form(&state, &caller, &raw).await?;
    caller.require_on(Action::ManageAccess, form.id)?;
    let user: UserId = id(&raw_user)?;
    let terms: Terms = body.json()?;
    let terms = terms.checked()?;
    let grant = grant_access(
        &state.store,
        caller.audit(&state),
        caller.org(),
        form.id,
        user,
        &terms,
        Some(caller.key.user),
        caller.now,
    )
    .await?;
    Ok(Json(GrantOut::of(&grant, None, caller.now)))
}

/// `DELETE /api/v1/forms/{form}/grants/{user}`.
pub(crate) async fn revoke<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    PathParams((raw, raw_user)): PathParams<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let form = org_form(&state, &caller, &raw).await?;
    caller.require_on(Action::ManageAccess, form.id)?;
    let user: UserId = id(&raw_user)?;
    revoke_access(&state.store, caller.audit(&state), caller.org(), form.id, user, caller.now).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/forms/{form}/access-requests`: the pending requests, oldest first.
pub(crate) async fn requests<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    PathParams(raw): PathParams<String>,
) -> Result<Json<Vec<AccessRequestOut>>, ApiError> {
    let form = org_form(&state, &caller, &raw).await?;
    caller.require_on(Action::ManageAccess, form.id)?;
    let records = state.store.tenant(caller.org()).access_requests_of_form(form.id).await.map_err(DomainError::from)?;
    Ok(Json(records.iter().map(|r| AccessRequestOut::of(&r.request, Some(r.email.as_str().to_owned()))).collect()))
}

/// `POST /api/v1/forms/{form}/access-requests`: asks for access for the key's user.
pub(crate) async fn ask<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    PathParams(raw): PathParams<String>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let form = org_form(&state, &caller, &raw).await?;
    caller.require_on(Action::RequestAccess, form.id)?;
    let new: NewAccessRequest = body.json()?;
    let request = request_access(
        &state.store,
        caller.audit(&state),
        caller.org(),
        form.id,
        caller.key.user,
        &new.reason,
        caller.now,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(AccessRequestOut::of(&request, None))).into_response())
}

/// `POST /api/v1/forms/{form}/access-requests/{request}`: approves (`{"decision":"approve","rights":[…]}`) or
/// denies (`{"decision":"deny"}`) a pending request of this form.
pub(crate) async fn decide<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    PathParams((raw, raw_request)): PathParams<(String, String)>,
    body: RawBody,
) -> Result<Json<AccessRequestOut>, ApiError> {
    let form = org_form(&state, &caller, &raw).await?;
    caller.require_on(Action::ManageAccess, form.id)?;
    let request: uuid::Uuid = id(&raw_request)?;
    let found = state.store.tenant(caller.org()).access_request(request).await.map_err(DomainError::from)?;
    if found.is_none_or(|r| r.form != form.id) {
        return Err(ApiError::not_found());
    }
    let decision: Decision = body.json()?;
    let terms = match &decision {
        Decision::Approve(terms) => Some(terms.checked()?),
        Decision::Deny => None,
    };
    let decided = decide_access(
        &state.store,
        caller.audit(&state),
        caller.org(),
        request,
        caller.key.user,
        terms.as_ref(),
        caller.now,
    )
    .await?;
    Ok(Json(AccessRequestOut::of(&decided, None)))
}
