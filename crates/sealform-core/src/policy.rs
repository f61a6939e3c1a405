//! What each role may do (DESIGN.md §6): the one table every handler consults, so no page or API route decides on
//! its own. Default deny: a permission not listed for a role is refused. Grants that narrow a role to forms come with
//! the authorization issue and will be checked here too.

use crate::user::Role;

/// An action on forms and submissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// See the organisation's forms and their questions.
    ViewForms,
    /// Create, edit, publish, duplicate and archive forms.
    ManageForms,
    /// Open submissions (answers and files).
    ReadSubmissions,
    /// Edit answers (a new revision) and set status.
    EditSubmissions,
    /// Delete submissions (crypto-shredding).
    DeleteSubmissions,
    /// Export submissions in bulk.
    ExportSubmissions,
}

/// Whether `role` may perform `permission` in its organisation.
#[must_use]
pub fn role_allows(role: Role, permission: Permission) -> bool {
    use Permission as P;
    match role {
        Role::Owner | Role::Admin => true,
        Role::FormManager => !matches!(permission, P::DeleteSubmissions),
        Role::Reviewer => matches!(permission, P::ViewForms | P::ReadSubmissions | P::EditSubmissions),
        Role::Approver => matches!(permission, P::ViewForms | P::ReadSubmissions),
        // Auditors read the trail, not the records it describes (minimum necessary).
        Role::Auditor => matches!(permission, P::ViewForms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_owners_and_admins_delete_and_auditors_see_no_answers() {
        for role in [Role::FormManager, Role::Reviewer, Role::Approver, Role::Auditor] {
            assert!(!role_allows(role, Permission::DeleteSubmissions), "{role:?}");
        }
        assert!(role_allows(Role::Admin, Permission::DeleteSubmissions));
        assert!(!role_allows(Role::Auditor, Permission::ReadSubmissions));
        assert!(!role_allows(Role::Reviewer, Permission::ManageForms));
        assert!(!role_allows(Role::Approver, Permission::ExportSubmissions));
    }
}
