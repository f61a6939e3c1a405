//! Domain fixtures for storage tests: organisations with real keys, users with placeholder hashes.

use std::sync::{Arc, OnceLock};

use sealform_core::audit::{Action, Actor, AuditScope, Auditor, Entry, PendingAudit, RequestContext};
use sealform_core::ids::{OrgId, UserId};
use sealform_core::keys::new_org_key;
use sealform_core::org::OrgName;
use sealform_core::password::PasswordHash;
use sealform_core::store::{NewOrganisation, NewUser};
use sealform_core::user::Email;
use sealform_crypto::{AuditKeys, KeyEncryptionKey, MasterKey, Suite};
use time::OffsetDateTime;

/// One master key for the whole test binary.
///
/// # Panics
/// When the system RNG fails.
pub fn master() -> Arc<dyn KeyEncryptionKey> {
    static MASTER: OnceLock<Arc<dyn KeyEncryptionKey>> = OnceLock::new();
    Arc::clone(MASTER.get_or_init(|| Arc::new(MasterKey::generate().expect("system RNG"))))
}

/// A new organisation named `name`, with a hybrid-suite key wrapped under [`master`].
///
/// # Panics
/// On an invalid name or a key generation failure.
#[must_use]
pub fn organisation(name: &str) -> NewOrganisation {
    organisation_with_suite(name, Suite::HybridMlKem768X25519)
}

/// As [`organisation`], with the given suite.
///
/// # Panics
/// On an invalid name or a key generation failure.
#[must_use]
pub fn organisation_with_suite(name: &str, suite: Suite) -> NewOrganisation {
    let id = OrgId::new();
    let created_at = OffsetDateTime::now_utc();
    let key = new_org_key(master().as_ref(), id, suite, created_at).expect("organisation key");
    NewOrganisation { id, name: OrgName::parse(name).expect("organisation name"), created_at, key }
}

/// A new user; storage does not care how the hash was made, so a fixed PHC string keeps tests fast.
///
/// # Panics
/// On an invalid e-mail.
#[must_use]
pub fn user(email: &str) -> NewUser {
    NewUser {
        id: UserId::new(),
        email: Email::parse(email).expect("e-mail"),
        password_hash: PasswordHash::from_phc(format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$fake-{email}")),
    }
}

/// One set of audit keys for the whole test binary.
///
/// # Panics
/// When the system RNG fails.
pub fn auditor() -> Arc<Auditor> {
    static AUDITOR: OnceLock<Arc<Auditor>> = OnceLock::new();
    Arc::clone(AUDITOR.get_or_init(|| Arc::new(Auditor::new(AuditKeys::generate().expect("system RNG")))))
}

/// An operator scope for tests.
#[must_use]
pub fn scope() -> AuditScope {
    AuditScope { actor: Actor::Operator, context: RequestContext::default() }
}

/// A pending audit entry for `action`, for store tests that call store methods directly.
///
/// # Panics
/// When sealing fails.
#[must_use]
pub fn audit(action: Action) -> PendingAudit {
    auditor().prepare(&scope(), Entry::ok(None, action, Vec::new(), OffsetDateTime::now_utc())).expect("audit entry")
}
