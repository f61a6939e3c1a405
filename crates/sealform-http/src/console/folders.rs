//! Folders in the console (issue #9), for owners and admins: the folder tree with its forms, making folders, moving
//! forms into them, and each folder's access page, where a grant gives a member rights on every form in the folder
//! and the folders below it. The services are [`sealform_core::folders`] and [`sealform_core::folder_grants`].

use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use http::StatusCode;
use minijinja::{Value, context};
use sealform_core::DomainError;
use sealform_core::audit::AuditCtx;
use sealform_core::folder_grants::{grant_folder_access, revoke_folder_access};
use sealform_core::folders::{Folder, FolderChange, change_folder, create_folder};
use sealform_core::grants::Right;
use sealform_core::ids::{FolderId, FormId, UserId};
use sealform_core::policy::Action as PolicyAction;
use sealform_core::sessions::SessionRecord;
use sealform_core::store::Store;

use super::access::{field, grant_row, member_by_email, posted_pairs, terms};
use super::inbox::{parse_id, staff};
use crate::AppState;
use crate::pages::render;
use crate::problem::ApiError;
use crate::problem::Found as _;

/// Templates of this module.
pub(crate) const TEMPLATES: &[(&str, &str)] = &[
    ("folders.html", include_str!("../../templates/folders.html")),
    ("folder_access.html", include_str!("../../templates/folder_access.html")),
];

/// Routes of this module.
pub(crate) fn routes<S: Store>() -> crate::app::Routes<S> {
    crate::app::Routes::new()
        .route("/console/folders", get(folders_page::<S>).post(create_submit::<S>))
        .route("/console/folders/{folder}/forms", post(move_submit::<S>))
        .route("/console/folders/{folder}/access", get(access_page::<S>).post(grant_submit::<S>))
        .route("/console/folders/{folder}/access/revoke", post(revoke_submit::<S>))
}

/// `GET /console/folders`: the tree, each folder with its forms, and the forms in no folder.
async fn folders_page<S: Store>(State(state): State<AppState<S>>, request: Request) -> Result<Response, ApiError> {
    let (session, _, authz) = match staff(&state, &request).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    authz.require_org(PolicyAction::ManageAccess)?;
    render_folders(&state, &session, None, StatusCode::OK).await
}

async fn render_folders<S: Store>(
    state: &AppState<S>,
    session: &SessionRecord,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let folders = state.store.tenant(session.org).folders_of().await.map_err(DomainError::from)?;
    let placed = state.store.tenant(session.org).form_folders().await.map_err(DomainError::from)?;
    let forms = state.store.tenant(session.org).forms_of().await.map_err(DomainError::from)?;
    let form_value = |id: FormId| {
        forms.iter().find(|f| f.id == id).map(|f| context! { id => f.id.to_string(), title => f.title.as_str() })
    };
    // Depth-first, so each folder follows its parent and the page can indent it.
    let mut rows: Vec<Value> = Vec::new();
    let mut stack: Vec<(Option<FolderId>, usize)> = vec![(None, 0)];
    while let Some((parent, depth)) = stack.pop() {
        let children: Vec<&Folder> = folders.iter().filter(|f| f.parent == parent).collect();
        for folder in children.iter().rev() {
            stack.push((Some(folder.id), depth + 1));
        }
        if let Some(folder) = parent.and_then(|id| folders.iter().find(|f| f.id == id)) {
            let inside: Vec<Value> =
                placed.iter().filter(|(_, f)| *f == folder.id).filter_map(|(form, _)| form_value(*form)).collect();
            rows.push(context! {
                id => folder.id.to_string(), name => folder.name.as_str(), depth => depth - 1, forms => inside,
            });
        }
    }
    let loose: Vec<Value> =
        forms.iter().filter(|f| !placed.iter().any(|(p, _)| *p == f.id)).filter_map(|f| form_value(f.id)).collect();
    let all_forms: Vec<Value> = forms.iter().filter_map(|f| form_value(f.id)).collect();
    let page = render(
        &state.templates,
        "folders.html",
        context! { folders => rows, loose, all_forms, error, csrf => session.csrf_token.as_str() },
    )?;
    Ok((status, page).into_response())
}

