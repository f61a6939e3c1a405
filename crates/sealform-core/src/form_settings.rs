//! Per-form settings kept for the Jotform-compatible API: webhook URLs (stored and listed; delivery, with its
//! allow-list and signatures, comes with the webhook outbox) and presentational properties returned as they were
//! set. Changing either needs the form's manage right and is audited as `form.update` naming the setting, never a
//! value.

use time::OffsetDateTime;

use crate::DomainError;
use crate::audit::{Action, AuditCtx, Entry, Target};
use crate::ids::{FormId, OrgId};
use crate::store::Store;

/// Longest webhook URL accepted.
pub const MAX_WEBHOOK_URL_CHARS: usize = 2_000;
/// Most webhooks a form may have.
pub const MAX_WEBHOOKS: usize = 20;
/// Longest property value accepted, in characters.
pub const MAX_PROPERTY_CHARS: usize = 4_000;

/// Properties stored and returned but not acted upon: they style Jotform's own renderer, which Sealform's fill page
/// is not, so keeping them only lets a migrating script read back what it wrote. Anything else is refused with a
/// message rather than silently dropped.
pub const STORED_PROPERTIES: &[&str] = &[
    "alignment",
    "background",
    "font",
    "fontcolor",
    "fontsize",
    "formWidth",
    "height",
    "labelWidth",
    "lineSpacing",
    "styles",
];

/// A webhook of a form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    /// Its number within the form, from 0 (Jotform's webhook id).
    pub id: i64,
    /// Where submissions will be posted.
    pub url: String,
    /// When it was added.
    pub created_at: OffsetDateTime,
}

fn checked_url(url: &str) -> Result<&str, DomainError> {
    let url = url.trim();
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")).unwrap_or_default();
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty()
        || url.chars().count() > MAX_WEBHOOK_URL_CHARS
        || url.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(DomainError::Invalid(format!(
            "a webhook URL is an http or https address of at most {MAX_WEBHOOK_URL_CHARS} characters"
        )));
    }
    Ok(url)
}

/// Adds a webhook URL to a form. Audited as `form.update` of `webhook:add`.
///
/// # Errors
/// [`DomainError::Invalid`] for a malformed URL or too many webhooks; [`DomainError::NotFound`] for a form not in
/// `org`.
pub async fn add_webhook<S: Store>(
    store: &S,
    audit: AuditCtx<'_>,
    org: OrgId,
    form: FormId,
    url: &str,
    now: OffsetDateTime,
) -> Result<Webhook, DomainError> {
    let url = checked_url(url)?;
    if store.tenant(org).webhooks_of(form).await?.len() >= MAX_WEBHOOKS {
        return Err(DomainError::Invalid(format!("a form may have at most {MAX_WEBHOOKS} webhooks")));
    }
    let entry = audit.entry(
        Entry::ok(Some(org), Action::FormUpdate, vec![Target::new("form", form)], now)
            .with_fields(vec!["webhook:add".into()]),
    )?;
    Ok(store.tenant(org).insert_webhook(form, url.to_owned(), now, entry).await?)
}

/// Removes a form's webhook. Audited as `form.update` of `webhook:delete`.
///
/// # Errors
/// [`DomainError::NotFound`] when the form has no such webhook.
pub async fn delete_webhook<S: Store>(
    store: &S,
    audit: AuditCtx<'_>,
    org: OrgId,
    form: FormId,
    id: i64,
    now: OffsetDateTime,
) -> Result<(), DomainError> {
    let entry = audit.entry(
        Entry::ok(Some(org), Action::FormUpdate, vec![Target::new("form", form)], now)
            .with_fields(vec![format!("webhook:delete:{id}")]),
    )?;
    if store.tenant(org).delete_webhook(form, id, entry).await? {
        Ok(())
    } else {
        Err(DomainError::NotFound("no such webhook".into()))
    }
}

/// Checks a stored property: a known key and a bounded single-line value.
///
/// # Errors
/// [`DomainError::Invalid`] naming the key (keys are configuration, not PHI).
pub fn check_property(key: &str, value: &str) -> Result<(), DomainError> {
    if !STORED_PROPERTIES.contains(&key) {
        let shown: String = key.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect();
        return Err(DomainError::Invalid(format!(
            "Sealform does not support the form property `{shown}`; supported: title, status, {}",
            STORED_PROPERTIES.join(", ")
        )));
    }
    if value.chars().count() > MAX_PROPERTY_CHARS || value.chars().any(char::is_control) {
        return Err(DomainError::Invalid(format!(
            "the property `{key}` must be one line of at most {MAX_PROPERTY_CHARS} characters"
        )));
    }
    Ok(())
}

/// Stores presentational properties of a form (each checked by [`check_property`]). Audited as `form.update`
/// naming the keys.
///
/// # Errors
/// As [`check_property`]; [`DomainError::NotFound`] for a form not in `org`.
pub async fn set_properties<S: Store>(
    store: &S,
    audit: AuditCtx<'_>,
    org: OrgId,
    form: FormId,
    properties: Vec<(String, String)>,
    now: OffsetDateTime,
) -> Result<(), DomainError> {
    for (key, value) in &properties {
        check_property(key, value)?;
    }
    if properties.is_empty() {
        return Ok(());
    }
    let fields = properties.iter().map(|(key, _)| format!("property:{key}")).collect();
    let entry = audit
        .entry(Entry::ok(Some(org), Action::FormUpdate, vec![Target::new("form", form)], now).with_fields(fields))?;
    Ok(store.tenant(org).put_form_properties(form, properties, entry).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_must_be_http_addresses() {
        assert!(checked_url(" https://hooks.example/x?y=1 ").is_ok());
        assert!(checked_url("http://10.0.0.1:8080/").is_ok());
        for bad in ["", "ftp://x", "https://", "https:///path", "javascript:alert(1)", "https://a b"] {
            assert!(checked_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_known_properties_are_stored() {
        assert!(check_property("height", "539").is_ok());
        assert!(check_property("thankurl", "https://x").is_err());
        assert!(check_property("height", "a\u{0}b").is_err());
        let message = check_property("<script>", "x").unwrap_err().to_string();
        assert!(!message.contains('<'), "{message}");
    }
}
