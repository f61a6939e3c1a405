//! The console: login, logout, the start page for staff, and the auditor's page.

use axum::Form;
use axum::extract::{Query, Request, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use http::header::SET_COOKIE;
use http::{HeaderMap, StatusCode};
use minijinja::context;
use sealform_core::DomainError;
use sealform_core::audit::{Action, Actor, AuditCtx, AuditQuery, AuditScope, RequestContext};
use sealform_core::mfa::{complete_login, enrol_totp};
use sealform_core::sessions::{LoginOutcome, NewSession, SessionRecord, authenticate, change_password, login, logout};
use sealform_core::store::Store;
use sealform_core::user::Role;
use secrecy::SecretString;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::AppState;
use crate::auth::{
    LOGIN_CSRF_COOKIE, SESSION_COOKIE, cookie, csrf_matches, request_context, same_origin, set_cookie, user_scope,
};
use crate::pages::render;
use crate::problem::ApiError;

/// The one message for every refused login: unknown e-mail, wrong password, locked or deactivated account.
pub(crate) const LOGIN_REFUSED: &str = "The e-mail or password is wrong, or the account is locked. Try again later.";
/// The message when a client address made too many failed sign-ins.
pub(crate) const LOGIN_THROTTLED: &str = "Too many failed sign-ins from your network. Try again in 15 minutes.";

/// The logged-in session of a request, if any. A session still waiting for its second factor is not logged in.
pub(crate) async fn current_session<S: Store>(
    state: &AppState<S>,
    headers: &HeaderMap,
) -> Result<Option<SessionRecord>, ApiError> {
    Ok(any_session(state, headers).await?.filter(|s| !s.mfa_pending))
}

/// The session of a request, whether or not its second factor is done.
async fn any_session<S: Store>(state: &AppState<S>, headers: &HeaderMap) -> Result<Option<SessionRecord>, ApiError> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else { return Ok(None) };
    Ok(authenticate(&state.store, state.clock.as_ref(), &state.policy, token).await?)
}

/// A redirect to `next` that sets the session cookie of a new session, valid until its absolute expiry.
fn with_session_cookie(next: &str, token: &str, session: &NewSession) -> Response {
    let max_age = (session.expires_at - session.created_at).whole_seconds();
    let mut response = Redirect::to(next).into_response();
    response.headers_mut().append(SET_COOKIE, set_cookie(SESSION_COOKIE, token, max_age));
    response
}

/// Which sessions may post a form.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Gate {
    /// A fully signed-in session with nothing pending (no expired password, no required enrolment).
    Open,
    /// Any fully signed-in session, also one that must first change its password or enrol MFA.
    SignedIn,
    /// A session waiting for its second factor.
    Pending,
}

/// A form with the CSRF token it carries.
trait WithCsrf {
    fn csrf(&self) -> &str;
}

macro_rules! with_csrf {
    ($($form:ty),* $(,)?) => {
        $(impl WithCsrf for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        })*
    };
}
with_csrf!(
    LoginForm,
    CsrfForm,
    PasswordForm,
    CodeForm,
    RevokeForm,
    InviteForm,
    ResetRequestForm,
    MemberForm,
    ReauthForm,
    RevokeKeyForm
);

/// A form posted in a session: same-origin, a session the gate admits, the form parsed, its CSRF token checked.
/// `Err(response)` is the redirect to send instead (to the login page, the password change, MFA enrolment).
async fn posted<S: Store, F: serde::de::DeserializeOwned + WithCsrf>(
    state: &AppState<S>,
    request: Request,
    gate: Gate,
) -> Result<Result<(SessionRecord, AuditScope, F), Response>, ApiError> {
    same_origin(request.headers())?;
    let session = match gate {
        Gate::Open => match open_session(state, request.headers()).await? {
            Ok(session) => session,
            Err(redirect) => return Ok(Err(redirect)),
        },
        Gate::SignedIn => match current_session(state, request.headers()).await? {
            Some(session) => session,
            None => return Ok(Err(to_login())),
        },
        Gate::Pending => match any_session(state, request.headers()).await?.filter(|s| s.mfa_pending) {
            Some(session) => session,
            None => return Ok(Err(to_login())),
        },
    };
    let scope = user_scope(&session, request_context(&request));
    let Form(form) =
        Form::<F>::from_request(request, &()).await.map_err(|_| ApiError::bad_request("the form is malformed"))?;
    csrf_matches(&session.csrf_token, form.csrf())?;
    Ok(Ok((session, scope, form)))
}

