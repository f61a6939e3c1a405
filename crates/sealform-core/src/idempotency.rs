//! Idempotency keys for submissions made through the native API (`Idempotency-Key` header, as in the IETF
//! httpapi draft): a client that retries a POST whose answer it never saw gets the first answer again instead of a
//! second submission.
//!
//! A record is scoped by organisation and API key, lives [`TTL`], and is written in the same transaction as the
//! submission it answers for ([`crate::store::IdempotencyStore::insert_submission_once`]): either both commit or
//! neither does, so a crash can never leave a submission without its record (a retry would duplicate it) or a record
//! without its submission (a retry would be told of one that does not exist). The request is remembered by a keyed
//! digest under the form's blind-index key, never by a plain hash of answers (which could be guessed back).

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::DomainError;
use crate::ids::{FormId, OrgId, SubmissionId};
use crate::keys::Keyring;
use crate::store::Store;

/// How long a key is remembered.
pub const TTL: Duration = Duration::hours(24);

/// Longest key accepted, in characters.
pub const MAX_KEY_CHARS: usize = 255;

/// The message of the [`crate::store::StoreError::Conflict`] a store returns when the key was taken meanwhile (a
/// concurrent request with the same key committed first): the caller reads that record and replays it.
pub const KEY_TAKEN: &str = "the idempotency key was used by a concurrent request";

/// The field name under which request digests are computed, distinct from every answer path (those never start
/// with `#`), so a digest can never equal an answer's blind index.
const DIGEST_FIELD: &str = "#idempotency-request";

/// A remembered answer to a submission POST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The organisation.
    pub org: OrgId,
    /// The API key that made the request.
    pub api_key: Uuid,
    /// The client's key.
    pub key: String,
    /// Keyed digest of the form and the request body.
    pub request_digest: [u8; 16],
    /// The submission created.
    pub submission: SubmissionId,
    /// The response status.
    pub status: u16,
    /// The response body (JSON metadata of the submission: ids, times, revision; never answers).
    pub response: String,
    /// When it was made; the record counts until `created_at + TTL`.
    pub created_at: OffsetDateTime,
}

/// Checks a client's key: 1 to [`MAX_KEY_CHARS`] visible ASCII characters.
///
/// # Errors
/// [`DomainError::Invalid`] otherwise.
pub fn check_key(key: &str) -> Result<&str, DomainError> {
    let ok = !key.is_empty() && key.len() <= MAX_KEY_CHARS && key.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(key)
    } else {
        Err(DomainError::Invalid(format!("an Idempotency-Key has 1 to {MAX_KEY_CHARS} visible ASCII characters")))
    }
}

/// The keyed digest of a request to `form` with `body`, under the form's blind-index key.
///
/// # Errors
/// Key errors.
pub async fn request_digest<S: Store>(
    keyring: &Keyring<S>,
    org: OrgId,
    form: FormId,
    body: &[u8],
) -> Result<[u8; 16], DomainError> {
    let key = keyring.form_index_key(org, form).await?;
    Ok(sealform_crypto::blind_index(&key, DIGEST_FIELD, body))
}

/// What an earlier request with the same key means for this one.
#[derive(Debug, PartialEq, Eq)]
pub enum Prior {
    /// None in force: go ahead.
    None,
    /// The same request: answer as it was answered.
    Replay(IdempotencyRecord),
    /// The key was used for a different request: refuse.
    Mismatch,
}

/// Looks up the record of `key` for this organisation and API key, still in force at `now`.
///
/// # Errors
/// Storage errors.
pub async fn prior<S: Store>(
    store: &S,
    org: OrgId,
    api_key: Uuid,
    key: &str,
    digest: [u8; 16],
    now: OffsetDateTime,
) -> Result<Prior, DomainError> {
    let found = store.tenant(org).idempotency_record(api_key, key, now - TTL).await?;
    Ok(match found {
        None => Prior::None,
        Some(record) if sealform_crypto::constant_time_eq(&record.request_digest, &digest) => Prior::Replay(record),
        Some(_) => Prior::Mismatch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_short_visible_ascii() {
        assert!(check_key("order-42:retry").is_ok());
        assert!(check_key("").is_err());
        assert!(check_key("with space").is_err());
        assert!(check_key("é").is_err());
        assert!(check_key(&"k".repeat(MAX_KEY_CHARS + 1)).is_err());
    }
}
