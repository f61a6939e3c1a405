//! Keys and primitives of the tamper-evident audit trail (DESIGN.md §8).
//!
//! - The **chain key** links entries: `hash_n = HMAC-SHA256(chain key, hash_{n-1} ‖ canonical bytes of entry n)`,
//!   with `hash_0` = 32 zero bytes. Without the key nobody can recompute a hash, so an edited, removed, reordered or
//!   forged entry breaks the chain at that entry.
//! - The **detail key** seals each entry's detail (targets, fields, IP, user agent) with AES-256-GCM.
//! - The **target key** makes keyed hashes of target ids, so the trail can be searched by record without the ids
//!   standing in clear.
//! - The **signing key** (Ed25519) signs checkpoints `(seq, hash, time)`; its public half can be given to a third
//!   party, who can then verify checkpoints without being able to forge entries.
//!
//! The four keys are stored together, wrapped under the master key: `AuditKeys::to_secret_bytes` is
//! `"SFAK" 0x01 ‖ chain (32) ‖ detail (32) ‖ target (32) ‖ Ed25519 seed (32)`.

use std::fmt;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use zeroize::Zeroizing;

use crate::{CryptoError, DataKey};

const MAGIC: &[u8; 5] = b"SFAK\x01";
const KEY_LEN: usize = 32;
const SECRET_LEN: usize = MAGIC.len() + 4 * KEY_LEN;
/// Length of a chain hash.
pub const CHAIN_HASH_LEN: usize = 32;
/// Length of a target hash.
pub const TARGET_HASH_LEN: usize = 16;
/// The chain's starting value, before the first entry.
pub const GENESIS_HASH: [u8; CHAIN_HASH_LEN] = [0; CHAIN_HASH_LEN];

/// The audit trail's secret keys. No `Clone`; `Debug` prints `[redacted]`; zeroized on drop.
pub struct AuditKeys {
    chain: hmac::Key,
    target: hmac::Key,
    detail: DataKey,
    signing: Ed25519KeyPair,
    secret: Zeroizing<Vec<u8>>,
}

impl AuditKeys {
    /// Four fresh random keys.
    ///
    /// # Errors
    /// [`CryptoError::Rng`] when the system RNG fails.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut secret = Zeroizing::new(MAGIC.to_vec());
        secret.resize(SECRET_LEN, 0);
        crate::fill_random(&mut secret[MAGIC.len()..]).map_err(|_| CryptoError::Rng)?;
        Self::from_secret_bytes(&secret)
    }

    /// Rebuilds the keys from [`AuditKeys::to_secret_bytes`].
    ///
    /// # Errors
    /// [`CryptoError::Malformed`] or [`CryptoError::KeyRejected`].
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != SECRET_LEN {
            return Err(CryptoError::Malformed("audit key set length"));
        }
        let body = bytes.strip_prefix(MAGIC.as_slice()).ok_or(CryptoError::Malformed("audit key set magic"))?;
        let part = |i: usize| &body[i * KEY_LEN..(i + 1) * KEY_LEN];
        let mut detail = [0u8; KEY_LEN];
        detail.copy_from_slice(part(1));
        let detail = DataKey::from_array(detail)?;
        let signing = Ed25519KeyPair::from_seed_unchecked(part(3)).map_err(|_| CryptoError::KeyRejected)?;
        Ok(Self {
            chain: hmac::Key::new(hmac::HMAC_SHA256, part(0)),
            target: hmac::Key::new(hmac::HMAC_SHA256, part(2)),
            detail,
            signing,
            secret: Zeroizing::new(bytes.to_vec()),
        })
    }

    /// The secret bytes, for wrapping under the master key.
    #[must_use]
    pub fn to_secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        self.secret.clone()
    }

    /// The chain hash of an entry: HMAC(chain key, previous hash ‖ canonical bytes).
    #[must_use]
    pub fn link(&self, previous: &[u8; CHAIN_HASH_LEN], canonical: &[u8]) -> [u8; CHAIN_HASH_LEN] {
        let mut context = hmac::Context::with_key(&self.chain);
        context.update(previous);
        context.update(canonical);
        let mut out = [0u8; CHAIN_HASH_LEN];
        out.copy_from_slice(context.sign().as_ref());
        out
    }

    /// A keyed hash of a target id, for searching the trail by record.
    #[must_use]
    pub fn target_hash(&self, target: &[u8]) -> [u8; TARGET_HASH_LEN] {
        let tag = hmac::sign(&self.target, target);
        let mut out = [0u8; TARGET_HASH_LEN];
        out.copy_from_slice(&tag.as_ref()[..TARGET_HASH_LEN]);
        out
    }

    /// The key that seals entry details.
    #[must_use]
    pub fn detail_key(&self) -> &DataKey {
        &self.detail
    }

    /// Signs a checkpoint.
    #[must_use]
    pub fn sign_checkpoint(&self, checkpoint: &Checkpoint) -> Vec<u8> {
        self.signing.sign(&checkpoint.signed_bytes()).as_ref().to_vec()
    }

    /// The public key that verifies checkpoints.
    #[must_use]
    pub fn verifying_key(&self) -> CheckpointVerifier {
        CheckpointVerifier(self.signing.public_key().as_ref().to_vec())
    }
}

