//! The key-encryption-key seam: the master key today, a KMS later (DESIGN.md §5, "Hierarchy").
//!
//! Organisation private keys (and per-form blind-index keys) are stored only as [`KeyEncryptionKey::wrap_secret`]
//! output. The master key's format:
//!
//! ```text
//! magic "SFMK" (4) | version 0x01 (1) | KEK fingerprint (8) | nonce (12) | AES-256-GCM ciphertext | tag (16)
//! ```
//!
//! The AES key is `HKDF-Expand-SHA256(master, "sealform/master-key/v1/wrap")`, never the master key itself, and the
//! associated data is the 13-byte header followed by the caller's associated data. The fingerprint,
//! `HKDF-Expand-SHA256(master, "sealform/master-key/v1/fingerprint")` cut to 8 bytes, tells which master key wrapped
//! a blob, so master-key rotation can find what still needs re-wrapping; it reveals nothing about the key.

use zeroize::Zeroizing;

use crate::codec::Reader;
use crate::gcm::{GcmKey, NONCE_LEN, TAG_LEN, random_nonce};
use crate::kdf::hkdf_expand_one_block;
use crate::{CryptoError, MasterKey};

/// Magic of a master-key-wrapped secret.
const KEK_MAGIC: &[u8; 4] = b"SFMK";
/// Version of that format.
const KEK_VERSION: u8 = 1;
/// magic + version + fingerprint.
const KEK_HEADER_LEN: usize = 4 + 1 + 8;
/// Bytes [`MasterKey`]'s `wrap_secret` adds to the secret.
pub const KEK_WRAP_OVERHEAD: usize = KEK_HEADER_LEN + NONCE_LEN + TAG_LEN;
/// HKDF info for the wrapping subkey.
const WRAP_INFO: &[u8] = b"sealform/master-key/v1/wrap";
/// HKDF info for the fingerprint.
const FINGERPRINT_INFO: &[u8] = b"sealform/master-key/v1/fingerprint";

/// The key-encryption-key seam: the master key today, a KMS later.
///
/// Implementations wrap small secrets (encoded organisation private keys, blind-index keys) with authenticated
/// encryption, binding the caller's associated data (e.g. the organisation id and key id) so a wrapped secret moved
/// to another row does not unwrap.
pub trait KeyEncryptionKey: Send + Sync {
    /// A public, stable id of this KEK (derived from the key with a label), to tell which master wrapped what.
    fn fingerprint(&self) -> [u8; 8];

