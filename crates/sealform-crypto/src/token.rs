//! Bearer secrets handed to clients (session cookies, CSRF tokens): 256 random bits, URL-safe base64. Only their
//! SHA-256 is stored, so a copy of the database does not let anyone resume a session.

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroizing;

use crate::CryptoError;

/// Length of a stored token hash.
pub const TOKEN_HASH_LEN: usize = 32;

/// A new random token and its hash.
///
/// # Errors
/// [`CryptoError::Rng`] when the system RNG fails.
pub fn new_token() -> Result<(Zeroizing<String>, [u8; TOKEN_HASH_LEN]), CryptoError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    crate::fill_random(bytes.as_mut_slice()).map_err(|_| CryptoError::Rng)?;
    let token = Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_slice()));
    let hash = hash_token(&token);
    Ok((token, hash))
}

/// The SHA-256 of a token, as stored and looked up.
#[must_use]
pub fn hash_token(token: &str) -> [u8; TOKEN_HASH_LEN] {
    let mut out = [0u8; TOKEN_HASH_LEN];
    out.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
    out
}

/// Compares two secrets in constant time.
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_url_safe_and_hash_stably() {
        let (a, hash_a) = new_token().unwrap();
        let (b, _) = new_token().unwrap();
        assert_ne!(*a, *b);
        assert_eq!(a.len(), 43);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(hash_token(&a), hash_a);
        assert!(
            constant_time_eq(b"same", b"same") && !constant_time_eq(b"same", b"diff") && !constant_time_eq(b"a", b"ab")
        );
    }
}
