//! Signing in and out: the login form, the second factor, invitations and password resets.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::header::SET_COOKIE;
use http::{HeaderMap, StatusCode};
use minijinja::context;
use sealform_core::DomainError;
use sealform_core::audit::{Actor, AuditCtx, AuditScope};
use sealform_core::mfa::complete_login;
use sealform_core::sessions::{LoginOutcome, SessionRecord, login, logout};
use sealform_core::store::Store;
use secrecy::SecretString;
use serde::Deserialize;

use crate::AppState;
use crate::auth::{LOGIN_CSRF_COOKIE, SESSION_COOKIE, set_cookie};
use crate::pages::render;
use crate::problem::ApiError;

use super::*;

with_csrf!(LoginForm, CsrfForm, CodeForm, InviteForm, ResetRequestForm);

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
    let (csrf, cookie) = anonymous_csrf()?;
    let page = render(&state.templates, "login.html", context! { csrf, email, error })?;
    Ok((status, [(SET_COOKIE, cookie)], page).into_response())
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

/// `GET /login/mfa`: the second step of a login.
pub(crate) async fn mfa_page<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    match any_session(&state, &headers).await? {
        Some(session) if session.mfa_pending => mfa_form(&state, &session, None, StatusCode::OK).await,
        Some(_) => Ok(Redirect::to("/console").into_response()),
        None => Ok(to_login()),
    }
}

async fn mfa_form<S: Store>(
    state: &AppState<S>,
    session: &SessionRecord,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let user = state.store.user_by_email(&session.email).await.map_err(DomainError::from)?;
    let has_totp = user.is_some_and(|u| u.totp.is_some());
    let has_passkey = !state.store.webauthn_credentials_of(session.user).await.map_err(DomainError::from)?.is_empty();
    let page = render(
        &state.templates,
        "mfa_challenge.html",
        context! { csrf => session.csrf_token.as_str(), error, has_totp, has_passkey },
    )?;
    Ok((status, page).into_response())
}

#[derive(Deserialize)]
pub(crate) struct CodeForm {
    #[serde(default)]
    pub(crate) csrf: String,
    #[serde(default)]
    pub(crate) code: String,
    #[serde(default)]
    pub(crate) secret: String,
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
                .await
        }
    }
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
    let (csrf, cookie) = anonymous_csrf()?;
    let page = render(
        &state.templates,
        "invite.html",
        context! { email => invitation.email.as_str(), role => invitation.role.as_str(), existing, csrf, error },
    )?;
    Ok((status, [(SET_COOKIE, cookie)], page).into_response())
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
