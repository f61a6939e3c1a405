//! Administration: the audit trail for owners, admins and auditors; users for owners and admins, behind a step-up.

use axum::extract::{Query, Request, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::{HeaderMap, StatusCode};
use minijinja::context;
use sealform_core::DomainError;
use sealform_core::audit::{Action, Actor, AuditCtx, AuditQuery, AuditScope};
use sealform_core::policy::is_org_admin;
use sealform_core::sessions::SessionRecord;
use sealform_core::store::{ByMember, Store};
use sealform_core::user::Role;
use secrecy::SecretString;
use serde::Deserialize;

use crate::AppState;
use crate::pages::render;
use crate::problem::ApiError;

use super::*;
use crate::problem::Found as _;

with_csrf!(MemberForm, ReauthForm);

#[derive(Deserialize, Default, serde::Serialize)]
pub(crate) struct AuditFilter {
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// `GET /console/audit`: the organisation's trail for owners, admins and auditors, filtered by action, actor,
/// record and time. Viewing it is itself audited.
pub(crate) async fn audit_page<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    Query(filter): Query<AuditFilter>,
) -> Result<Response, ApiError> {
    let session = match open_session(&state, &headers).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    if !can_audit(session.role) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the audit trail is for owners, admins and auditors",
        ));
    }
    let invalid =
        |what: &str| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", format!("{what} is not valid"));
    let action = (!filter.action.is_empty())
        .then(|| Action::parse(&filter.action))
        .transpose()
        .map_err(|_| invalid("the action"))?;
    let actor = (!filter.actor.is_empty())
        .then(|| filter.actor.trim().parse())
        .transpose()
        .map_err(|_| invalid("the actor id"))?;
    let query = AuditQuery {
        org: session.org,
        action,
        actor,
        target_hash: (!filter.target.is_empty()).then(|| state.auditor.target_hash(filter.target.trim())),
        from: inbox::day(&filter.from, "the start date")?,
        to: inbox::day_end(&filter.to, "the end date")?,
        limit: 200,
    };
    let rows = state.store.tenant(session.org).audit_search(query).await.map_err(DomainError::from)?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in &rows {
        let detail = state.auditor.open_detail(row)?;
        let actor = match detail.actor {
            Actor::User(id) => format!("user {id}"),
            Actor::ApiKey(id) => format!("API key {id}"),
            Actor::Operator => format!("operator {}", detail.context.os_user.clone().unwrap_or_default()),
            Actor::System => "system".to_owned(),
            Actor::Respondent => "respondent".to_owned(),
        };
        let targets: Vec<String> = detail.targets.iter().map(|t| format!("{} {}", t.kind, t.id)).collect();
        entries.push(context! {
            seq => row.seq,
            at => row.at.format(&time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]")).unwrap_or_default(),
            action => row.action.clone(),
            outcome => row.outcome.clone(),
            actor,
            targets => targets.join(", "),
            fields => detail.fields.join(", "),
            ip => detail.context.ip.unwrap_or_default(),
        });
    }
    let actions: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
    let page = render(&state.templates, "audit.html", context! { entries, actions, filter })?;
    Ok(Html(page.0).into_response())
}

fn forbidden_admin() -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", "user administration is for owners and admins")
}

