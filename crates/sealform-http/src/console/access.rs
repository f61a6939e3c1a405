//! Who may work on a form (issue #9): the access page where owners and admins list, give and revoke grants and
//! decide access requests, and the page where a member asks for access with a reason. Every change goes through the
//! audited services of [`sealform_core::grants`]; the policy ([`Authz`]) decides who may use these pages.

use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use http::StatusCode;
use minijinja::{Value, context};
use sealform_core::DomainError;
use sealform_core::audit::{AuditCtx, AuditScope};
use sealform_core::grants::{
    GrantRecord, GrantTerms, Right, decide_access, grant_access, request_access, revoke_access,
};
use sealform_core::ids::{FolderId, FormId, UserId};
use sealform_core::mail::Mail;
use sealform_core::policy::{Action as PolicyAction, is_org_admin};
use sealform_core::sessions::SessionRecord;
use sealform_core::store::Store;
use sealform_core::submission::FormRecord;
use sealform_core::user::{Email, UserStatus};
use time::OffsetDateTime;

use super::inbox::{calendar_day, format_time, org_form, parse_id, staff};
use super::*;
use crate::AppState;
use crate::pages::render;
use crate::problem::ApiError;

/// Templates of this module.
pub(crate) const TEMPLATES: &[(&str, &str)] = &[
    ("access.html", include_str!("../../templates/access.html")),
    ("request_access.html", include_str!("../../templates/request_access.html")),
    ("grants.html", include_str!("../../templates/grants.html")),
];

/// Routes of this module.
pub(crate) fn routes<S: Store>() -> crate::app::Routes<S> {
    crate::app::Routes::new()
        .route("/console/forms/{form}/access", get(access_page::<S>).post(grant_submit::<S>))
        .route("/console/forms/{form}/access/revoke", post(revoke_submit::<S>))
        .route("/console/forms/{form}/access/requests/{request}", post(decide_submit::<S>))
        .route("/console/forms/{form}/request-access", get(request_page::<S>).post(request_submit::<S>))
        .route("/console/access-review.csv", get(review_csv::<S>))
}

/// Parses an optional `YYYY-MM-DD` expiry: the grant ends at the start of that day (UTC).
fn expiry(text: &str) -> Result<Option<OffsetDateTime>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    calendar_day(text)
        .map(|d| Some(d.midnight().assume_utc()))
        .ok_or_else(|| "the expiry is not a date (YYYY-MM-DD)".to_owned())
}

/// The rights ticked in a posted form (`right=view&right=edit…`).
fn rights(pairs: &[(String, String)]) -> Result<Vec<Right>, String> {
    pairs.iter().filter(|(k, _)| k == "right").map(|(_, v)| v.parse::<Right>().map_err(|e| e.to_string())).collect()
}

pub(super) fn field<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

/// A posted form with repeated keys, its CSRF token checked, for a signed-in member; or the redirect to send.
pub(super) async fn posted_pairs<S: Store>(
    state: &AppState<S>,
    request: Request,
) -> Result<Result<(SessionRecord, AuditScope, Authz, Vec<(String, String)>), Response>, ApiError> {
    same_origin(request.headers())?;
    let (session, scope, authz) = match staff(state, &request).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(Err(redirect)),
    };
    let body = axum::body::to_bytes(request.into_body(), 64 * 1024)
        .await
        .map_err(|_| ApiError::bad_request("the form could not be read"))?;
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&body).map_err(|_| ApiError::bad_request("the form is malformed"))?;
    csrf_matches(&session.csrf_token, field(&pairs, "csrf"))?;
    Ok(Ok((session, scope, authz, pairs)))
}

/// `GET /console/forms/{form}/access`: grants and pending requests, for owners and admins.
async fn access_page<S: Store>(
    State(state): State<AppState<S>>,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, _, authz) = match staff(&state, &request).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    let form = org_form(&state, &session, &raw).await?;
    authz.require_on(PolicyAction::ManageAccess, form.id)?;
    render_access(&state, &session, &form, None, StatusCode::OK).await
}

