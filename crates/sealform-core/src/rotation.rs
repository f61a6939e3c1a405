//! Staged rotation of an organisation key (DESIGN.md §5): a new key becomes active at once, a resumable job
//! re-wraps existing data keys (never the data) batch by batch, and the old key is retired, its private key
//! destroyed, once nothing names it. Every envelope names its key id, so reads work throughout.
//!
//! Resumable by construction: a `retiring` key *is* the unfinished job. Each batch commits on its own, and each
//! update applies only if the row still names the old key, so running the job again after a crash picks up where
//! the last committed batch ended.

use sealform_crypto::{KeyId, RecipientPrivateKey, RecipientPublicKey, Suite, WrapSession, WrappedKey};

use crate::DomainError;
use crate::audit::{Action, AuditCtx, Entry, Target};
use crate::clock::Clock;
use crate::error::crypto_failure;
use crate::ids::OrgId;
use crate::keys::{KeyState, Keyring, RewrapUpdate, WrappedKeyRef, new_org_key};
use crate::sealing::RecordRef;
use crate::store::Store;

/// Data keys re-wrapped per transaction.
pub const REWRAP_BATCH: u32 = 256;

/// How a rotation run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RotationOutcome {
    /// Every data key names the new key; the old one is retired.
    Completed {
        /// The retired key.
        retired: KeyId,
        /// The key now active.
        active: KeyId,
        /// Data keys re-wrapped by this run.
        rewrapped: u64,
    },
    /// Stopped after the allowed number of batches; run again to resume.
    Interrupted {
        /// Data keys re-wrapped by this run.
        rewrapped: u64,
    },
}

/// Choices for a rotation run.
#[derive(Clone, Copy, Debug, Default)]
pub struct RotationOptions {
    /// Suite of the new key (default: the current key's).
    pub suite: Option<Suite>,
    /// Stop after this many batches (for tests, and for operators who want to spread the work).
    pub max_batches: Option<u32>,
}

/// Progress of the re-wrap: `(done, total)` data keys.
pub type Progress<'a> = &'a mut (dyn FnMut(u64, u64) + Send);

/// Starts a rotation of `org`'s key, or resumes the unfinished one, and runs the re-wrap job.
///
/// # Errors
/// Storage and crypto errors; the job can be run again after any of them.
pub async fn rotate_org_key<S: Store>(
    store: &S,
    keyring: &Keyring<S>,
    clock: &dyn Clock,
    audit: AuditCtx<'_>,
    org: OrgId,
    options: RotationOptions,
    progress: Progress<'_>,
) -> Result<RotationOutcome, DomainError> {
    let RotationOptions { suite, max_batches } = options;
    let keys = store.tenant(org).org_keys().await?;
    let retiring = keys.iter().find(|k| k.state == KeyState::Retiring).map(|k| k.id);
    let (old, new) = if let Some(old) = retiring {
        let active = keys.iter().find(|k| k.state == KeyState::Active).map(|k| k.id);
        (old, active.ok_or_else(|| DomainError::Internal("a retiring key without an active one".into()))?)
    } else {
        let current = keys
            .iter()
            .find(|k| k.state == KeyState::Active)
            .ok_or_else(|| DomainError::NotFound("no such organisation".into()))?;
        let new_key =
            new_org_key(keyring.masters().current().as_ref(), org, suite.unwrap_or(current.suite), clock.now())?;
        let new_id = new_key.id;
        let targets = vec![
            Target::new("organisation", org),
            Target::new("key", key_hex(new_id)),
            Target::new("key", key_hex(current.id)),
        ];
        let entry = audit.entry(Entry::ok(Some(org), Action::KeyRotate, targets, clock.now()))?;
        store.tenant(org).begin_rotation(new_key, entry).await?;
        tracing::info!(org.id = %org, "organisation key rotation started");
        (current.id, new_id)
    };
    rewrap(store, keyring, clock, audit, org, old, new, max_batches, progress).await
}