    /// Wraps `secret`, binding `aad`.
    ///
    /// # Errors
    /// [`CryptoError::Rng`] or [`CryptoError::Internal`] (or a KMS's failure mapped onto them).
    fn wrap_secret(&self, secret: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError>;

    /// Unwraps what [`Self::wrap_secret`] produced, given the same `aad`.
    ///
    /// # Errors
    /// [`CryptoError::WrongKey`] if another KEK wrapped it (fingerprint mismatch), [`CryptoError::Malformed`] or
    /// [`CryptoError::UnsupportedVersion`] for bytes that do not parse, [`CryptoError::Decrypt`] otherwise.
    fn unwrap_secret(&self, wrapped: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError>;
}

impl KeyEncryptionKey for MasterKey {
    fn fingerprint(&self) -> [u8; 8] {
        let block = hkdf_expand_one_block(self.expose(), FINGERPRINT_INFO);
        let mut out = [0u8; 8];
        out.copy_from_slice(&block[..8]);
        out
    }

    fn wrap_secret(&self, secret: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        master_wrap(self, secret, aad, random_nonce()?)
    }

    fn unwrap_secret(&self, wrapped: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let mut r = Reader::new(wrapped, "master-key-wrapped secret is truncated");
        let header =
            wrapped.get(..KEK_HEADER_LEN).ok_or(CryptoError::Malformed("master-key-wrapped secret is truncated"))?;
        if r.take(4)? != KEK_MAGIC {
            return Err(CryptoError::Malformed("not a Sealform master-key-wrapped secret"));
        }
        if r.u8()? != KEK_VERSION {
            return Err(CryptoError::UnsupportedVersion);
        }
        let fingerprint: [u8; 8] = r.array()?;
        if fingerprint != self.fingerprint() {
            return Err(CryptoError::WrongKey);
        }
        let nonce = r.array()?;
        let body = r.rest();
        if body.len() < TAG_LEN {
            return Err(CryptoError::Malformed("master-key-wrapped secret is truncated"));
        }
        let gcm = GcmKey::new(&hkdf_expand_one_block(self.expose(), WRAP_INFO))?;
        let mut buf = Zeroizing::new(body.to_vec());
        let plain_len = gcm.open_in_place(nonce, &concat(header, aad), &mut buf)?.len();
        buf.truncate(plain_len);
        Ok(buf)
    }
}

/// [`MasterKey`]'s `wrap_secret` with the nonce passed in (for vectors).
pub(crate) fn master_wrap(
    master: &MasterKey,
    secret: &[u8],
    aad: &[u8],
    nonce: [u8; NONCE_LEN],
) -> Result<Vec<u8>, CryptoError> {
    // Zeroizing until sealed: if sealing failed, the buffer would still hold the secret.
    let mut out = Zeroizing::new(Vec::with_capacity(KEK_WRAP_OVERHEAD + secret.len()));
    out.extend_from_slice(KEK_MAGIC);
    out.push(KEK_VERSION);
    out.extend_from_slice(&master.fingerprint());
    let gcm_aad = concat(&out, aad);
    out.extend_from_slice(&nonce);
    let body_start = out.len();
    out.extend_from_slice(secret);
    let gcm = GcmKey::new(&hkdf_expand_one_block(master.expose(), WRAP_INFO))?;
    let tag = gcm.seal_in_place(nonce, &gcm_aad, &mut out[body_start..])?;
    out.extend_from_slice(&tag);
    Ok(std::mem::take(&mut *out))
}

fn concat(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    out.extend_from_slice(a);
    out.extend_from_slice(b);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_then_unwrap_round_trips() {
        let master = MasterKey::generate().unwrap();
        for len in [0, 1, 32, 2456] {
            let secret = vec![0x5a; len];
            let wrapped = master.wrap_secret(&secret, b"org-1").unwrap();
            assert_eq!(wrapped.len(), len + KEK_WRAP_OVERHEAD);
            assert_eq!(master.unwrap_secret(&wrapped, b"org-1").unwrap().as_slice(), secret.as_slice());
        }
    }

    #[test]
    fn another_master_key_is_wrong_key_and_other_aad_is_decrypt() {
        let master = MasterKey::generate().unwrap();
        let other = MasterKey::generate().unwrap();
        assert_ne!(master.fingerprint(), other.fingerprint());
        let wrapped = master.wrap_secret(b"secret", b"org-1").unwrap();
        assert_eq!(other.unwrap_secret(&wrapped, b"org-1").unwrap_err(), CryptoError::WrongKey);
        assert_eq!(master.unwrap_secret(&wrapped, b"org-2").unwrap_err(), CryptoError::Decrypt);
    }

    #[test]
    fn every_altered_byte_and_every_truncation_is_a_typed_error() {
        let master = MasterKey::generate().unwrap();
        let wrapped = master.wrap_secret(b"secret", b"").unwrap();
        for pos in 0..wrapped.len() {
            let mut bad = wrapped.clone();
            bad[pos] ^= 0x01;
            let err = master.unwrap_secret(&bad, b"").unwrap_err();
            let expected = match pos {
                0..4 => matches!(err, CryptoError::Malformed(_)),
                4 => err == CryptoError::UnsupportedVersion,
                5..13 => err == CryptoError::WrongKey,
                _ => err == CryptoError::Decrypt,
            };
            assert!(expected, "byte {pos}: {err:?}");
        }
        for cut in 0..wrapped.len() {
            assert!(master.unwrap_secret(&wrapped[..cut], b"").is_err());
        }
    }

    #[test]
    fn the_fingerprint_is_stable_for_a_key() {
        let master = MasterKey::parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap();
        assert_eq!(master.fingerprint(), master.fingerprint());
        let again = MasterKey::parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").unwrap();
        assert_eq!(master.fingerprint(), again.fingerprint());
    }
}