/// A form posted without a session (login, invitation, reset): same-origin, parsed, checked against the
/// double-submit CSRF cookie. Returns where the request came from, for the audit trail.
async fn anonymous_post<F: serde::de::DeserializeOwned + WithCsrf>(
    request: Request,
) -> Result<(RequestContext, F), ApiError> {
    same_origin(request.headers())?;
    let context = request_context(&request);
    let expected = cookie(request.headers(), LOGIN_CSRF_COOKIE).unwrap_or_default().to_owned();
    let Form(form) =
        Form::<F>::from_request(request, &()).await.map_err(|_| ApiError::bad_request("the form is malformed"))?;
    csrf_matches(&expected, form.csrf())?;
    Ok((context, form))
}

fn to_login() -> Response {
    Redirect::to("/login").into_response()
}

/// A session whose password expired may only change it.
async fn open_session<S: Store>(
    state: &AppState<S>,
    headers: &HeaderMap,
) -> Result<Result<SessionRecord, Response>, ApiError> {
    Ok(match current_session(state, headers).await? {
        None => Err(to_login()),
        Some(session) if session.must_change_password => Err(Redirect::to("/console/password").into_response()),
        Some(session) if session.needs_mfa_enrolment => Err(Redirect::to("/console/mfa").into_response()),
        Some(session) => Ok(session),
    })
}

/// `GET /login`.
pub(crate) async fn login_page<S: Store>(State(state): State<AppState<S>>) -> Result<Response, ApiError> {
    login_form(&state, "", None, StatusCode::OK)
}

fn login_form<S: Store>(
    state: &AppState<S>,
    email: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let (csrf, _) = sealform_crypto::new_token().map_err(|e| DomainError::Internal(format!("csrf token: {e}")))?;
    let page = render(&state.templates, "login.html", context! { csrf => csrf.as_str(), email, error })?;
    Ok((status, [(SET_COOKIE, set_cookie(LOGIN_CSRF_COOKIE, &csrf, 3600))], page).into_response())
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /login`.
pub(crate) async fn login_submit<S: Store>(
    State(state): State<AppState<S>>,
    request: Request,
) -> Result<Response, ApiError> {
    let (context, form) = anonymous_post::<LoginForm>(request).await?;
    let scope = AuditScope { actor: Actor::Respondent, context };
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    let password = SecretString::from(form.password);
    match login(&state.store, state.clock.as_ref(), &state.policy, audit, &form.email, password).await? {
        LoginOutcome::Success { token, session } => {
            let next = if session.mfa_pending { "/login/mfa" } else { "/console" };
            let mut response = with_session_cookie(next, &token, &session);
            response.headers_mut().append(SET_COOKIE, set_cookie(LOGIN_CSRF_COOKIE, "", 0));
            Ok(response)
        }
        LoginOutcome::Refused => login_form(&state, form.email.trim(), Some(LOGIN_REFUSED), StatusCode::UNAUTHORIZED),
        LoginOutcome::Throttled => {
            let mut response =
                login_form(&state, form.email.trim(), Some(LOGIN_THROTTLED), StatusCode::TOO_MANY_REQUESTS)?;
            let retry = state.policy.ip_window.whole_seconds().to_string();
            if let Ok(value) = http::HeaderValue::from_str(&retry) {
                response.headers_mut().insert(http::header::RETRY_AFTER, value);
            }
            Ok(response)
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /logout`.
pub(crate) async fn logout_submit<S: Store>(
    State(state): State<AppState<S>>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, _form) = match posted::<S, CsrfForm>(&state, request, Gate::SignedIn).await? {
        Ok(parts) => parts,
        Err(redirect) => return Ok(redirect),
    };
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    logout(&state.store, state.clock.as_ref(), audit, &session).await?;
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(SET_COOKIE, set_cookie(SESSION_COOKIE, "", 0));
    Ok(response)
}

