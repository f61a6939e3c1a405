//! The key hierarchy (DESIGN.md §5): master key → organisation recipient keys (stored wrapped) → data keys.
//!
//! [`Keyring`] hands out organisation keys: public keys to seal to, private keys (unwrapped under the master key,
//! kept in a small, short-lived cache) to open with; it wraps new data keys in wrap sessions (one KEM encapsulation
//! shared by an organisation's new data keys for at most a second). Private keys and sessions never leave this
//! module's types.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sealform_crypto::{
    BlindIndexKey, DataKey, KeyEncryptionKey, KeyId, RecipientPrivateKey, RecipientPublicKey, Suite, WrappedKey,
};
use time::OffsetDateTime;

use crate::DomainError;
use crate::error::crypto_failure;
use crate::ids::{FormId, OrgId, SubmissionId};
use crate::store::Store;
use crate::wrap_sessions::{WRAP_SESSION_KEYS, WRAP_SESSION_TTL, WrapSessions};

/// Where an organisation key is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// New data keys are wrapped to it.
    Active,
    /// A rotation is re-wrapping its data keys to the active key; it still opens them meanwhile.
    Retiring,
    /// No data key names it; its private key is destroyed.
    Retired,
}

impl KeyState {
    /// The storage spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Retiring => "retiring",
            Self::Retired => "retired",
        }
    }

    /// Parses the storage spelling.
    ///
    /// # Errors
    /// [`DomainError::Invalid`] for an unknown spelling.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "active" => Ok(Self::Active),
            "retiring" => Ok(Self::Retiring),
            "retired" => Ok(Self::Retired),
            _ => Err(DomainError::Invalid("unknown key state".into())),
        }
    }
}

/// A new organisation key, its private half already wrapped under the master key.
#[derive(Clone)]
pub struct NewOrgKey {
    /// Its id.
    pub id: KeyId,
    /// Its suite.
    pub suite: Suite,
    /// The encoded public key.
    pub public_key: Vec<u8>,
    /// The private key, wrapped under the master key.
    pub wrapped_private_key: Vec<u8>,
    /// Which master key wrapped it.
    pub master_fingerprint: [u8; 8],
    /// Creation time.
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for NewOrgKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewOrgKey").field("id", &self.id).field("suite", &self.suite).finish_non_exhaustive()
    }
}

/// An organisation key as stored.
#[derive(Clone)]
pub struct OrgKeyRecord {
    /// Its id.
    pub id: KeyId,
    /// Owning organisation.
    pub org_id: OrgId,
    /// Its suite.
    pub suite: Suite,
    /// The encoded public key.
    pub public_key: Vec<u8>,
    /// The wrapped private key; `None` once retired.
    pub wrapped_private_key: Option<Vec<u8>>,
    /// Which master key wrapped it; `None` once retired.
    pub master_fingerprint: Option<[u8; 8]>,
    /// Its state.
    pub state: KeyState,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for OrgKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgKeyRecord")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("suite", &self.suite)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Where a wrapped data key lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WrappedKeyRef {
    /// A submission revision's data key.
    Revision {
        /// The submission.
        submission: SubmissionId,
        /// The form it answers (part of the associated data).
        form: FormId,
        /// The revision.
        revision: u32,
    },
    /// An uploaded file's data key.
    File {
        /// The submission.
        submission: SubmissionId,
        /// The form it answers (part of the associated data).
        form: FormId,
        /// The file.
        file: crate::ids::FileId,
    },
}

/// One re-wrapped data key.
#[derive(Clone, Debug)]
pub struct RewrapUpdate {
    /// Where it lives.
    pub at: WrappedKeyRef,
    /// The key it was wrapped to when read.
    pub from: KeyId,
    /// The new wrapping.
    pub wrapped: Vec<u8>,
    /// The key it is wrapped to now.
    pub to: KeyId,
}

