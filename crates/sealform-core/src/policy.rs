//! The one authorization decision (DESIGN.md §6): [`authorize`] answers whether an actor (a signed-in member or an
//! API key) may perform an action on a resource (the organisation, or one form). Every handler that touches forms
//! and submissions asks it; none decides on its own. Default deny: anything not allowed below is refused.
//!
//! - Owners and admins have every right in their organisation.
//! - Every other role acts on a form only through a [`Grant`] on that form, and only with the rights its role may
//!   hold ([`role_cap`]): form managers view, edit, export and manage; reviewers view and edit; approvers view;
//!   auditors may see a form's questions but never its submissions.
//! - Form managers (and owners and admins) may create forms; the creator receives a manage grant.
//! - A grant that has expired counts for nothing (checked against the clock at every decision).
//! - An API key acts for its user, narrowed to its scopes and its form restriction: it never outranks its user.
//! - A resource of another organisation is always denied (handlers answer 404, since they never find it).

use time::OffsetDateTime;

use crate::api_keys::Scope;
use crate::form_model::{Definition, Question};
use crate::grants::{Grant, Right};
use crate::ids::{FormId, OrgId, UserId};
use crate::user::Role;

/// An action on the organisation, its forms or their submissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// List the organisation's forms (each then shown only if [`Action::ViewForm`] allows it).
    ListForms,
    /// Create a form in the organisation.
    CreateForm,
    /// See a form and its questions.
    ViewForm,
    /// Change a form: questions, title, status, duplicate.
    ManageForm,
    /// Submit answers to a form as a staff member or an API key, through either API (the public page needs no actor
    /// at all): any grant on the form will do, since submitting shows nothing back.
    SubmitForm,
    /// Open submissions of a form (answers and files).
    ReadSubmissions,
    /// Edit answers (a new revision), add notes and set status.
    EditSubmissions,
    /// Delete submissions (crypto-shredding).
    DeleteSubmissions,
    /// Export submissions in bulk.
    ExportSubmissions,
    /// Grant, revoke and decide access requests for a form.
    ManageAccess,
    /// Ask for access to a form.
    RequestAccess,
    /// Read the access review: who may see what in the organisation.
    ReviewAccess,
    /// Administer the organisation's members and API keys (invite, change roles, deactivate, revoke keys).
    ManageMembers,
    /// Search the organisation's audit trail.
    SearchAudit,
    /// Open time-boxed emergency access to a form for oneself ([`crate::break_glass`]).
    BreakGlass,
}

/// What an action is done to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    /// The organisation as a whole.
    Org(OrgId),
    /// One form of an organisation (and its submissions and files).
    Form {
        /// Its organisation.
        org: OrgId,
        /// The form.
        form: FormId,
    },
}

impl Resource {
    /// The organisation the resource belongs to.
    #[must_use]
    pub const fn org(self) -> OrgId {
        match self {
            Self::Org(org) | Self::Form { org, .. } => org,
        }
    }

    /// The form, when the resource is one.
    #[must_use]
    pub const fn form(self) -> Option<FormId> {
        match self {
            Self::Org(_) => None,
            Self::Form { form, .. } => Some(form),
        }
    }
}

/// A member of an organisation as authorization sees them: their role there and their grants.
#[derive(Clone, Copy, Debug)]
pub struct Member<'a> {
    /// The organisation.
    pub org: OrgId,
    /// The user.
    pub user: UserId,
    /// Their role in `org`.
    pub role: Role,
    /// Their grants in `org` (expired ones may be included: they are ignored).
    pub grants: &'a [Grant],
    /// They hold the emergency right: they may open break-glass access to a form.
    pub emergency: bool,
}

/// Who acts.
#[derive(Clone, Copy, Debug)]
pub enum Actor<'a> {
    /// A signed-in member.
    User(Member<'a>),
    /// An API key of a member: its scopes (already narrowed to the role) and optional form restriction.
    ApiKey {
        /// The key's user.
        member: Member<'a>,
        /// The key's scopes.
        scopes: &'a [Scope],
        /// The one form the key is restricted to, if any.
        form: Option<FormId>,
    },
}