fn can_audit(role: Role) -> bool {
    matches!(role, Role::Owner | Role::Admin | Role::Auditor)
}

/// `GET /console`.
pub(crate) async fn console<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let session = match open_session(&state, &headers).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    let page = render(
        &state.templates,
        "console.html",
        context! {
            email => session.email.as_str(),
            role => session.role.as_str(),
            org => session.org.to_string(),
            can_audit => can_audit(session.role),
            can_admin => can_admin(session.role),
            csrf => session.csrf_token,
        },
    )?;
    Ok(page.into_response())
}

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
    let day = |text: &str| -> Result<Option<OffsetDateTime>, ApiError> {
        if text.is_empty() {
            return Ok(None);
        }
        let date = time::Date::parse(text, time::macros::format_description!("[year]-[month]-[day]"))
            .map_err(|_| invalid("the date"))?;
        Ok(Some(date.midnight().assume_utc()))
    };
    let query = AuditQuery {
        org: session.org,
        action,
        actor,
        target_hash: (!filter.target.is_empty()).then(|| state.auditor.target_hash(filter.target.trim())),
        from: day(&filter.from)?,
        to: day(&filter.to)?.map(|d| d + time::Duration::days(1)),
        limit: 200,
    };
    let rows = state.store.audit_search(query).await.map_err(DomainError::from)?;
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

/// `GET /console/password`.
pub(crate) async fn password_page<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(session) = current_session(&state, &headers).await? else { return Ok(to_login()) };
    password_form(&state, &session, None, StatusCode::OK)
}

fn password_form<S: Store>(
    state: &AppState<S>,
    session: &SessionRecord,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let page = render(
        &state.templates,
        "password.html",
        context! { csrf => session.csrf_token.as_str(), expired => session.must_change_password, error },
    )?;
    Ok((status, page).into_response())
}

#[derive(Deserialize)]
pub(crate) struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
}

/// `POST /console/password`: on success every session of the user ends and a new session replaces this one.
pub(crate) async fn password_submit<S: Store>(
    State(state): State<AppState<S>>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, form) = match posted::<S, PasswordForm>(&state, request, Gate::SignedIn).await? {
        Ok(parts) => parts,
        Err(redirect) => return Ok(redirect),
    };
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    let result = change_password(
        &state.store,
        state.clock.as_ref(),
        &state.policy,
        audit,
        &session,
        SecretString::from(form.current),
        SecretString::from(form.new),
    )
    .await;
    match result {
        Ok((token, new_session)) => Ok(with_session_cookie("/console", &token, &new_session)),
        Err(DomainError::Invalid(message) | DomainError::Unauthorized(message)) => {
            password_form(&state, &session, Some(&message), StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(other) => Err(other.into()),
    }
}

/// `GET /login/mfa`: the second step of a login.
pub(crate) async fn mfa_page<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    match any_session(&state, &headers).await? {
        Some(session) if session.mfa_pending => mfa_form(&state, &session, None, StatusCode::OK),
        Some(_) => Ok(Redirect::to("/console").into_response()),
        None => Ok(to_login()),
    }
}

fn mfa_form<S: Store>(
    state: &AppState<S>,
    session: &SessionRecord,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let page = render(&state.templates, "mfa_challenge.html", context! { csrf => session.csrf_token.as_str(), error })?;
    Ok((status, page).into_response())
}

#[derive(Deserialize)]
pub(crate) struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    secret: String,
}

