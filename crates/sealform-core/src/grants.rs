//! Grants and access requests (DESIGN.md §6): a grant gives one member rights on one form (view, edit, export,
//! manage), optionally hiding the form's PHI fields and optionally until a moment, after which it stops working by
//! itself. Members ask for access with a reason; owners and admins approve (which grants) or deny. Every change is
//! audited with the state before and after in the entry's fields.

use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::DomainError;
use crate::audit::{Action, AuditCtx, Entry, Target};
use crate::ids::{FolderId, FormId, OrgId, UserId};
use crate::policy::{is_org_admin, role_cap};
use crate::store::Store;
use crate::user::{Email, Role};

/// A right a grant gives on a form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Right {
    /// See the form and read its submissions.
    View,
    /// Edit submissions (answers, notes, status).
    Edit,
    /// Export submissions.
    Export,
    /// Change the form itself.
    Manage,
}

impl Right {
    /// Every right.
    pub const ALL: [Self; 4] = [Self::View, Self::Edit, Self::Export, Self::Manage];

    /// The stable spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::View => "view",
            Self::Edit => "edit",
            Self::Export => "export",
            Self::Manage => "manage",
        }
    }

    /// Rights from their comma-separated spelling (storage).
    ///
    /// # Errors
    /// [`DomainError::Invalid`] for an unknown right.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, DomainError> {
        let mut rights: Vec<Self> =
            text.split(',').map(str::trim).filter(|r| !r.is_empty()).map(str::parse).collect::<Result<_, _>>()?;
        rights.sort();
        rights.dedup();
        Ok(rights)
    }

    /// The comma-separated spelling of `rights`.
    #[must_use]
    pub fn join(rights: &[Self]) -> String {
        rights.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
    }
}

impl fmt::Display for Right {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Right {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| DomainError::Invalid("unknown right; expected view, edit, export or manage".into()))
    }
}

/// One member's rights on one form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The organisation.
    pub org: OrgId,
    /// The form.
    pub form: FormId,
    /// The member.
    pub user: UserId,
    /// The rights, sorted, without repeats.
    pub rights: Vec<Right>,
    /// The member sees `•••` instead of the answers to PHI questions, which are never decrypted for them.
    pub hide_phi: bool,
    /// When it stops working, if ever.
    pub expires_at: Option<OffsetDateTime>,
    /// Who gave it (`None`: Sealform itself, e.g. to a form's creator).
    pub granted_by: Option<UserId>,
    /// When.
    pub created_at: OffsetDateTime,
    /// Opened by the member themself in an emergency ([`crate::break_glass`]): flagged in reviews and the console.
    pub break_glass: bool,
    /// Not a grant on the form itself: the member's grant on this folder (above the form), applied to it.
    pub via_folder: Option<FolderId>,
}

impl Grant {
    /// Whether the grant works at `now` (it has not expired).
    #[must_use]
    pub fn in_force(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }

    /// A one-line description for the audit trail (no PHI: rights, the flag, the expiry).
    #[must_use]
    pub fn describe(&self) -> String {
        let flag = if self.break_glass { ";break_glass=true" } else { "" };
        format!("{}{flag}", describe_terms(&self.rights, self.hide_phi, self.expires_at))
    }
}

/// Rights, the PHI flag and the expiry in one line, for the audit trail (no PHI).
pub(crate) fn describe_terms(rights: &[Right], hide_phi: bool, expires_at: Option<OffsetDateTime>) -> String {
    let expires = expires_at
        .and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| "never".to_owned());
    format!("rights={};hide_phi={hide_phi};expires={expires}", Right::join(rights))
}

/// A grant with its member's login, for the access page.
#[derive(Clone, Debug)]
pub struct GrantRecord {
    /// The grant.
    pub grant: Grant,
    /// The member's login.
    pub email: Email,
}

/// Where an access request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestStatus {
    /// Waiting for an owner or admin.
    Pending,
    /// Approved (a grant was made).
    Approved,
    /// Denied.
    Denied,
}