impl<'a> Actor<'a> {
    /// The member acting (directly or through a key).
    #[must_use]
    pub const fn member(&self) -> &Member<'a> {
        match self {
            Self::User(member) | Self::ApiKey { member, .. } => member,
        }
    }
}

/// The answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// Refused, and why (for logs and the 403 page; never names another organisation's data).
    Deny(&'static str),
}

impl Decision {
    /// Whether the action is allowed.
    #[must_use]
    pub fn allowed(&self) -> bool {
        matches!(self, Self::Allow)
    }
}

/// The grant rights a role may hold: a grant gives at most these, whatever it says.
#[must_use]
pub fn role_cap(role: Role) -> &'static [Right] {
    match role {
        Role::Owner | Role::Admin | Role::FormManager => &Right::ALL,
        Role::Reviewer => &[Right::View, Right::Edit],
        Role::Approver | Role::Auditor => &[Right::View],
    }
}

/// Whether `role` has every right in its organisation.
#[must_use]
pub const fn is_org_admin(role: Role) -> bool {
    matches!(role, Role::Owner | Role::Admin)
}

/// The member's grant on `form` that is in force at `now`, if any.
#[must_use]
pub fn grant_in_force<'a>(member: &Member<'a>, form: FormId, now: OffsetDateTime) -> Option<&'a Grant> {
    grants_in_force(member, form, now).next()
}

/// Every grant of the member that applies to `form` at `now`: the one on the form and those on folders above it.
/// Their rights add up.
pub fn grants_in_force<'a, 'm>(
    member: &'m Member<'a>,
    form: FormId,
    now: OffsetDateTime,
) -> impl Iterator<Item = &'a Grant> + 'm {
    member
        .grants
        .iter()
        .filter(move |g| g.org == member.org && g.form == form && g.user == member.user && g.in_force(now))
}

/// The key scope an action needs.
const fn scope_for(action: Action) -> Option<Scope> {
    match action {
        Action::ListForms | Action::ViewForm | Action::ReadSubmissions => Some(Scope::Read),
        Action::CreateForm | Action::ManageForm | Action::EditSubmissions => Some(Scope::Write),
        Action::ExportSubmissions => Some(Scope::Export),
        Action::SubmitForm => Some(Scope::Submit),
        Action::DeleteSubmissions | Action::ManageAccess => Some(Scope::Admin),
        Action::ReviewAccess | Action::ManageMembers => Some(Scope::Admin),
        // Reading the trail is a read; the role decides whether the trail is theirs to read.
        Action::SearchAudit => Some(Scope::Read),
        // A key may ask on its user's behalf: the request names the user and grants nothing until an admin decides.
        Action::RequestAccess => Some(Scope::Read),
        // Breaking the glass is a person's act, never a key's.
        Action::BreakGlass => None,
    }
}

/// The grant right an action on a form needs.
const fn right_for(action: Action) -> Option<Right> {
    match action {
        Action::ReadSubmissions => Some(Right::View),
        Action::EditSubmissions => Some(Right::Edit),
        Action::ExportSubmissions => Some(Right::Export),
        Action::ManageForm => Some(Right::Manage),
        _ => None,
    }
}

/// Whether `actor` may perform `action` on `resource` at `now`. Default deny.
#[must_use]
pub fn authorize(actor: &Actor<'_>, action: Action, resource: Resource, now: OffsetDateTime) -> Decision {
    let member = actor.member();
    if resource.org() != member.org {
        return Decision::Deny("the resource belongs to another organisation");
    }
    if let Actor::ApiKey { scopes, form, .. } = actor {
        let Some(needed) = scope_for(action) else { return Decision::Deny("API keys cannot do this") };
        if !scopes.contains(&needed) {
            return Decision::Deny("the API key lacks the scope for this");
        }
        if let Some(only) = form {
            match resource.form() {
                Some(f) if f != *only => return Decision::Deny("the API key is restricted to another form"),
                None if action != Action::ListForms => {
                    return Decision::Deny("the API key is restricted to one form");
                }
                _ => {}
            }
        }
    }
    member_decision(member, matches!(actor, Actor::ApiKey { .. }), action, resource, now)
}

