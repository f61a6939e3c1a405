//! Users, their e-mail login and their roles in organisations (DESIGN.md §§6–7).

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;

use crate::DomainError;
use crate::ids::{OrgId, UserId};
use crate::password::PasswordHash;

/// Longest e-mail address accepted (RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// A normalised e-mail address: trimmed and lower-cased, one `@`, a dot in the domain, no spaces or controls.
/// Lower-casing the local part is a deliberate simplification: logins must not differ only by case.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Validates and normalises an address.
    ///
    /// # Errors
    /// [`DomainError::Invalid`]; the message never repeats the address.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let email = raw.trim().to_lowercase();
        let invalid = || DomainError::Invalid("e-mail address is not valid".into());
        if email.len() > MAX_EMAIL_LEN || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.contains('@')
            && domain.split('.').all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    /// The address as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address with most of the local part hidden, for logs (`j***@example.org`).
    #[must_use]
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.split_once('@').unwrap_or((&self.0, ""));
        let first: String = local.chars().take(1).collect();
        format!("{first}***@{domain}")
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.masked())
    }
}

/// A role in one organisation (DESIGN.md §6). Spelled on the CLI and in storage as in [`Role::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything, including deleting the organisation and managing owners.
    Owner,
    /// Users, grants, settings, forms.
    Admin,
    /// Builds and publishes forms.
    FormManager,
    /// Reads and works submissions it is granted.
    Reviewer,
    /// Approves or rejects submissions it is granted.
    Approver,
    /// Reads the audit trail; no PHI.
    Auditor,
}

impl Role {
    /// Every role, in order of decreasing power.
    pub const ALL: [Self; 6] =
        [Self::Owner, Self::Admin, Self::FormManager, Self::Reviewer, Self::Approver, Self::Auditor];

    /// The stable spelling used on the CLI, in storage and in APIs.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::FormManager => "form-manager",
            Self::Reviewer => "reviewer",
            Self::Approver => "approver",
            Self::Auditor => "auditor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|role| role.as_str() == s).ok_or_else(|| {
            let known: Vec<&str> = Self::ALL.iter().map(|r| r.as_str()).collect();
            DomainError::Invalid(format!("unknown role; expected one of: {}", known.join(", ")))
        })
    }
}

/// Whether a user may log in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserStatus {
    /// May log in.
    Active,
    /// Deactivated by an administrator; all sessions revoked.
    Deactivated,
}

impl UserStatus {
    /// The stable spelling used in storage.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Deactivated => "deactivated",
        }
    }

    /// Parses the storage spelling.
    ///
    /// # Errors
    /// [`DomainError::Invalid`] for an unknown spelling.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "active" => Ok(Self::Active),
            "deactivated" => Ok(Self::Deactivated),
            _ => Err(DomainError::Invalid("unknown user status".into())),
        }
    }
}

/// A user as stored, with the password hash (never printed).
#[derive(Clone, Debug)]
pub struct UserRecord {
    /// Its id.
    pub id: UserId,
    /// The login.
    pub email: Email,
    /// The argon2id PHC string.
    pub password_hash: PasswordHash,
    /// Whether the user may log in.
    pub status: UserStatus,
    /// When the user was created.
    pub created_at: OffsetDateTime,
    /// When the password was last set, for expiry.
    pub password_changed_at: OffsetDateTime,
    /// Consecutive failed logins since the last success.
    pub failed_logins: u32,
    /// Until when the account is locked after too many failures.
    pub locked_until: Option<OffsetDateTime>,
    /// The TOTP secret, wrapped under a master key, when the user enrolled one.
    pub totp: Option<crate::keys::MasterWrappedBlob>,
    /// The last TOTP step accepted.
    pub totp_last_step: Option<u64>,
}

/// A user's role in one organisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Membership {
    /// The organisation.
    pub org_id: OrgId,
    /// The user.
    pub user_id: UserId,
    /// The role there.
    pub role: Role,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_validated() {
        assert_eq!(Email::parse("  Ana.Smith@Example.ORG ").unwrap().as_str(), "ana.smith@example.org");
        for bad in
            ["", "plain", "@example.org", "a@", "a@b", "a b@example.org", "a@@example.org", "a@-x.org", "a@x..org"]
        {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Email::parse(&format!("{}@example.org", "a".repeat(65))).is_err());
    }

    #[test]
    fn debug_and_masked_hide_the_local_part() {
        let email = Email::parse("patient.zero@example.org").unwrap();
        assert_eq!(email.masked(), "p***@example.org");
        assert!(!format!("{email:?}").contains("patient"));
    }

    #[test]
    fn roles_round_trip_through_their_spelling() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        let err = "superuser".parse::<Role>().unwrap_err().to_string();
        assert!(err.contains("form-manager"), "{err}");
    }
}