/// `POST /login/mfa`.
pub(crate) async fn mfa_submit<S: Store>(
    State(state): State<AppState<S>>,
    request: Request,
) -> Result<Response, ApiError> {
    let (pending, scope, form) = match posted::<S, CodeForm>(&state, request, Gate::Pending).await? {
        Ok(parts) => parts,
        Err(redirect) => return Ok(redirect),
    };
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    let done =
        complete_login(&state.store, state.clock.as_ref(), &state.policy, &state.masters, audit, &pending, &form.code)
            .await?;
    match done {
        Some((token, session)) => Ok(with_session_cookie("/console", &token, &session)),
        None => {
            mfa_form(&state, &pending, Some("That code is not right, or was used already."), StatusCode::UNAUTHORIZED)
        }
    }
}

/// `GET /console/mfa`: turn on two-step sign-in.
pub(crate) async fn mfa_enrol_page<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Open to sessions that must enrol (the organisation requires MFA); not to ones that must change a password.
    let session = match current_session(&state, &headers).await? {
        Some(session) if session.must_change_password => return Ok(Redirect::to("/console/password").into_response()),
        Some(session) => session,
        None => return Ok(to_login()),
    };
    let secret = sealform_core::mfa::new_secret()?;
    enrol_form(&state, &session, &secret.to_base32(), None, StatusCode::OK).await
}

async fn enrol_form<S: Store>(
    state: &AppState<S>,
    session: &SessionRecord,
    secret_base32: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let enrolled =
        state.store.user_by_email(&session.email).await.map_err(DomainError::from)?.is_some_and(|u| u.totp.is_some());
    let secret = sealform_crypto::TotpSecret::from_base32(secret_base32)
        .map_err(|_| ApiError::bad_request("the secret is malformed"))?;
    let uri = secret.otpauth_uri("Sealform", session.email.as_str());
    let qr_svg = qrcode::QrCode::new(uri.as_bytes())
        .map(|code| code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(180, 180).build())
        .map_err(|e| DomainError::Internal(format!("QR code: {e}")))?;
    // The SVG comes from the QR encoder, not from user input; drop its XML prolog to inline it.
    let qr_svg = qr_svg.split_once("?>").map_or(qr_svg.as_str(), |(_, svg)| svg).to_owned();
    let required = session.needs_mfa_enrolment;
    let page = render(
        &state.templates,
        "mfa_enrol.html",
        context! { enrolled, required, secret => secret_base32, qr_svg, csrf => session.csrf_token.as_str(), error },
    )?;
    Ok((status, page).into_response())
}

