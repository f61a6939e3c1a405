//! The one source of randomness for keys, nonces and tokens.

/// Fills `dest` from the operating system's CSPRNG via aws-lc-rs.
///
/// # Errors
/// Only when the system RNG is unavailable, which leaves nothing safe to do but stop.
pub fn fill_random(dest: &mut [u8]) -> Result<(), aws_lc_rs::error::Unspecified> {
    aws_lc_rs::rand::fill(dest)
}
