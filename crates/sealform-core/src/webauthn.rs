//! Passkeys and security keys (WebAuthn) as a second factor (DESIGN.md §7), beside TOTP. The ceremonies' checks are
//! in [`sealform_crypto::webauthn`]; here: challenges (random, stored as SHA-256, bound to the session that asked,
//! single use, five minutes), the credentials of each user, and the audit trail (`mfa.enrol`, `mfa.success`,
//! `mfa.failure`, `mfa.remove`). A sign-in completed by a passkey replaces the pending session exactly as a TOTP
//! code does, and a refused assertion counts towards the lockout like a wrong code.

use sealform_crypto::webauthn::{
    self as rp_checks, AssertionResponse, CHALLENGE_LEN, EDDSA, ES256, RegistrationResponse, RelyingParty, base64url,
};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::DomainError;
use crate::audit::{Action, AuditCtx, Entry, Outcome, Target};
use crate::clock::Clock;
use crate::error::crypto_failure;
use crate::ids::UserId;
use crate::mfa::{MfaCompletion, SecondFactor};
use crate::sessions::{NewSession, SessionPolicy, SessionRecord};
use crate::store::Store;

/// How long a challenge may be answered.
pub const CHALLENGE_VALIDITY: Duration = Duration::minutes(5);

/// The longest name a user may give a passkey.
pub const MAX_NAME_CHARS: usize = 64;

/// What a challenge was issued for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengePurpose {
    /// Adding a credential.
    Register,
    /// Signing in with one.
    Authenticate,
}

impl ChallengePurpose {
    /// The stored spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Authenticate => "authenticate",
        }
    }
}

/// A challenge to store.
#[derive(Clone, Debug)]
pub struct NewChallenge {
    /// SHA-256 of the challenge.
    pub hash: [u8; 32],
    /// The user it was issued to.
    pub user: UserId,
    /// The token hash of the session that asked.
    pub session: [u8; 32],
    /// Registration or sign-in.
    pub purpose: ChallengePurpose,
    /// When.
    pub created_at: OffsetDateTime,
    /// Answers after this are refused.
    pub expires_at: OffsetDateTime,
}

/// A registered credential.
#[derive(Clone, Debug)]
pub struct WebauthnCredential {
    /// Our id of it.
    pub id: Uuid,
    /// Whose it is.
    pub user: UserId,
    /// The authenticator's credential id.
    pub credential_id: Vec<u8>,
    /// The COSE public key.
    pub public_key: Vec<u8>,
    /// The last signature counter seen.
    pub sign_count: u32,
    /// The name the user gave it.
    pub name: String,
    /// When it was registered.
    pub created_at: OffsetDateTime,
    /// When it last completed a sign-in.
    pub last_used_at: Option<OffsetDateTime>,
}

/// This site as WebAuthn sees it, from the public URL.
///
/// # Errors
/// [`DomainError::Internal`] when the public URL has no usable host.
pub fn relying_party(public_url: &str) -> Result<RelyingParty, DomainError> {
    RelyingParty::from_public_url(public_url)
        .map_err(|e| DomainError::Internal(format!("the public URL cannot be a WebAuthn relying party: {e}")))
}

async fn issue_challenge<S: Store>(
    store: &S,
    now: OffsetDateTime,
    session: &SessionRecord,
    purpose: ChallengePurpose,
) -> Result<[u8; CHALLENGE_LEN], DomainError> {
    let challenge = rp_checks::new_challenge().map_err(crypto_failure("WebAuthn challenge"))?;
    store
        .insert_webauthn_challenge(NewChallenge {
            hash: rp_checks::challenge_hash(&challenge),
            user: session.user,
            session: session.id_hash,
            purpose,
            created_at: now,
            expires_at: now + CHALLENGE_VALIDITY,
        })
        .await?;
    Ok(challenge)
}

fn descriptors(credentials: &[WebauthnCredential]) -> Vec<Value> {
    credentials.iter().map(|c| json!({ "type": "public-key", "id": base64url(&c.credential_id) })).collect()
}