/// A secret wrapped directly under the master key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MasterWrappedRef {
    /// An organisation's recipient private key.
    OrgKey {
        /// The organisation.
        org: OrgId,
        /// The key.
        key: KeyId,
    },
    /// A form's blind-index key.
    FormIndexKey {
        /// The organisation.
        org: OrgId,
        /// The form.
        form: FormId,
    },
    /// The installation's audit keys.
    AuditKeys,
    /// A user's TOTP secret.
    TotpSecret {
        /// The user.
        user: crate::ids::UserId,
    },
}

impl MasterWrappedRef {
    /// The associated data binding the wrapped secret to what it is and whose it is.
    pub fn aad(self) -> Vec<u8> {
        let (label, org, id): (&[u8], Option<OrgId>, [u8; 16]) = match self {
            Self::OrgKey { org, key } => (b"sealform/org-key/v1", Some(org), key.0),
            Self::FormIndexKey { org, form } => (b"sealform/form-index-key/v1", Some(org), *form.as_uuid().as_bytes()),
            Self::AuditKeys => (b"sealform/audit-keys/v1", None, [0; 16]),
            Self::TotpSecret { user } => (b"sealform/totp-secret/v1", None, *user.as_uuid().as_bytes()),
        };
        let mut aad = label.to_vec();
        if let Some(org) = org {
            aad.extend_from_slice(org.as_uuid().as_bytes());
        }
        aad.extend_from_slice(&id);
        aad
    }
}

/// A secret wrapped under a master key, with that key's fingerprint.
#[derive(Clone)]
pub struct MasterWrappedBlob {
    /// The wrapped bytes.
    pub wrapped: Vec<u8>,
    /// Which master key wrapped them.
    pub fingerprint: [u8; 8],
}

impl std::fmt::Debug for MasterWrappedBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterWrappedBlob").field("fingerprint", &self.fingerprint).finish_non_exhaustive()
    }
}

/// The installation's audit keys as stored.
#[derive(Clone)]
pub struct StoredAuditKeys {
    /// The keys, wrapped under a master key.
    pub wrapped: MasterWrappedBlob,
    /// The Ed25519 public key that verifies checkpoints.
    pub verifying_key: Vec<u8>,
}

/// A master-wrapped secret as stored.
#[derive(Clone)]
pub struct MasterWrapped {
    /// What it is.
    pub at: MasterWrappedRef,
    /// The wrapped bytes.
    pub wrapped: Vec<u8>,
    /// Which master key wrapped it.
    pub fingerprint: [u8; 8],
}

fn private_key_aad(org: OrgId, key: KeyId) -> Vec<u8> {
    MasterWrappedRef::OrgKey { org, key }.aad()
}

/// Makes a new blind-index key for a form, wrapped under `master`: (wrapped, master fingerprint).
///
/// # Errors
/// [`DomainError::Internal`] when generation or wrapping fails.
pub fn new_form_index_key(
    master: &dyn KeyEncryptionKey,
    org: OrgId,
    form: FormId,
) -> Result<(Vec<u8>, [u8; 8]), DomainError> {
    let key = BlindIndexKey::generate().map_err(crypto_failure("generate blind-index key"))?;
    let wrapped = master
        .wrap_secret(&key.to_secret_bytes(), &MasterWrappedRef::FormIndexKey { org, form }.aad())
        .map_err(crypto_failure("wrap blind-index key"))?;
    Ok((wrapped, master.fingerprint()))
}

/// The master keys this process holds: the current one and, while a master rotation is unfinished, the next one.
#[derive(Clone)]
pub struct MasterKeys {
    keys: Vec<Arc<dyn KeyEncryptionKey>>,
}

impl MasterKeys {
    /// One master key.
    #[must_use]
    pub fn single(key: Arc<dyn KeyEncryptionKey>) -> Self {
        Self { keys: vec![key] }
    }

    /// The current key first, then others that may still wrap some organisation keys.
    #[must_use]
    pub fn new(current: Arc<dyn KeyEncryptionKey>, others: Vec<Arc<dyn KeyEncryptionKey>>) -> Self {
        let mut keys = vec![current];
        keys.extend(others);
        Self { keys }
    }

