//! The one error type of this crate.
//!
//! A failed decryption says nothing about which check failed (wrong key, wrong associated data, a flipped bit, a
//! truncated tag): all of them are [`CryptoError::Decrypt`], as rustls does with `Error::DecryptError`. Only what can be
//! seen without any key (a header that does not parse, an unknown version or suite, a key id that names another key)
//! gets its own variant, because those help an operator and tell an attacker nothing they could not read themselves.

/// Why a cryptographic operation failed. Never carries key or plaintext bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Authentication failed: wrong key, wrong associated data, or altered, truncated or reordered ciphertext.
    /// Deliberately says no more than that.
    #[error("decryption failed")]
    Decrypt,
    /// The bytes do not parse: bad magic, a length that does not add up, a part of the wrong size.
    #[error("malformed input: {0}")]
    Malformed(&'static str),
    /// The format version byte names a version this build does not know.
    #[error("unsupported format version")]
    UnsupportedVersion,
    /// The suite id names no suite this build knows.
    #[error("unknown key-wrapping suite")]
    UnknownSuite,
    /// The envelope names another key (key id or key-encryption-key fingerprint differ) than the one supplied.
    #[error("the data was wrapped under a different key")]
    WrongKey,
    /// The system random number generator failed; nothing safe can be done without it.
    #[error("the system random number generator failed")]
    Rng,
    /// Key bytes were refused: wrong length, not a key of the expected algorithm or size.
    #[error("key rejected")]
    KeyRejected,
    /// The API was used out of order or with inputs it does not take (e.g. a short non-final stream segment, a
    /// segment after the final one). A bug in the caller, not bad data.
    #[error("invalid use: {0}")]
    Misuse(&'static str),
    /// The underlying library failed while sealing or deriving keys, which should not happen on valid inputs.
    #[error("internal cryptographic failure")]
    Internal,
}
