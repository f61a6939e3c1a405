//! The console: server-rendered pages for staff, and the sign-in flows that lead to it. Shared here: session
//! lookup, the gates a form post passes, and the CSRF plumbing.

use axum::Form;
use axum::extract::Request;
use axum::response::{IntoResponse, Redirect, Response};
use http::HeaderMap;
use http::header::SET_COOKIE;
use sealform_core::DomainError;
use sealform_core::audit::{AuditScope, RequestContext};
use sealform_core::ids::FormId;
use sealform_core::policy::{Action as PolicyAction, Actor, Decision, Member, Resource, authorize};
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

mod access;
mod account;
mod admin;
mod break_glass;
mod builder;
pub(crate) mod export;
mod folders;
pub(crate) mod inbox;
mod settings;
mod sign_in;
mod webauthn;

pub(crate) use account::*;
pub(crate) use admin::*;
pub(crate) use sign_in::*;

/// The console's form and submission pages (builder and inbox), and the passkey calls.
pub(crate) fn form_routes<S: Store>() -> crate::app::Routes<S> {
    builder::routes::<S>()
        .merge(inbox::routes::<S>())
        .merge(access::routes::<S>())
        .merge(break_glass::routes::<S>())
        .merge(settings::routes::<S>())
        .merge(folders::routes::<S>())
        .merge(webauthn::routes::<S>())
}

/// Templates of the builder, the inbox and the access pages.
pub(crate) const FORM_TEMPLATES: [&[(&str, &str)]; 6] = [
    builder::TEMPLATES,
    inbox::TEMPLATES,
    access::TEMPLATES,
    break_glass::TEMPLATES,
    settings::TEMPLATES,
    folders::TEMPLATES,
];

/// What one signed-in member may do, for [`sealform_core::policy::authorize`] (DESIGN.md §6): their role and their
/// grants, loaded once per request, and the time of the request (expired grants count for nothing).
pub(crate) struct Authz {
    org: sealform_core::ids::OrgId,
    user: sealform_core::ids::UserId,
    role: Role,
    grants: Vec<sealform_core::grants::Grant>,
    emergency: bool,
    now: time::OffsetDateTime,
}

impl Authz {
    /// The session's member with their grants.
    pub(crate) async fn load<S: Store>(state: &AppState<S>, session: &SessionRecord) -> Result<Self, ApiError> {
        let grants = state.store.tenant(session.org).grants_of_user(session.user).await.map_err(DomainError::from)?;
        Ok(Self {
            org: session.org,
            user: session.user,
            role: session.role,
            grants,
            emergency: session.emergency_access,
            now: state.clock.now(),
        })
    }

    fn actor(&self) -> Actor<'_> {
        Actor::User(Member {
            org: self.org,
            user: self.user,
            role: self.role,
            grants: &self.grants,
            emergency: self.emergency,
        })
    }

    /// The decision on `action` over `resource`.
    pub(crate) fn decide(&self, action: PolicyAction, resource: Resource) -> Decision {
        authorize(&self.actor(), action, resource, self.now)
    }

    /// Whether `action` on `resource` is allowed (for what a page offers).
    pub(crate) fn can(&self, action: PolicyAction, resource: Resource) -> bool {
        self.decide(action, resource).allowed()
    }

    /// Whether `action` on one of the member's organisation's forms is allowed.
    pub(crate) fn can_on(&self, action: PolicyAction, form: FormId) -> bool {
        self.can(action, Resource::Form { org: self.org, form })
    }

    /// Refuses with 403 unless `action` on `resource` is allowed. Callers have found the resource in the member's
    /// organisation first: another organisation's resource is 404 before this is asked.
    pub(crate) fn require(&self, action: PolicyAction, resource: Resource) -> Result<(), ApiError> {
        match self.decide(action, resource) {
            Decision::Allow => Ok(()),
            Decision::Deny(reason) => Err(forbidden(reason)),
        }
    }

    /// [`Authz::require`] on one of the member's organisation's forms.
    pub(crate) fn require_on(&self, action: PolicyAction, form: FormId) -> Result<(), ApiError> {
        self.require(action, Resource::Form { org: self.org, form })
    }

    /// [`Authz::require`] on the member's organisation as a whole.
    pub(crate) fn require_org(&self, action: PolicyAction) -> Result<(), ApiError> {
        self.require(action, Resource::Org(self.org))
    }

    /// Whether the member sees the form's PHI answers masked.
    pub(crate) fn hides_phi(&self, form: FormId) -> bool {
        sealform_core::policy::hides_phi(&self.actor(), form, self.now)
    }
}

/// The 403 for an action the policy refused, with its reason.
pub(crate) fn forbidden(reason: &str) -> ApiError {
    ApiError::new(http::StatusCode::FORBIDDEN, "forbidden", reason.to_owned())
}

/// Whether the session's user has an authenticator app (a step-up then also asks for a code from it).
pub(crate) async fn has_authenticator_app<S: Store>(
    state: &AppState<S>,
    session: &SessionRecord,
) -> Result<bool, ApiError> {
    Ok(state.store.user_by_email(&session.email).await.map_err(DomainError::from)?.is_some_and(|u| u.totp.is_some()))
}

/// The step-up page, then back to `next` (a console path).
pub(crate) fn to_reauth(next: &str) -> Response {
    Redirect::to(&format!("/console/reauth?next={next}")).into_response()
}

/// A role change's failure as an answer: the store's owners-only refusal (checked in its transaction) is a 403, as
/// the other "only owners" rules are.
pub(crate) fn role_change_failed(err: sealform_core::store::StoreError) -> ApiError {
    owners_only_refused(DomainError::from(err))
}

/// A failure as an answer, with the owners-only refusal a 403.
pub(crate) fn owners_only_refused(err: DomainError) -> ApiError {
    match err {
        DomainError::Conflict(message) if message == sealform_core::store::OWNERS_ONLY => {
            forbidden(sealform_core::store::OWNERS_ONLY)
        }
        other => other.into(),
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
