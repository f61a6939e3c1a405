//! Folders of forms (DESIGN.md §4: organisation → folders → forms): a tree per organisation, each form in at most
//! one folder. A grant on a folder reaches every form in it and below it ([`crate::folder_grants`]), so moving a
//! form or deleting a folder can change who may see a form: the audit entry of such a change names, per form, the
//! folder grants that reached it before and after. Every change is audited in its own transaction.

use time::OffsetDateTime;

use crate::DomainError;
use crate::audit::{Action, AuditCtx, Entry, Target};
use crate::folder_grants::FolderGrantRecord;
use crate::ids::{FolderId, FormId, OrgId};
use crate::store::{FOLDER_CHANGED, FOLDER_HAS_GRANTS, Store, StoreError};
use crate::tenant::Tenant;

/// Longest folder name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The colour a folder gets when none is given.
pub const DEFAULT_COLOR: &str = "#4A90E2";
/// Deepest nesting accepted, so a tree can always be walked cheaply.
pub const MAX_DEPTH: usize = 16;

/// A folder as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Folder {
    /// Owning organisation.
    pub org: OrgId,
    /// Its id.
    pub id: FolderId,
    /// The folder it sits in; `None` at the top level.
    pub parent: Option<FolderId>,
    /// Its name (not PHI).
    pub name: String,
    /// Its colour, `#RRGGBB`.
    pub color: String,
    /// When it was made.
    pub created_at: OffsetDateTime,
}

/// A change to a folder: any of a new name, a new colour, forms to move into it.
#[derive(Clone, Debug, Default)]
pub struct FolderChange {
    /// A new name.
    pub name: Option<String>,
    /// A new colour.
    pub color: Option<String>,
    /// Forms to move into the folder (out of wherever they were).
    pub forms: Vec<FormId>,
}