impl RequestStatus {
    /// The stable spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
        }
    }

    /// From the stable spelling.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Denied].into_iter().find(|s| s.as_str() == text)
    }
}

/// A member's request for access to a form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessRequest {
    /// Its id.
    pub id: Uuid,
    /// The organisation.
    pub org: OrgId,
    /// The form.
    pub form: FormId,
    /// Who asks.
    pub user: UserId,
    /// Why (shown to owners and admins on the access page only; never mailed).
    pub reason: String,
    /// Where it stands.
    pub status: RequestStatus,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// Who decided.
    pub decided_by: Option<UserId>,
    /// When.
    pub decided_at: Option<OffsetDateTime>,
}

/// A request with its member's login, for the access page.
#[derive(Clone, Debug)]
pub struct AccessRequestRecord {
    /// The request.
    pub request: AccessRequest,
    /// The member's login.
    pub email: Email,
}

/// Longest reason for an access request, in characters.
pub const MAX_REASON_CHARS: usize = 1_000;

/// What an owner or admin grants.
#[derive(Clone, Debug)]
pub struct GrantTerms {
    /// The rights.
    pub rights: Vec<Right>,
    /// Hide PHI fields.
    pub hide_phi: bool,
    /// Until when, if ever.
    pub expires_at: Option<OffsetDateTime>,
}

/// The member `user`'s role in `org`, or [`DomainError::NotFound`] when they are not a member.
pub(crate) async fn role_in<S: Store>(store: &S, org: OrgId, user: UserId) -> Result<Role, DomainError> {
    store
        .memberships_of(user)
        .await?
        .into_iter()
        .find(|m| m.org_id == org)
        .map(|m| m.role)
        .ok_or_else(|| DomainError::NotFound("no such member of this organisation".into()))
}

/// Checks the terms against the member's role and the clock.
pub(crate) fn checked(terms: &GrantTerms, role: Role, now: OffsetDateTime) -> Result<Vec<Right>, DomainError> {
    let mut rights = terms.rights.clone();
    rights.sort();
    rights.dedup();
    if rights.is_empty() {
        return Err(DomainError::Invalid("choose at least one right".into()));
    }
    if is_org_admin(role) {
        return Err(DomainError::Invalid("owners and admins have every right already; they need no grant".into()));
    }
    let cap = role_cap(role);
    if let Some(beyond) = rights.iter().find(|r| !cap.contains(r)) {
        return Err(DomainError::Invalid(format!("the role {role} cannot hold the right {beyond}")));
    }
    if terms.expires_at.is_some_and(|at| at <= now) {
        return Err(DomainError::Invalid("the expiry must be in the future".into()));
    }
    Ok(rights)
}

pub(crate) fn before_after(before: Option<&Grant>, after: Option<&Grant>) -> Vec<String> {
    let describe = |g: Option<&Grant>| g.map_or_else(|| "none".to_owned(), Grant::describe);
    vec![format!("before:{}", describe(before)), format!("after:{}", describe(after))]
}

/// Gives (or replaces) `user`'s grant on `form`, audited as `grant.create` with the grant before and after.
///
/// # Errors
/// [`DomainError::NotFound`] for a user who is not a member or a form not in `org`; [`DomainError::Invalid`] for
/// rights the member's role cannot hold, no rights, or an expiry in the past.
#[expect(clippy::too_many_arguments, reason = "who grants what to whom on which form, each argument distinct")]
pub async fn grant_access<S: Store>(
    store: &S,
    audit: AuditCtx<'_>,
    org: OrgId,
    form: FormId,
    user: UserId,
    terms: &GrantTerms,
    granted_by: Option<UserId>,
    now: OffsetDateTime,
) -> Result<Grant, DomainError> {
    store.tenant(org).form(form).await?.ok_or_else(|| DomainError::NotFound("no such form".into()))?;
    let role = role_in(store, org, user).await?;
    let rights = checked(terms, role, now)?;
    let grant = Grant {
        org,
        form,
        user,
        rights,
        hide_phi: terms.hide_phi,
        expires_at: terms.expires_at,
        granted_by,
        created_at: now,
        break_glass: false,
        via_folder: None,
    };
    let before = store.tenant(org).grant(form, user).await?;
    let entry = grant_entry(audit, Action::GrantCreate, &grant, before.as_ref(), Some(&grant), now)?;
    store.tenant(grant.org).put_grant(grant.clone(), vec![entry]).await?;
    Ok(grant)
}