impl fmt::Debug for AuditKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditKeys([redacted])")
    }
}

/// A signed statement that the chain had `hash` at entry `seq` at time `at_micros`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The entry's sequence number.
    pub seq: i64,
    /// The chain hash at that entry.
    pub hash: [u8; CHAIN_HASH_LEN],
    /// When the checkpoint was made, in microseconds since the Unix epoch.
    pub at_micros: i64,
}

impl Checkpoint {
    /// What the signature covers: `"sealform/audit-checkpoint/v1" ‖ seq (8, BE) ‖ hash (32) ‖ at (8, BE)`.
    #[must_use]
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut bytes = b"sealform/audit-checkpoint/v1".to_vec();
        bytes.extend_from_slice(&self.seq.to_be_bytes());
        bytes.extend_from_slice(&self.hash);
        bytes.extend_from_slice(&self.at_micros.to_be_bytes());
        bytes
    }
}

/// The Ed25519 public key that verifies checkpoints. Safe to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointVerifier(Vec<u8>);

impl CheckpointVerifier {
    /// From the 32 raw public key bytes.
    #[must_use]
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// The 32 raw public key bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether `signature` is a valid signature of `checkpoint`.
    #[must_use]
    pub fn verify(&self, checkpoint: &Checkpoint, signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&signature::ED25519, &self.0).verify(&checkpoint.signed_bytes(), signature).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_link_deterministically() {
        let keys = AuditKeys::generate().unwrap();
        let again = AuditKeys::from_secret_bytes(&keys.to_secret_bytes()).unwrap();
        let h1 = keys.link(&GENESIS_HASH, b"entry one");
        assert_eq!(h1, again.link(&GENESIS_HASH, b"entry one"));
        assert_ne!(h1, keys.link(&GENESIS_HASH, b"entry onE"));
        assert_ne!(h1, keys.link(&h1, b"entry one"), "the previous hash is bound in");
        assert_ne!(h1, AuditKeys::generate().unwrap().link(&GENESIS_HASH, b"entry one"), "keyed");
        assert_eq!(keys.target_hash(b"id"), again.target_hash(b"id"));
    }

    #[test]
    fn checkpoints_verify_only_unchanged_and_with_the_right_key() {
        let keys = AuditKeys::generate().unwrap();
        let checkpoint = Checkpoint { seq: 1000, hash: [7; 32], at_micros: 1_700_000_000_000_000 };
        let signature = keys.sign_checkpoint(&checkpoint);
        let verifier = CheckpointVerifier::from_bytes(keys.verifying_key().as_bytes());
        assert!(verifier.verify(&checkpoint, &signature));
        assert!(!verifier.verify(&Checkpoint { seq: 999, ..checkpoint }, &signature));
        assert!(!AuditKeys::generate().unwrap().verifying_key().verify(&checkpoint, &signature));
    }

    #[test]
    fn malformed_secret_bytes_are_refused_and_debug_is_redacted() {
        assert!(AuditKeys::from_secret_bytes(&[0; 10]).is_err());
        let keys = AuditKeys::generate().unwrap();
        let mut bytes = keys.to_secret_bytes().to_vec();
        bytes[0] = b'X';
        assert!(AuditKeys::from_secret_bytes(&bytes).is_err());
        assert_eq!(format!("{keys:?}"), "AuditKeys([redacted])");
    }
}