async fn render_access<S: Store>(
    state: &AppState<S>,
    session: &SessionRecord,
    form: &FormRecord,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let grants: Vec<Value> = state
        .store
        .tenant(session.org)
        .grants_of_form(form.id)
        .await
        .map_err(DomainError::from)?
        .into_iter()
        .map(|r| {
            let g = &r.grant;
            let row = grant_row(&r.email, g.user, &g.rights, g.hide_phi, (g.created_at, g.expires_at), now);
            context! { break_glass => g.break_glass, ..row }
        })
        .collect();
    let requests: Vec<Value> = state
        .store
        .tenant(session.org)
        .access_requests_of_form(form.id)
        .await
        .map_err(DomainError::from)?
        .into_iter()
        .map(|r| {
            context! {
                id => r.request.id.to_string(),
                email => r.email.as_str().to_owned(),
                reason => r.request.reason,
                at => format_time(r.request.created_at),
            }
        })
        .collect();
    let rights: Vec<&str> = Right::ALL.iter().map(|r| r.as_str()).collect();
    let page = render(
        &state.templates,
        "access.html",
        context! {
            form => context! { id => form.id.to_string(), title => form.title.as_str() },
            grants, requests, rights, error, csrf => session.csrf_token.as_str(),
        },
    )?;
    Ok((status, page).into_response())
}

/// One row of a grants table (`grants.html`), a form's or a folder's: who, what, whether PHI is hidden, since and
/// until when.
pub(super) fn grant_row(
    email: &Email,
    user: UserId,
    rights: &[Right],
    hide_phi: bool,
    (since, expires_at): (OffsetDateTime, Option<OffsetDateTime>),
    now: OffsetDateTime,
) -> Value {
    context! {
        user => user.to_string(),
        email => email.as_str().to_owned(),
        rights => Right::join(rights).replace(',', ", "),
        hide_phi,
        expires => expires_at.map(format_time),
        expired => expires_at.is_some_and(|at| now >= at),
        since => format_time(since),
    }
}

/// Answers a refused grant change with the access page and its message (422), or passes other errors on.
async fn refused<S: Store>(
    state: &AppState<S>,
    session: &SessionRecord,
    form: &FormRecord,
    err: DomainError,
) -> Result<Response, ApiError> {
    match err {
        DomainError::Invalid(message) | DomainError::NotFound(message) | DomainError::Conflict(message) => {
            render_access(state, session, form, Some(&message), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        other => Err(other.into()),
    }
}

pub(super) fn terms(pairs: &[(String, String)]) -> Result<GrantTerms, String> {
    Ok(GrantTerms {
        rights: rights(pairs)?,
        hide_phi: !field(pairs, "hide_phi").is_empty(),
        expires_at: expiry(field(pairs, "expires"))?,
    })
}

/// `POST /console/forms/{form}/access`: gives (or replaces) a member's grant, by e-mail.
async fn grant_submit<S: Store>(
    State(state): State<AppState<S>>,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, authz, pairs) = match posted_pairs(&state, request).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    let form = org_form(&state, &session, &raw).await?;
    authz.require_on(PolicyAction::ManageAccess, form.id)?;
    let terms = match terms(&pairs) {
        Ok(terms) => terms,
        Err(message) => return refused(&state, &session, &form, DomainError::Invalid(message)).await,
    };
    let Some(user) = member_by_email(&state, &session, field(&pairs, "email")).await? else {
        let missing = DomainError::NotFound("no member of this organisation has that e-mail address".into());
        return refused(&state, &session, &form, missing).await;
    };
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    let now = state.clock.now();
    match grant_access(&state.store, audit, session.org, form.id, user, &terms, Some(session.user), now).await {
        Ok(_) => Ok(Redirect::to(&format!("/console/forms/{}/access", form.id)).into_response()),
        Err(err) => refused(&state, &session, &form, err).await,
    }
}

/// The member of the session's organisation with this e-mail address.
pub(super) async fn member_by_email<S: Store>(
    state: &AppState<S>,
    session: &SessionRecord,
    email: &str,
) -> Result<Option<UserId>, ApiError> {
    let Ok(email) = Email::parse(email) else { return Ok(None) };
    let Some(user) = state.store.user_by_email(&email).await.map_err(DomainError::from)? else { return Ok(None) };
    let member = state.store.memberships_of(user.id).await.map_err(DomainError::from)?;
    Ok(member.iter().any(|m| m.org_id == session.org).then_some(user.id))
}

/// `POST /console/forms/{form}/access/revoke`: removes a member's grant.
async fn revoke_submit<S: Store>(
    State(state): State<AppState<S>>,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, authz, pairs) = match posted_pairs(&state, request).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    let form = org_form(&state, &session, &raw).await?;
    authz.require_on(PolicyAction::ManageAccess, form.id)?;
    let user: UserId = parse_id(field(&pairs, "user"))?;
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    match revoke_access(&state.store, audit, session.org, form.id, user, state.clock.now()).await {
        Ok(()) => Ok(Redirect::to(&format!("/console/forms/{}/access", form.id)).into_response()),
        Err(err) => refused(&state, &session, &form, err).await,
    }
}

