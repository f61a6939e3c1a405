//! Passwords: the minimum policy and argon2id hashing (DESIGN.md §7).
//!
//! Length bounds hold for every password handled; the common-password list only where one is chosen
//! ([`PlainPassword::choose`]). History, expiry and lockout live with the accounts that use them.

use std::fmt;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret as _, SecretString};

use crate::DomainError;
use crate::user::Email;

/// Shortest password accepted (NIST SP 800-63B; the UI recommends 12+).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted. Generous, but bounded so hashing cost cannot be abused.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// argon2id memory cost in KiB (19 MiB, the OWASP baseline).
const ARGON2_M_KIB: u32 = 19 * 1024;
/// argon2id passes.
const ARGON2_T: u32 = 2;
/// argon2id lanes.
const ARGON2_P: u32 = 1;

/// A password as typed. Every copy is zeroized on drop, `[redacted]` when printed.
#[derive(Clone)]
pub struct PlainPassword(SecretString);

impl PlainPassword {
    /// Checks the length policy.
    ///
    /// # Errors
    /// [`DomainError::Invalid`] naming the rule.
    pub fn parse(raw: SecretString) -> Result<Self, DomainError> {
        let chars = raw.expose_secret().chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(DomainError::Invalid(format!("password must be at least {MIN_PASSWORD_CHARS} characters")));
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(DomainError::Invalid(format!("password must be at most {MAX_PASSWORD_CHARS} characters")));
        }
        Ok(Self(raw))
    }

    /// Checks a password being chosen (set, changed or reset) by the owner of `email`: the length policy, the
    /// common-password list and the words an attacker would try first for this account.
    ///
    /// # Errors
    /// [`DomainError::Invalid`] naming the rule; never the password.
    pub fn choose(raw: SecretString, email: &Email) -> Result<Self, DomainError> {
        Self::parse(raw)?.ensure_uncommon(email)
    }

    /// Refuses a password on the compiled-in list of common and breached passwords, or one built from the
    /// account's own e-mail address or the product's name (NIST SP 800-63B §5.1.1.2, context-specific words).
    ///
    /// # Errors
    /// [`DomainError::Invalid`] naming the rule.
    pub fn ensure_uncommon(self, email: &Email) -> Result<Self, DomainError> {
        let password = self.0.expose_secret();
        if crate::common_passwords::is_common(password) {
            return Err(DomainError::Invalid(
                "this password is too common: it appears in lists of leaked passwords; choose another \
                 (a few unrelated words work well)"
                    .into(),
            ));
        }
        if is_context_specific(password, email) {
            return Err(DomainError::Invalid(
                "this password is too easy to guess: it is built from your e-mail address or the word Sealform".into(),
            ));
        }
        Ok(self)
    }
}

/// Whether the password contains the whole address, the word "sealform", or is the address's local part (a short
/// local part such as "jo" is only refused when it is the whole password, not when it merely appears).
fn is_context_specific(password: &str, email: &Email) -> bool {
    let lowered = zeroize::Zeroizing::new(password.to_lowercase());
    let address = email.as_str();
    let local = address.split_once('@').map_or(address, |(local, _)| local);
    lowered.contains(address)
        || lowered.contains("sealform")
        || lowered.as_str() == local
        || (local.chars().count() >= 6 && lowered.contains(local))
}

impl fmt::Debug for PlainPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainPassword([redacted])")
    }
}

/// An argon2id hash in PHC string form. Not secret in the cryptographic sense, but never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string read back from storage.
    #[must_use]
    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string, for storage.
    #[must_use]
    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash([redacted])")
    }
}

