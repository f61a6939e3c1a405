//! Break-glass (DESIGN.md §6): in an emergency a member who holds the emergency right opens access to a form for
//! themself, at once, with a mandatory reason and for a short, fixed time. Nobody approves it first; instead the
//! owners and admins are told at once (e-mail, and the console lists it), it is audited as `grant.break_glass` with
//! the reason (sealed, like every audit detail), the grant is flagged wherever grants are shown, and it stops working
//! by itself when its time is up.
//!
//! The grant reads only (the `view` right) and never hides PHI: the point is to see the record.

use time::{Duration, OffsetDateTime};

use crate::DomainError;
use crate::audit::{Action, AuditCtx, Entry, Target};
use crate::grants::{Grant, Right, role_in};
use crate::ids::{FormId, OrgId, UserId};
use crate::mail::{Mail, Mailer};
use crate::policy::is_org_admin;
use crate::store::Store;
use crate::user::{Email, UserStatus};

/// How long emergency access may last, in minutes; the member picks one.
pub const DURATIONS_MINUTES: [i64; 5] = [15, 30, 60, 120, 240];

/// The shortest reason accepted, in characters: "emergency" alone says nothing a reviewer can check.
pub const MIN_REASON_CHARS: usize = 10;
/// The longest.
pub const MAX_REASON_CHARS: usize = 1_000;

/// What a member asks for when breaking the glass.
#[derive(Clone, Copy, Debug)]
pub struct Emergency<'a> {
    /// The organisation.
    pub org: OrgId,
    /// The form to open.
    pub form: FormId,
    /// The member (who must hold the emergency right: the caller has asked the policy).
    pub user: UserId,
    /// Why, in the member's words.
    pub reason: &'a str,
    /// For how long, one of [`DURATIONS_MINUTES`].
    pub minutes: i64,
}

/// Opens emergency access: a `view` grant on the form for the member, flagged as break-glass, ending `minutes` from
/// `now`. Audited as `grant.break_glass` (with the reason and the duration) and `grant.create` (before and after) in
/// one transaction. The caller has checked [`crate::policy::Action::BreakGlass`] and alerts the admins with
/// [`alert_admins`] afterwards.
///
/// # Errors
/// [`DomainError::Invalid`] for a reason that is too short or too long, a duration not offered, or an owner or admin
/// (who see every form already); [`DomainError::NotFound`] for an unknown form; [`DomainError::Conflict`] when the
/// member has a grant in force on the form already.
pub async fn break_glass<S: Store>(
    store: &S,
    audit: AuditCtx<'_>,
    emergency: Emergency<'_>,
    now: OffsetDateTime,
) -> Result<Grant, DomainError> {
    let Emergency { org, form, user, reason, minutes } = emergency;
    let reason = reason.trim();
    let length = reason.chars().count();
    if !(MIN_REASON_CHARS..=MAX_REASON_CHARS).contains(&length) {
        return Err(DomainError::Invalid(format!(
            "say why you need emergency access, in {MIN_REASON_CHARS} to {MAX_REASON_CHARS} characters"
        )));
    }
    if !DURATIONS_MINUTES.contains(&minutes) {
        return Err(DomainError::Invalid("choose one of the durations offered".into()));
    }
    store.tenant(org).form(form).await?.ok_or_else(|| DomainError::NotFound("no such form".into()))?;
    let role = role_in(store, org, user).await?;
    if is_org_admin(role) {
        return Err(DomainError::Invalid("owners and admins see every form already".into()));
    }
    // Any grant that reaches the form counts, a folder's included: break-glass must never widen access the member
    // already has (say, a grant that hides PHI).
    let grants = store.tenant(org).grants_of_user(user).await?;
    let before = grants.iter().find(|g| g.form == form && g.via_folder.is_none()).cloned();
    if let Some(held) = grants.iter().find(|g| g.form == form && g.in_force(now)) {
        let what = if held.break_glass {
            "your emergency access to this form is still open"
        } else {
            "you have access to this form already; ask an admin to change it"
        };
        return Err(DomainError::Conflict(what.into()));
    }
    let grant = Grant {
        org,
        form,
        user,
        rights: vec![Right::View],
        hide_phi: false,
        expires_at: Some(now + Duration::minutes(minutes)),
        granted_by: Some(user),
        created_at: now,
        break_glass: true,
        via_folder: None,
    };
    let targets = || vec![Target::new("form", form), Target::new("user", user)];
    let opened = Entry::ok(Some(org), Action::GrantBreakGlass, targets(), now)
        .with_fields(vec![format!("minutes:{minutes}"), format!("reason:{reason}")]);
    let describe = |g: Option<&Grant>| g.map_or_else(|| "none".to_owned(), Grant::describe);
    let changed = Entry::ok(Some(org), Action::GrantCreate, targets(), now)
        .with_fields(vec![format!("before:{}", describe(before.as_ref())), format!("after:{}", grant.describe())]);
    let replaces = before.as_ref().map(|g| g.created_at);
    let entries = vec![audit.entry(opened)?, audit.entry(changed)?];
    store.tenant(org).open_break_glass(grant.clone(), replaces, entries).await?;
    tracing::warn!(org.id = %org, form.id = %form, user.id = %user, minutes, "break-glass access opened");
    Ok(grant)
}

