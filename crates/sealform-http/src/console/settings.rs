//! The organisation's settings page, for owners and admins: whether members must use two-step sign-in, and each API
//! key's request budget. Saving needs a recent step-up; each changed setting is its own audited `org.update`.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use http::StatusCode;
use minijinja::context;
use sealform_core::admin::{set_api_rate_limit, set_mfa_required};
use sealform_core::api_keys::ApiRateLimit;
use sealform_core::audit::AuditCtx;
use sealform_core::sessions::SessionRecord;
use sealform_core::store::Store;
use serde::Deserialize;

use super::*;
use crate::AppState;
use crate::pages::render;
use crate::problem::ApiError;
use crate::problem::Found as _;

/// Templates of this module.
pub(crate) const TEMPLATES: &[(&str, &str)] = &[("settings.html", include_str!("../../templates/settings.html"))];

/// Routes of this module.
pub(crate) fn routes<S: Store>() -> crate::app::Routes<S> {
    crate::app::Routes::new().route("/console/settings", get(settings_page::<S>).post(settings_submit::<S>))
}

#[derive(Deserialize)]
struct SettingsForm {
    #[serde(default)]
    csrf: String,
    /// Present (`on`) when ticked.
    #[serde(default)]
    mfa_required: Option<String>,
    #[serde(default)]
    per_minute: String,
    #[serde(default)]
    burst: String,
}

with_csrf!(SettingsForm);

/// `GET /console/settings`.
async fn settings_page<S: Store>(State(state): State<AppState<S>>, request: Request) -> Result<Response, ApiError> {
    let session = match open_session(&state, request.headers()).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    if !can_admin(session.role) {
        return Err(forbidden_settings());
    }
    let saved = request.uri().query().is_some_and(|q| q.contains("notice=saved"));
    let (mfa, limit) = current(&state, &session).await?;
    let values = (mfa, limit.per_minute.to_string(), limit.burst.to_string());
    render_settings(&state, &session, values, if saved { Some("Settings saved.") } else { None }, None, StatusCode::OK)
}

fn forbidden_settings() -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", "the organisation's settings are for owners and admins")
}

async fn current<S: Store>(state: &AppState<S>, session: &SessionRecord) -> Result<(bool, ApiRateLimit), ApiError> {
    state.store.tenant(session.org).organisation_settings().await.found()
}

fn render_settings<S: Store>(
    state: &AppState<S>,
    session: &SessionRecord,
    (mfa_required, per_minute, burst): (bool, String, String),
    notice: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let page = render(
        &state.templates,
        "settings.html",
        context! {
            mfa_required, per_minute, burst, notice, error, max => ApiRateLimit::MAX,
            csrf => session.csrf_token.as_str(),
        },
    )?;
    Ok((status, page).into_response())
}

/// `POST /console/settings` (step-up required): saves what changed.
async fn settings_submit<S: Store>(State(state): State<AppState<S>>, request: Request) -> Result<Response, ApiError> {
    let (session, scope, form) = match posted::<S, SettingsForm>(&state, request, Gate::Open).await? {
        Ok(parts) => parts,
        Err(redirect) => return Ok(redirect),
    };
    if !can_admin(session.role) {
        return Err(forbidden_settings());
    }
    if !session.recently_reauthenticated(state.clock.now()) {
        return Ok(to_reauth("/console/settings"));
    }
    let mfa = form.mfa_required.is_some();
    let parsed = form
        .per_minute
        .trim()
        .parse::<u32>()
        .ok()
        .zip(form.burst.trim().parse::<u32>().ok())
        .ok_or_else(|| format!("the budget figures must be whole numbers from 1 to {}", ApiRateLimit::MAX))
        .and_then(|(per_minute, burst)| ApiRateLimit::new(per_minute, burst).map_err(|e| e.to_string()));
    let limit = match parsed {
        Ok(limit) => limit,
        Err(message) => {
            let values = (mfa, form.per_minute, form.burst);
            return render_settings(&state, &session, values, None, Some(&message), StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let (mfa_before, limit_before) = current(&state, &session).await?;
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    if mfa != mfa_before {
        set_mfa_required(&state.store, state.clock.as_ref(), audit, session.org, mfa).await?;
    }
    if limit != limit_before {
        set_api_rate_limit(&state.store, state.clock.as_ref(), audit, session.org, limit).await?;
    }
    Ok(Redirect::to("/console/settings?notice=saved").into_response())
}
