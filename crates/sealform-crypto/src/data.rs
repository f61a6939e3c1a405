//! Data keys and the one-shot data seal (DESIGN.md §5, first bullet).
//!
//! Every submission revision gets its own random [`DataKey`]. Answers are sealed with AES-256-GCM under it, with a
//! random 96-bit nonce and associated data that names the record ([`RecordBinding`]), so a ciphertext copied into
//! another organisation, form, submission, revision or field fails to open.
//!
//! Sealed bytes: `version (1 byte, 0x01) || nonce (12) || ciphertext || tag (16)`; see `docs/envelope.md`.

use std::fmt;

use zeroize::{Zeroize, Zeroizing};

use crate::CryptoError;
use crate::gcm::{GcmKey, KEY_LEN, NONCE_LEN, TAG_LEN, random_nonce};

/// Version byte of the data seal format.
const SEAL_VERSION: u8 = 1;
/// Bytes a seal adds to the plaintext: version, nonce and tag.
pub const SEAL_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;
/// Domain label at the start of [`RecordBinding::to_aad`].
const RECORD_LABEL: &[u8] = b"sealform/record/v1";

/// An AES-256-GCM data key: one per submission revision. No `Clone`; `Debug` prints `DataKey([redacted])`; zeroized
/// on drop. It leaves this crate only wrapped ([`crate::wrap()`]).
///
/// It keeps its AES key schedule, so sealing or opening the many fields of one submission expands the key once.
pub struct DataKey {
    bytes: [u8; KEY_LEN],
    /// The expanded key; aws-lc clears it when freed.
    gcm: GcmKey,
}

impl DataKey {
    /// A new random data key.
    ///
    /// # Errors
    /// [`CryptoError::Rng`] when the system RNG fails.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut bytes = [0u8; KEY_LEN];
        crate::fill_random(&mut bytes).map_err(|_| CryptoError::Rng)?;
        Self::from_array(bytes)
    }

    /// Takes ownership of raw key bytes (after unwrapping, or from a test vector).
    pub(crate) fn from_array(bytes: [u8; KEY_LEN]) -> Result<Self, CryptoError> {
        let mut bytes = Zeroizing::new(bytes);
        let gcm = GcmKey::new(&bytes)?;
        Ok(Self { bytes: std::mem::take(&mut *bytes), gcm })
    }

    /// The raw key bytes, for wrapping and key derivation inside this crate.
    pub(crate) fn expose(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

/// Canonical associated data: a domain label plus length-prefixed parts.
///
/// Names the one place a sealed value belongs. The encoding is unambiguous: fixed-size ids at fixed offsets, and
/// the only variable part (the field path) carries its length, so no two different bindings encode the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordBinding<'a> {
    /// Organisation id (UUID bytes).
    pub org_id: [u8; 16],
    /// Form id (UUID bytes).
    pub form_id: [u8; 16],
    /// Submission id (UUID bytes).
    pub submission_id: [u8; 16],
    /// Submission revision number.
    pub revision: u32,
    /// Path of the field within the submission (e.g. a question id, or `files/3` for an upload).
    pub field_path: &'a str,
}

impl RecordBinding<'_> {
    /// The associated-data bytes:
    /// `u32 BE len(label) || "sealform/record/v1" || org_id (16) || form_id (16) || submission_id (16) ||
    /// revision (u32 BE) || u64 BE len(field_path) || field_path (UTF-8)`.
    #[must_use]
    pub fn to_aad(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + RECORD_LABEL.len() + 48 + 4 + 8 + self.field_path.len());
        put_label(&mut out, RECORD_LABEL);
        out.extend_from_slice(&self.org_id);
        out.extend_from_slice(&self.form_id);
        out.extend_from_slice(&self.submission_id);
        out.extend_from_slice(&self.revision.to_be_bytes());
        out.extend_from_slice(&(self.field_path.len() as u64).to_be_bytes());
        out.extend_from_slice(self.field_path.as_bytes());
        out
    }
}