/// The options for `navigator.credentials.create` (as JSON with base64url binary fields), with a new challenge.
///
/// # Errors
/// Storage and RNG failures.
pub async fn registration_options<S: Store>(
    store: &S,
    clock: &dyn Clock,
    rp: &RelyingParty,
    session: &SessionRecord,
) -> Result<Value, DomainError> {
    let existing = store.webauthn_credentials_of(session.user).await?;
    let challenge = issue_challenge(store, clock.now(), session, ChallengePurpose::Register).await?;
    // A random user handle: Sealform asks for no discoverable credentials, so it is never looked up, and it tells
    // an authenticator nothing about the account.
    let mut handle = [0u8; 16];
    sealform_crypto::fill_random(&mut handle)
        .map_err(|_| DomainError::Internal("WebAuthn user handle: RNG failed".into()))?;
    Ok(json!({
        "challenge": base64url(&challenge),
        "rp": { "id": rp.id(), "name": "Sealform" },
        "user": {
            "id": base64url(&handle),
            "name": session.email.as_str(),
            "displayName": session.email.as_str(),
        },
        "pubKeyCredParams": [
            { "type": "public-key", "alg": ES256 },
            { "type": "public-key", "alg": EDDSA },
        ],
        "timeout": CHALLENGE_VALIDITY.whole_milliseconds(),
        "attestation": "none",
        "authenticatorSelection": {
            "userVerification": "preferred",
            "residentKey": "discouraged",
            "requireResidentKey": false,
        },
        "excludeCredentials": descriptors(&existing),
    }))
}

/// Registers the credential `credential` (the browser's `PublicKeyCredential` as JSON) under `name`: the challenge
/// it answers must be one issued to this session for a registration, unused and unexpired. Audited `mfa.enrol`.
///
/// # Errors
/// [`DomainError::Invalid`] when the answer is refused, [`DomainError::Conflict`] when the credential is already
/// registered.
pub async fn register<S: Store>(
    store: &S,
    clock: &dyn Clock,
    rp: &RelyingParty,
    audit: AuditCtx<'_>,
    session: &SessionRecord,
    name: &str,
    credential: &Value,
) -> Result<WebauthnCredential, DomainError> {
    // Checked before the challenge is spent. One line of text: control characters (NUL among them, which
    // PostgreSQL cannot store) are refused.
    let name = name.trim();
    if name.chars().any(char::is_control) {
        return Err(DomainError::Invalid("a passkey name must be one line of text".into()));
    }
    let refused =
        |e: rp_checks::WebauthnError| DomainError::Invalid(format!("the security key's answer was refused: {e}"));
    let response = RegistrationResponse::from_json(credential).map_err(refused)?;
    let challenge = rp_checks::client_data_challenge(&response.client_data_json).map_err(refused)?;
    let now = clock.now();
    let hash = rp_checks::challenge_hash(&challenge);
    if !store.take_webauthn_challenge(hash, ChallengePurpose::Register, session.id_hash, session.user, now).await? {
        return Err(DomainError::Invalid("the request expired or was already used; try again".into()));
    }
    let registration = rp_checks::verify_registration(rp, &challenge, &response, false).map_err(refused)?;
    let name = if name.is_empty() { "Passkey".to_owned() } else { name.chars().take(MAX_NAME_CHARS).collect() };
    let credential = WebauthnCredential {
        id: Uuid::now_v7(),
        user: session.user,
        credential_id: registration.credential_id,
        public_key: registration.public_key,
        sign_count: registration.sign_count,
        name,
        created_at: now,
        last_used_at: None,
    };
    let entry = audit.entry(
        Entry::ok(Some(session.org), Action::MfaEnrol, vec![Target::new("user", session.user)], now)
            .with_fields(vec!["webauthn".into()]),
    )?;
    store.insert_webauthn_credential(credential.clone(), entry).await?;
    Ok(credential)
}

/// The options for `navigator.credentials.get` at the second step of a sign-in, with a new challenge.
///
/// # Errors
/// [`DomainError::NotFound`] when the user has no passkey; storage and RNG failures.
pub async fn authentication_options<S: Store>(
    store: &S,
    clock: &dyn Clock,
    rp: &RelyingParty,
    pending: &SessionRecord,
) -> Result<Value, DomainError> {
    let credentials = store.webauthn_credentials_of(pending.user).await?;
    if credentials.is_empty() {
        return Err(DomainError::NotFound("no passkey is registered for this account".into()));
    }
    let challenge = issue_challenge(store, clock.now(), pending, ChallengePurpose::Authenticate).await?;
    Ok(json!({
        "challenge": base64url(&challenge),
        "rpId": rp.id(),
        "timeout": CHALLENGE_VALIDITY.whole_milliseconds(),
        "userVerification": "preferred",
        "allowCredentials": descriptors(&credentials),
    }))
}