/// `POST /console/mfa`: confirm the enrolment with a code; shows the recovery codes once.
pub(crate) async fn mfa_enrol_submit<S: Store>(
    State(state): State<AppState<S>>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, form) = match posted::<S, CodeForm>(&state, request, Gate::SignedIn).await? {
        Ok(parts) => parts,
        Err(redirect) => return Ok(redirect),
    };
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    match enrol_totp(&state.store, state.clock.as_ref(), &state.masters, audit, &session, &form.secret, &form.code)
        .await
    {
        Ok(codes) => {
            let codes: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
            Ok(render(&state.templates, "mfa_codes.html", context! { codes })?.into_response())
        }
        Err(DomainError::Invalid(message)) => {
            enrol_form(&state, &session, &form.secret, Some(&message), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(other) => Err(other.into()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `GET /console/sessions`: where the user is signed in.
pub(crate) async fn sessions_page<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let session = match open_session(&state, &headers).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    let sessions: Vec<_> = state
        .store
        .sessions_of(session.user)
        .await
        .map_err(DomainError::from)?
        .into_iter()
        .map(|(id, created, seen)| {
            context! {
                id => hex(&id),
                created => created.format(&format).unwrap_or_default(),
                seen => seen.format(&format).unwrap_or_default(),
                current => id == session.id_hash,
            }
        })
        .collect();
    Ok(render(&state.templates, "sessions.html", context! { sessions, csrf => session.csrf_token.as_str() })?
        .into_response())
}

#[derive(Deserialize)]
pub(crate) struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    session: String,
}

/// `POST /console/sessions/revoke`: ends one of the user's own sessions.
pub(crate) async fn revoke_session<S: Store>(
    State(state): State<AppState<S>>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, form) = match posted::<S, RevokeForm>(&state, request, Gate::Open).await? {
        Ok(parts) => parts,
        Err(redirect) => return Ok(redirect),
    };
    let id: [u8; 32] = (0..form.session.len())
        .step_by(2)
        .map(|i| form.session.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect::<Option<Vec<u8>>>()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| ApiError::bad_request("no such session"))?;
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    let entry = audit.entry(sealform_core::audit::Entry::ok(
        Some(session.org),
        Action::SessionRevoke,
        vec![sealform_core::audit::Target::new("user", session.user)],
        state.clock.now(),
    ))?;
    if !state.store.revoke_session_of(session.user, id, entry).await.map_err(DomainError::from)? {
        return Err(ApiError::not_found());
    }
    Ok(Redirect::to("/console/sessions").into_response())
}

/// `GET /invite/{token}`: the invitation's form. The pre-login CSRF cookie protects it like the login form.
pub(crate) async fn invite_page<S: Store>(
    State(state): State<AppState<S>>,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    invite_form(&state, &token, None, StatusCode::OK).await
}

async fn invite_form<S: Store>(
    state: &AppState<S>,
    token: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let record = sealform_core::invitations::open_invitation(&state.store, state.clock.as_ref(), token).await?;
    let invitation = record.invitation;
    let existing = state.store.user_by_email(&invitation.email).await.map_err(DomainError::from)?.is_some();
    let (csrf, _) = sealform_crypto::new_token().map_err(|e| DomainError::Internal(format!("csrf token: {e}")))?;
    let page = render(
        &state.templates,
        "invite.html",
        context! { email => invitation.email.as_str(), role => invitation.role.as_str(), existing, csrf => csrf.as_str(), error },
    )?;
    Ok((status, [(SET_COOKIE, set_cookie(LOGIN_CSRF_COOKIE, &csrf, 3600))], page).into_response())
}

#[derive(Deserialize)]
pub(crate) struct InviteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

/// `POST /invite/{token}`: accept; then sign in.
pub(crate) async fn invite_submit<S: Store>(
    State(state): State<AppState<S>>,
    axum::extract::Path(token): axum::extract::Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (context, form) = anonymous_post::<InviteForm>(request).await?;
    let scope = AuditScope { actor: Actor::Respondent, context };
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    let accepted = sealform_core::invitations::accept(
        &state.store,
        state.clock.as_ref(),
        audit,
        &token,
        SecretString::from(form.password),
    )
    .await;
    match accepted {
        Ok(_) => {
            let mut response = Redirect::to("/login").into_response();
            response.headers_mut().append(SET_COOKIE, set_cookie(LOGIN_CSRF_COOKIE, "", 0));
            Ok(response)
        }
        Err(DomainError::Invalid(message) | DomainError::Unauthorized(message)) => {
            invite_form(&state, &token, Some(&message), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(other) => Err(other.into()),
    }
}

/// The pre-login CSRF cookie and token for anonymous forms (login, invitation, reset).
fn anonymous_csrf() -> Result<(String, http::HeaderValue), ApiError> {
    let (csrf, _) = sealform_crypto::new_token().map_err(|e| DomainError::Internal(format!("csrf token: {e}")))?;
    let cookie = set_cookie(LOGIN_CSRF_COOKIE, &csrf, 3600);
    Ok((csrf.to_string(), cookie))
}

/// `GET /reset`.
pub(crate) async fn reset_request_page<S: Store>(State(state): State<AppState<S>>) -> Result<Response, ApiError> {
    let (csrf, cookie) = anonymous_csrf()?;
    let page = render(&state.templates, "reset_request.html", context! { csrf, sent => false })?;
    Ok(([(SET_COOKIE, cookie)], page).into_response())
}

#[derive(Deserialize)]
pub(crate) struct ResetRequestForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

/// `POST /reset`: the same answer whether or not the address has a login.
pub(crate) async fn reset_request_submit<S: Store>(
    State(state): State<AppState<S>>,
    request: Request,
) -> Result<Response, ApiError> {
    let (context, form) = anonymous_post::<ResetRequestForm>(request).await?;
    let scope = AuditScope { actor: Actor::Respondent, context };
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    sealform_core::resets::request_reset(
        &state.store,
        state.mailer.as_ref(),
        state.clock.as_ref(),
        audit,
        &form.email,
        &state.public_url,
    )
    .await?;
    Ok(render(&state.templates, "reset_request.html", context! { sent => true })?.into_response())
}

/// `GET /reset/{token}`.
pub(crate) async fn reset_page<S: Store>(
    State(state): State<AppState<S>>,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    reset_form(&state, &token, None, StatusCode::OK).await
}

async fn reset_form<S: Store>(
    state: &AppState<S>,
    token: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    sealform_core::resets::open_reset(&state.store, state.clock.as_ref(), token).await?;
    let (csrf, cookie) = anonymous_csrf()?;
    let page = render(&state.templates, "reset.html", context! { csrf, error })?;
    Ok((status, [(SET_COOKIE, cookie)], page).into_response())
}

/// `POST /reset/{token}`: sets the password, ends every session, then sign in.
pub(crate) async fn reset_submit<S: Store>(
    State(state): State<AppState<S>>,
    axum::extract::Path(token): axum::extract::Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (context, form) = anonymous_post::<InviteForm>(request).await?;
    let scope = AuditScope { actor: Actor::Respondent, context };
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    let result = sealform_core::resets::complete_reset(
        &state.store,
        state.clock.as_ref(),
        &state.policy,
        audit,
        &token,
        SecretString::from(form.password),
    )
    .await;
    match result {
        Ok(()) => Ok(Redirect::to("/login").into_response()),
        Err(DomainError::Invalid(message)) => {
            reset_form(&state, &token, Some(&message), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(other) => Err(other.into()),
    }
}

fn can_admin(role: Role) -> bool {
    matches!(role, Role::Owner | Role::Admin)
}

fn forbidden_admin() -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", "user administration is for owners and admins")
}

/// Sends the user to confirm their identity first, then back to `next`.
fn to_reauth(next: &str) -> Response {
    Redirect::to(&format!("/console/reauth?next={next}")).into_response()
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
    let members: Vec<_> = state
        .store
        .members_of(session.org)
        .await
        .map_err(DomainError::from)?
        .into_iter()
        .map(|(user, role)| {
            context! {
                email => user.email.as_str(),
                role => role.as_str(),
                status => user.status.as_str(),
                mfa => user.totp.is_some(),
                can_deactivate => user.id != session.user && user.status == sealform_core::user::UserStatus::Active,
            }
        })
        .collect();
    let roles: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
    let notice = match query.notice.as_deref() {
        Some("invited") => Some("Invitation sent."),
        Some("deactivated") => Some("User deactivated; their sessions have ended."),
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
    let user = state.store.user_by_email(&email).await.map_err(DomainError::from)?.ok_or_else(ApiError::not_found)?;
    let memberships = state.store.memberships_of(user.id).await.map_err(DomainError::from)?;
    if !memberships.iter().any(|m| m.org_id == session.org) {
        return Err(ApiError::not_found());
    }
    if user.id == session.user {
        return Err(ApiError::new(StatusCode::CONFLICT, "conflict", "you cannot deactivate yourself"));
    }
    if memberships.len() > 1 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "this login also belongs to other organisations; ask the operator to deactivate it",
        ));
    }
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    sealform_core::admin::deactivate_user(&state.store, state.clock.as_ref(), audit, email.as_str()).await?;
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
    let totp =
        state.store.user_by_email(&session.email).await.map_err(DomainError::from)?.is_some_and(|u| u.totp.is_some());
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

/// `GET /console/api-keys`: the user's own keys.
pub(crate) async fn api_keys_page<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let session = match open_session(&state, &headers).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    api_keys_view(&state, &session, None, StatusCode::OK).await
}

async fn api_keys_view<S: Store>(
    state: &AppState<S>,
    session: &SessionRecord,
    new_key: Option<&str>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    let now = state.clock.now();
    let keys: Vec<_> = state
        .store
        .api_keys_of(session.org, session.user)
        .await
        .map_err(DomainError::from)?
        .into_iter()
        .map(|k| {
            let expired = k.key.expires_at.is_some_and(|at| at <= now);
            let state = if k.revoked_at.is_some() {
                "revoked"
            } else if expired {
                "expired"
            } else {
                "active"
            };
            context! {
                name => k.key.name,
                prefix => k.key.prefix,
                scopes => k.key.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                last_used => k.last_used_at.and_then(|at| at.format(&format).ok()).unwrap_or_else(|| "never".into()),
                state,
                active => state == "active",
            }
        })
        .collect();
    let scopes: Vec<&str> =
        sealform_core::api_keys::Scope::allowed_for(session.role).iter().map(|s| s.as_str()).collect();
    let page = render(
        &state.templates,
        "api_keys.html",
        context! { keys, scopes, new_key, csrf => session.csrf_token.as_str() },
    )?;
    Ok((status, page).into_response())
}

/// `POST /console/api-keys`: creates a key and shows it once. Repeated `scope` fields are read from the raw form.
pub(crate) async fn api_keys_create<S: Store>(
    State(state): State<AppState<S>>,
    request: Request,
) -> Result<Response, ApiError> {
    same_origin(request.headers())?;
    let session = match open_session(&state, request.headers()).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    let scope = user_scope(&session, request_context(&request));
    let body = axum::body::to_bytes(request.into_body(), 64 * 1024)
        .await
        .map_err(|_| ApiError::bad_request("the form is too large"))?;
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&body).map_err(|_| ApiError::bad_request("the form is malformed"))?;
    let field = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("");
    csrf_matches(&session.csrf_token, field("csrf"))?;
    let scopes =
        sealform_core::api_keys::parse_scopes(pairs.iter().filter(|(k, _)| k == "scope").map(|(_, v)| v.as_str()));
    let days = field("days").trim();
    let days = if days.is_empty() {
        Ok(None)
    } else {
        days.parse::<u32>().map(Some).map_err(|_| DomainError::Invalid("the expiry must be a number of days".into()))
    };
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    let created = match (scopes, days) {
        (Ok(scopes), Ok(days)) => {
            sealform_core::api_keys::create(
                &state.store,
                state.clock.as_ref(),
                audit,
                session.org,
                session.email.as_str(),
                field("name"),
                scopes,
                None,
                days,
            )
            .await
        }
        (Err(err), _) | (_, Err(err)) => Err(err),
    };
    match created {
        Ok((key, _)) => api_keys_view(&state, &session, Some(key.as_str()), StatusCode::OK).await,
        Err(DomainError::Invalid(message)) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)),
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
pub(crate) struct RevokeKeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    prefix: String,
}

/// `POST /console/api-keys/revoke`: revokes one of the user's own keys.
pub(crate) async fn api_keys_revoke<S: Store>(
    State(state): State<AppState<S>>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, form) = match posted::<S, RevokeKeyForm>(&state, request, Gate::Open).await? {
        Ok(parts) => parts,
        Err(redirect) => return Ok(redirect),
    };
    let own = state.store.api_keys_of(session.org, session.user).await.map_err(DomainError::from)?;
    if !own.iter().any(|k| k.key.prefix == form.prefix) {
        return Err(ApiError::not_found());
    }
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    sealform_core::api_keys::revoke(&state.store, state.clock.as_ref(), audit, session.org, &form.prefix).await?;
    Ok(Redirect::to("/console/api-keys").into_response())
}

use axum::extract::FromRequest as _;