/// Appends `u32 BE len || label`. Labels are short constants, so the length always fits.
pub(crate) fn put_label(out: &mut Vec<u8>, label: &[u8]) {
    let len = u32::try_from(label.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(label);
}

/// Seals `plaintext` under `key` with a fresh random nonce, binding `aad` (use [`RecordBinding::to_aad`]).
///
/// Output: `0x01 || nonce (12) || ciphertext || tag (16)`, [`SEAL_OVERHEAD`] bytes longer than the plaintext.
///
/// # Errors
/// [`CryptoError::Rng`] if no nonce can be drawn, [`CryptoError::Internal`] if aws-lc fails.
pub fn seal(key: &DataKey, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    seal_with_nonce(key, aad, plaintext, random_nonce()?)
}

/// [`seal`] with a given nonce: for known-answer vectors only; reusing a nonce under a key breaks GCM.
pub(crate) fn seal_with_nonce(
    key: &DataKey,
    aad: &[u8],
    plaintext: &[u8],
    nonce: [u8; NONCE_LEN],
) -> Result<Vec<u8>, CryptoError> {
    // Zeroizing until sealed: if sealing failed, the buffer would still hold plaintext.
    let mut out = Zeroizing::new(Vec::with_capacity(plaintext.len() + SEAL_OVERHEAD));
    out.push(SEAL_VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = key.gcm.seal_in_place(nonce, aad, &mut out[1 + NONCE_LEN..])?;
    out.extend_from_slice(&tag);
    Ok(std::mem::take(&mut *out))
}

/// Opens what [`seal`] produced, with the same key and associated data.
///
/// # Errors
/// [`CryptoError::Malformed`] if `sealed` is shorter than [`SEAL_OVERHEAD`], [`CryptoError::UnsupportedVersion`] for
/// an unknown version byte, and [`CryptoError::Decrypt`] for a wrong key, wrong associated data or altered bytes.
/// No plaintext is returned unless the whole input authenticates.
pub fn open(key: &DataKey, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let Some((&version, rest)) = sealed.split_first() else {
        return Err(CryptoError::Malformed("sealed data is empty"));
    };
    if version != SEAL_VERSION {
        return Err(CryptoError::UnsupportedVersion);
    }
    if rest.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Malformed("sealed data is too short"));
    }
    let (nonce, body) = rest.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Malformed("sealed data is too short"))?;
    let mut buf = Zeroizing::new(body.to_vec());
    let plain_len = key.gcm.open_in_place(nonce, aad, &mut buf)?.len();
    buf.truncate(plain_len);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(field_path: &str) -> RecordBinding<'_> {
        RecordBinding { org_id: [1; 16], form_id: [2; 16], submission_id: [3; 16], revision: 4, field_path }
    }

    #[test]
    fn seal_then_open_returns_the_plaintext() {
        let key = DataKey::generate().unwrap();
        let aad = binding("q1").to_aad();
        for len in [0, 1, 15, 16, 17, 2048] {
            let plain = vec![0xa5; len];
            let sealed = seal(&key, &aad, &plain).unwrap();
            assert_eq!(sealed.len(), len + SEAL_OVERHEAD);
            assert_eq!(open(&key, &aad, &sealed).unwrap().as_slice(), plain.as_slice());
        }
    }

    #[test]
    fn a_value_moved_to_another_record_does_not_open() {
        let key = DataKey::generate().unwrap();
        let sealed = seal(&key, &binding("q1").to_aad(), b"secret").unwrap();
        let mut other = binding("q1");
        other.revision = 5;
        assert_eq!(open(&key, &other.to_aad(), &sealed).unwrap_err(), CryptoError::Decrypt);
        assert_eq!(open(&key, &binding("q2").to_aad(), &sealed).unwrap_err(), CryptoError::Decrypt);
    }

    #[test]
    fn record_binding_encoding_is_fixed_and_unambiguous() {
        let aad = binding("ab").to_aad();
        let mut expected = Vec::new();
        expected.extend_from_slice(&18u32.to_be_bytes());
        expected.extend_from_slice(b"sealform/record/v1");
        expected.extend_from_slice(&[1; 16]);
        expected.extend_from_slice(&[2; 16]);
        expected.extend_from_slice(&[3; 16]);
        expected.extend_from_slice(&4u32.to_be_bytes());
        expected.extend_from_slice(&2u64.to_be_bytes());
        expected.extend_from_slice(b"ab");
        assert_eq!(aad, expected);
        assert_ne!(binding("a").to_aad(), binding("a\0").to_aad());
    }

    #[test]
    fn short_or_foreign_input_is_a_typed_error() {
        let key = DataKey::generate().unwrap();
        assert_eq!(open(&key, b"", b"").unwrap_err(), CryptoError::Malformed("sealed data is empty"));
        assert_eq!(open(&key, b"", &[2; 40]).unwrap_err(), CryptoError::UnsupportedVersion);
        assert!(matches!(open(&key, b"", &[1; SEAL_OVERHEAD - 1]).unwrap_err(), CryptoError::Malformed(_)));
        assert_eq!(open(&key, b"", &[1; SEAL_OVERHEAD]).unwrap_err(), CryptoError::Decrypt);
    }

    #[test]
    fn data_keys_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<DataKey>();
    }

    #[test]
    fn debug_is_redacted() {
        assert_eq!(format!("{:?}", DataKey::from_array([9; 32]).unwrap()), "DataKey([redacted])");
    }
}