    /// The key new organisation keys are wrapped under.
    #[must_use]
    pub fn current(&self) -> &Arc<dyn KeyEncryptionKey> {
        &self.keys[0]
    }

    /// The held master key with this fingerprint.
    pub fn by_fingerprint(&self, fingerprint: [u8; 8]) -> Option<&Arc<dyn KeyEncryptionKey>> {
        self.keys.iter().find(|k| k.fingerprint() == fingerprint)
    }
}

/// Makes a new organisation key and wraps its private half under `master`.
///
/// # Errors
/// [`DomainError::Internal`] when key generation or wrapping fails.
pub fn new_org_key(
    master: &dyn KeyEncryptionKey,
    org: OrgId,
    suite: Suite,
    created_at: OffsetDateTime,
) -> Result<NewOrgKey, DomainError> {
    let id = KeyId(*uuid::Uuid::now_v7().as_bytes());
    let private = RecipientPrivateKey::generate(suite, id).map_err(crypto_failure("generate organisation key"))?;
    let public_key = private.public_key().map_err(crypto_failure("derive public key"))?.to_bytes();
    let wrapped_private_key = master
        .wrap_secret(&private.to_secret_bytes(), &private_key_aad(org, id))
        .map_err(crypto_failure("wrap organisation key"))?;
    Ok(NewOrgKey { id, suite, public_key, wrapped_private_key, master_fingerprint: master.fingerprint(), created_at })
}

/// Re-wraps one master-wrapped secret from whichever held master key wrapped it to `to`; `None` when it is
/// wrapped under `to` already (so an interrupted master rotation resumes where it stopped).
///
/// # Errors
/// [`DomainError::Internal`] when no held master key matches or unwrapping fails.
pub fn rewrap_under(
    masters: &MasterKeys,
    to: &dyn KeyEncryptionKey,
    item: &MasterWrapped,
) -> Result<Option<Vec<u8>>, DomainError> {
    if item.fingerprint == to.fingerprint() {
        return Ok(None);
    }
    let from = masters
        .by_fingerprint(item.fingerprint)
        .ok_or_else(|| DomainError::Internal(format!("no master key held for {:?}", item.at)))?;
    let aad = item.at.aad();
    let secret = from.unwrap_secret(&item.wrapped, &aad).map_err(crypto_failure("unwrap under master key"))?;
    to.wrap_secret(&secret, &aad).map(Some).map_err(crypto_failure("wrap under master key"))
}

/// How long an unwrapped organisation private key stays in memory after it was last loaded.
const CACHE_TTL: Duration = Duration::from_secs(300);
/// How many unwrapped private keys are held at most.
const CACHE_CAPACITY: usize = 64;

type IndexKeyCache = HashMap<(OrgId, FormId), (Arc<BlindIndexKey>, Instant)>;

struct Cached {
    key: Arc<RecipientPrivateKey>,
    loaded: Instant,
}

/// Hands out organisation keys: public keys to seal to, private keys to open with.
pub struct Keyring<S> {
    store: S,
    masters: MasterKeys,
    // Every cache is keyed by organisation too: a hit must never hand one tenant another tenant's key.
    cache: Mutex<HashMap<(OrgId, KeyId), Cached>>,
    index_keys: Mutex<IndexKeyCache>,
    active: Mutex<HashMap<OrgId, (RecipientPublicKey, Instant)>>,
    wrap_sessions: WrapSessions,
}

/// How long the active public key is reused before it is read again. A rotation started by another process reaches
/// this one within that time; until then new data keys go to the retiring key, which still accepts them, and a
/// write refused because the key retired meanwhile drops the cached key and seals again.
const ACTIVE_KEY_TTL: Duration = Duration::from_secs(30);

impl<S: Store> Keyring<S> {
    /// A keyring over `store`, unwrapping with `masters`.
    pub fn new(store: S, masters: MasterKeys) -> Self {
        Self {
            store,
            masters,
            cache: Mutex::new(HashMap::new()),
            index_keys: Mutex::new(HashMap::new()),
            active: Mutex::new(HashMap::new()),
            wrap_sessions: WrapSessions::new(WRAP_SESSION_TTL, WRAP_SESSION_KEYS),
        }
    }