/// `GET /console/users`: members, invitation form, deactivation.
pub(crate) async fn users_page<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, ApiError> {
    let session = match open_session(&state, &headers).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    if !can_admin(session.role) {
        return Err(forbidden_admin());
    }
    let emergency = state.store.tenant(session.org).emergency_members().await.map_err(DomainError::from)?;
    let members: Vec<_> = state
        .store
        .tenant(session.org)
        .members_of()
        .await
        .map_err(DomainError::from)?
        .into_iter()
        .map(|(user, role)| {
            let active = user.status == sealform_core::user::UserStatus::Active;
            context! {
                email => user.email.as_str(),
                role => role.as_str(),
                status => user.status.as_str(),
                mfa => user.totp.is_some(),
                can_deactivate => user.id != session.user && active && (role != Role::Owner || session.role == Role::Owner),
                emergency => emergency.contains(&user.id),
                can_hold_emergency => active && !is_org_admin(role) && role != Role::Auditor,
            }
        })
        .collect();
    let roles: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
    let notice = match query.notice.as_deref() {
        Some("invited") => Some("Invitation sent."),
        Some("deactivated") => Some("User deactivated; their sessions have ended."),
        Some("role") => Some("Role changed; that user signs in again to use it."),
        Some("emergency") => Some("Emergency access right changed."),
        _ => None,
    };
    let page = render(
        &state.templates,
        "users.html",
        context! { members, roles, notice, csrf => session.csrf_token.as_str() },
    )?;
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub(crate) struct NoticeQuery {
    notice: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct MemberForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    /// `on` or `off`: the emergency (break-glass) right.
    #[serde(default)]
    emergency: String,
}

/// The session of an owner or admin who re-authenticated in the last five minutes, and the form they posted.
async fn admin_action<S: Store>(
    state: &AppState<S>,
    request: Request,
) -> Result<Result<(SessionRecord, AuditScope, MemberForm), Response>, ApiError> {
    let (session, scope, form) = match posted::<S, MemberForm>(state, request, Gate::Open).await? {
        Ok(parts) => parts,
        Err(redirect) => return Ok(Err(redirect)),
    };
    if !can_admin(session.role) {
        return Err(forbidden_admin());
    }
    if !session.recently_reauthenticated(state.clock.now()) {
        return Ok(Err(to_reauth("/console/users")));
    }
    Ok(Ok((session, scope, form)))
}

/// `POST /console/users/invite` (step-up required).
pub(crate) async fn users_invite<S: Store>(
    State(state): State<AppState<S>>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, form) = match admin_action(&state, request).await? {
        Ok(parts) => parts,
        Err(redirect) => return Ok(redirect),
    };
    let role: Role = form.role.parse()?;
    if role == Role::Owner && session.role != Role::Owner {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "only owners may invite owners"));
    }
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    let org_name = state
        .store
        .list_organisations()
        .await
        .map_err(DomainError::from)?
        .into_iter()
        .find(|o| o.id == session.org)
        .map(|o| o.name.to_string())
        .unwrap_or_default();
    sealform_core::invitations::invite(
        &state.store,
        state.mailer.as_ref(),
        state.clock.as_ref(),
        audit,
        session.org,
        &org_name,
        &form.email,
        role,
        &state.public_url,
    )
    .await?;
    Ok(Redirect::to("/console/users?notice=invited").into_response())
}

/// `POST /console/users/deactivate` (step-up required). Only members of this organisation only: a login that also
/// belongs to another organisation is not this organisation's to switch off.
pub(crate) async fn users_deactivate<S: Store>(
    State(state): State<AppState<S>>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, form) = match admin_action(&state, request).await? {
        Ok(parts) => parts,
        Err(redirect) => return Ok(redirect),
    };
    let email = sealform_core::user::Email::parse(&form.email)?;
    let user = state.store.user_by_email(&email).await.found()?;
    let memberships = state.store.memberships_of(user.id).await.map_err(DomainError::from)?;
    let Some(membership) = memberships.iter().find(|m| m.org_id == session.org) else {
        return Err(ApiError::not_found());
    };
    if user.id == session.user {
        return Err(ApiError::new(StatusCode::CONFLICT, "conflict", "you cannot deactivate yourself"));
    }
    // As for roles: an admin who may not take the owner role away may not switch an owner off either.
    if membership.role == Role::Owner && session.role != Role::Owner {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "only owners deactivate owners"));
    }
    if memberships.len() > 1 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "this login also belongs to other organisations; ask the operator to deactivate it",
        ));
    }
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    let by = Some(ByMember { org: session.org, member: session.user });
    sealform_core::admin::deactivate_user(&state.store, state.clock.as_ref(), audit, by, email.as_str())
        .await
        .map_err(owners_only_refused)?;
    Ok(Redirect::to("/console/users?notice=deactivated").into_response())
}

#[derive(Deserialize)]
pub(crate) struct ReauthQuery {
    next: Option<String>,
}