fn checked_name(name: &str) -> Result<String, DomainError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(DomainError::Invalid(format!(
            "a folder name must be one line of 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(name.to_owned())
}

fn checked_color(color: &str) -> Result<String, DomainError> {
    let color = color.trim();
    let hex = color.strip_prefix('#').unwrap_or_default();
    if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(DomainError::Invalid("a folder colour is written #RRGGBB".into()));
    }
    Ok(color.to_ascii_uppercase())
}

/// How deep `folder` sits (1 at the top level), following parents through `all`; past [`MAX_DEPTH`], `MAX_DEPTH + 1`.
fn depth(all: &[Folder], folder: FolderId) -> usize {
    ancestors(all, folder).len()
}

/// `folder` and every folder above it, nearest first: at most `MAX_DEPTH + 1` of them (the folder code keeps trees
/// shallow; the bound only guards against a cycle in corrupt data).
#[must_use]
pub fn ancestors(all: &[Folder], folder: FolderId) -> Vec<FolderId> {
    let mut chain = Vec::new();
    let mut current = Some(folder);
    while let Some(id) = current.filter(|_| chain.len() <= MAX_DEPTH) {
        chain.push(id);
        current = all.iter().find(|f| f.id == id).and_then(|f| f.parent);
    }
    chain
}

/// `folder` and every folder below it.
#[must_use]
pub fn subtree(all: &[Folder], folder: FolderId) -> Vec<FolderId> {
    let mut found = vec![folder];
    let mut i = 0;
    while let Some(&id) = found.get(i) {
        found.extend(all.iter().filter(|f| f.parent == Some(id)).map(|f| f.id));
        i += 1;
    }
    found
}

/// The folder grants that reach a form placed in `folder` (none at the top level), one audit line each.
fn access_via(all: &[Folder], grants: &[FolderGrantRecord], folder: Option<FolderId>) -> Vec<String> {
    let chain = folder.map(|f| ancestors(all, f)).unwrap_or_default();
    let mut lines: Vec<String> = grants
        .iter()
        .map(|r| &r.grant)
        .filter(|g| chain.contains(&g.folder))
        .map(|g| format!("user {} {} via folder {}", g.user, g.describe(), g.folder))
        .collect();
    lines.sort();
    lines
}

/// An organisation's folders, the grants on them and which form is in which: what tells which folder grants reach
/// a form, read once per change.
struct FolderAccess {
    all: Vec<Folder>,
    grants: Vec<FolderGrantRecord>,
    placed: Vec<(FormId, FolderId)>,
}

impl FolderAccess {
    async fn load<S: Store>(tenant: Tenant<'_, S>) -> Result<Self, DomainError> {
        Ok(Self {
            all: tenant.folders_of().await?,
            grants: tenant.folder_grants_of_org().await?,
            placed: tenant.form_folders().await?,
        })
    }

    /// Audit fields for forms whose folder access changes when each moves from where it is now to `to`: per such
    /// form, `access:<form>:before:<grants>` and `access:<form>:after:<grants>` (`none` when no folder grant reaches
    /// it).
    fn changes(&self, moves: impl IntoIterator<Item = (FormId, Option<FolderId>)>) -> Vec<String> {
        let mut fields = Vec::new();
        for (form, to) in moves {
            let from = self.placed.iter().find(|(f, _)| *f == form).map(|(_, folder)| *folder);
            let (before, after) = (access_via(&self.all, &self.grants, from), access_via(&self.all, &self.grants, to));
            if before != after {
                let join = |lines: Vec<String>| if lines.is_empty() { "none".to_owned() } else { lines.join("; ") };
                fields.push(format!("access:{form}:before:{}", join(before)));
                fields.push(format!("access:{form}:after:{}", join(after)));
            }
        }
        fields
    }
}

/// Creates a folder in `org`, at the top level or inside `parent`. Audited as `folder.create`.
///
/// # Errors
/// [`DomainError::Invalid`] for a bad name or colour or a tree too deep; [`DomainError::NotFound`] for a parent
/// not in `org`.
pub async fn create_folder<S: Store>(
    store: &S,
    audit: AuditCtx<'_>,
    org: OrgId,
    name: &str,
    color: Option<&str>,
    parent: Option<FolderId>,
    now: OffsetDateTime,
) -> Result<Folder, DomainError> {
    let name = checked_name(name)?;
    let color = checked_color(color.unwrap_or(DEFAULT_COLOR))?;
    if let Some(parent) = parent {
        let all = store.tenant(org).folders_of().await?;
        if !all.iter().any(|f| f.id == parent) {
            return Err(DomainError::NotFound("no such parent folder".into()));
        }
        if depth(&all, parent) >= MAX_DEPTH {
            return Err(DomainError::Invalid(format!("folders nest at most {MAX_DEPTH} deep")));
        }
    }
    let folder = Folder { org, id: FolderId::new(), parent, name, color, created_at: now };
    let entry = audit.entry(Entry::ok(Some(org), Action::FolderCreate, vec![Target::new("folder", folder.id)], now))?;
    store.tenant(folder.org).insert_folder(folder.clone(), entry).await?;
    Ok(folder)
}

/// Renames or recolours a folder and moves forms into it. Audited as `folder.update`, naming the forms moved and,
/// for each whose folder grants change with the move, those grants before and after.
///
/// # Errors
/// [`DomainError::Invalid`] for a bad name or colour; [`DomainError::NotFound`] for a folder or form not in `org`.
pub async fn change_folder<S: Store>(
    store: &S,
    audit: AuditCtx<'_>,
    org: OrgId,
    folder: FolderId,
    change: FolderChange,
    now: OffsetDateTime,
) -> Result<Folder, DomainError> {
    let name = change.name.as_deref().map(checked_name).transpose()?;
    let color = change.color.as_deref().map(checked_color).transpose()?;
    let current =
        store.tenant(org).folder(folder).await?.ok_or_else(|| DomainError::NotFound("no such folder".into()))?;
    for form in &change.forms {
        store.tenant(org).form(*form).await?.ok_or_else(|| DomainError::NotFound("no such form".into()))?;
    }
    let mut targets = vec![Target::new("folder", folder)];
    targets.extend(change.forms.iter().map(|f| Target::new("form", f)));
    let mut fields = Vec::new();
    fields.extend(name.as_ref().map(|_| "name".to_owned()));
    fields.extend(color.as_ref().map(|_| "color".to_owned()));
    fields.extend((!change.forms.is_empty()).then(|| "forms".to_owned()));
    let access = FolderAccess::load(store.tenant(org)).await?;
    fields.extend(access.changes(change.forms.iter().map(|f| (*f, Some(folder)))));
    let entry = audit.entry(Entry::ok(Some(org), Action::FolderUpdate, targets, now).with_fields(fields))?;
    let updated = Folder { name: name.unwrap_or(current.name), color: color.unwrap_or(current.color), ..current };
    store.tenant(updated.org).update_folder(updated.clone(), change.forms, entry).await?;
    Ok(updated)
}

/// Deletes a folder and its subfolders; their forms go back to the top level (forms are never deleted with a
/// folder). Audited as `folder.delete`, naming every folder removed and, for each form that thereby leaves the reach
/// of a grant on a folder above, those grants before and after. The entry is written from a read of the folders; the
/// store checks that read in the deleting transaction, and when a form was filed into the folders meanwhile the
/// deletion starts over from a fresh read (at most three times).
///
/// # Errors
/// [`DomainError::NotFound`] for a folder not in `org`; [`DomainError::Conflict`] when members hold grants on the
/// folder or one below it, or its forms kept changing.
pub async fn delete_folder<S: Store>(
    store: &S,
    audit: AuditCtx<'_>,
    org: OrgId,
    folder: FolderId,
    now: OffsetDateTime,
) -> Result<(), DomainError> {
    let mut attempts = 0;
    loop {
        let access = FolderAccess::load(store.tenant(org)).await?;
        if !access.all.iter().any(|f| f.id == folder) {
            return Err(DomainError::NotFound("no such folder".into()));
        }
        let doomed = subtree(&access.all, folder);
        // Deleting would take the grants on these folders with it, unaudited: they are revoked first, one by one.
        if access.grants.iter().any(|g| doomed.contains(&g.grant.folder)) {
            return Err(DomainError::Conflict(FOLDER_HAS_GRANTS.into()));
        }
        // Their forms go back to the top level, out of reach of the grants on folders above the deleted one.
        let freed: Vec<FormId> =
            access.placed.iter().filter(|(_, f)| doomed.contains(f)).map(|(form, _)| *form).collect();
        let fields = access.changes(freed.iter().map(|form| (*form, None)));
        let targets = doomed.iter().map(|id| Target::new("folder", id)).collect();
        let entry = audit.entry(Entry::ok(Some(org), Action::FolderDelete, targets, now).with_fields(fields))?;
        match store.tenant(org).delete_folder(folder, doomed, freed, entry).await {
            Ok(true) => return Ok(()),
            Ok(false) => return Err(DomainError::NotFound("no such folder".into())),
            Err(StoreError::Conflict(message)) if message == FOLDER_CHANGED && attempts < 2 => attempts += 1,
            Err(err) => return Err(err.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(id: FolderId, parent: Option<FolderId>) -> Folder {
        Folder {
            org: OrgId::from_uuid(uuid::Uuid::nil()),
            id,
            parent,
            name: "f".into(),
            color: DEFAULT_COLOR.into(),
            created_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn access_via_a_folder_is_the_grants_on_it_and_above_it() {
        let (a, b, c) = (FolderId::new(), FolderId::new(), FolderId::new());
        let all = vec![folder(a, None), folder(b, Some(a)), folder(c, None)];
        let on = |folder: FolderId| FolderGrantRecord {
            grant: crate::folder_grants::FolderGrant {
                org: OrgId::from_uuid(uuid::Uuid::nil()),
                folder,
                user: crate::ids::UserId::from_uuid(uuid::Uuid::nil()),
                rights: vec![crate::grants::Right::View],
                hide_phi: false,
                expires_at: None,
                granted_by: None,
                created_at: OffsetDateTime::UNIX_EPOCH,
            },
            email: crate::user::Email::parse("n@x.example").unwrap(),
        };
        let grants = [on(a)];
        let reached = access_via(&all, &grants, Some(b));
        assert_eq!(reached.len(), 1, "the grant on the parent reaches a form in the child");
        assert!(reached[0].ends_with(&format!("via folder {a}")), "{reached:?}");
        assert!(access_via(&all, &grants, Some(c)).is_empty(), "nor a sibling tree");
        assert!(access_via(&all, &grants, None).is_empty(), "nor the top level");
    }

    #[test]
    fn subtrees_and_depth_follow_parents() {
        let (a, b, c, d) = (FolderId::new(), FolderId::new(), FolderId::new(), FolderId::new());
        let all = vec![folder(a, None), folder(b, Some(a)), folder(c, Some(b)), folder(d, None)];
        assert_eq!(subtree(&all, a), vec![a, b, c]);
        assert_eq!(subtree(&all, d), vec![d]);
        assert_eq!(depth(&all, c), 3);
        assert_eq!(depth(&all, d), 1);
    }

    #[test]
    fn names_and_colours_are_checked() {
        assert!(checked_name("  Intake  ").is_ok_and(|n| n == "Intake"));
        assert!(checked_name("").is_err());
        assert!(checked_name("a\nb").is_err());
        assert_eq!(checked_color("#a1b2c3").unwrap(), "#A1B2C3");
        for bad in ["red", "#12345", "#1234567", "123456", "#12345g"] {
            assert!(checked_color(bad).is_err(), "{bad}");
        }
    }
}
