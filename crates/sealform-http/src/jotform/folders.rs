//! Folders (`/user/folders`, `/folder`, `/folder/{id}`): the organisation's folder tree with the forms the key may
//! see in each. Folders organise and grant nothing; making and changing them needs the right to create forms, and
//! moving a form into one needs the right to manage that form.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use sealform_core::folders::{Folder, FolderChange, change_folder, create_folder, delete_folder};
use sealform_core::ids::{FolderId, FormId};
use sealform_core::policy::{Action, Resource};
use sealform_core::store::Store;
use serde_json::{Map, Value, json};

use super::{Answer, Caller, Content, Failure, audit_ctx, body, forms};
use crate::AppState;

/// Everything a folder view needs, read once.
struct Tree {
    folders: Vec<Folder>,
    placed: Vec<(FormId, FolderId)>,
    forms: Vec<sealform_core::submission::FormRecord>,
    owner: String,
}

async fn tree_of<S: Store>(state: &AppState<S>, caller: &Caller) -> Result<Tree, Failure> {
    let org = caller.principal.org;
    let now = state.clock.now();
    caller.require(Action::ListForms, Resource::Org(org), now)?;
    let forms = state
        .store
        .tenant(org)
        .forms_of()
        .await?
        .into_iter()
        .filter(|f| caller.can_on(Action::ViewForm, f.id, now))
        .collect();
    Ok(Tree {
        folders: state.store.tenant(org).folders_of().await?,
        placed: state.store.tenant(org).form_folders().await?,
        forms,
        owner: forms::username(state, caller).await?,
    })
}

impl Tree {
    async fn forms_in<S: Store>(
        &self,
        state: &AppState<S>,
        caller: &Caller,
        folder: Option<FolderId>,
    ) -> Result<Value, Failure> {
        let mut map = Map::new();
        for form in &self.forms {
            let at = self.placed.iter().find(|(f, _)| *f == form.id).map(|(_, folder)| *folder);
            if at == folder {
                map.insert(form.id.to_string(), forms::form_json(state, caller, form).await?);
            }
        }
        Ok(Value::Object(map))
    }

    fn path(&self, folder: &Folder) -> String {
        let mut names = vec![folder.name.clone()];
        let mut parent = folder.parent;
        while let Some(id) = parent {
            let Some(up) = self.folders.iter().find(|f| f.id == id) else { break };
            names.push(up.name.clone());
            parent = up.parent;
            if names.len() > sealform_core::folders::MAX_DEPTH + 1 {
                break;
            }
        }
        names.reverse();
        names.join("/")
    }

    async fn folder_json<S: Store>(
        &self,
        state: &AppState<S>,
        caller: &Caller,
        folder: &Folder,
    ) -> Result<Value, Failure> {
        let mut subfolders = Vec::new();
        for child in self.folders.iter().filter(|f| f.parent == Some(folder.id)) {
            subfolders.push(Box::pin(self.folder_json(state, caller, child)).await?);
        }
        Ok(json!({
            "id": folder.id.to_string(),
            "path": self.path(folder),
            "owner": self.owner,
            "name": folder.name,
            "parent": folder.parent.map_or_else(|| "0".to_owned(), |p| p.to_string()),
            "color": folder.color,
            "created_at": super::envelope::date(folder.created_at),
            "forms": self.forms_in(state, caller, Some(folder.id)).await?,
            "subfolders": subfolders,
        }))
    }
}

/// `GET /user/folders`: the root with its forms and subfolders.
pub(crate) async fn tree<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Answer {
    let tree = tree_of(&state, &caller).await?;
    let mut subfolders = Vec::new();
    for folder in tree.folders.iter().filter(|f| f.parent.is_none()) {
        subfolders.push(tree.folder_json(&state, &caller, folder).await?);
    }
    Ok(Content::of(json!({
        "id": "root",
        "path": "",
        "owner": tree.owner,
        "name": "My Forms",
        "parent": "0",
        "forms": tree.forms_in(&state, &caller, None).await?,
        "subfolders": subfolders,
    })))
}

fn folder_id(raw: &str) -> Result<FolderId, Failure> {
    raw.trim().parse().map_err(|_| Failure::bad_request("the folder id is not valid"))
}

