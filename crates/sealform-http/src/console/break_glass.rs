//! Break-glass in the console (issue #9): the page where a member with the emergency right opens time-boxed access
//! to a form with a reason, and the page where owners, admins and auditors see every emergency access, open or
//! ended, with its reason. The service is [`sealform_core::break_glass`]; the policy decides who may use each page.

use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use http::StatusCode;
use minijinja::{Value, context};
use sealform_core::DomainError;
use sealform_core::audit::{Action, AuditCtx, AuditQuery};
use sealform_core::break_glass::{DURATIONS_MINUTES, Emergency, MAX_REASON_CHARS, alert_admins, break_glass};
use sealform_core::grants::Grant;
use sealform_core::policy::Action as PolicyAction;
use sealform_core::sessions::SessionRecord;
use sealform_core::store::Store;
use sealform_core::submission::FormRecord;

use super::access::{field, posted_pairs};
use super::inbox::{format_time, org_form, staff};
use crate::AppState;
use crate::pages::render;
use crate::problem::ApiError;

/// Templates of this module.
pub(crate) const TEMPLATES: &[(&str, &str)] = &[
    ("break_glass.html", include_str!("../../templates/break_glass.html")),
    ("break_glass_log.html", include_str!("../../templates/break_glass_log.html")),
];

/// Emergency accesses listed on the log page, newest first.
const LOG_LENGTH: u32 = 200;

/// Routes of this module.
pub(crate) fn routes<S: Store>() -> crate::app::Routes<S> {
    crate::app::Routes::new()
        .route("/console/forms/{form}/break-glass", get(open_page::<S>).post(open_submit::<S>))
        .route("/console/break-glass", get(log_page::<S>))
}

/// `GET /console/forms/{form}/break-glass`: what breaking the glass means, a reason and a duration.
async fn open_page<S: Store>(
    State(state): State<AppState<S>>,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, _, authz) = match staff(&state, &request).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    let form = org_form(&state, &session, &raw).await?;
    authz.require_on(PolicyAction::BreakGlass, form.id)?;
    render_open(&state, &session, &form, None, StatusCode::OK)
}

fn render_open<S: Store>(
    state: &AppState<S>,
    session: &SessionRecord,
    form: &FormRecord,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let page = render(
        &state.templates,
        "break_glass.html",
        context! {
            form => context! { id => form.id.to_string(), title => form.title.as_str() },
            durations => DURATIONS_MINUTES.to_vec(), max_reason => MAX_REASON_CHARS,
            error, csrf => session.csrf_token.as_str(),
        },
    )?;
    Ok((status, page).into_response())
}

/// `POST /console/forms/{form}/break-glass`: opens the access, alerts the owners and admins, and goes to the form's
/// submissions.
async fn open_submit<S: Store>(
    State(state): State<AppState<S>>,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, authz, pairs) = match posted_pairs(&state, request).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    let form = org_form(&state, &session, &raw).await?;
    authz.require_on(PolicyAction::BreakGlass, form.id)?;
    let Ok(minutes) = field(&pairs, "minutes").parse::<i64>() else {
        return render_open(&state, &session, &form, Some("choose a duration"), StatusCode::UNPROCESSABLE_ENTITY);
    };
    let emergency =
        Emergency { org: session.org, form: form.id, user: session.user, reason: field(&pairs, "reason"), minutes };
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    let grant = match break_glass(&state.store, audit, emergency, state.clock.now()).await {
        Ok(grant) => grant,
        Err(DomainError::Invalid(message) | DomainError::Conflict(message)) => {
            return render_open(&state, &session, &form, Some(&message), StatusCode::UNPROCESSABLE_ENTITY);
        }
        Err(err) => return Err(err.into()),
    };
    let alert =
        alert_admins(&state.store, state.mailer.as_ref(), &state.public_url, &session.email, &form.title, &grant);
    if let Err(err) = alert.await {
        // The access is open and audited; the console lists it even when the e-mail could not go out.
        tracing::error!(error = %err, "break-glass alert not sent");
    }
    Ok(Redirect::to(&format!("/console/forms/{}/submissions", form.id)).into_response())
}

/// `GET /console/break-glass`: every emergency access of the organisation (from the audit trail, with its reason)
/// and whether it is still open, for owners, admins and auditors.
async fn log_page<S: Store>(State(state): State<AppState<S>>, request: Request) -> Result<Response, ApiError> {
    let (session, _, authz) = match staff(&state, &request).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    authz.require_org(PolicyAction::ReviewAccess)?;
    let now = state.clock.now();
    let grants = state.store.tenant(session.org).break_glass_grants().await.map_err(DomainError::from)?;
    let forms = state.store.tenant(session.org).forms_of().await.map_err(DomainError::from)?;
    let members = state.store.tenant(session.org).members_of().await.map_err(DomainError::from)?;
    let query = AuditQuery {
        org: session.org,
        action: Some(Action::GrantBreakGlass),
        actor: None,
        target_hash: None,
        from: None,
        to: None,
        limit: LOG_LENGTH,
    };
    let mut entries: Vec<Value> = Vec::new();
    for row in state.store.tenant(session.org).audit_search(query).await.map_err(DomainError::from)? {
        let detail = state.auditor.open_detail(&row)?;
        let target = |kind: &str| detail.targets.iter().find(|t| t.kind == kind).map(|t| t.id.clone());
        let (Some(form_id), Some(user_id)) = (target("form"), target("user")) else { continue };
        let field = |name: &str| {
            detail.fields.iter().find_map(|f| f.strip_prefix(name).and_then(|v| v.strip_prefix(':'))).unwrap_or("")
        };
        // The grant this entry opened, if it is still the member's grant on the form.
        let grant = grants.iter().map(|r| &r.grant).find(|g| {
            g.form.to_string() == form_id && g.user.to_string() == user_id && same_moment(g.created_at, row.at)
        });
        entries.push(context! {
            at => format_time(row.at),
            who => members.iter().find(|(u, _)| u.id.to_string() == user_id).map(|(u, _)| u.email.as_str().to_owned()),
            form_id => form_id.clone(),
            form => forms.iter().find(|f| f.id.to_string() == form_id).map(|f| f.title.clone()),
            minutes => field("minutes"),
            reason => field("reason"),
            state => state_of(grant, now),
        });
    }
    let open = grants.iter().filter(|r| r.grant.in_force(now)).count();
    let page = render(&state.templates, "break_glass_log.html", context! { entries, open })?;
    Ok(page.into_response())
}

/// Whether two stored times are the same moment: backends keep different sub-microsecond precision.
fn same_moment(a: time::OffsetDateTime, b: time::OffsetDateTime) -> bool {
    (a - b).abs() < time::Duration::microseconds(1)
}

/// How an emergency access stands: open until a time, ended by itself, or revoked (its grant is gone or replaced).
fn state_of(grant: Option<&Grant>, now: time::OffsetDateTime) -> String {
    match grant {
        Some(g) if g.in_force(now) => format!("open until {}", g.expires_at.map(format_time).unwrap_or_default()),
        Some(_) => "ended (expired)".to_owned(),
        None => "ended (revoked or replaced)".to_owned(),
    }
}
