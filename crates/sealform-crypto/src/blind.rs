//! Blind indexes: exact-match lookups on chosen fields without plaintext columns (DESIGN.md §5, "Searching").
//!
//! `blind_index = HMAC-SHA256(form key, u32 BE len(label) || "sealform/blind-index/v1" || u64 BE len(field) || field
//! || value)`, cut to its first 16 bytes. The field name is bound in, so equal values in two fields of one form do
//! not match. Normalising values (case, whitespace, date formats) is the caller's job and must be the same on write
//! and on lookup. Equal values give equal indexes by design: an index tells which records share a value, so index
//! only fields where that is acceptable, and give each form its own key so indexes do not link across forms.

use std::fmt;

use aws_lc_rs::hmac;
use zeroize::{Zeroize, Zeroizing};

use crate::CryptoError;
use crate::data::put_label;

/// Blind-index key length.
const BLIND_KEY_LEN: usize = 32;
/// Domain label of the index input.
const BLIND_LABEL: &[u8] = b"sealform/blind-index/v1";

/// A per-form blind-index key. No `Clone`; `Debug` prints `BlindIndexKey([redacted])`; zeroized on drop. Store it
/// only wrapped ([`crate::KeyEncryptionKey::wrap_secret`]).
pub struct BlindIndexKey([u8; BLIND_KEY_LEN]);

impl BlindIndexKey {
    /// A new random key.
    ///
    /// # Errors
    /// [`CryptoError::Rng`] when the system RNG fails.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut bytes = [0u8; BLIND_KEY_LEN];
        crate::fill_random(&mut bytes).map_err(|_| CryptoError::Rng)?;
        Ok(Self(bytes))
    }

    /// A key from its 32 raw bytes (after unwrapping).
    ///
    /// # Errors
    /// [`CryptoError::KeyRejected`] unless `bytes` is exactly 32 bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        Ok(Self(bytes.try_into().map_err(|_| CryptoError::KeyRejected)?))
    }

    /// The raw key bytes, to wrap for storage.
    #[must_use]
    pub fn to_secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.0.to_vec())
    }
}

impl Drop for BlindIndexKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for BlindIndexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BlindIndexKey([redacted])")
    }
}

/// The 16-byte blind index of `value` in `field` under the form's `key`.
#[must_use]
pub fn blind_index(key: &BlindIndexKey, field: &str, value: &[u8]) -> [u8; 16] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, &key.0);
    let mut ctx = hmac::Context::with_key(&key);
    let mut prefix = Vec::with_capacity(4 + BLIND_LABEL.len() + 8);
    put_label(&mut prefix, BLIND_LABEL);
    prefix.extend_from_slice(&(field.len() as u64).to_be_bytes());
    ctx.update(&prefix);
    ctx.update(field.as_bytes());
    ctx.update(value);
    let tag = ctx.sign();
    let mut out = [0u8; 16];
    let tag = tag.as_ref();
    let n = tag.len().min(16);
    out[..n].copy_from_slice(&tag[..n]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_inputs_match_and_fields_are_separated() {
        let key = BlindIndexKey::generate().unwrap();
        assert_eq!(blind_index(&key, "email", b"a@b.c"), blind_index(&key, "email", b"a@b.c"));
        assert_ne!(blind_index(&key, "email", b"a@b.c"), blind_index(&key, "email", b"a@b.d"));
        assert_ne!(blind_index(&key, "email", b"a@b.c"), blind_index(&key, "phone", b"a@b.c"));
        // Moving bytes between field name and value changes the index.
        assert_ne!(blind_index(&key, "ab", b"c"), blind_index(&key, "a", b"bc"));
        let other = BlindIndexKey::generate().unwrap();
        assert_ne!(blind_index(&key, "email", b"a@b.c"), blind_index(&other, "email", b"a@b.c"));
    }

    #[test]
    fn the_index_is_hmac_sha256_of_the_documented_input() {
        let key = BlindIndexKey::from_bytes(&[3; 32]).unwrap();
        let mut input = Vec::new();
        input.extend_from_slice(&23u32.to_be_bytes());
        input.extend_from_slice(b"sealform/blind-index/v1");
        input.extend_from_slice(&5u64.to_be_bytes());
        input.extend_from_slice(b"email");
        input.extend_from_slice(b"x@y.z");
        let full = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &[3; 32]), &input);
        assert_eq!(blind_index(&key, "email", b"x@y.z").as_slice(), &full.as_ref()[..16]);
    }

    #[test]
    fn keys_round_trip_refuse_wrong_lengths_and_print_redacted() {
        let key = BlindIndexKey::generate().unwrap();
        let back = BlindIndexKey::from_bytes(&key.to_secret_bytes()).unwrap();
        assert_eq!(blind_index(&key, "f", b"v"), blind_index(&back, "f", b"v"));
        assert_eq!(BlindIndexKey::from_bytes(&[0; 31]).unwrap_err(), CryptoError::KeyRejected);
        assert_eq!(BlindIndexKey::from_bytes(&[0; 33]).unwrap_err(), CryptoError::KeyRejected);
        assert_eq!(format!("{key:?}"), "BlindIndexKey([redacted])");
    }
}
