//! The organisation's members, for owners and admins with an `admin`-scoped key: list, invite (by e-mail, a
//! single-use link), change a role (only owners touch the owner role; the member's sessions end) and deactivate.
//! The same services and rules as the console's users page.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use sealform_core::DomainError;
use sealform_core::audit::{Action as AuditAction, Entry, Target};
use sealform_core::ids::UserId;
use sealform_core::policy::Action;
use sealform_core::store::{ByMember, Store};
use sealform_core::user::{Role, UserRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::Caller;
use super::input::{PathParams, RawBody, id};
use crate::AppState;
use crate::problem::ApiError;

/// A member of the organisation.
#[derive(Serialize, ToSchema)]
pub(crate) struct User {
    /// Their id.
    #[schema(format = Uuid)]
    id: String,
    /// Their login.
    #[schema(format = Email)]
    email: String,
    /// Their role here: owner, admin, form-manager, reviewer, approver, auditor.
    role: String,
    /// `active` or `deactivated`.
    status: String,
    /// Whether they enrolled an authenticator app.
    mfa: bool,
}

impl User {
    fn of(user: &UserRecord, role: Role) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email.as_str().to_owned(),
            role: role.as_str().to_owned(),
            status: user.status.as_str().to_owned(),
            mfa: user.totp.is_some(),
        }
    }
}

/// An invitation to send.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Invitation {
    /// Who to invite.
    #[schema(format = Email)]
    email: String,
    /// Their role once they accept.
    role: String,
}

/// An invitation sent.
#[derive(Serialize, ToSchema)]
pub(crate) struct Invited {
    /// Who was invited.
    #[schema(format = Email)]
    invited: String,
    /// Their role once they accept.
    role: String,
}

/// A role change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleChange {
    /// The new role.
    role: String,
}

/// `GET /api/v1/users`.
pub(crate) async fn list<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
) -> Result<Json<Vec<User>>, ApiError> {
    caller.require_org(Action::ManageMembers)?;
    let members = state.store.tenant(caller.org()).members_of().await.map_err(DomainError::from)?;
    Ok(Json(members.iter().map(|(user, role)| User::of(user, *role)).collect()))
}

/// `POST /api/v1/users`: sends an invitation (202: it is accepted when the person follows the link).
pub(crate) async fn invite<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    body: RawBody,
) -> Result<Response, ApiError> {
    caller.require_org(Action::ManageMembers)?;
    let invitation: Invitation = body.json()?;
    let role: Role = invitation.role.parse()?;
    if role == Role::Owner && caller.key.role != Role::Owner {
        return Err(crate::console::forbidden("only owners may invite owners"));
    }
    let org = caller.org();
    let org_name = state
        .store
        .list_organisations()
        .await
        .map_err(DomainError::from)?
        .into_iter()
        .find(|o| o.id == org)
        .map(|o| o.name.to_string())
        .unwrap_or_default();
    sealform_core::invitations::invite(
        &state.store,
        state.mailer.as_ref(),
        state.clock.as_ref(),
        caller.audit(&state),
        org,
        &org_name,
        &invitation.email,
        role,
        &state.public_url,
    )
    .await?;
    let invited = Invited { invited: invitation.email, role: role.as_str().to_owned() };
    Ok((StatusCode::ACCEPTED, Json(invited)).into_response())
}

/// The member `raw` of the caller's organisation with their role, or 404.
async fn member<S: Store>(state: &AppState<S>, caller: &Caller, raw: &str) -> Result<(UserRecord, Role), ApiError> {
    let user: UserId = id(raw)?;
    state
        .store
        .tenant(caller.org())
        .members_of()
        .await
        .map_err(DomainError::from)?
        .into_iter()
        .find(|(u, _)| u.id == user)
        .ok_or_else(ApiError::not_found)
}

/// `PATCH /api/v1/users/{user}`: a new role. An organisation always keeps an owner.
pub(crate) async fn update<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    PathParams(raw): PathParams<String>,
    body: RawBody,
) -> Result<Json<User>, ApiError> {
    caller.require_org(Action::ManageMembers)?;
    let (user, _) = member(&state, &caller, &raw).await?;
    let change: RoleChange = body.json()?;
    let role: Role = change.role.parse()?;
    let org = caller.org();
    let entry = Entry::ok(Some(org), AuditAction::UserUpdate, vec![Target::new("user", user.id)], caller.now)
        .with_fields(vec![format!("role:{}", role.as_str())]);
    state
        .store
        .tenant(org)
        .set_role(user.id, role, caller.key.user, caller.audit(&state).entry(entry)?)
        .await
        .map_err(crate::console::role_change_failed)?;
    Ok(Json(User::of(&user, role)))
}

/// `POST /api/v1/users/{user}/deactivate`: the login stops working and its sessions end at once.
pub(crate) async fn deactivate<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    PathParams(raw): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_org(Action::ManageMembers)?;
    let (user, role) = member(&state, &caller, &raw).await?;
    if user.id == caller.key.user {
        return Err(ApiError::new(StatusCode::CONFLICT, "conflict", "a key cannot deactivate its own user"));
    }
    // As for roles: an admin who may not take the owner role away may not switch an owner off either.
    if role == Role::Owner && caller.key.role != Role::Owner {
        return Err(crate::console::forbidden("only owners deactivate owners"));
    }
    let memberships = state.store.memberships_of(user.id).await.map_err(DomainError::from)?;
    if memberships.len() > 1 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "this login also belongs to other organisations; ask the operator to deactivate it",
        ));
    }
    let by = ByMember { org: caller.org(), member: caller.key.user };
    sealform_core::admin::deactivate_user(
        &state.store,
        state.clock.as_ref(),
        caller.audit(&state),
        Some(by),
        user.email.as_str(),
    )
    .await
    .map_err(crate::console::owners_only_refused)?;
    Ok(StatusCode::NO_CONTENT)
}