/// `POST /console/forms/{form}/access/requests/{request}`: approves (`decision=approve` with rights, hide PHI and an
/// optional expiry) or denies (`decision=deny`) a pending request.
async fn decide_submit<S: Store>(
    State(state): State<AppState<S>>,
    Path((raw, raw_request)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, authz, pairs) = match posted_pairs(&state, request).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    let form = org_form(&state, &session, &raw).await?;
    authz.require_on(PolicyAction::ManageAccess, form.id)?;
    let id: uuid::Uuid = parse_id(&raw_request)?;
    // The request must be one for this form.
    let found = state.store.tenant(session.org).access_request(id).await.map_err(DomainError::from)?;
    if found.is_none_or(|r| r.form != form.id) {
        return Err(ApiError::not_found());
    }
    let approved = match field(&pairs, "decision") {
        "approve" => match terms(&pairs) {
            Ok(terms) => Some(terms),
            Err(message) => return refused(&state, &session, &form, DomainError::Invalid(message)).await,
        },
        "deny" => None,
        _ => return refused(&state, &session, &form, DomainError::Invalid("approve or deny".into())).await,
    };
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    let now = state.clock.now();
    match decide_access(&state.store, audit, session.org, id, session.user, approved.as_ref(), now).await {
        Ok(_) => Ok(Redirect::to(&format!("/console/forms/{}/access", form.id)).into_response()),
        Err(err) => refused(&state, &session, &form, err).await,
    }
}

/// `GET /console/forms/{form}/request-access`: asks for a reason.
async fn request_page<S: Store>(
    State(state): State<AppState<S>>,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, _, authz) = match staff(&state, &request).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    let form = org_form(&state, &session, &raw).await?;
    authz.require_on(PolicyAction::RequestAccess, form.id)?;
    let emergency = authz.can_on(PolicyAction::BreakGlass, form.id);
    render_request(&state, &session, &form, None, RequestPage { sent: false, emergency }, StatusCode::OK)
}

/// What the request page shows besides the form.
#[derive(Clone, Copy)]
struct RequestPage {
    /// The request was sent.
    sent: bool,
    /// The member may break the glass instead.
    emergency: bool,
}

fn render_request<S: Store>(
    state: &AppState<S>,
    session: &SessionRecord,
    form: &FormRecord,
    error: Option<&str>,
    shown: RequestPage,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let page = render(
        &state.templates,
        "request_access.html",
        context! {
            form => context! { id => form.id.to_string(), title => form.title.as_str() },
            error, sent => shown.sent, emergency => shown.emergency, csrf => session.csrf_token.as_str(),
        },
    )?;
    Ok((status, page).into_response())
}

