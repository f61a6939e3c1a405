//! The account endpoints: `/user`, `/user/usage`, `/user/settings`, `/user/subusers`, `/user/history` (the key
//! user's own audit events), and reports, which Sealform does not have (empty lists; exports live in the console).

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use sealform_core::audit::AuditQuery;
use sealform_core::policy::{Action, Resource};
use sealform_core::store::Store;
use serde::Deserialize;
use serde_json::{Value, json};

use super::envelope::{date, parse_date};
use super::{Answer, Caller, Content, Failure};
use crate::AppState;

async fn account<S: Store>(state: &AppState<S>, caller: &Caller) -> Result<Value, Failure> {
    let user = state.store.user_by_id(caller.principal.user).await?.ok_or_else(|| Failure::not_found("user"))?;
    let email = user.email.as_str().to_owned();
    Ok(json!({
        "username": email,
        "name": email,
        "email": email,
        "website": "",
        "time_zone": "UTC",
        "account_type": "ENTERPRISE",
        "status": "ACTIVE",
        "created_at": date(user.created_at),
        "updated_at": date(user.password_changed_at),
        "language": "en-US",
        "role": caller.principal.role.to_string(),
    }))
}

/// `GET /user`.
pub(crate) async fn user<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Answer {
    Ok(Content::of(account(&state, &caller).await?))
}

/// `GET /user/settings`: the account's settings (read-only here: accounts are managed in the console).
pub(crate) async fn settings<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Answer {
    Ok(Content::of(account(&state, &caller).await?))
}

/// `GET /user/usage`: submissions this calendar month (UTC) to the forms the key may read. Sealform has no quotas.
pub(crate) async fn usage<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Answer {
    let now = state.clock.now();
    let month = now.date().replace_day(1).map_err(|_| Failure::bad_request("no such day"))?.midnight().assume_utc();
    let org = caller.principal.org;
    let mut submissions = 0usize;
    for form in state.store.tenant(org).forms_of().await? {
        if !caller.can_on(Action::ReadSubmissions, form.id, now) {
            continue;
        }
        let mut query = sealform_core::submission::SubmissionQuery::all(org, form.id, 100_000);
        query.from = Some(month);
        submissions += state.store.tenant(org).submissions(query).await?.len();
    }
    Ok(Content::of(json!({
        "submissions": submissions.to_string(),
        "ssl_submissions": submissions.to_string(),
        "payments": "0",
        "uploads": "0",
    })))
}

/// `GET /user/subusers`: the organisation's other members, for keys allowed the access review (owners, admins).
pub(crate) async fn subusers<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Answer {
    let org = caller.principal.org;
    caller.require(Action::ReviewAccess, Resource::Org(org), state.clock.now())?;
    let members = state.store.tenant(org).members_of().await?;
    let items = members
        .into_iter()
        .filter(|(u, _)| u.id != caller.principal.user)
        .map(|(u, role)| {
            json!({
                "id": u.id.to_string(),
                "email": u.email.as_str(),
                "username": u.email.as_str(),
                "status": format!("{:?}", u.status).to_uppercase(),
                "role": role.to_string(),
            })
        })
        .collect();
    Ok(Content::of(Value::Array(items)))
}

/// `GET /user/reports`: Sealform has no Jotform reports; exports are made in the console.
pub(crate) async fn reports<S: Store>(
    Extension(_caller): Extension<Arc<Caller>>,
    State(_state): State<AppState<S>>,
) -> Answer {
    Ok(Content::of(json!([])))
}

/// `GET /form/{id}/reports`: none (see [`reports`]), for a form the key may see.
pub(crate) async fn form_reports<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(form): Path<String>,
) -> Answer {
    let record = caller.form(&state, &form).await?;
    caller.require_on(Action::ViewForm, record.id, state.clock.now())?;
    Ok(Content::of(json!([])))
}

/// The history query as the clients send it.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct HistoryQuery {
    #[serde(default)]
    action: Option<String>,
    #[serde(default, rename = "sortBy")]
    sort_by: Option<String>,
    #[serde(default, rename = "startDate")]
    start_date: Option<String>,
    #[serde(default, rename = "endDate")]
    end_date: Option<String>,
    #[serde(default)]
    date: Option<String>,
}

/// Most history entries returned.
const HISTORY_LIMIT: u32 = 1_000;

/// A client's date: `MM/DD/YYYY` (Jotform's history) or `YYYY-MM-DD`.
fn history_date(text: &str) -> Option<time::OffsetDateTime> {
    let us = time::macros::format_description!("[month]/[day]/[year]");
    time::Date::parse(text.trim(), us).ok().map(|d| d.midnight().assume_utc()).or_else(|| parse_date(text))
}

/// `GET /user/history`: the audit events the key's user caused (in the console and through their keys), newest
/// first: what was done, when, and how; never the sealed detail.
pub(crate) async fn history<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Query(query): Query<HistoryQuery>,
) -> Answer {
    let org = caller.principal.org;
    let bad_date = || Failure::bad_request("startDate and endDate are dates as MM/DD/YYYY");
    let from = query
        .start_date
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| history_date(s).ok_or_else(bad_date))
        .transpose()?;
    let to = query
        .end_date
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| history_date(s).map(|d| d.saturating_add(time::Duration::days(1))).ok_or_else(bad_date))
        .transpose()?;
    if query.date.as_deref().is_some_and(|d| !d.is_empty() && d != "all") {
        return Err(Failure::bad_request("Sealform filters history by startDate and endDate; date supports only all"));
    }
    let action = match query.action.as_deref().map(str::trim) {
        None | Some("" | "all") => None,
        Some(name) => Some(sealform_core::audit::Action::parse(name).map_err(|_| {
            Failure::bad_request("action is all or a Sealform audit action such as form.create or submission.read")
        })?),
    };
    let ascending = match query.sort_by.as_deref().map(str::trim) {
        None | Some("" | "DESC" | "desc") => false,
        Some("ASC" | "asc") => true,
        Some(_) => return Err(Failure::bad_request("sortBy is ASC or DESC")),
    };
    let mut actors = vec![(*caller.principal.user.as_uuid(), "console")];
    for key in state.store.tenant(org).api_keys_of(caller.principal.user).await? {
        actors.push((key.key.id, "api"));
    }
    let mut rows = Vec::new();
    for (actor, via) in actors {
        let query = AuditQuery { org, action, actor: Some(actor), target_hash: None, from, to, limit: HISTORY_LIMIT };
        rows.extend(state.store.tenant(org).audit_search(query).await?.into_iter().map(|row| (row, via)));
    }
    rows.sort_by_key(|(row, _)| std::cmp::Reverse(row.seq));
    rows.truncate(HISTORY_LIMIT as usize);
    if ascending {
        rows.reverse();
    }
    let username = super::forms::username(&state, &caller).await?;
    let items = rows
        .into_iter()
        .map(|(row, via)| {
            json!({
                "type": row.action,
                "username": username,
                "timestamp": row.at.unix_timestamp(),
                "date": date(row.at),
                "outcome": row.outcome,
                "via": via,
            })
        })
        .collect();
    Ok(Content::of(Value::Array(items)))
}