fn grant_entry(
    audit: AuditCtx<'_>,
    action: Action,
    grant: &Grant,
    before: Option<&Grant>,
    after: Option<&Grant>,
    now: OffsetDateTime,
) -> Result<crate::audit::PendingAudit, DomainError> {
    let targets = vec![Target::new("form", grant.form), Target::new("user", grant.user)];
    audit.entry(Entry::ok(Some(grant.org), action, targets, now).with_fields(before_after(before, after)))
}

/// Removes `user`'s grant on `form`, audited as `grant.revoke` with the grant before (and `none` after).
///
/// # Errors
/// [`DomainError::NotFound`] when there is no such grant.
pub async fn revoke_access<S: Store>(
    store: &S,
    audit: AuditCtx<'_>,
    org: OrgId,
    form: FormId,
    user: UserId,
    now: OffsetDateTime,
) -> Result<(), DomainError> {
    let before =
        store.tenant(org).grant(form, user).await?.ok_or_else(|| DomainError::NotFound("no such grant".into()))?;
    let entry = grant_entry(audit, Action::GrantRevoke, &before, Some(&before), None, now)?;
    if store.tenant(org).delete_grant(form, user, entry).await? {
        Ok(())
    } else {
        Err(DomainError::NotFound("no such grant".into()))
    }
}

/// Records `user`'s request for access to `form`, audited as `access_request.create` (the reason is not in the
/// trail). One pending request per member and form: asking again is refused with [`DomainError::Conflict`].
///
/// # Errors
/// [`DomainError::Invalid`] for an empty or over-long reason; [`DomainError::NotFound`] for an unknown form.
pub async fn request_access<S: Store>(
    store: &S,
    audit: AuditCtx<'_>,
    org: OrgId,
    form: FormId,
    user: UserId,
    reason: &str,
    now: OffsetDateTime,
) -> Result<AccessRequest, DomainError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(DomainError::Invalid(format!("give a reason of 1 to {MAX_REASON_CHARS} characters")));
    }
    // Text, not bytes: control characters (NUL among them, which PostgreSQL cannot store) are refused.
    if reason.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(DomainError::Invalid("the reason may not contain control characters".into()));
    }
    store.tenant(org).form(form).await?.ok_or_else(|| DomainError::NotFound("no such form".into()))?;
    if store.tenant(org).access_requests_of_form(form).await?.iter().any(|r| r.request.user == user) {
        return Err(DomainError::Conflict("you asked for access to this form already; an admin will decide".into()));
    }
    let request = AccessRequest {
        id: Uuid::now_v7(),
        org,
        form,
        user,
        reason: reason.to_owned(),
        status: RequestStatus::Pending,
        created_at: now,
        decided_by: None,
        decided_at: None,
    };
    let targets = vec![Target::new("access_request", request.id), Target::new("form", form), Target::new("user", user)];
    let entry = audit.entry(Entry::ok(Some(org), Action::AccessRequestCreate, targets, now))?;
    store.tenant(request.org).insert_access_request(request.clone(), entry).await?;
    Ok(request)
}