/// `POST /console/forms/{form}/request-access`: records the request and tells the organisation's owners and admins
/// by e-mail (the form's title and a link; never the reason or any answer).
async fn request_submit<S: Store>(
    State(state): State<AppState<S>>,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, authz, pairs) = match posted_pairs(&state, request).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    let form = org_form(&state, &session, &raw).await?;
    authz.require_on(PolicyAction::RequestAccess, form.id)?;
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    let reason = field(&pairs, "reason");
    let emergency = authz.can_on(PolicyAction::BreakGlass, form.id);
    match request_access(&state.store, audit, session.org, form.id, session.user, reason, state.clock.now()).await {
        Ok(_) => {}
        Err(DomainError::Invalid(message) | DomainError::Conflict(message)) => {
            let shown = RequestPage { sent: false, emergency };
            return render_request(&state, &session, &form, Some(&message), shown, StatusCode::UNPROCESSABLE_ENTITY);
        }
        Err(err) => return Err(err.into()),
    }
    let link = format!("{}/console/forms/{}/access", state.public_url.trim_end_matches('/'), form.id);
    for (member, role) in state.store.tenant(session.org).members_of().await.map_err(DomainError::from)? {
        if !is_org_admin(role) || member.id == session.user || member.status != UserStatus::Active {
            continue;
        }
        let body = format!(
            "{} asks for access to the form \"{}\" on Sealform.\n\nReview the request (and the reason given) and \
             approve or deny it here:\n{link}\n",
            session.email.as_str(),
            form.title
        );
        let mail = Mail { to: member.email.clone(), subject: "Access request on Sealform".into(), body };
        if let Err(err) = state.mailer.send(mail).await {
            // The request is stored and shown on the access page; a failed notice does not undo it.
            tracing::warn!(error = %err, "access request notice not sent");
        }
    }
    render_request(&state, &session, &form, None, RequestPage { sent: true, emergency }, StatusCode::OK)
}

/// The organisation's folders and which form is in which, to tell which folder grants reach a form.
struct FolderTree {
    folders: Vec<sealform_core::folders::Folder>,
    placed: Vec<(FormId, FolderId)>,
}

impl FolderTree {
    /// Whether `form` is in `folder` or in a folder below it.
    fn holds(&self, folder: FolderId, form: FormId) -> bool {
        let placed = self.placed.iter().find(|(f, _)| *f == form).map(|(_, folder)| *folder);
        placed.is_some_and(|at| sealform_core::folders::ancestors(&self.folders, at).contains(&folder))
    }

    fn name(&self, folder: FolderId) -> String {
        self.folders.iter().find(|f| f.id == folder).map(|f| f.name.clone()).unwrap_or_default()
    }
}

/// Audit entries per member read for "last access": the review is occasional, and a member's older entries only
/// matter when they have not touched a form for that long (then the column says so).
const LAST_ACCESS_SCAN: u32 = 5_000;

/// When `user` last read or changed records of each form, in the console or through any of their API keys (from
/// the audit entries of each that name a form), newest first; and whether the scans reached their oldest entries.
async fn last_access<S: Store>(
    state: &AppState<S>,
    org: sealform_core::ids::OrgId,
    user: UserId,
) -> Result<(std::collections::HashMap<String, OffsetDateTime>, bool), ApiError> {
    let tenant = state.store.tenant(org);
    let keys = tenant.api_keys_of(user).await.map_err(DomainError::from)?;
    let actors = std::iter::once(*user.as_uuid()).chain(keys.iter().map(|k| k.key.id));
    let mut last: std::collections::HashMap<String, OffsetDateTime> = std::collections::HashMap::new();
    let mut complete = true;
    for actor in actors {
        let query = sealform_core::audit::AuditQuery {
            org,
            action: None,
            actor: Some(actor),
            target_hash: None,
            from: None,
            to: None,
            limit: LAST_ACCESS_SCAN,
        };
        let rows = tenant.audit_search(query).await.map_err(DomainError::from)?;
        complete &= rows.len() < LAST_ACCESS_SCAN as usize;
        for row in rows.iter().filter(|row| row.action.starts_with("submission.") || row.action == "file.read") {
            let detail = state.auditor.open_detail(row)?;
            for target in detail.targets.into_iter().filter(|t| t.kind == "form") {
                let at = last.entry(target.id).or_insert(row.at);
                *at = (*at).max(row.at);
            }
        }
    }
    Ok((last, complete))
}