/// The grants an actor may use on `form` at `now`: the member's grants in force, but never a break-glass grant
/// through an API key (emergency access is for the person who opened it, in the console).
fn usable_grants<'a, 'm>(
    member: &'m Member<'a>,
    by_key: bool,
    form: FormId,
    now: OffsetDateTime,
) -> impl Iterator<Item = &'a Grant> + 'm {
    grants_in_force(member, form, now).filter(move |g| !(by_key && g.break_glass))
}

/// The member's own rights (an API key is then narrowed further by [`authorize`]).
fn member_decision(
    member: &Member<'_>,
    by_key: bool,
    action: Action,
    resource: Resource,
    now: OffsetDateTime,
) -> Decision {
    let role = member.role;
    if is_org_admin(role) {
        return Decision::Allow;
    }
    let form = match (action, resource) {
        (Action::ListForms, _) => return Decision::Allow,
        (Action::CreateForm, Resource::Org(_)) => {
            return if role == Role::FormManager {
                Decision::Allow
            } else {
                Decision::Deny("only form managers, admins and owners create forms")
            };
        }
        (Action::RequestAccess, Resource::Form { .. }) => return Decision::Allow,
        (Action::BreakGlass, Resource::Form { .. }) => {
            return if !member.emergency {
                Decision::Deny("you do not hold the emergency access right; ask an admin")
            } else if role == Role::Auditor {
                // Auditors read the trail, never the records: no emergency makes that otherwise.
                Decision::Deny("auditors never open submissions")
            } else {
                Decision::Allow
            };
        }
        // Auditors review who may see what (never the records themselves).
        (Action::ReviewAccess, Resource::Org(_)) if role == Role::Auditor => return Decision::Allow,
        (Action::ReviewAccess, _) => return Decision::Deny("the access review is for owners, admins and auditors"),
        (Action::SearchAudit, Resource::Org(_)) if role == Role::Auditor => return Decision::Allow,
        (Action::SearchAudit, _) => return Decision::Deny("the audit trail is for owners, admins and auditors"),
        (Action::DeleteSubmissions | Action::ManageAccess | Action::ManageMembers, _) => {
            return Decision::Deny("only admins and owners may do this");
        }
        (_, Resource::Form { form, .. }) => form,
        (_, Resource::Org(_)) => return Decision::Deny("this action needs a form"),
    };
    if role == Role::Auditor && !matches!(action, Action::ViewForm | Action::SubmitForm) {
        // Auditors read the trail, not the records it describes (minimum necessary).
        return Decision::Deny("auditors never open submissions");
    }
    if usable_grants(member, by_key, form, now).next().is_none() {
        return Decision::Deny("you have no access to this form; ask an admin for it");
    }
    let cap = role_cap(role);
    let held = |right: Right| {
        cap.contains(&right) && usable_grants(member, by_key, form, now).any(|g| g.rights.contains(&right))
    };
    match right_for(action) {
        // Seeing the form, or answering it as a member (which shows nothing back), needs any right the role may
        // hold: an auditor's synthetic check needs a view grant on the form it probes.
        None if matches!(action, Action::ViewForm | Action::SubmitForm) => {
            if Right::ALL.iter().any(|r| held(*r)) {
                Decision::Allow
            } else {
                Decision::Deny("your grant on this form gives your role no right")
            }
        }
        Some(right) if held(right) => Decision::Allow,
        _ => Decision::Deny("your grant on this form does not allow this"),
    }
}

/// Whether the actor sees the form's PHI fields masked (`•••`): a member working through a grant that hides PHI.
/// Owners and admins see everything; no request parameter changes this.
#[must_use]
pub fn hides_phi(actor: &Actor<'_>, form: FormId, now: OffsetDateTime) -> bool {
    let member = actor.member();
    if is_org_admin(member.role) {
        return false;
    }
    // Hidden unless some grant that applies shows it: a folder grant that hides PHI does not take away what a grant
    // on the form itself shows, and the other way round.
    usable_grants(member, matches!(actor, Actor::ApiKey { .. }), form, now).all(|g| g.hide_phi)
}

/// The answer paths of a form's PHI questions: masked for an actor whose grant hides PHI.
#[must_use]
pub fn phi_paths(definition: &Definition) -> Vec<String> {
    definition.questions.iter().filter(|q| q.phi && q.kind.takes_answer()).flat_map(Question::paths).collect()
}

