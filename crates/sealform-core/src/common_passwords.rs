//! The compiled-in list of common and breached passwords (issue #7: at least 100k entries).
//!
//! The list is checked only when a password is *chosen* (set, changed, reset), never at login, so a user whose old
//! password later joins the list can still sign in and is asked for a new one through the normal paths.

use std::sync::LazyLock;

/// One lower-cased entry per line, sorted bytewise (see `data/README.md` for the sources and licences).
const LIST: &str = include_str!("../data/common-passwords.txt");

/// The entries as slices of the embedded text. Sorted already, so no copy of the strings and no hashing.
static ENTRIES: LazyLock<Vec<&'static str>> = LazyLock::new(|| LIST.lines().collect());

/// Whether `password`, compared without regard to letter case, is on the list.
#[must_use]
pub fn is_common(password: &str) -> bool {
    let lowered = zeroize::Zeroizing::new(password.to_lowercase());
    ENTRIES.binary_search(&lowered.as_str()).is_ok()
}

/// How many entries the list holds.
#[must_use]
pub fn len() -> usize {
    ENTRIES.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_large_sorted_lowercase_and_unique() {
        assert!(len() >= 100_000, "only {} entries", len());
        assert!(ENTRIES.windows(2).all(|w| w[0] < w[1]), "the list must be strictly sorted for binary search");
        assert!(ENTRIES.iter().all(|e| !e.is_empty() && *e == e.to_lowercase()));
    }

    #[test]
    fn known_breached_passwords_are_found_in_any_case() {
        for common in ["password", "Password1", "QWERTYUIOP", "iloveyou", "trustno1", "passw0rd", "letmein"] {
            assert!(is_common(common), "{common} should be on the list");
        }
    }

    #[test]
    fn uncommon_passwords_pass() {
        for fine in ["correct horse battery staple", "a long enough password", "Tr4vel-Mug-Otter-Quilt"] {
            assert!(!is_common(fine), "{fine} should not be on the list");
        }
    }

    #[test]
    fn first_and_last_entries_are_found() {
        // The edges of a binary search are where an off-by-one hides.
        assert!(is_common(ENTRIES[0]));
        assert!(is_common(ENTRIES[len() - 1]));
    }
}