/// Tells every active owner and admin of the organisation, by e-mail, who opened emergency access to which form
/// and until when, with a link to the console. The reason is not in the e-mail (it may describe a patient); the
/// console shows it to them. A failed e-mail is logged, never undoes the access.
///
/// # Errors
/// Storage failures reading the members (the access is open by then: callers log this, the console shows it).
pub async fn alert_admins<S: Store>(
    store: &S,
    mailer: &dyn Mailer,
    public_url: &str,
    who: &Email,
    form_title: &str,
    grant: &Grant,
) -> Result<(), DomainError> {
    let until = grant
        .expires_at
        .and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default();
    let link = format!("{}/console/break-glass", public_url.trim_end_matches('/'));
    for (member, role) in store.tenant(grant.org).members_of().await? {
        if !is_org_admin(role) || member.status != UserStatus::Active {
            continue;
        }
        let body = format!(
            "{} opened emergency (break-glass) access to the form \"{form_title}\" on Sealform, until {until} UTC.\n\n\
             Nobody approved it beforehand. Review the reason given, and end the access if it is not justified:\n\
             {link}\n",
            who.as_str()
        );
        let mail = Mail { to: member.email.clone(), subject: "Emergency access opened on Sealform".into(), body };
        if let Err(err) = mailer.send(mail).await {
            tracing::error!(error = %err, "break-glass alert not sent");
        }
    }
    Ok(())
}

/// Gives (`holds`) or takes away a member's emergency right, audited as `user.update`.
///
/// # Errors
/// [`DomainError::NotFound`] when `user` is not a member of `org`; [`DomainError::Invalid`] for owners and admins
/// (who need no emergency access) and auditors (who never open records).
pub async fn set_emergency_right<S: Store>(
    store: &S,
    audit: AuditCtx<'_>,
    org: OrgId,
    user: UserId,
    holds: bool,
    now: OffsetDateTime,
) -> Result<(), DomainError> {
    let role = role_in(store, org, user).await?;
    if holds && (is_org_admin(role) || role == crate::user::Role::Auditor) {
        return Err(DomainError::Invalid(format!("a member with the role {role} cannot hold the emergency right")));
    }
    let entry = Entry::ok(Some(org), Action::UserUpdate, vec![Target::new("user", user)], now)
        .with_fields(vec![format!("emergency_access:{holds}")]);
    if store.tenant(org).set_emergency_access(user, holds, audit.entry(entry)?).await? {
        Ok(())
    } else {
        Err(DomainError::NotFound("no such member of this organisation".into()))
    }
}
