//! The master key: the root of the key hierarchy (DESIGN.md §5).
//!
//! It wraps organisation private keys; the database alone never suffices to decrypt anything. Its text form is one
//! line, `sealform-master-key-v1:<base64 of 32 bytes>`, so an operator can tell the file apart from others and a
//! truncated copy is refused rather than silently used.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::{Zeroize, Zeroizing};

const PREFIX: &str = "sealform-master-key-v1:";
/// Length of the master key in bytes (256 bits).
pub const MASTER_KEY_LEN: usize = 32;

/// The 32-byte master key. No `Clone`, no `Debug` output beyond `[redacted]`; zeroized on drop.
pub struct MasterKey([u8; MASTER_KEY_LEN]);

/// Why a master key could not be made or read. Says nothing about the key bytes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MasterKeyError {
    /// The text does not start with the expected version prefix.
    #[error("not a Sealform master key (expected a line starting with `{PREFIX}`)")]
    UnknownFormat,
    /// The base64 part is malformed or does not hold exactly 32 bytes.
    #[error("master key is malformed: expected base64 of exactly {MASTER_KEY_LEN} bytes")]
    Malformed,
    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Rng,
}

impl MasterKey {
    /// A new random master key.
    ///
    /// # Errors
    /// [`MasterKeyError::Rng`] when the system RNG fails.
    pub fn generate() -> Result<Self, MasterKeyError> {
        let mut bytes = [0u8; MASTER_KEY_LEN];
        crate::fill_random(&mut bytes).map_err(|_| MasterKeyError::Rng)?;
        Ok(Self(bytes))
    }

    /// Parses the text form (file contents or `SEALFORM_MASTER_KEY`). Surrounding whitespace is ignored; a bare
    /// base64 value without the prefix is accepted too, for the environment variable.
    ///
    /// # Errors
    /// [`MasterKeyError::UnknownFormat`] or [`MasterKeyError::Malformed`].
    pub fn parse(text: &str) -> Result<Self, MasterKeyError> {
        let text = text.trim();
        let encoded = text.strip_prefix(PREFIX).unwrap_or(text);
        if encoded.contains(':') {
            return Err(MasterKeyError::UnknownFormat);
        }
        let decoded = Zeroizing::new(STANDARD.decode(encoded).map_err(|_| MasterKeyError::Malformed)?);
        let bytes: [u8; MASTER_KEY_LEN] = decoded.as_slice().try_into().map_err(|_| MasterKeyError::Malformed)?;
        Ok(Self(bytes))
    }

    /// The text form, for writing the key file. The caller must keep it secret and let it drop soon.
    #[must_use]
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{PREFIX}{}\n", STANDARD.encode(self.0)))
    }

    /// The raw key bytes, for deriving wrapping keys inside this crate (see [`crate::KeyEncryptionKey`]).
    pub(crate) fn expose(&self) -> &[u8; MASTER_KEY_LEN] {
        &self.0
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_keeps_the_key() {
        let key = MasterKey::generate().unwrap();
        let text = key.to_text();
        assert!(text.starts_with(PREFIX));
        let back = MasterKey::parse(&text).unwrap();
        assert_eq!(key.expose(), back.expose());
    }

    #[test]
    fn two_generated_keys_differ() {
        assert_ne!(MasterKey::generate().unwrap().expose(), MasterKey::generate().unwrap().expose());
    }

    #[test]
    fn bare_base64_is_accepted_for_the_environment_variable() {
        let key = MasterKey::generate().unwrap();
        let bare = STANDARD.encode(key.expose());
        assert_eq!(MasterKey::parse(&bare).unwrap().expose(), key.expose());
    }

    #[test]
    fn truncated_or_foreign_text_is_refused() {
        let key = MasterKey::generate().unwrap();
        let text = key.to_text();
        assert_eq!(MasterKey::parse(&text[..text.len() - 6]).unwrap_err(), MasterKeyError::Malformed);
        assert_eq!(MasterKey::parse("other-key-v9:AAAA").unwrap_err(), MasterKeyError::UnknownFormat);
        assert_eq!(MasterKey::parse("").unwrap_err(), MasterKeyError::Malformed);
    }

    #[test]
    fn debug_never_prints_key_bytes() {
        let key = MasterKey::parse(&format!("{PREFIX}{}", STANDARD.encode([7u8; 32]))).unwrap();
        let shown = format!("{key:?}");
        assert_eq!(shown, "MasterKey([redacted])");
    }
}