/// Completes the second step of a sign-in with an assertion (the browser's `PublicKeyCredential` as JSON). On
/// success the pending session is replaced by a full one (audited `mfa.success`); any refusal is audited
/// `mfa.failure` and counts towards the lockout.
///
/// # Errors
/// Storage and crypto failures; a refused assertion is `Ok(None)`.
pub async fn complete_login<S: Store>(
    store: &S,
    clock: &dyn Clock,
    policy: &SessionPolicy,
    rp: &RelyingParty,
    audit: AuditCtx<'_>,
    pending: &SessionRecord,
    credential: &Value,
) -> Result<Option<(Zeroizing<String>, NewSession)>, DomainError> {
    let now = clock.now();
    let user =
        store.user_by_email(&pending.email).await?.ok_or_else(|| DomainError::NotFound("no such user".into()))?;
    let targets = vec![Target::new("user", user.id)];
    let checked = check_assertion(store, now, rp, pending, credential).await?;
    let locked = user.locked_until.is_some_and(|until| until > now);
    if let (Some((credential, sign_count)), false) = (checked, locked) {
        let (token, session) =
            crate::sessions::fresh_session(policy, pending.org, user.id, now, pending.must_change_password)?;
        let completion = MfaCompletion {
            user: user.id,
            factor: SecondFactor::WebAuthn { credential, sign_count },
            pending_session: pending.id_hash,
            session: session.clone(),
        };
        let entry = audit.entry(
            Entry::ok(Some(pending.org), Action::MfaSuccess, targets.clone(), now).with_fields(vec!["webauthn".into()]),
        )?;
        if store.complete_mfa(completion, entry).await? {
            return Ok(Some((token, session)));
        }
    }
    let mut entry = Entry::ok(Some(pending.org), Action::MfaFailure, targets, now).with_fields(vec!["webauthn".into()]);
    entry.outcome = Outcome::Denied;
    let (failures, locked_until) = policy.after_failure(&user, now);
    store.record_login_failure(user.id, failures, locked_until, vec![audit.entry(entry)?]).await?;
    Ok(None)
}

/// The credential and its new counter when the assertion passes every check; `None` otherwise.
async fn check_assertion<S: Store>(
    store: &S,
    now: OffsetDateTime,
    rp: &RelyingParty,
    pending: &SessionRecord,
    credential: &Value,
) -> Result<Option<(Uuid, u32)>, DomainError> {
    let Ok(response) = AssertionResponse::from_json(credential) else { return Ok(None) };
    let Ok(challenge) = rp_checks::client_data_challenge(&response.client_data_json) else { return Ok(None) };
    let hash = rp_checks::challenge_hash(&challenge);
    // Used up whatever follows: a challenge answers one attempt.
    if !store.take_webauthn_challenge(hash, ChallengePurpose::Authenticate, pending.id_hash, pending.user, now).await? {
        return Ok(None);
    }
    let credentials = store.webauthn_credentials_of(pending.user).await?;
    let Some(stored) = credentials.iter().find(|c| c.credential_id == response.raw_id) else { return Ok(None) };
    match rp_checks::verify_assertion(rp, &challenge, &stored.public_key, stored.sign_count, &response, false) {
        Ok(outcome) => Ok(Some((stored.id, outcome.sign_count))),
        Err(err) => {
            tracing::info!(reason = %err, "WebAuthn assertion refused");
            Ok(None)
        }
    }
}

/// Removes one of the signed-in user's own credentials. Audited `mfa.remove`; false when there is no such credential
/// of theirs.
///
/// # Errors
/// Storage and audit failures.
pub async fn remove<S: Store>(
    store: &S,
    clock: &dyn Clock,
    audit: AuditCtx<'_>,
    session: &SessionRecord,
    id: Uuid,
) -> Result<bool, DomainError> {
    let entry = audit.entry(
        Entry::ok(Some(session.org), Action::MfaRemove, vec![Target::new("user", session.user)], clock.now())
            .with_fields(vec!["webauthn".into()]),
    )?;
    Ok(store.delete_webauthn_credential(session.user, id, entry).await?)
}
