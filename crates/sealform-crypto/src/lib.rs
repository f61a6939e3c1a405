//! Key material and sealed formats for Sealform.
//!
//! This crate does no I/O and never logs: callers read and write the bytes, this crate only turns them into keys
//! and back. Every secret type zeroizes on drop and prints as `[redacted]`.
//!
//! The key hierarchy (DESIGN.md §5; byte layouts in `docs/envelope.md`):
//!
//! ```text
//! MasterKey (KeyEncryptionKey)  ── wrap_secret ──▶  RecipientPrivateKey (one per organisation key, by KeyId)
//! RecipientPublicKey            ── wrap / WrapSession ──▶  WrappedKey of a DataKey (one per submission revision)
//! DataKey                       ── seal / seal_stream ──▶ answers and files, bound to their RecordBinding
//! BlindIndexKey (per form)      ── blind_index ──▶  16-byte exact-match lookup tokens
//! ```
//!
//! Every primitive comes from aws-lc-rs: AES-256-GCM, ML-KEM-768, X25519, RSA-OAEP, SHA3-256, HKDF and HMAC.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod audit;
mod blind;
mod codec;
mod data;
mod error;
mod gcm;
mod kdf;
mod kek;
mod keys;
mod master_key;
mod random;
mod stream;
mod token;
mod totp;
pub mod webauthn;
mod wrap;

#[cfg(test)]
mod kat;
#[cfg(test)]
mod test_keys;

pub use audit::{AuditKeys, CHAIN_HASH_LEN, Checkpoint, CheckpointVerifier, GENESIS_HASH, TARGET_HASH_LEN};
pub use blind::{BlindIndexKey, blind_index};
pub use data::{DataKey, RecordBinding, SEAL_OVERHEAD, open, seal};
pub use error::CryptoError;
pub use kek::{KEK_WRAP_OVERHEAD, KeyEncryptionKey};
pub use keys::{KeyId, RecipientPrivateKey, RecipientPublicKey, Suite};
pub use master_key::{MasterKey, MasterKeyError};
pub use random::fill_random;
pub use stream::{
    STREAM_HEADER_LEN, STREAM_SEGMENT_LEN, StreamError, StreamOpener, StreamSealer, open_stream, seal_stream,
    sealed_stream_len,
};
pub use token::{TOKEN_HASH_LEN, constant_time_eq, hash_token, new_token};
pub use totp::{TOTP_STEP_SECS, TotpSecret};
#[cfg(feature = "legacy-envelopes")]
pub use wrap::wrap_version_1;
pub use wrap::{WrapSession, WrappedKey, unwrap, wrap};
