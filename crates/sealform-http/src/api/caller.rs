//! Who calls the native API: the bearer key admitted by [`super::admission`], with its user's grants loaded once
//! per request. Handlers ask [`Caller::require`] (the one policy, [`authorize`]) before touching anything, and build
//! their audit scope from it, so every entry names the key as the actor.

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use sealform_core::DomainError;
use sealform_core::api_keys::ApiPrincipal;
use sealform_core::audit::{Actor as AuditActor, AuditCtx, AuditScope};
use sealform_core::grants::Grant;
use sealform_core::ids::{FormId, OrgId};
use sealform_core::policy::{Action, Actor, Decision, Member, Resource, authorize, hides_phi};
use sealform_core::store::Store;
use time::OffsetDateTime;

use crate::AppState;
use crate::problem::ApiError;

/// An authenticated API call.
pub(crate) struct Caller {
    /// The key and what it may do.
    pub(crate) key: ApiPrincipal,
    grants: Vec<Grant>,
    /// The time of the request (grants are judged against it).
    pub(crate) now: OffsetDateTime,
    /// Who acts (the key) and from where, for the audit trail.
    pub(crate) scope: AuditScope,
}

impl Caller {
    /// The key's organisation: every lookup is scoped to it.
    pub(crate) fn org(&self) -> OrgId {
        self.key.org
    }

    fn actor(&self) -> Actor<'_> {
        // Keys never break the glass: that is a person's act.
        let member = Member {
            org: self.key.org,
            user: self.key.user,
            role: self.key.role,
            grants: &self.grants,
            emergency: false,
        };
        Actor::ApiKey { member, scopes: &self.key.scopes, form: self.key.form }
    }

    /// The policy's decision on `action` over `resource`.
    pub(crate) fn allows(&self, action: Action, resource: Resource) -> bool {
        authorize(&self.actor(), action, resource, self.now).allowed()
    }

    /// 403 unless the policy allows `action` on `resource`. Callers found the resource in the key's organisation
    /// first: another organisation's is 404 before this is asked.
    pub(crate) fn require(&self, action: Action, resource: Resource) -> Result<(), ApiError> {
        match authorize(&self.actor(), action, resource, self.now) {
            Decision::Allow => Ok(()),
            Decision::Deny(reason) => Err(crate::console::forbidden(reason)),
        }
    }

    /// [`Caller::require`] on one of the organisation's forms.
    pub(crate) fn require_on(&self, action: Action, form: FormId) -> Result<(), ApiError> {
        self.require(action, Resource::Form { org: self.key.org, form })
    }

    /// [`Caller::require`] on the organisation as a whole.
    pub(crate) fn require_org(&self, action: Action) -> Result<(), ApiError> {
        self.require(action, Resource::Org(self.key.org))
    }

    /// Whether the key's user sees this form's PHI masked. No request parameter changes it.
    pub(crate) fn hides_phi(&self, form: FormId) -> bool {
        hides_phi(&self.actor(), form, self.now)
    }

    /// The audit context of this call.
    pub(crate) fn audit<'a, S: Store>(&'a self, state: &'a AppState<S>) -> AuditCtx<'a> {
        AuditCtx { auditor: &state.auditor, scope: &self.scope }
    }
}

impl<S: Store> FromRequestParts<AppState<S>> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState<S>) -> Result<Self, Self::Rejection> {
        // Admitted (authenticated and within budget) by super::admission, in front of every keyed route.
        let Some(key) = parts.extensions.remove::<ApiPrincipal>() else {
            return Err(super::admission::unauthorized("send an API key as `Authorization: Bearer <key>`"));
        };
        let grants = state
            .store
            .tenant(key.org)
            .grants_of_user(key.user)
            .await
            .map_err(|err| ApiError::from(DomainError::from(err)).into_response())?;
        let scope = AuditScope {
            actor: AuditActor::ApiKey(key.key),
            context: crate::auth::request_context_of(&parts.headers, &parts.extensions),
        };
        Ok(Self { key, grants, now: state.clock.now(), scope })
    }
}
