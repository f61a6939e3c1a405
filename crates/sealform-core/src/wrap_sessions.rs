//! Wrap sessions by organisation (`docs/envelope.md` §2, version 2): one KEM encapsulation serves an organisation's
//! new data keys for a short time, each key still under a KEK of its own.
//!
//! The KEM is most of what a wrap costs (suite 1: about 40 of 42 µs), and a session pays it once for all the keys it
//! wraps. Its shared secret, which opens every data key it wrapped, is what stays in memory meanwhile, so sessions
//! are short (by default a second and 1,024 keys): a copy of this process's memory opens at most the last second's
//! new submissions of an organisation, beside the private keys the keyring caches for reading (five minutes).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use sealform_crypto::{CryptoError, RecipientPublicKey, WrapSession};

use crate::ids::OrgId;

/// How long a session serves, and how many keys at most.
pub(crate) const WRAP_SESSION_TTL: Duration = Duration::from_secs(1);
pub(crate) const WRAP_SESSION_KEYS: u32 = 1024;
/// How many organisations' sessions are held at most (about 1.2 KB each).
const WRAP_SESSIONS_HELD: usize = 4096;

/// A session and how much of it is used.
struct SharedWrap {
    session: Arc<WrapSession>,
    started: Instant,
    wraps: u32,
}

type Sessions = Mutex<HashMap<OrgId, SharedWrap>>;

/// The live sessions, one per organisation at most, never shared between organisations.
pub(crate) struct WrapSessions {
    sessions: Arc<Sessions>,
    ttl: Duration,
    keys: u32,
    capacity: usize,
}

impl WrapSessions {
    /// Sessions that serve at most `keys` data keys (at least one) for `ttl`; `Duration::ZERO` keeps none, so every
    /// data key gets an encapsulation of its own.
    pub(crate) fn new(ttl: Duration, keys: u32) -> Self {
        Self { sessions: Arc::default(), ttl, keys: keys.max(1), capacity: WRAP_SESSIONS_HELD }
    }

    /// The session to wrap one more of `org`'s data keys with: its current one while that is younger than the time
    /// limit, has served fewer keys than the limit and is to `recipient`, else a new one.
    ///
    /// Callers that miss at the same moment each encapsulate, and the last one's session stays: a few wasted
    /// encapsulations when a busy organisation's session ends, never a limit exceeded.
    pub(crate) fn session_for(
        &self,
        org: OrgId,
        recipient: &RecipientPublicKey,
    ) -> Result<Arc<WrapSession>, CryptoError> {
        if self.ttl.is_zero() {
            return WrapSession::new(recipient).map(Arc::new);
        }
        if let Some(shared) = self.lock().get_mut(&org)
            && shared.started.elapsed() < self.ttl
            && shared.session.key_id() == recipient.key_id()
            && shared.wraps < self.keys
        {
            shared.wraps += 1;
            return Ok(Arc::clone(&shared.session));
        }
        let session = Arc::new(WrapSession::new(recipient)?);
        self.hold(org, SharedWrap { session: Arc::clone(&session), started: Instant::now(), wraps: 1 });
        self.drop_after_ttl(org, &session);
        Ok(session)
    }

    fn hold(&self, org: OrgId, shared: SharedWrap) {
        let mut sessions = self.lock();
        if sessions.len() >= self.capacity && !sessions.contains_key(&org) {
            sessions.retain(|_, held| held.started.elapsed() < self.ttl);
            if sessions.len() >= self.capacity {
                let oldest = sessions.iter().min_by_key(|(_, held)| held.started).map(|(org, _)| *org);
                if let Some(oldest) = oldest {
                    sessions.remove(&oldest);
                }
            }
        }
        sessions.insert(org, shared);
    }

    /// Drops `org`'s `session` when its time is up, so an organisation that stops submitting does not keep its last
    /// session's secret until its next submission. Every Sealform process runs in a tokio runtime; outside one, a
    /// session goes when the next replaces it or the keyring is dropped.
    fn drop_after_ttl(&self, org: OrgId, session: &Arc<WrapSession>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let (sessions, session, ttl) = (Arc::downgrade(&self.sessions), Arc::downgrade(session), self.ttl);
        runtime.spawn(async move {
            tokio::time::sleep(ttl).await;
            if let Some(sessions) = sessions.upgrade() {
                remove_if_current(&sessions, org, &session);
            }
        });
    }

