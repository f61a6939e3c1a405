//! Time-based one-time passwords (RFC 6238 over RFC 4226), with HMAC-SHA1 from aws-lc-rs: the algorithm every
//! authenticator app implements. 6 digits, 30-second steps, one step of clock drift either way, and a step once
//! accepted is never accepted again (replay).

use std::fmt;

use aws_lc_rs::hmac;
use zeroize::{Zeroize, Zeroizing};

use crate::CryptoError;

/// Seconds per step.
pub const TOTP_STEP_SECS: i64 = 30;
const DIGITS: u32 = 6;
const SECRET_LEN: usize = 20;
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A TOTP shared secret (160 bits, as RFC 4226 recommends). Zeroized on drop, `[redacted]` when printed.
pub struct TotpSecret([u8; SECRET_LEN]);

impl TotpSecret {
    /// A new random secret.
    ///
    /// # Errors
    /// [`CryptoError::Rng`] when the system RNG fails.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut bytes = [0u8; SECRET_LEN];
        crate::fill_random(&mut bytes).map_err(|_| CryptoError::Rng)?;
        Ok(Self(bytes))
    }

    /// From raw bytes (after unwrapping).
    ///
    /// # Errors
    /// [`CryptoError::KeyRejected`] for a wrong length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        bytes.try_into().map(Self).map_err(|_| CryptoError::KeyRejected)
    }

    /// From the base32 text an authenticator shows (case and spaces ignored).
    ///
    /// # Errors
    /// [`CryptoError::Malformed`] for text that is not base32 of 20 bytes.
    pub fn from_base32(text: &str) -> Result<Self, CryptoError> {
        let mut bits = 0u64;
        let mut count = 0u32;
        let mut out = Zeroizing::new(Vec::with_capacity(SECRET_LEN));
        for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
            let upper = c.to_ascii_uppercase() as u8;
            let value = BASE32.iter().position(|&b| b == upper).ok_or(CryptoError::Malformed("base32 secret"))?;
            bits = (bits << 5) | value as u64;
            count += 5;
            if count >= 8 {
                count -= 8;
                out.push((bits >> count) as u8);
            }
        }
        Self::from_bytes(&out).map_err(|_| CryptoError::Malformed("base32 secret"))
    }

    /// The raw bytes, for wrapping.
    #[must_use]
    pub fn to_secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.0.to_vec())
    }

    /// Base32 without padding, for manual entry in an authenticator app.
    #[must_use]
    pub fn to_base32(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::new());
        let (mut bits, mut count) = (0u64, 0u32);
        for byte in self.0 {
            bits = (bits << 8) | u64::from(byte);
            count += 8;
            while count >= 5 {
                count -= 5;
                out.push(BASE32[((bits >> count) & 31) as usize] as char);
            }
        }
        if count > 0 {
            out.push(BASE32[((bits << (5 - count)) & 31) as usize] as char);
        }
        out
    }

    /// The `otpauth://` URI authenticator apps read from a QR code.
    #[must_use]
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> Zeroizing<String> {
        let enc = |s: &str| -> String {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        };
        Zeroizing::new(format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={TOTP_STEP_SECS}",
            enc(issuer),
            enc(account),
            self.to_base32().as_str(),
            enc(issuer)
        ))
    }

    /// The code for time step `step` (RFC 4226 dynamic truncation).
    #[must_use]
    pub fn code_at_step(&self, step: u64) -> u32 {
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &self.0);
        let tag = hmac::sign(&key, &step.to_be_bytes());
        let mac = tag.as_ref();
        let offset = usize::from(mac[mac.len() - 1] & 0x0f);
        let binary = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
        binary % 10u32.pow(DIGITS)
    }

    /// Checks `code` at `unix_secs`, allowing one step of drift either way. Returns the matching step, which the
    /// caller stores: a step at or before `last_used` is refused (a code works once).
    #[must_use]
    pub fn verify(&self, code: &str, unix_secs: i64, last_used: Option<u64>) -> Option<u64> {
        let code = code.trim().replace(' ', "");
        if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let wanted: u32 = code.parse().ok()?;
        let now = u64::try_from(unix_secs.div_euclid(TOTP_STEP_SECS)).ok()?;
        let mut found = None;
        for step in [now.saturating_sub(1), now, now + 1] {
            let fresh = last_used.is_none_or(|last| step > last);
            // Compare every candidate so the time taken does not depend on which step matched.
            if crate::constant_time_eq(&self.code_at_step(step).to_be_bytes(), &wanted.to_be_bytes()) && fresh {
                found.get_or_insert(step);
            }
        }
        found
    }
}

impl Drop for TotpSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890").unwrap()
    }

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 appendix B, SHA-1, last 6 of the 8 digits.
        for (time, code) in [
            (59, 287_082),
            (1_111_111_109, 81_804),
            (1_111_111_111, 50_471),
            (1_234_567_890, 5_924),
            (2_000_000_000, 279_037),
            (20_000_000_000u64, 353_130),
        ] {
            assert_eq!(rfc_secret().code_at_step(time / 30), code, "t={time}");
        }
    }

    #[test]
    fn codes_verify_once_within_one_step_of_drift() {
        let secret = rfc_secret();
        let code = format!("{:06}", secret.code_at_step(1_234_567_890 / 30));
        let step = secret.verify(&code, 1_234_567_890, None).unwrap();
        assert_eq!(secret.verify(&code, 1_234_567_890, Some(step)), None, "replay refused");
        assert!(secret.verify(&code, 1_234_567_890 + 30, None).is_some(), "one step late is accepted");
        assert!(secret.verify(&code, 1_234_567_890 + 61, None).is_none(), "two steps late is not");
        assert!(secret.verify("12345", 1_234_567_890, None).is_none());
        assert!(secret.verify("abcdef", 1_234_567_890, None).is_none());
    }

    #[test]
    fn base32_round_trips_and_the_uri_names_everything() {
        let secret = TotpSecret::generate().unwrap();
        let text = secret.to_base32();
        assert_eq!(text.len(), 32);
        let back = TotpSecret::from_base32(&text.to_lowercase()).unwrap();
        assert_eq!(back.code_at_step(7), secret.code_at_step(7));
        assert_eq!(rfc_secret().to_base32().as_str(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let uri = secret.otpauth_uri("Sealform", "ana@example.org");
        assert!(uri.starts_with("otpauth://totp/Sealform:ana@example.org?secret=") && uri.contains("period=30"));
        assert!(TotpSecret::from_base32("not base32!").is_err());
        assert_eq!(format!("{secret:?}"), "TotpSecret([redacted])");
    }
}
