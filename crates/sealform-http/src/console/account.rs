//! The signed-in user's own pages: the console start page, password, two-step sign-in, sessions, API keys.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, StatusCode};
use minijinja::context;
use sealform_core::DomainError;
use sealform_core::audit::{Action, AuditCtx};
use sealform_core::mfa::enrol_totp;
use sealform_core::sessions::{SessionRecord, change_password};
use sealform_core::store::Store;
use secrecy::SecretString;
use serde::Deserialize;

use crate::AppState;
use crate::auth::{csrf_matches, request_context, same_origin, user_scope};
use crate::pages::render;
use crate::problem::ApiError;

use super::*;

with_csrf!(PasswordForm, RevokeForm, RevokeKeyForm);

/// `GET /console`.
pub(crate) async fn console<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let session = match open_session(&state, &headers).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    // Owners, admins and auditors see every emergency access open now, at the top of the page.
    let mut emergencies = Vec::new();
    if can_admin(session.role) || can_audit(session.role) {
        let now = state.clock.now();
        for record in state.store.tenant(session.org).break_glass_grants().await.map_err(DomainError::from)? {
            if record.grant.in_force(now) {
                let until = record.grant.expires_at.map(inbox::format_time);
                emergencies.push(context! { who => record.email.as_str().to_owned(), until });
            }
        }
    }
    let page = render(
        &state.templates,
        "console.html",
        context! {
            email => session.email.as_str(),
            role => session.role.as_str(),
            org => session.org.to_string(),
            emergencies,
            can_audit => can_audit(session.role),
            can_admin => can_admin(session.role),
            csrf => session.csrf_token,
        },
    )?;
    Ok(page.into_response())
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
    let enrolled = has_authenticator_app(state, session).await?;
    let secret = sealform_crypto::TotpSecret::from_base32(secret_base32)
        .map_err(|_| ApiError::bad_request("the secret is malformed"))?;
    let uri = secret.otpauth_uri("Sealform", session.email.as_str());
    let qr_svg = qrcode::QrCode::new(uri.as_bytes())
        .map(|code| code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(180, 180).build())
        .map_err(|e| DomainError::Internal(format!("QR code: {e}")))?;
    // The SVG comes from the QR encoder, not from user input; drop its XML prolog to inline it.
    let qr_svg = qr_svg.split_once("?>").map_or(qr_svg.as_str(), |(_, svg)| svg).to_owned();
    let required = session.needs_mfa_enrolment;
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    let passkeys: Vec<_> = state
        .store
        .webauthn_credentials_of(session.user)
        .await
        .map_err(DomainError::from)?
        .into_iter()
        .map(|p| {
            context! {
                id => p.id.to_string(),
                name => p.name,
                created => p.created_at.format(&format).unwrap_or_default(),
                last_used => p.last_used_at.and_then(|at| at.format(&format).ok()).unwrap_or_else(|| "never".into()),
            }
        })
        .collect();
    // Removing needs a session with nothing pending.
    let can_remove = !session.must_change_password && !session.needs_mfa_enrolment;
    let page = render(
        &state.templates,
        "mfa_enrol.html",
        context! {
            enrolled, required, secret => secret_base32, qr_svg, csrf => session.csrf_token.as_str(), error,
            passkeys, can_remove,
        },
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
    // Replacing an authenticator app asks for the password again (a first enrolment does not: it adds a factor).
    if has_authenticator_app(&state, &session).await? && !session.recently_reauthenticated(state.clock.now()) {
        return Ok(to_reauth("/console/mfa"));
    }
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
        .tenant(session.org)
        .api_keys_of(session.user)
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
    // A key is a credential that outlives the session (and a password change): minting one asks for the password
    // again, as the other sensitive actions do, so an unattended or stolen session cannot.
    if !session.recently_reauthenticated(state.clock.now()) {
        return Ok(to_reauth("/console/api-keys"));
    }
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
    let own = state.store.tenant(session.org).api_keys_of(session.user).await.map_err(DomainError::from)?;
    if !own.iter().any(|k| k.key.prefix == form.prefix) {
        return Err(ApiError::not_found());
    }
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    sealform_core::api_keys::revoke(&state.store, state.clock.as_ref(), audit, session.org, &form.prefix).await?;
    Ok(Redirect::to("/console/api-keys").into_response())
}