fn hasher() -> Result<Argon2<'static>, DomainError> {
    let params = Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, None)
        .map_err(|e| DomainError::Internal(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password with argon2id and a random salt. CPU- and memory-heavy: call it off the async executor.
///
/// # Errors
/// [`DomainError::Internal`] if hashing fails.
pub fn hash_password(password: &PlainPassword) -> Result<PasswordHash, DomainError> {
    let salt = SaltString::generate(&mut OsRng);
    let hash = hasher()?
        .hash_password(password.0.expose_secret().as_bytes(), &salt)
        .map_err(|e| DomainError::Internal(format!("argon2 hash: {e}")))?;
    Ok(PasswordHash(hash.to_string()))
}

/// Checks a password against a stored hash in constant time. A malformed stored hash counts as a mismatch.
#[must_use]
pub fn verify_password(password: &PlainPassword, hash: &PasswordHash) -> bool {
    let Ok(parsed) = argon2::PasswordHash::new(&hash.0) else {
        return false;
    };
    hasher().is_ok_and(|h| h.verify_password(password.0.expose_secret().as_bytes(), &parsed).is_ok())
}

/// Whether a stored hash was made with other parameters than today's policy (weaker or just different), so it should
/// be re-hashed the next time the password is known (at login).
#[must_use]
pub fn needs_rehash(hash: &PasswordHash) -> bool {
    let Ok(parsed) = argon2::PasswordHash::new(&hash.0) else { return true };
    let Ok(params) = Params::try_from(&parsed) else { return true };
    parsed.algorithm.as_str() != "argon2id"
        || params.m_cost() != ARGON2_M_KIB
        || params.t_cost() != ARGON2_T
        || params.p_cost() != ARGON2_P
}

/// Hashes with explicit argon2id parameters; for tests of re-hashing only.
///
/// # Errors
/// [`DomainError::Internal`] if hashing fails.
#[doc(hidden)]
pub fn hash_with_params(password: &PlainPassword, m_kib: u32, t: u32) -> Result<PasswordHash, DomainError> {
    let params =
        Params::new(m_kib, t, 1, None).map_err(|e| DomainError::Internal(format!("argon2 parameters: {e}")))?;
    let salt = SaltString::generate(&mut OsRng);
    let hash = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.0.expose_secret().as_bytes(), &salt)
        .map_err(|e| DomainError::Internal(format!("argon2 hash: {e}")))?;
    Ok(PasswordHash(hash.to_string()))
}

/// Hashes on the blocking pool so a login burst never stalls the executor.
///
/// # Errors
/// As [`hash_password`], or [`DomainError::Internal`] if the task dies.
pub async fn hash_password_blocking(password: PlainPassword) -> Result<PasswordHash, DomainError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| DomainError::Internal(format!("hashing task: {e}")))?
}

/// Verifies on the blocking pool.
///
/// # Errors
/// [`DomainError::Internal`] if the task dies.
pub async fn verify_password_blocking(password: PlainPassword, hash: PasswordHash) -> Result<bool, DomainError> {
    tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| DomainError::Internal(format!("verification task: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> Result<PlainPassword, DomainError> {
        PlainPassword::parse(SecretString::from(s.to_owned()))
    }

    fn choose(s: &str, email: &str) -> Result<PlainPassword, DomainError> {
        PlainPassword::choose(SecretString::from(s.to_owned()), &Email::parse(email).unwrap())
    }

    fn refusal(result: Result<PlainPassword, DomainError>) -> String {
        match result {
            Err(DomainError::Invalid(message)) => message,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn chosen_passwords_must_not_be_common_or_built_from_the_account() {
        assert!(refusal(choose("Password123", "ana@clinic.example")).contains("too common"));
        let too_easy = [
            "Bartholomew.K@Clinic.example",
            "bartholomew.k@clinic.example 2026",
            "my sealform login",
            "Bartholomew.K",
            "bartholomew.k1987",
        ];
        for password in too_easy {
            let message = refusal(choose(password, "bartholomew.k@clinic.example"));
            assert!(message.contains("too easy to guess"), "{password}: {message}");
            assert!(!message.contains(password), "the refusal never repeats the password");
        }
        assert!(choose("a long enough password", "ana@clinic.example").is_ok(), "a short local part inside is fine");
        assert!(choose("velvet otter quilt", "bartholomew.k@clinic.example").is_ok());
        assert!(pw("Password123").is_ok(), "login-time parsing never consults the list");
    }

    #[test]
    fn length_policy_counts_characters_not_bytes() {
        assert!(pw("1234567").is_err());
        assert!(pw("12345678").is_ok());
        assert!(pw("ééééééé").is_err(), "7 characters, 14 bytes");
        assert!(pw(&"x".repeat(MAX_PASSWORD_CHARS)).is_ok());
        assert!(pw(&"x".repeat(MAX_PASSWORD_CHARS + 1)).is_err());
    }

    #[test]
    fn hash_is_argon2id_with_policy_parameters_and_verifies() {
        let hash = hash_password(&pw("correct horse battery").unwrap()).unwrap();
        assert!(hash.as_phc().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", hash.as_phc());
        assert!(verify_password(&pw("correct horse battery").unwrap(), &hash));
        assert!(!verify_password(&pw("correct horse batterY").unwrap(), &hash));
        assert!(!verify_password(&pw("correct horse battery").unwrap(), &PasswordHash::from_phc("garbage".into())));
    }

    #[test]
    fn hashes_with_other_parameters_need_rehashing() {
        let password = pw("correct horse battery").unwrap();
        assert!(!needs_rehash(&hash_password(&password).unwrap()));
        let weak = hash_with_params(&password, 8 * 1024, 1).unwrap();
        assert!(needs_rehash(&weak));
        assert!(verify_password(&password, &weak), "an old hash still verifies");
        assert!(needs_rehash(&PasswordHash::from_phc("garbage".into())));
    }

    #[test]
    fn secrets_never_print() {
        let p = pw("hunter2hunter2").unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
        let h = hash_password(&p).unwrap();
        assert!(!format!("{h:?}").contains("argon2"));
    }
}