/// Only console pages are valid targets after a step-up: no open redirect.
fn safe_next(next: Option<&str>) -> &str {
    next.filter(|n| n.starts_with("/console") && !n.starts_with("//") && !n.contains("://")).unwrap_or("/console")
}

/// `GET /console/reauth`.
pub(crate) async fn reauth_page<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    Query(query): Query<ReauthQuery>,
) -> Result<Response, ApiError> {
    let session = match open_session(&state, &headers).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    reauth_form(&state, &session, safe_next(query.next.as_deref()), None, StatusCode::OK).await
}

async fn reauth_form<S: Store>(
    state: &AppState<S>,
    session: &SessionRecord,
    next: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let totp = has_authenticator_app(state, session).await?;
    let page =
        render(&state.templates, "reauth.html", context! { csrf => session.csrf_token.as_str(), next, totp, error })?;
    Ok((status, page).into_response())
}

#[derive(Deserialize)]
pub(crate) struct ReauthForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: String,
}

/// `POST /console/reauth`.
pub(crate) async fn reauth_submit<S: Store>(
    State(state): State<AppState<S>>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, form) = match posted::<S, ReauthForm>(&state, request, Gate::Open).await? {
        Ok(parts) => parts,
        Err(redirect) => return Ok(redirect),
    };
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    let next = safe_next(Some(&form.next)).to_owned();
    let ok = sealform_core::sessions::reauthenticate(
        &state.store,
        state.clock.as_ref(),
        &state.policy,
        &state.masters,
        audit,
        &session,
        sealform_core::sessions::StepUpProof { password: SecretString::from(form.password), code: form.code },
    )
    .await?;
    if ok {
        Ok(Redirect::to(&next).into_response())
    } else {
        reauth_form(&state, &session, &next, Some("That did not match. Try again."), StatusCode::UNAUTHORIZED).await
    }
}

/// `POST /console/users/role` (step-up required): only owners grant or take away the owner role, and an
/// organisation always keeps one owner. The member's sessions end: their privileges changed.
pub(crate) async fn users_role<S: Store>(
    State(state): State<AppState<S>>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, form) = match admin_action(&state, request).await? {
        Ok(parts) => parts,
        Err(redirect) => return Ok(redirect),
    };
    let role: Role = form.role.parse()?;
    let email = sealform_core::user::Email::parse(&form.email)?;
    let user = state.store.user_by_email(&email).await.found()?;
    // Another organisation's user is not found here (the store refuses too; this answers 404 before any entry).
    let members = state.store.tenant(session.org).members_of().await.map_err(DomainError::from)?;
    if !members.iter().any(|(u, _)| u.id == user.id) {
        return Err(ApiError::not_found());
    }
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    let targets = vec![sealform_core::audit::Target::new("user", user.id)];
    let entry = sealform_core::audit::Entry::ok(Some(session.org), Action::UserUpdate, targets, state.clock.now())
        .with_fields(vec![format!("role:{}", role.as_str())]);
    let tenant = state.store.tenant(session.org);
    tenant.set_role(user.id, role, session.user, audit.entry(entry)?).await.map_err(role_change_failed)?;
    Ok(Redirect::to("/console/users?notice=role").into_response())
}

/// `POST /console/users/emergency` (step-up required): gives or takes away a member's emergency (break-glass) right.
pub(crate) async fn users_emergency<S: Store>(
    State(state): State<AppState<S>>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, form) = match admin_action(&state, request).await? {
        Ok(parts) => parts,
        Err(redirect) => return Ok(redirect),
    };
    let holds = match form.emergency.as_str() {
        "on" => true,
        "off" => false,
        _ => return Err(ApiError::bad_request("emergency must be on or off")),
    };
    let email = sealform_core::user::Email::parse(&form.email)?;
    let user = state.store.user_by_email(&email).await.found()?;
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    sealform_core::break_glass::set_emergency_right(
        &state.store,
        audit,
        session.org,
        user.id,
        holds,
        state.clock.now(),
    )
    .await?;
    Ok(Redirect::to("/console/users?notice=emergency").into_response())
}
