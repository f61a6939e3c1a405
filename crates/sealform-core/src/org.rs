//! Organisations: the tenants. Every row of tenant data carries an organisation id (DESIGN.md §4).

use std::fmt;

use time::OffsetDateTime;

use crate::DomainError;
use crate::ids::OrgId;

/// Longest organisation name accepted, in characters.
pub const MAX_ORG_NAME_CHARS: usize = 100;

/// A validated organisation name: trimmed, 1 to 100 characters, no control characters.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct OrgName(String);

impl OrgName {
    /// Validates and normalises a name.
    ///
    /// # Errors
    /// [`DomainError::Invalid`] naming the broken rule.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(DomainError::Invalid("organisation name must not be empty".into()));
        }
        if name.chars().count() > MAX_ORG_NAME_CHARS {
            return Err(DomainError::Invalid(format!(
                "organisation name must be at most {MAX_ORG_NAME_CHARS} characters"
            )));
        }
        if name.chars().any(char::is_control) {
            return Err(DomainError::Invalid("organisation name must not contain control characters".into()));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for OrgName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgName({:?})", self.0)
    }
}

/// An organisation as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organisation {
    /// Its id.
    pub id: OrgId,
    /// Its display name, unique on the installation.
    pub name: OrgName,
    /// When it was created.
    pub created_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(OrgName::parse("  Riverside Clinic ").unwrap().as_str(), "Riverside Clinic");
        assert!(OrgName::parse("   ").is_err());
        assert!(OrgName::parse(&"x".repeat(101)).is_err());
        assert!(OrgName::parse(&"é".repeat(100)).is_ok());
        assert!(OrgName::parse("bad\u{7}name").is_err());
    }
}