/// Answers a refused change with the page and its message (422), or passes other errors on.
async fn refused<S: Store>(
    state: &AppState<S>,
    session: &SessionRecord,
    err: DomainError,
) -> Result<Response, ApiError> {
    match err {
        DomainError::Invalid(message) | DomainError::NotFound(message) | DomainError::Conflict(message) => {
            render_folders(state, session, Some(&message), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        other => Err(other.into()),
    }
}

/// `POST /console/folders`: a new folder (`name`, optional `parent`).
async fn create_submit<S: Store>(State(state): State<AppState<S>>, request: Request) -> Result<Response, ApiError> {
    let (session, scope, authz, pairs) = match posted_pairs(&state, request).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    authz.require_org(PolicyAction::ManageAccess)?;
    let parent = match field(&pairs, "parent") {
        "" => None,
        raw => Some(parse_id::<FolderId>(raw)?),
    };
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    let now = state.clock.now();
    match create_folder(&state.store, audit, session.org, field(&pairs, "name"), None, parent, now).await {
        Ok(_) => Ok(Redirect::to("/console/folders").into_response()),
        Err(err) => refused(&state, &session, err).await,
    }
}

/// `POST /console/folders/{folder}/forms`: moves a form (`form`) into the folder.
async fn move_submit<S: Store>(
    State(state): State<AppState<S>>,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, authz, pairs) = match posted_pairs(&state, request).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    authz.require_org(PolicyAction::ManageAccess)?;
    let folder = org_folder(&state, &session, &raw).await?;
    let form: FormId = parse_id(field(&pairs, "form"))?;
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    let change = FolderChange { forms: vec![form], ..FolderChange::default() };
    match change_folder(&state.store, audit, session.org, folder.id, change, state.clock.now()).await {
        Ok(_) => Ok(Redirect::to("/console/folders").into_response()),
        Err(err) => refused(&state, &session, err).await,
    }
}

/// The folder of the session's organisation, or 404 (also for another organisation's folder).
async fn org_folder<S: Store>(state: &AppState<S>, session: &SessionRecord, raw: &str) -> Result<Folder, ApiError> {
    let id: FolderId = parse_id(raw)?;
    state.store.tenant(session.org).folder(id).await.found()
}

/// `GET /console/folders/{folder}/access`: the grants on the folder.
async fn access_page<S: Store>(
    State(state): State<AppState<S>>,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, _, authz) = match staff(&state, &request).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    let folder = org_folder(&state, &session, &raw).await?;
    authz.require_org(PolicyAction::ManageAccess)?;
    render_access(&state, &session, &folder, None, StatusCode::OK).await
}

async fn render_access<S: Store>(
    state: &AppState<S>,
    session: &SessionRecord,
    folder: &Folder,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let grants: Vec<Value> = state
        .store
        .tenant(session.org)
        .folder_grants_of(folder.id)
        .await
        .map_err(DomainError::from)?
        .into_iter()
        .map(|r| {
            let g = &r.grant;
            grant_row(&r.email, g.user, &g.rights, g.hide_phi, (g.created_at, g.expires_at), now)
        })
        .collect();
    let rights: Vec<&str> = Right::ALL.iter().map(|r| r.as_str()).collect();
    let page = render(
        &state.templates,
        "folder_access.html",
        context! {
            folder => context! { id => folder.id.to_string(), name => folder.name.as_str() },
            grants, rights, error, csrf => session.csrf_token.as_str(),
        },
    )?;
    Ok((status, page).into_response())
}

/// Answers a refused grant change with the folder's access page and its message (422), or passes other errors on.
async fn refused_access<S: Store>(
    state: &AppState<S>,
    session: &SessionRecord,
    folder: &Folder,
    err: DomainError,
) -> Result<Response, ApiError> {
    match err {
        DomainError::Invalid(message) | DomainError::NotFound(message) | DomainError::Conflict(message) => {
            render_access(state, session, folder, Some(&message), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        other => Err(other.into()),
    }
}

/// `POST /console/folders/{folder}/access`: gives (or replaces) a member's grant on the folder, by e-mail.
async fn grant_submit<S: Store>(
    State(state): State<AppState<S>>,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, authz, pairs) = match posted_pairs(&state, request).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    let folder = org_folder(&state, &session, &raw).await?;
    authz.require_org(PolicyAction::ManageAccess)?;
    let terms = match terms(&pairs) {
        Ok(terms) => terms,
        Err(message) => return refused_access(&state, &session, &folder, DomainError::Invalid(message)).await,
    };
    let Some(user) = member_by_email(&state, &session, field(&pairs, "email")).await? else {
        let missing = DomainError::NotFound("no member of this organisation has that e-mail address".into());
        return refused_access(&state, &session, &folder, missing).await;
    };
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    let now = state.clock.now();
    match grant_folder_access(&state.store, audit, session.org, folder.id, user, &terms, Some(session.user), now).await
    {
        Ok(_) => Ok(Redirect::to(&format!("/console/folders/{}/access", folder.id)).into_response()),
        Err(err) => refused_access(&state, &session, &folder, err).await,
    }
}

/// `POST /console/folders/{folder}/access/revoke`: removes a member's grant on the folder.
async fn revoke_submit<S: Store>(
    State(state): State<AppState<S>>,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (session, scope, authz, pairs) = match posted_pairs(&state, request).await? {
        Ok(found) => found,
        Err(redirect) => return Ok(redirect),
    };
    let folder = org_folder(&state, &session, &raw).await?;
    authz.require_org(PolicyAction::ManageAccess)?;
    let user: UserId = parse_id(field(&pairs, "user"))?;
    let audit = AuditCtx { auditor: &state.auditor, scope: &scope };
    match revoke_folder_access(&state.store, audit, session.org, folder.id, user, state.clock.now()).await {
        Ok(()) => Ok(Redirect::to(&format!("/console/folders/{}/access", folder.id)).into_response()),
        Err(err) => refused_access(&state, &session, &folder, err).await,
    }
}
