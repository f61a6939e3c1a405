//! Members and grants for authorization tests, made directly through the core services.

use sealform_core::audit::AuditScope;
use sealform_core::grants::{GrantTerms, Right, grant_access};
use sealform_core::ids::{FormId, UserId};
use sealform_core::user::{Email, Role};

use super::*;

impl<S: Store> Console<S> {
    /// Adds `email` to organisation A with `role` and signs them in; returns the session cookie.
    pub async fn member_session(&self, email: &str, role: Role) -> String {
        let scope = AuditScope::operator();
        let audit = AuditCtx { auditor: &self.auditor, scope: &scope };
        let password = SecretString::from(PASSWORD.to_owned());
        sealform_core::admin::add_user(&self.store, &self.clock, audit, self.org_a, email, role, password)
            .await
            .unwrap();
        format!("__Host-sealform={}", self.login(email, PASSWORD).await.1.unwrap())
    }

    /// The user id of `email`.
    pub async fn user_id(&self, email: &str) -> UserId {
        self.store.user_by_email(&Email::parse(email).unwrap()).await.unwrap().unwrap().id
    }

    /// Grants `email` `rights` on `form` of organisation A (as an operator), optionally hiding PHI and expiring.
    pub async fn grant(&self, email: &str, form: FormId, rights: &[Right], hide_phi: bool, expires: Option<Duration>) {
        let scope = AuditScope::operator();
        let audit = AuditCtx { auditor: &self.auditor, scope: &scope };
        let user = self.user_id(email).await;
        let terms = GrantTerms { rights: rights.to_vec(), hide_phi, expires_at: expires.map(|d| self.clock.now() + d) };
        grant_access(&self.store, audit, self.org_a, form, user, &terms, None, self.clock.now()).await.unwrap();
    }
}