/// The answer paths an actor whose grant hides PHI may have opened: the non-PHI answers only (staff notes are free
/// text and may hold PHI, so they stay closed too). `None` (open everything) when nothing is hidden.
#[must_use]
pub fn revealed_paths(definition: &Definition, hide_phi: bool) -> Option<Vec<String>> {
    hide_phi.then(|| {
        definition.questions.iter().filter(|q| !q.phi && q.kind.takes_answer()).flat_map(Question::paths).collect()
    })
}

/// What a masked answer shows.
pub const MASK: &str = "•••";

#[cfg(test)]
mod tests {
    use time::Duration;
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-01-10 12:00 UTC);

    fn grant(org: OrgId, form: FormId, user: UserId, rights: &[Right]) -> Grant {
        Grant {
            org,
            form,
            user,
            rights: rights.to_vec(),
            hide_phi: false,
            expires_at: None,
            granted_by: None,
            created_at: NOW - Duration::days(1),
            break_glass: false,
            via_folder: None,
        }
    }

    fn ids() -> (OrgId, FormId, UserId) {
        (OrgId::new(), FormId::new(), UserId::new())
    }

    fn check(role: Role, grants: &[Grant], org: OrgId, user: UserId, action: Action, resource: Resource) -> bool {
        authorize(&Actor::User(Member { org, user, role, grants, emergency: false }), action, resource, NOW).allowed()
    }

    #[test]
    fn owners_and_admins_have_every_right_in_their_org_only() {
        let (org, form, user) = ids();
        for role in [Role::Owner, Role::Admin] {
            for action in [Action::DeleteSubmissions, Action::ManageAccess, Action::ReadSubmissions] {
                assert!(check(role, &[], org, user, action, Resource::Form { org, form }));
                assert!(!check(role, &[], org, user, action, Resource::Form { org: OrgId::new(), form }));
            }
        }
    }

    #[test]
    fn other_roles_need_a_grant_and_are_capped_by_their_role() {
        let (org, form, user) = ids();
        let on_form = Resource::Form { org, form };
        for role in [Role::FormManager, Role::Reviewer, Role::Approver, Role::Auditor] {
            for action in [Action::ViewForm, Action::ReadSubmissions, Action::EditSubmissions, Action::ManageForm] {
                assert!(!check(role, &[], org, user, action, on_form), "{role:?} {action:?} without a grant");
            }
        }
        let all = [grant(org, form, user, &Right::ALL)];
        assert!(check(Role::FormManager, &all, org, user, Action::ManageForm, on_form));
        assert!(check(Role::FormManager, &all, org, user, Action::ExportSubmissions, on_form));
        assert!(!check(Role::FormManager, &all, org, user, Action::DeleteSubmissions, on_form));
        assert!(check(Role::Reviewer, &all, org, user, Action::EditSubmissions, on_form));
        assert!(!check(Role::Reviewer, &all, org, user, Action::ExportSubmissions, on_form));
        assert!(!check(Role::Reviewer, &all, org, user, Action::ManageForm, on_form));
        assert!(check(Role::Approver, &all, org, user, Action::ReadSubmissions, on_form));
        assert!(!check(Role::Approver, &all, org, user, Action::EditSubmissions, on_form));
        assert!(check(Role::Auditor, &all, org, user, Action::ViewForm, on_form));
        assert!(check(Role::Auditor, &all, org, user, Action::SubmitForm, on_form));
        assert!(!check(Role::Auditor, &[], org, user, Action::SubmitForm, on_form));
        assert!(!check(Role::Auditor, &all, org, user, Action::ReadSubmissions, on_form));
        // A grant on another form, or for another user, is no grant here.
        let elsewhere = [grant(org, FormId::new(), user, &Right::ALL), grant(org, form, UserId::new(), &Right::ALL)];
        assert!(!check(Role::Reviewer, &elsewhere, org, user, Action::ReadSubmissions, on_form));
    }

    #[test]
    fn expired_grants_stop_working_by_themselves() {
        let (org, form, user) = ids();
        let mut g = grant(org, form, user, &[Right::View]);
        g.expires_at = Some(NOW + Duration::minutes(1));
        let member = Member { org, user, role: Role::Reviewer, grants: std::slice::from_ref(&g), emergency: false };
        let resource = Resource::Form { org, form };
        assert!(authorize(&Actor::User(member), Action::ReadSubmissions, resource, NOW).allowed());
        let later = NOW + Duration::minutes(1);
        assert!(!authorize(&Actor::User(member), Action::ReadSubmissions, resource, later).allowed());
    }

    #[test]
    fn only_form_managers_and_admins_create_forms() {
        let (org, _, user) = ids();
        assert!(check(Role::FormManager, &[], org, user, Action::CreateForm, Resource::Org(org)));
        for role in [Role::Reviewer, Role::Approver, Role::Auditor] {
            assert!(!check(role, &[], org, user, Action::CreateForm, Resource::Org(org)));
        }
    }

    #[test]
    fn keys_are_narrowed_by_scope_and_form_and_never_outrank_their_user() {
        let (org, form, user) = ids();
        let grants = [grant(org, form, user, &[Right::View])];
        let member = Member { org, user, role: Role::Reviewer, grants: &grants, emergency: false };
        let resource = Resource::Form { org, form };
        let key = |scopes: &'static [Scope], only: Option<FormId>| Actor::ApiKey { member, scopes, form: only };
        assert!(authorize(&key(&[Scope::Read], None), Action::ReadSubmissions, resource, NOW).allowed());
        assert!(!authorize(&key(&[Scope::Submit], None), Action::ReadSubmissions, resource, NOW).allowed());
        assert!(
            !authorize(&key(&[Scope::Read], Some(FormId::new())), Action::ReadSubmissions, resource, NOW).allowed()
        );
        assert!(authorize(&key(&[Scope::Read], Some(form)), Action::ReadSubmissions, resource, NOW).allowed());
        // The user may not edit: neither may the key, whatever its scopes.
        assert!(!authorize(&key(&Scope::ALL, None), Action::EditSubmissions, resource, NOW).allowed());
    }

    #[test]
    fn owners_admins_and_auditors_review_access() {
        let (org, form, user) = ids();
        for role in [Role::Owner, Role::Admin, Role::Auditor] {
            assert!(check(role, &[], org, user, Action::ReviewAccess, Resource::Org(org)), "{role:?}");
        }
        for role in [Role::FormManager, Role::Reviewer, Role::Approver] {
            assert!(!check(role, &[], org, user, Action::ReviewAccess, Resource::Org(org)), "{role:?}");
        }
        assert!(!check(Role::Auditor, &[], org, user, Action::ReviewAccess, Resource::Form { org, form }));
    }

    #[test]
    fn members_and_audit_are_for_their_roles_and_keys_need_the_scope() {
        let (org, form, user) = ids();
        let org_res = Resource::Org(org);
        for role in [Role::Owner, Role::Admin, Role::Auditor] {
            assert!(check(role, &[], org, user, Action::SearchAudit, org_res), "{role:?}");
        }
        for role in [Role::FormManager, Role::Reviewer, Role::Approver] {
            assert!(!check(role, &[], org, user, Action::SearchAudit, org_res), "{role:?}");
            assert!(!check(role, &[], org, user, Action::ManageMembers, org_res), "{role:?}");
        }
        assert!(!check(Role::Auditor, &[], org, user, Action::ManageMembers, org_res));
        assert!(check(Role::Admin, &[], org, user, Action::ManageMembers, org_res));
        let member = Member { org, user, role: Role::Auditor, grants: &[], emergency: false };
        let key = |scopes: &'static [Scope]| Actor::ApiKey { member, scopes, form: None };
        assert!(authorize(&key(&[Scope::Read]), Action::SearchAudit, org_res, NOW).allowed());
        assert!(!authorize(&key(&[Scope::Submit]), Action::SearchAudit, org_res, NOW).allowed());
        // Submitting through a key needs the submit scope and, as in the console, a grant on the form.
        let on_form = Resource::Form { org, form };
        let granted = [grant(org, form, user, &[Right::View])];
        let reviewer = Member { org, user, role: Role::Reviewer, grants: &granted, emergency: false };
        let key = |member, scopes: &'static [Scope]| Actor::ApiKey { member, scopes, form: None };
        assert!(authorize(&key(reviewer, &[Scope::Submit]), Action::SubmitForm, on_form, NOW).allowed());
        assert!(!authorize(&key(reviewer, &[Scope::Read]), Action::SubmitForm, on_form, NOW).allowed());
        let ungranted = Member { grants: &[], ..reviewer };
        assert!(!authorize(&key(ungranted, &[Scope::Submit]), Action::SubmitForm, on_form, NOW).allowed());
    }

    #[test]
    fn phi_is_hidden_by_the_grant_and_never_for_admins() {
        let (org, form, user) = ids();
        let mut g = grant(org, form, user, &[Right::View]);
        g.hide_phi = true;
        let grants = [g];
        let reviewer = Actor::User(Member { org, user, role: Role::Reviewer, grants: &grants, emergency: false });
        assert!(hides_phi(&reviewer, form, NOW));
        let admin = Actor::User(Member { org, user, role: Role::Admin, grants: &grants, emergency: false });
        assert!(!hides_phi(&admin, form, NOW));
    }

    #[test]
    fn only_members_with_the_emergency_right_break_the_glass_and_never_by_key() {
        let (org, form, user) = ids();
        let resource = Resource::Form { org, form };
        let member = |role, emergency| Member { org, user, role, grants: &[], emergency };
        let decide = |actor: Actor<'_>| authorize(&actor, Action::BreakGlass, resource, NOW).allowed();
        assert!(decide(Actor::User(member(Role::Reviewer, true))));
        assert!(decide(Actor::User(member(Role::FormManager, true))));
        assert!(!decide(Actor::User(member(Role::Reviewer, false))), "the right is needed");
        assert!(!decide(Actor::User(member(Role::Auditor, true))), "auditors never open records");
        assert!(!decide(Actor::ApiKey { member: member(Role::Reviewer, true), scopes: &Scope::ALL, form: None }));
        let elsewhere = Resource::Form { org: OrgId::new(), form };
        assert!(!authorize(&Actor::User(member(Role::Reviewer, true)), Action::BreakGlass, elsewhere, NOW).allowed());
    }

    #[test]
    fn rights_from_a_folder_grant_and_a_form_grant_add_up_and_phi_shows_if_either_shows_it() {
        let (org, form, user) = ids();
        let resource = Resource::Form { org, form };
        let direct = Grant { hide_phi: true, ..grant(org, form, user, &[Right::View]) };
        let folder = Grant { via_folder: Some(crate::ids::FolderId::new()), ..grant(org, form, user, &[Right::Edit]) };
        let grants = [direct.clone(), folder.clone()];
        let member = Member { org, user, role: Role::Reviewer, grants: &grants, emergency: false };
        let actor = Actor::User(member);
        assert!(authorize(&actor, Action::ReadSubmissions, resource, NOW).allowed(), "view from the form grant");
        assert!(authorize(&actor, Action::EditSubmissions, resource, NOW).allowed(), "edit from the folder grant");
        assert!(!authorize(&actor, Action::ExportSubmissions, resource, NOW).allowed());
        assert!(!hides_phi(&actor, form, NOW), "the folder grant shows PHI");
        let both_hide = [direct, Grant { hide_phi: true, ..folder }];
        let member = Member { org, user, role: Role::Reviewer, grants: &both_hide, emergency: false };
        assert!(hides_phi(&Actor::User(member), form, NOW));
    }

    #[test]
    fn a_break_glass_grant_serves_the_person_never_their_api_keys() {
        let (org, form, user) = ids();
        let resource = Resource::Form { org, form };
        let emergency = Grant { break_glass: true, ..grant(org, form, user, &[Right::View]) };
        let grants = [emergency];
        let member = Member { org, user, role: Role::Reviewer, grants: &grants, emergency: true };
        assert!(authorize(&Actor::User(member), Action::ReadSubmissions, resource, NOW).allowed());
        let key = Actor::ApiKey { member, scopes: &Scope::ALL, form: None };
        assert!(!authorize(&key, Action::ReadSubmissions, resource, NOW).allowed(), "keys cannot use it");
        assert!(hides_phi(&key, form, NOW) && !hides_phi(&Actor::User(member), form, NOW));
    }
}
