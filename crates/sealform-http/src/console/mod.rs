//! The console: server-rendered pages for staff, and the sign-in flows that lead to it. Shared here: session
//! lookup, the gates a form post passes, and the CSRF plumbing.

use axum::Form;
use axum::extract::Request;
use axum::response::{IntoResponse, Redirect, Response};
use http::HeaderMap;
use http::header::SET_COOKIE;
use sealform_core::DomainError;
use sealform_core::audit::{AuditScope, RequestContext};
use sealform_core::sessions::{NewSession, SessionRecord, authenticate};
use sealform_core::store::Store;
use sealform_core::user::Role;

use crate::AppState;
use crate::auth::{
    LOGIN_CSRF_COOKIE, SESSION_COOKIE, cookie, csrf_matches, request_context, same_origin, set_cookie, user_scope,
};
use crate::problem::ApiError;

use axum::extract::FromRequest as _;

macro_rules! with_csrf {
    ($($form:ty),* $(,)?) => {
        $(impl WithCsrf for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        })*
    };
}

mod account;
mod admin;
mod builder;
mod export;
pub(crate) mod inbox;
mod sign_in;

pub(crate) use account::*;
pub(crate) use admin::*;
pub(crate) use sign_in::*;

/// The console's form and submission pages (builder and inbox).
pub(crate) fn form_routes<S: Store>() -> axum::Router<AppState<S>> {
    builder::routes::<S>().merge(inbox::routes::<S>())
}

/// Templates of the builder and the inbox.
pub(crate) const FORM_TEMPLATES: [&[(&str, &str)]; 2] = [builder::TEMPLATES, inbox::TEMPLATES];

/// Refuses with 403 unless the session's role allows `permission` (DESIGN.md §6; the table is in
/// [`sealform_core::policy`]).
pub(crate) fn require(session: &SessionRecord, permission: sealform_core::policy::Permission) -> Result<(), ApiError> {
    if sealform_core::policy::role_allows(session.role, permission) {
        Ok(())
    } else {
        Err(ApiError::new(http::StatusCode::FORBIDDEN, "forbidden", "your role does not allow this"))
    }
}

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

fn can_audit(role: Role) -> bool {
    matches!(role, Role::Owner | Role::Admin | Role::Auditor)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The pre-login CSRF cookie and token for anonymous forms (login, invitation, reset).
fn anonymous_csrf() -> Result<(String, http::HeaderValue), ApiError> {
    let (csrf, _) = sealform_crypto::new_token().map_err(|e| DomainError::Internal(format!("csrf token: {e}")))?;
    let cookie = set_cookie(LOGIN_CSRF_COOKIE, &csrf, 3600);
    Ok((csrf.to_string(), cookie))
}

fn can_admin(role: Role) -> bool {
    matches!(role, Role::Owner | Role::Admin)
}