    /// The same keyring with other wrap-session limits (by default a second and 1,024 keys): each session serves at
    /// most `keys` data keys (at least one) for `ttl`; `Duration::ZERO` gives every data key an encapsulation of its
    /// own and keeps no session.
    #[must_use]
    pub fn with_wrap_session_limits(mut self, ttl: Duration, keys: u32) -> Self {
        self.wrap_sessions = WrapSessions::new(ttl, keys);
        self
    }

    /// The master keys.
    pub fn masters(&self) -> &MasterKeys {
        &self.masters
    }

    /// The active key of `org`, to seal new data keys to.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] when the organisation has no active key; storage and decoding errors.
    pub async fn active_public_key(&self, org: OrgId) -> Result<RecipientPublicKey, DomainError> {
        if let Some((key, loaded)) = self.active.lock().unwrap_or_else(PoisonError::into_inner).get(&org)
            && loaded.elapsed() < ACTIVE_KEY_TTL
        {
            return Ok(key.clone());
        }
        let keys = self.store.tenant(org).org_keys().await?;
        let active = keys
            .iter()
            .find(|k| k.state == KeyState::Active)
            .ok_or_else(|| DomainError::NotFound("the organisation has no active key".into()))?;
        let key = RecipientPublicKey::from_bytes(&active.public_key).map_err(crypto_failure("decode public key"))?;
        self.active.lock().unwrap_or_else(PoisonError::into_inner).insert(org, (key.clone(), Instant::now()));
        Ok(key)
    }

    /// Forgets `org`'s cached active key, so the next seal reads it again (after a write found it retired). A wrap
    /// session to the old key is not used again once the key read anew is another one.
    pub fn forget_active(&self, org: OrgId) {
        self.active.lock().unwrap_or_else(PoisonError::into_inner).remove(&org);
    }

    /// Wraps a new data key of `org` to its active key, binding `aad`, in the organisation's wrap session (see
    /// [`Self::with_wrap_session_limits`]; a new one once the active key is another). Sessions never leave the
    /// keyring and are never shared between organisations.
    ///
    /// # Errors
    /// As [`Self::active_public_key`]; crypto failures as internal errors.
    pub async fn wrap_data_key(&self, org: OrgId, key: &DataKey, aad: &[u8]) -> Result<WrappedKey, DomainError> {
        let recipient = self.active_public_key(org).await?;
        let session = self
            .wrap_sessions
            .session_for(org, &recipient)
            .map_err(crypto_failure("encapsulate to organisation key"))?;
        session.wrap(key, aad).map_err(crypto_failure("wrap data key"))
    }

    /// How many wrap sessions are held; for tests and metrics.
    pub fn wrap_sessions_held(&self) -> usize {
        self.wrap_sessions.held()
    }

    /// The private key `key` of `org`, from the cache or unwrapped from storage.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] when the key does not exist, belongs to another organisation or is retired.
    pub async fn private_key(&self, org: OrgId, key: KeyId) -> Result<Arc<RecipientPrivateKey>, DomainError> {
        if let Some(hit) = self.cached(org, key) {
            return Ok(hit);
        }
        let record = self
            .store
            .tenant(org)
            .org_keys()
            .await?
            .into_iter()
            .find(|k| k.id == key)
            .ok_or_else(|| DomainError::NotFound("no such organisation key".into()))?;
        let (Some(wrapped), Some(fingerprint)) = (&record.wrapped_private_key, record.master_fingerprint) else {
            return Err(DomainError::NotFound("the organisation key is retired".into()));
        };
        let master = self.masters.by_fingerprint(fingerprint).ok_or_else(|| {
            DomainError::Internal("the master key that wrapped this organisation key is not held".into())
        })?;
        let secret = master
            .unwrap_secret(wrapped, &private_key_aad(org, key))
            .map_err(crypto_failure("unwrap organisation key"))?;
        let private =
            RecipientPrivateKey::from_secret_bytes(&secret).map_err(crypto_failure("decode organisation key"))?;
        if private.key_id() != key {
            return Err(DomainError::Internal("organisation key id mismatch".into()));
        }
        let private = Arc::new(private);
        self.remember(org, key, Arc::clone(&private));
        Ok(private)
    }

