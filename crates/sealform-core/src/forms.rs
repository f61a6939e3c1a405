//! Forms: creation with a per-form blind-index key, new versions of the questions, publishing, duplication.

use sealform_crypto::KeyEncryptionKey;
use time::OffsetDateTime;

use crate::DomainError;
use crate::audit::{Action, AuditCtx, Entry, Target};
use crate::form_model::{Definition, FieldErrors};
use crate::ids::{FormId, OrgId};
use crate::keys::new_form_index_key;
use crate::store::Store;
use crate::submission::{FormChange, FormRecord, FormStatus, NewForm};

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
    let title = checked_title(title)?;
    Definition::from_json(&definition).map_err(|errors| DomainError::Invalid(describe(&errors)))?;
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
    store.tenant(form.org_id).create_form(form, entry).await?;
    Ok(id)
}

fn checked_title(title: &str) -> Result<&str, DomainError> {
    let title = title.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS || title.chars().any(char::is_control) {
        return Err(DomainError::Invalid(format!(
            "a form title must be one line of 1 to {MAX_TITLE_CHARS} characters"
        )));
    }
    Ok(title)
}

/// A definition's problems as one message for callers that show a single error.
#[must_use]
pub fn describe(errors: &FieldErrors) -> String {
    errors
        .iter()
        .map(|(qid, message)| if qid.is_empty() { message.clone() } else { format!("question {qid}: {message}") })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Changes a form: title, a new version of its questions (checked first), status. Audited as `form.update`.
///
/// # Errors
/// [`DomainError::Invalid`] for a bad title or definition; [`DomainError::NotFound`] for a form not in `org`.
pub async fn change_form<S: Store>(
    store: &S,
    audit: AuditCtx<'_>,
    org: OrgId,
    form: FormId,
    change: FormChange,
    now: OffsetDateTime,
) -> Result<FormRecord, DomainError> {
    let title = change.title.as_deref().map(checked_title).transpose()?.map(str::to_owned);
    if let Some(definition) = &change.definition {
        Definition::from_json(definition).map_err(|errors| DomainError::Invalid(describe(&errors)))?;
    }
    let mut fields = Vec::new();
    fields.extend(title.as_ref().map(|_| "title".to_owned()));
    fields.extend(change.definition.as_ref().map(|_| "questions".to_owned()));
    fields.extend(change.status.map(|s| format!("status:{}", s.as_str())));
    let entry = audit
        .entry(Entry::ok(Some(org), Action::FormUpdate, vec![Target::new("form", form)], now).with_fields(fields))?;
    let change = FormChange { title, ..change };
    Ok(store.tenant(org).change_form(form, change, now, entry).await?)
}

/// Creates a draft copy of a form's current version (not its submissions), titled "… (copy)".
///
/// # Errors
/// As [`create_form`]; [`DomainError::NotFound`] for a form not in `org`.
pub async fn duplicate_form<S: Store>(
    store: &S,
    master: &dyn KeyEncryptionKey,
    audit: AuditCtx<'_>,
    org: OrgId,
    form: FormId,
    now: OffsetDateTime,
) -> Result<FormId, DomainError> {
    let original = store.tenant(org).form(form).await?.ok_or_else(|| DomainError::NotFound("no such form".into()))?;
    let mut title: String = original.title.chars().take(MAX_TITLE_CHARS - 7).collect();
    title.push_str(" (copy)");
    create_form(store, master, audit, org, &title, original.definition, now).await
}

/// Whether the public page accepts submissions.
#[must_use]
pub fn accepts_submissions(form: &FormRecord) -> bool {
    form.status == FormStatus::Published
}
