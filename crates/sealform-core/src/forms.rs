//! Forms: creation with a per-form blind-index key. (The form model and builder come with the forms issue.)

use sealform_crypto::KeyEncryptionKey;
use time::OffsetDateTime;

use crate::DomainError;
use crate::audit::{Action, AuditCtx, Entry, Target};
use crate::ids::{FormId, OrgId};
use crate::keys::new_form_index_key;
use crate::store::Store;
use crate::submission::NewForm;

/// Longest form title accepted, in characters.
pub const MAX_TITLE_CHARS: usize = 200;

/// Creates a form in `org` with its first version and its own blind-index key.
///
/// # Errors
/// [`DomainError::Invalid`] for an empty or over-long title; storage and key errors.
pub async fn create_form<S: Store>(
    store: &S,
    master: &dyn KeyEncryptionKey,
    audit: AuditCtx<'_>,
    org: OrgId,
    title: &str,
    definition: String,
    now: OffsetDateTime,
) -> Result<FormId, DomainError> {
    let title = title.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
        return Err(DomainError::Invalid(format!("a form title must have 1 to {MAX_TITLE_CHARS} characters")));
    }
    let id = FormId::new();
    let (index_key, index_key_fingerprint) = new_form_index_key(master, org, id)?;
    let form = NewForm {
        org_id: org,
        id,
        title: title.to_owned(),
        definition,
        index_key,
        index_key_fingerprint,
        created_at: now,
    };
    let entry = audit.entry(Entry::ok(Some(org), Action::FormCreate, vec![Target::new("form", id)], now))?;
    store.create_form(form, entry).await?;
    Ok(id)
}