/// Approves (with `terms`: a grant is made, audited as `grant.create` too) or denies (`None`) a pending request,
/// audited as `access_request.decide` with the status before and after.
///
/// # Errors
/// [`DomainError::NotFound`] for an unknown or already decided request; as [`grant_access`] for the terms.
pub async fn decide_access<S: Store>(
    store: &S,
    audit: AuditCtx<'_>,
    org: OrgId,
    request: Uuid,
    decided_by: UserId,
    terms: Option<&GrantTerms>,
    now: OffsetDateTime,
) -> Result<AccessRequest, DomainError> {
    let mut found = store
        .tenant(org)
        .access_request(request)
        .await?
        .filter(|r| r.status == RequestStatus::Pending)
        .ok_or_else(|| DomainError::NotFound("no such pending request".into()))?;
    let mut entries = Vec::with_capacity(2);
    let grant = match terms {
        Some(terms) => {
            let role = role_in(store, org, found.user).await?;
            let rights = checked(terms, role, now)?;
            let grant = Grant {
                org,
                form: found.form,
                user: found.user,
                rights,
                hide_phi: terms.hide_phi,
                expires_at: terms.expires_at,
                granted_by: Some(decided_by),
                created_at: now,
                break_glass: false,
                via_folder: None,
            };
            let before = store.tenant(org).grant(found.form, found.user).await?;
            entries.push(grant_entry(audit, Action::GrantCreate, &grant, before.as_ref(), Some(&grant), now)?);
            Some(grant)
        }
        None => None,
    };
    found.status = if grant.is_some() { RequestStatus::Approved } else { RequestStatus::Denied };
    found.decided_by = Some(decided_by);
    found.decided_at = Some(now);
    let targets =
        vec![Target::new("access_request", found.id), Target::new("form", found.form), Target::new("user", found.user)];
    let fields = vec!["before:pending".to_owned(), format!("after:{}", found.status.as_str())];
    entries
        .insert(0, audit.entry(Entry::ok(Some(org), Action::AccessRequestDecide, targets, now).with_fields(fields))?);
    if store.tenant(found.org).decide_access_request(found.clone(), grant, entries).await? {
        Ok(found)
    } else {
        Err(DomainError::NotFound("no such pending request".into()))
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn rights_round_trip_sorted() {
        assert_eq!(Right::parse_list("export,view,view").unwrap(), vec![Right::View, Right::Export]);
        assert_eq!(Right::join(&[Right::View, Right::Manage]), "view,manage");
        assert!(Right::parse_list("view,delete").is_err());
    }

    #[test]
    fn terms_respect_the_role_and_the_clock() {
        let now = datetime!(2026-01-10 12:00 UTC);
        let terms = |rights: &[Right], expires_at| GrantTerms { rights: rights.to_vec(), hide_phi: false, expires_at };
        assert!(checked(&terms(&[Right::View, Right::Edit], None), Role::Reviewer, now).is_ok());
        assert!(checked(&terms(&[Right::Export], None), Role::Reviewer, now).is_err());
        assert!(checked(&terms(&[], None), Role::Reviewer, now).is_err());
        assert!(checked(&terms(&[Right::View], None), Role::Admin, now).is_err());
        assert!(checked(&terms(&[Right::View], Some(now)), Role::Approver, now).is_err());
    }

    #[test]
    fn the_description_names_rights_flag_and_expiry() {
        let now = datetime!(2026-01-10 12:00 UTC);
        let grant = Grant {
            org: OrgId::new(),
            form: FormId::new(),
            user: UserId::new(),
            rights: vec![Right::View],
            hide_phi: true,
            expires_at: Some(now),
            granted_by: None,
            created_at: now,
            break_glass: false,
            via_folder: None,
        };
        assert_eq!(grant.describe(), "rights=view;hide_phi=true;expires=2026-01-10T12:00:00Z");
        assert!(grant.in_force(now - time::Duration::seconds(1)));
        assert!(!grant.in_force(now));
        let emergency = Grant { break_glass: true, ..grant };
        assert_eq!(emergency.describe(), "rights=view;hide_phi=true;expires=2026-01-10T12:00:00Z;break_glass=true");
    }
}
