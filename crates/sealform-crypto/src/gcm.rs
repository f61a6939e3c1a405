//! AES-256-GCM, the one AEAD every format in this crate ends in.
//!
//! A thin wrapper over aws-lc-rs's `LessSafeKey` that maps its errors onto [`CryptoError`] and takes nonces as
//! arrays. Callers choose nonces: random 96-bit nonces for one-shot seals, counter nonces for streams.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

use crate::CryptoError;

/// AES-256 key length.
pub(crate) const KEY_LEN: usize = 32;
/// GCM nonce length (96 bits).
pub(crate) const NONCE_LEN: usize = 12;
/// GCM tag length.
pub(crate) const TAG_LEN: usize = 16;

/// An AES-256-GCM key, ready to use. aws-lc clears its key schedule when the key is freed.
pub(crate) struct GcmKey(LessSafeKey);

impl GcmKey {
    pub(crate) fn new(key: &[u8; KEY_LEN]) -> Result<Self, CryptoError> {
        let unbound = UnboundKey::new(&AES_256_GCM, key).map_err(|_| CryptoError::Internal)?;
        Ok(Self(LessSafeKey::new(unbound)))
    }

    /// Encrypts `in_out` in place and returns the tag.
    pub(crate) fn seal_in_place(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        let tag = self
            .0
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), in_out)
            .map_err(|_| CryptoError::Internal)?;
        let mut out = [0u8; TAG_LEN];
        let tag = tag.as_ref();
        if tag.len() != TAG_LEN {
            return Err(CryptoError::Internal);
        }
        out.copy_from_slice(tag);
        Ok(out)
    }

    /// Decrypts `ciphertext || tag` in place and returns the plaintext part. On failure the caller must discard the
    /// buffer (it may hold unauthenticated bytes); every caller here holds it in a zeroizing type.
    pub(crate) fn open_in_place<'a>(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        in_out: &'a mut [u8],
    ) -> Result<&'a mut [u8], CryptoError> {
        self.0
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), in_out)
            .map_err(|_| CryptoError::Decrypt)
    }
}

/// A fresh random nonce. With random nonces a key must seal fewer than 2^32 messages (NIST SP 800-38D §8.3); every
/// key here seals far fewer (one submission revision, one wrap, one master key's handful of organisation keys).
pub(crate) fn random_nonce() -> Result<[u8; NONCE_LEN], CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    crate::fill_random(&mut nonce).map_err(|_| CryptoError::Rng)?;
    Ok(nonce)
}
