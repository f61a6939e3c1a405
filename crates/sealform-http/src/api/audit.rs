//! `GET /api/v1/audit`: the organisation's audit trail, newest first, for owners, admins and auditors (a key with
//! the `read` scope). Search by action, actor, target id and time; details are opened for the answer (who, what,
//! which fields, from where), never answers themselves, which the trail does not hold.

use axum::Json;
use axum::extract::{RawQuery, State};
use sealform_core::DomainError;
use sealform_core::audit::{Action as AuditAction, Actor, AuditQuery};
use sealform_core::policy::Action;
use sealform_core::store::Store;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::Caller;
use super::input::query;
use super::page::{Page, parse_time, rfc3339};
use crate::AppState;
use crate::problem::ApiError;

/// Most entries per answer.
const MAX_ENTRIES: u32 = 500;

/// One audit entry.
#[derive(Serialize, ToSchema)]
pub(crate) struct AuditEntry {
    /// Its sequence number in the chain.
    seq: i64,
    /// When (RFC 3339).
    at: String,
    /// The action, e.g. `submission.read`.
    action: String,
    /// ok, denied or error.
    outcome: String,
    /// Who: `user`, `api_key`, `operator`, `system` or `respondent`.
    actor_kind: String,
    /// The user's or key's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    actor_id: Option<String>,
    /// What was touched, as `kind:id`.
    targets: Vec<String>,
    /// The field ids viewed or changed (never their values).
    fields: Vec<String>,
    /// The client address.
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<String>,
    /// The request id.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
}

#[derive(Deserialize, Default)]
struct Search {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    cursor: Option<String>,
}

fn invalid(what: &str) -> ApiError {
    ApiError::new(http::StatusCode::UNPROCESSABLE_ENTITY, "invalid", format!("{what} is not valid"))
}

/// `GET /api/v1/audit?action=&actor=&target=&from=&to=&limit=&cursor=`: newest first, by cursor pages.
pub(crate) async fn search<S: Store>(
    State(state): State<AppState<S>>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    caller.require_org(Action::SearchAudit)?;
    let search: Search = query(raw.as_deref())?;
    let limit = match search.limit {
        None => 100,
        Some(n @ 1..=MAX_ENTRIES) => n,
        Some(_) => return Err(invalid("limit (1 to 500)")),
    };
    let action = search
        .action
        .as_deref()
        .filter(|a| !a.is_empty())
        .map(AuditAction::parse)
        .transpose()
        .map_err(|_| invalid("the action"))?;
    let actor = search
        .actor
        .as_deref()
        .filter(|a| !a.is_empty())
        .map(str::parse)
        .transpose()
        .map_err(|_| invalid("the actor id"))?;
    let query = AuditQuery {
        org: caller.org(),
        action,
        actor,
        target_hash: search.target.as_deref().filter(|t| !t.is_empty()).map(|t| state.auditor.target_hash(t.trim())),
        from: parse_time(search.from.as_deref(), "from")?,
        to: parse_time(search.to.as_deref(), "to")?,
        limit,
    };
    // The cursor is the sequence number of the last entry served; the next page continues below it.
    let before = search
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|c| c.parse::<i64>().map_err(|_| invalid("the cursor")))
        .transpose()?;
    let mut query = query;
    query.limit = limit + 1;
    let mut rows = state.store.tenant(caller.org()).audit_page(query, before).await.map_err(DomainError::from)?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = more.then(|| rows.last().map(|r| r.seq.to_string())).flatten();
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        let detail = state.auditor.open_detail(row)?;
        let (actor_kind, actor_id) = match detail.actor {
            Actor::User(id) => ("user", Some(id.to_string())),
            Actor::ApiKey(id) => ("api_key", Some(id.to_string())),
            Actor::Operator => ("operator", None),
            Actor::System => ("system", None),
            Actor::Respondent => ("respondent", None),
        };
        items.push(AuditEntry {
            seq: row.seq,
            at: rfc3339(row.at),
            action: row.action.clone(),
            outcome: row.outcome.clone(),
            actor_kind: actor_kind.to_owned(),
            actor_id,
            targets: detail.targets.iter().map(|t| format!("{}:{}", t.kind, t.id)).collect(),
            fields: detail.fields,
            ip: detail.context.ip,
            request_id: detail.context.request_id,
        });
    }
    Ok(Json(Page { items, next_cursor }))
}