    /// Drops every cached key and wrap session (after a rotation retires a key, or on shutdown).
    pub fn forget_all(&self) {
        self.active.lock().unwrap_or_else(PoisonError::into_inner).clear();
        self.wrap_sessions.clear();
        self.cache.lock().unwrap_or_else(PoisonError::into_inner).clear();
        self.index_keys.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// The blind-index key of `form`, from the cache or unwrapped from storage.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] when the form does not exist in `org`.
    pub async fn form_index_key(&self, org: OrgId, form: FormId) -> Result<Arc<BlindIndexKey>, DomainError> {
        {
            let mut keys = self.index_keys.lock().unwrap_or_else(PoisonError::into_inner);
            match keys.get(&(org, form)) {
                Some((key, loaded)) if loaded.elapsed() < CACHE_TTL => return Ok(Arc::clone(key)),
                Some(_) => {
                    keys.remove(&(org, form));
                }
                None => {}
            }
        }
        let MasterWrappedBlob { wrapped, fingerprint } = self
            .store
            .tenant(org)
            .form_index_key(form)
            .await?
            .ok_or_else(|| DomainError::NotFound("no such form".into()))?;
        let master = self
            .masters
            .by_fingerprint(fingerprint)
            .ok_or_else(|| DomainError::Internal("the master key that wrapped this form key is not held".into()))?;
        let secret = master
            .unwrap_secret(&wrapped, &MasterWrappedRef::FormIndexKey { org, form }.aad())
            .map_err(crypto_failure("unwrap blind-index key"))?;
        let key = Arc::new(BlindIndexKey::from_bytes(&secret).map_err(crypto_failure("decode blind-index key"))?);
        let mut keys = self.index_keys.lock().unwrap_or_else(PoisonError::into_inner);
        if keys.len() >= CACHE_CAPACITY {
            keys.clear();
        }
        keys.insert((org, form), (Arc::clone(&key), Instant::now()));
        Ok(key)
    }

    fn cached(&self, org: OrgId, key: KeyId) -> Option<Arc<RecipientPrivateKey>> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        match cache.get(&(org, key)) {
            Some(entry) if entry.loaded.elapsed() < CACHE_TTL => Some(Arc::clone(&entry.key)),
            Some(_) => {
                cache.remove(&(org, key));
                None
            }
            None => None,
        }
    }

    fn remember(&self, org: OrgId, key: KeyId, private: Arc<RecipientPrivateKey>) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.retain(|_, entry| entry.loaded.elapsed() < CACHE_TTL);
        if cache.len() >= CACHE_CAPACITY {
            let oldest = cache.iter().min_by_key(|(_, entry)| entry.loaded).map(|(id, _)| *id);
            if let Some(oldest) = oldest {
                cache.remove(&oldest);
            }
        }
        cache.insert((org, key), Cached { key: private, loaded: Instant::now() });
    }

    /// How many private keys are cached; for tests and metrics.
    pub fn cached_keys(&self) -> usize {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// Checks that every key still in use was wrapped by a master key this process holds, so a wrong
/// `SEALFORM_MASTER_KEY` or a swapped key file is caught at start, not at the first read.
///
/// # Errors
/// [`DomainError::Invalid`] naming how many keys cannot be unwrapped.
pub async fn check_master_keys<S: Store>(store: &S, masters: &MasterKeys) -> Result<(), DomainError> {
    let secrets = store.master_wrapped_secrets().await?;
    let unknown = secrets.iter().filter(|s| masters.by_fingerprint(s.fingerprint).is_none()).count();
    if unknown > 0 {
        return Err(DomainError::Invalid(format!(
            "the master key does not match the database: {unknown} key(s) were wrapped by another master key \
             (wrong SEALFORM_MASTER_KEY or master.key?)"
        )));
    }
    Ok(())
}