    /// Forgets every session (after a rotation, or on shutdown).
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    /// How many sessions are held.
    pub(crate) fn held(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<OrgId, SharedWrap>> {
        lock(&self.sessions)
    }
}

/// The sessions, also after a panic elsewhere held the lock: no change to them can be left half-done (each is one
/// insert, removal or increment).
fn lock(sessions: &Sessions) -> MutexGuard<'_, HashMap<OrgId, SharedWrap>> {
    sessions.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Removes `org`'s session if it is still `session`: a newer one, started since, keeps its own time.
fn remove_if_current(sessions: &Sessions, org: OrgId, session: &Weak<WrapSession>) {
    let mut sessions = lock(sessions);
    if sessions.get(&org).is_some_and(|held| std::ptr::eq(Arc::as_ptr(&held.session), session.as_ptr())) {
        sessions.remove(&org);
    }
}

#[cfg(test)]
mod tests {
    use sealform_crypto::{KeyId, RecipientPrivateKey, Suite};

    use super::*;

    fn recipient(id: u8) -> RecipientPublicKey {
        RecipientPrivateKey::generate(Suite::HybridMlKem768X25519, KeyId([id; 16])).unwrap().public_key().unwrap()
    }

    fn org(n: u128) -> OrgId {
        OrgId::from_uuid(uuid::Uuid::from_u128(n))
    }

    // Plain #[test]s: no tokio runtime, so no timer drops a session behind the test's back.

    #[test]
    fn a_session_serves_its_organisation_until_its_key_count_is_used() {
        let sessions = WrapSessions::new(Duration::from_secs(60), 3);
        let key = recipient(1);
        let first = sessions.session_for(org(1), &key).unwrap();
        assert!(Arc::ptr_eq(&first, &sessions.session_for(org(1), &key).unwrap()));
        assert!(Arc::ptr_eq(&first, &sessions.session_for(org(1), &key).unwrap()));
        let fourth = sessions.session_for(org(1), &key).unwrap();
        assert!(!Arc::ptr_eq(&first, &fourth), "three keys, then a new session");
        assert!(Arc::ptr_eq(&fourth, &sessions.session_for(org(1), &key).unwrap()));
    }

    #[test]
    fn organisations_and_keys_never_share_a_session() {
        let sessions = WrapSessions::new(Duration::from_secs(60), 1024);
        let (key, other_key) = (recipient(1), recipient(2));
        let mine = sessions.session_for(org(1), &key).unwrap();
        // Another organisation, even with the same key bytes, gets its own.
        assert!(!Arc::ptr_eq(&mine, &sessions.session_for(org(2), &key).unwrap()));
        // A new active key for the organisation ends its session to the old one.
        let after_rotation = sessions.session_for(org(1), &other_key).unwrap();
        assert!(!Arc::ptr_eq(&mine, &after_rotation));
        assert_eq!(after_rotation.key_id(), other_key.key_id());
        assert_eq!(sessions.held(), 2);
    }

    #[test]
    fn an_expired_session_is_not_used_again_even_without_its_timer() {
        let sessions = WrapSessions::new(Duration::from_millis(30), 1024);
        let key = recipient(1);
        let first = sessions.session_for(org(1), &key).unwrap();
        std::thread::sleep(Duration::from_millis(60));
        assert!(!Arc::ptr_eq(&first, &sessions.session_for(org(1), &key).unwrap()));
    }

    #[test]
    fn zero_time_gives_every_key_its_own_encapsulation_and_keeps_nothing() {
        let sessions = WrapSessions::new(Duration::ZERO, 1024);
        let key = recipient(1);
        let first = sessions.session_for(org(1), &key).unwrap();
        assert!(!Arc::ptr_eq(&first, &sessions.session_for(org(1), &key).unwrap()));
        assert_eq!(sessions.held(), 0);
    }

    #[test]
    fn the_timer_removes_only_the_session_it_was_set_for() {
        let sessions = WrapSessions::new(Duration::from_secs(60), 1);
        let key = recipient(1);
        let old = sessions.session_for(org(1), &key).unwrap();
        let new = sessions.session_for(org(1), &key).unwrap();
        remove_if_current(&sessions.sessions, org(1), &Arc::downgrade(&old));
        assert_eq!(sessions.held(), 1, "the old session's timer leaves the newer one");
        remove_if_current(&sessions.sessions, org(1), &Arc::downgrade(&new));
        assert_eq!(sessions.held(), 0);
    }

    #[test]
    fn at_capacity_the_oldest_organisation_makes_room() {
        let mut sessions = WrapSessions::new(Duration::from_secs(60), 1024);
        sessions.capacity = 2;
        let key = recipient(1);
        let first = sessions.session_for(org(1), &key).unwrap();
        sessions.session_for(org(2), &key).unwrap();
        sessions.session_for(org(3), &key).unwrap();
        assert_eq!(sessions.held(), 2);
        assert!(!Arc::ptr_eq(&first, &sessions.session_for(org(1), &key).unwrap()), "org 1 was the one dropped");
    }
}
