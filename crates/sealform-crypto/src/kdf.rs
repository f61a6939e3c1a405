//! Key derivation: HKDF-SHA256 (RFC 5869) from aws-lc-rs.

use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Salt};
use aws_lc_rs::hmac;
use zeroize::Zeroizing;

use crate::CryptoError;

/// Output length for `Prk::expand`.
struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-SHA256 (extract, then expand) of `ikm` with `salt`, `info` being the concatenation of the parts.
pub(crate) fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let prk = Salt::new(HKDF_SHA256, salt).extract(ikm);
    let mut out = Zeroizing::new([0u8; 32]);
    prk.expand(info, Len(32)).and_then(|okm| okm.fill(out.as_mut())).map_err(|_| CryptoError::Internal)?;
    Ok(out)
}

/// HKDF-Expand-SHA256 with the key itself as PRK and 32 bytes of output: `HMAC-SHA256(prk, info || 0x01)`.
///
/// RFC 5869 §3.3 allows skipping Extract when the input is already a uniformly random key, which the master key is.
/// Written out with HMAC because it cannot fail, so the infallible `fingerprint()` needs no `unwrap`.
pub(crate) fn hkdf_expand_one_block(prk: &[u8; 32], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, prk);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(info);
    ctx.update(&[1]);
    let tag = ctx.sign();
    let mut out = Zeroizing::new([0u8; 32]);
    let tag = tag.as_ref();
    let n = tag.len().min(32);
    out[..n].copy_from_slice(&tag[..n]);
    out
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::hkdf::Prk;

    use super::*;

    #[test]
    fn one_block_expand_matches_aws_lc_hkdf_expand() {
        let prk_bytes = [0x0b; 32];
        let ours = hkdf_expand_one_block(&prk_bytes, b"info");
        let prk = Prk::new_less_safe(HKDF_SHA256, &prk_bytes);
        let mut theirs = [0u8; 32];
        prk.expand(&[b"info"], Len(32)).unwrap().fill(&mut theirs).unwrap();
        assert_eq!(*ours, theirs);
    }

    #[test]
    fn hkdf_matches_rfc5869_test_case_1() {
        let ikm = [0x0b; 22];
        let salt: Vec<u8> = (0x00..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        let okm = hkdf_sha256(&salt, &ikm, &[&info]).unwrap();
        // RFC 5869 A.1 gives 42 bytes; the first 32 are these.
        assert_eq!(hex::encode(*okm), "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf");
    }
}