/// `GET /folder/{id}`.
pub(crate) async fn one<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(raw): Path<String>,
) -> Answer {
    let id = folder_id(&raw)?;
    let tree = tree_of(&state, &caller).await?;
    let folder = tree.folders.iter().find(|f| f.id == id).ok_or_else(|| Failure::not_found("folder"))?;
    Ok(Content::of(tree.folder_json(&state, &caller, folder).await?))
}

/// `POST /folder` with `name`, optional `parent` and `color`.
pub(crate) async fn create<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    bytes: Bytes,
) -> Answer {
    let value = body::form(&bytes)?;
    let name = value.get("name").and_then(body::text).ok_or_else(|| Failure::bad_request("send the folder's name"))?;
    let parent = match value.get("parent").and_then(body::text).as_deref().map(str::trim) {
        None | Some("" | "0" | "root") => None,
        Some(raw) => Some(folder_id(raw)?),
    };
    let color = value.get("color").and_then(body::text);
    let now = state.clock.now();
    let org = caller.principal.org;
    caller.require(Action::CreateForm, Resource::Org(org), now)?;
    let scope = caller.scope();
    let folder =
        create_folder(&state.store, audit_ctx(&state, &scope), org, &name, color.as_deref(), parent, now).await?;
    let tree = tree_of(&state, &caller).await?;
    Ok(Content::of(tree.folder_json(&state, &caller, &folder).await?))
}

/// `PUT /folder/{id}` with JSON `{"name", "color", "forms": [ids]}`: renames, recolours, moves forms in.
pub(crate) async fn update<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> Answer {
    let id = folder_id(&raw)?;
    let now = state.clock.now();
    let org = caller.principal.org;
    caller.require(Action::CreateForm, Resource::Org(org), now)?;
    if state.store.tenant(org).folder(id).await?.is_none() {
        return Err(Failure::not_found("folder"));
    }
    let value = body::json(&bytes)?;
    let object =
        value.as_object().ok_or_else(|| Failure::bad_request("send a JSON object of name, color and forms"))?;
    let mut change = FolderChange::default();
    for (key, v) in object {
        match key.as_str() {
            "name" => change.name = Some(body::text(v).ok_or_else(|| Failure::bad_request("name is text"))?),
            "color" => change.color = Some(body::text(v).ok_or_else(|| Failure::bad_request("color is text"))?),
            "forms" => {
                let ids = v.as_array().ok_or_else(|| Failure::bad_request("forms is a list of form ids"))?;
                for id in ids {
                    let id = body::text(id).and_then(|t| t.trim().parse::<FormId>().ok());
                    change.forms.push(id.ok_or_else(|| Failure::bad_request("forms holds a malformed form id"))?);
                }
            }
            _ => return Err(Failure::bad_request("a folder change has name, color and forms")),
        }
    }
    for form in &change.forms {
        state.store.tenant(org).form(*form).await?.ok_or_else(|| Failure::not_found("form"))?;
        // Grants on folders reach the forms inside: moving a form changes who may open it, an admin's decision.
        caller.require_on(Action::ManageAccess, *form, now)?;
    }
    let scope = caller.scope();
    let folder = change_folder(&state.store, audit_ctx(&state, &scope), org, id, change, now).await?;
    let tree = tree_of(&state, &caller).await?;
    Ok(Content::of(tree.folder_json(&state, &caller, &folder).await?))
}

/// `DELETE /folder/{id}`: the folder and its subfolders; their forms return to the top level.
pub(crate) async fn remove<S: Store>(
    State(state): State<AppState<S>>,
    Extension(caller): Extension<Arc<Caller>>,
    Path(raw): Path<String>,
) -> Answer {
    let id = folder_id(&raw)?;
    let now = state.clock.now();
    let org = caller.principal.org;
    if state.store.tenant(org).folder(id).await?.is_none() {
        return Err(Failure::not_found("folder"));
    }
    // Its forms leave the reach of the grants on it and above: who may open them changes, an admin's decision (as
    // moving forms is, above, and every folder action in the console).
    caller.require(Action::ManageAccess, Resource::Org(org), now)?;
    let scope = caller.scope();
    delete_folder(&state.store, audit_ctx(&state, &scope), org, id, now).await?;
    Ok(Content::of(json!("folder deleted")))
}