/// `GET /console/access-review.csv`: who may see what, for owners, admins and auditors. One row per form and member
/// with access: owners and admins (every right, by role) and every grant with its rights, hidden PHI, expiry, who gave
/// it, its state (`active`, or `expired` and `inactive member` for stale grants to revoke), whether it was a
/// break-glass emergency access, and when the member last opened or changed the form's submissions. Names and
/// rights only; no answers.
async fn review_csv<S: Store>(State(state): State<AppState<S>>, request: Request) -> Result<Response, ApiError> {
    let (session, _, authz) = match staff(&state, &request).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    authz.require_org(PolicyAction::ReviewAccess)?;
    let now = state.clock.now();
    let members = state.store.tenant(session.org).members_of().await.map_err(DomainError::from)?;
    let email_of = |user: UserId| {
        members
            .iter()
            .find(|(u, _)| u.id == user)
            .map_or_else(|| "a former member".to_owned(), |(u, _)| u.email.as_str().to_owned())
    };
    let mut seen = std::collections::HashMap::new();
    for (user, _) in &members {
        seen.insert(user.id, last_access(&state, session.org, user.id).await?);
    }
    let last_of = |user: UserId, form: &str| match seen.get(&user) {
        Some((last, complete)) => last.get(form).map_or_else(
            || if *complete { "never".to_owned() } else { "not in their last 5000 audit entries".to_owned() },
            |at| format_time(*at),
        ),
        None => "never".to_owned(),
    };
    let tree = FolderTree {
        folders: state.store.tenant(session.org).folders_of().await.map_err(DomainError::from)?,
        placed: state.store.tenant(session.org).form_folders().await.map_err(DomainError::from)?,
    };
    let folder_grants = state.store.tenant(session.org).folder_grants_of_org().await.map_err(DomainError::from)?;
    let mut out = String::new();
    let header = [
        "form id",
        "form",
        "member",
        "role",
        "rights",
        "phi",
        "expires",
        "state",
        "granted by",
        "since",
        "break-glass",
        "via folder",
        "last access",
    ];
    export::csv_row(&mut out, header.into_iter());
    for form in state.store.tenant(session.org).forms_of().await.map_err(DomainError::from)? {
        let id = form.id.to_string();
        for (user, role) in members.iter().filter(|(u, role)| is_org_admin(*role) && u.status == UserStatus::Active) {
            let last = last_of(user.id, &id);
            let row = [
                id.as_str(),
                form.title.as_str(),
                user.email.as_str(),
                role.as_str(),
                "all (role)",
                "shown",
                "",
                "active",
                "",
                "",
                "",
                "",
                &last,
            ];
            export::csv_row(&mut out, row.into_iter());
        }
        let direct = state.store.tenant(session.org).grants_of_form(form.id).await.map_err(DomainError::from)?;
        let via_folders = folder_grants.iter().filter(|r| tree.holds(r.grant.folder, form.id));
        let rows = direct.into_iter().map(|r| (r, None)).chain(via_folders.map(|r| {
            let grant = r.grant.applied_to(form.id);
            (GrantRecord { grant, email: r.email.clone() }, Some(tree.name(r.grant.folder)))
        }));
        for (record, folder) in rows {
            let grant = &record.grant;
            let member = members.iter().find(|(u, _)| u.id == grant.user);
            let role = member.map_or("", |(_, role)| role.as_str());
            let active = member.is_some_and(|(u, _)| u.status == UserStatus::Active);
            let state_label = match (grant.in_force(now), active) {
                (true, true) => "active",
                (false, _) => "expired",
                (true, false) => "inactive member",
            };
            let rights = Right::join(&grant.rights).replace(',', " ");
            let expires = grant.expires_at.map(format_time).unwrap_or_default();
            let by = grant.granted_by.map_or_else(|| "Sealform (form creator)".to_owned(), email_of);
            let since = format_time(grant.created_at);
            let phi = if grant.hide_phi { "hidden" } else { "shown" };
            let break_glass = if grant.break_glass { "yes" } else { "" };
            let last = last_of(grant.user, &id);
            let folder = folder.unwrap_or_default();
            let row = [
                id.as_str(),
                form.title.as_str(),
                record.email.as_str(),
                role,
                &rights,
                phi,
                &expires,
                state_label,
                &by,
                &since,
                break_glass,
                &folder,
                &last,
            ];
            export::csv_row(&mut out, row.into_iter());
        }
    }
    let disposition = http::HeaderValue::from_static("attachment; filename=\"access-review.csv\"");
    Ok((
        [
            (http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/csv; charset=utf-8")),
            (http::header::CONTENT_DISPOSITION, disposition),
        ],
        out,
    )
        .into_response())
}