/// A key id as lower-case hex, for audit targets and the CLI.
#[must_use]
pub fn key_hex(key: KeyId) -> String {
    key.0.iter().map(|b| format!("{b:02x}")).collect()
}

#[expect(clippy::too_many_arguments, reason = "one internal step of rotate_org_key, called once")]
async fn rewrap<S: Store>(
    store: &S,
    keyring: &Keyring<S>,
    clock: &dyn Clock,
    audit: AuditCtx<'_>,
    org: OrgId,
    old: KeyId,
    new: KeyId,
    max_batches: Option<u32>,
    progress: Progress<'_>,
) -> Result<RotationOutcome, DomainError> {
    let old_private = keyring.private_key(org, old).await?;
    // The rotation just changed the active key: never seal to a cached one.
    keyring.forget_active(org);
    let recipient = keyring.active_public_key(org).await?;
    if recipient.key_id() != new {
        return Err(DomainError::Conflict("the active key changed during the rotation; run it again".into()));
    }
    let mut total = store.tenant(org).count_wrapped_keys(old).await?;
    let mut done = 0u64;
    let mut batches = 0u32;
    progress(done, total);
    loop {
        let batch = store.tenant(org).wrapped_keys_for(old, REWRAP_BATCH).await?;
        if batch.is_empty() {
            let targets = vec![Target::new("organisation", org), Target::new("key", key_hex(old))];
            let entry = audit.entry(Entry::ok(Some(org), Action::KeyRetire, targets, clock.now()))?;
            if store.tenant(org).retire_org_key(old, clock.now(), entry).await? {
                keyring.forget_all();
                tracing::info!(org.id = %org, rewrapped = done, "organisation key rotation completed");
                return Ok(RotationOutcome::Completed { retired: old, active: new, rewrapped: done });
            }
            // A write sealed to the old key landed after the last batch; take it in the next round.
            total = done + store.tenant(org).count_wrapped_keys(old).await?;
            continue;
        }
        if max_batches.is_some_and(|max| batches >= max) {
            return Ok(RotationOutcome::Interrupted { rewrapped: done });
        }
        let updates = rewrap_batch(org, batch, &old_private, &recipient, old, new)?;
        done += store.tenant(org).replace_wrapped_keys(updates).await?;
        batches += 1;
        total = total.max(done);
        progress(done, total);
    }
}

/// Re-wraps one batch of data keys to `recipient` (`new`) with one encapsulation (docs/envelope.md §2, version 2):
/// each key still gets a KEK of its own, and the session is dropped before the batch is written.
fn rewrap_batch(
    org: OrgId,
    batch: Vec<(WrappedKeyRef, Vec<u8>)>,
    old_private: &RecipientPrivateKey,
    recipient: &RecipientPublicKey,
    old: KeyId,
    new: KeyId,
) -> Result<Vec<RewrapUpdate>, DomainError> {
    let session = WrapSession::new(recipient).map_err(crypto_failure("encapsulate to the new key"))?;
    let mut updates = Vec::with_capacity(batch.len());
    for (at, bytes) in batch {
        let aad = match at {
            WrappedKeyRef::Revision { submission, form, revision } => {
                RecordRef { org, form, submission, revision }.data_key_aad()
            }
            WrappedKeyRef::File { submission, form, file } => {
                crate::files::FileRef { org, form, submission, file }.key_aad()
            }
        };
        let wrapped = WrappedKey::from_bytes(bytes).map_err(crypto_failure("parse wrapped key"))?;
        let data_key =
            sealform_crypto::unwrap(old_private, &wrapped, &aad).map_err(crypto_failure("unwrap data key"))?;
        let rewrapped = session.wrap(&data_key, &aad).map_err(crypto_failure("wrap data key"))?;
        updates.push(RewrapUpdate { at, from: old, wrapped: rewrapped.as_bytes().to_vec(), to: new });
    }
    Ok(updates)
}
