//! The relying-party side of WebAuthn (W3C Web Authentication Level 3, §7.1 registration and §7.2 authentication),
//! minimal and strict, on aws-lc-rs: ECDSA P-256 with SHA-256 (COSE -7) and Ed25519 (COSE -8) keys; attestation
//! format `none`, and `packed` with its statement ignored (Sealform asks for no attestation, as most sites do).
//!
//! What is checked here: the client data's type, challenge, origin and `crossOrigin`; the authenticator data's RP ID
//! hash and flags (user present always, user verified when asked); the signature over
//! `authenticatorData || SHA-256(clientDataJSON)`; and the signature counter, which must grow whenever either side
//! is non-zero (a counter that does not grow betrays a cloned authenticator). That a challenge is fresh and used
//! once is the caller's part: it stores the challenge and hands it in here.

use aws_lc_rs::{digest, signature};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ciborium::Value;

/// COSE algorithm: ECDSA w/ SHA-256 on P-256.
pub const ES256: i64 = -7;
/// COSE algorithm: EdDSA (Ed25519).
pub const EDDSA: i64 = -8;
/// Bytes of a challenge the server issues.
pub const CHALLENGE_LEN: usize = 32;

/// Authenticator data flag: user present.
pub const FLAG_UP: u8 = 0x01;
/// Authenticator data flag: user verified.
pub const FLAG_UV: u8 = 0x04;
/// Authenticator data flag: attested credential data included.
pub const FLAG_AT: u8 = 0x40;
/// Authenticator data flag: extension data included.
pub const FLAG_ED: u8 = 0x80;

const MAX_CREDENTIAL_ID_LEN: usize = 1023;

/// Why a registration or assertion was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebauthnError {
    /// A part does not parse.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// `clientDataJSON.type` is not the ceremony's.
    #[error("the client data is not for {0}")]
    WrongType(&'static str),
    /// The challenge is not the one issued.
    #[error("the challenge does not match")]
    WrongChallenge,
    /// The origin is not this site's.
    #[error("the origin is not this site's")]
    WrongOrigin,
    /// The ceremony ran in a cross-origin frame.
    #[error("cross-origin ceremonies are refused")]
    CrossOrigin,
    /// The authenticator data is for another relying party.
    #[error("the authenticator answered for another site")]
    WrongRpId,
    /// The user-present flag is not set.
    #[error("the user was not present")]
    UserNotPresent,
    /// User verification was required and not done.
    #[error("the user was not verified")]
    UserNotVerified,
    /// An attestation format other than `none` or `packed`.
    #[error("unsupported attestation format")]
    UnsupportedAttestation,
    /// A key type or algorithm other than ES256 and Ed25519.
    #[error("unsupported public key algorithm")]
    UnsupportedAlgorithm,
    /// The signature does not verify under the stored key.
    #[error("the signature does not verify")]
    BadSignature,
    /// The signature counter did not grow: possibly a cloned authenticator.
    #[error("the signature counter did not increase")]
    CounterNotIncreased,
}

/// This site as WebAuthn sees it: the RP ID (the public URL's host) and the origin (scheme, host and port).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelyingParty {
    id: String,
    origin: String,
}

impl RelyingParty {
    /// From the public URL users reach Sealform at, e.g. `https://forms.clinic.example`.
    ///
    /// # Errors
    /// [`WebauthnError::Malformed`] when it is not an http(s) URL with a host.
    pub fn from_public_url(url: &str) -> Result<Self, WebauthnError> {
        let bad = WebauthnError::Malformed("public URL");
        let (scheme, rest) = url.split_once("://").ok_or(bad.clone())?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => "443",
            "http" => "80",
            _ => return Err(bad),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.is_empty() || authority.contains('@') {
            return Err(bad);
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6.split_once(']').ok_or(bad.clone())?;
                (format!("[{host}]"), after.strip_prefix(':'))
            }
            None => match authority.rsplit_once(':') {
                Some((host, port)) => (host.to_owned(), Some(port)),
                None => (authority.to_owned(), None),
            },
        };
        if host.is_empty() || port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
            return Err(bad);
        }
        let host = host.to_ascii_lowercase();
        let origin = match port.filter(|p| *p != default_port) {
            Some(port) => format!("{scheme}://{host}:{port}"),
            None => format!("{scheme}://{host}"),
        };
        Ok(Self { id: host, origin })
    }

    /// The RP ID.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The origin ceremonies must come from.
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    fn id_hash(&self) -> digest::Digest {
        digest::digest(&digest::SHA256, self.id.as_bytes())
    }
}

/// A credential that passed registration, ready to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The credential id the authenticator chose.
    pub credential_id: Vec<u8>,
    /// Its public key, as the COSE key bytes the authenticator sent.
    pub public_key: Vec<u8>,
    /// The COSE algorithm of the key.
    pub algorithm: i64,
    /// The signature counter at registration.
    pub sign_count: u32,
    /// Whether the user was verified (PIN, biometrics).
    pub user_verified: bool,
}

/// What a successful assertion tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AssertionOutcome {
    /// The new signature counter, to store.
    pub sign_count: u32,
    /// Whether the user was verified.
    pub user_verified: bool,
}

/// A `PublicKeyCredential` from `navigator.credentials.create`, its binary fields decoded.
#[derive(Clone, Debug)]
pub struct RegistrationResponse {
    /// `rawId`.
    pub raw_id: Vec<u8>,
    /// `response.clientDataJSON`.
    pub client_data_json: Vec<u8>,
    /// `response.attestationObject`.
    pub attestation_object: Vec<u8>,
}

/// A `PublicKeyCredential` from `navigator.credentials.get`, its binary fields decoded.
#[derive(Clone, Debug)]
pub struct AssertionResponse {
    /// `rawId`.
    pub raw_id: Vec<u8>,
    /// `response.clientDataJSON`.
    pub client_data_json: Vec<u8>,
    /// `response.authenticatorData`.
    pub authenticator_data: Vec<u8>,
    /// `response.signature`.
    pub signature: Vec<u8>,
}

fn b64_field(value: &serde_json::Value, path: &[&str], what: &'static str) -> Result<Vec<u8>, WebauthnError> {
    let mut node = value;
    for key in path {
        node = node.get(key).ok_or(WebauthnError::Malformed(what))?;
    }
    let text = node.as_str().ok_or(WebauthnError::Malformed(what))?;
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).map_err(|_| WebauthnError::Malformed(what))
}

fn check_credential_type(value: &serde_json::Value) -> Result<(), WebauthnError> {
    match value.get("type").and_then(serde_json::Value::as_str) {
        Some("public-key") => Ok(()),
        _ => Err(WebauthnError::Malformed("credential type")),
    }
}

impl RegistrationResponse {
    /// From the JSON the browser script posts (binary fields base64url, as `PublicKeyCredential.toJSON()` gives).
    ///
    /// # Errors
    /// [`WebauthnError::Malformed`] for a missing or undecodable field.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, WebauthnError> {
        check_credential_type(value)?;
        Ok(Self {
            raw_id: b64_field(value, &["rawId"], "rawId")?,
            client_data_json: b64_field(value, &["response", "clientDataJSON"], "clientDataJSON")?,
            attestation_object: b64_field(value, &["response", "attestationObject"], "attestationObject")?,
        })
    }
}

impl AssertionResponse {
    /// From the JSON the browser script posts.
    ///
    /// # Errors
    /// [`WebauthnError::Malformed`] for a missing or undecodable field.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, WebauthnError> {
        check_credential_type(value)?;
        Ok(Self {
            raw_id: b64_field(value, &["rawId"], "rawId")?,
            client_data_json: b64_field(value, &["response", "clientDataJSON"], "clientDataJSON")?,
            authenticator_data: b64_field(value, &["response", "authenticatorData"], "authenticatorData")?,
            signature: b64_field(value, &["response", "signature"], "signature")?,
        })
    }
}

/// The challenge a client data claims, to find the stored challenge by. Not a check: the verifiers compare it.
///
/// # Errors
/// [`WebauthnError::Malformed`] when the client data or its challenge does not parse.
pub fn client_data_challenge(client_data_json: &[u8]) -> Result<Vec<u8>, WebauthnError> {
    let value: serde_json::Value =
        serde_json::from_slice(client_data_json).map_err(|_| WebauthnError::Malformed("clientDataJSON"))?;
    b64_field(&value, &["challenge"], "challenge")
}

fn check_client_data(
    rp: &RelyingParty,
    client_data_json: &[u8],
    ceremony: &'static str,
    challenge: &[u8],
) -> Result<(), WebauthnError> {
    let value: serde_json::Value =
        serde_json::from_slice(client_data_json).map_err(|_| WebauthnError::Malformed("clientDataJSON"))?;
    if value.get("type").and_then(serde_json::Value::as_str) != Some(ceremony) {
        return Err(WebauthnError::WrongType(ceremony));
    }
    let claimed = b64_field(&value, &["challenge"], "challenge")?;
    if challenge.is_empty() || !crate::constant_time_eq(&claimed, challenge) {
        return Err(WebauthnError::WrongChallenge);
    }
    if value.get("origin").and_then(serde_json::Value::as_str) != Some(rp.origin()) {
        return Err(WebauthnError::WrongOrigin);
    }
    if value.get("crossOrigin").and_then(serde_json::Value::as_bool) == Some(true) {
        return Err(WebauthnError::CrossOrigin);
    }
    Ok(())
}

/// Authenticator data, parsed.
struct AuthData {
    rp_id_hash: [u8; 32],
    flags: u8,
    sign_count: u32,
    attested: Option<(Vec<u8>, Vec<u8>)>,
}

/// One CBOR item at the start of `bytes`: the value and how many bytes it took.
fn cbor_item(bytes: &[u8], what: &'static str) -> Result<(Value, usize), WebauthnError> {
    let mut cursor = std::io::Cursor::new(bytes);
    let value: Value = ciborium::de::from_reader(&mut cursor).map_err(|_| WebauthnError::Malformed(what))?;
    let used = usize::try_from(cursor.position()).map_err(|_| WebauthnError::Malformed(what))?;
    Ok((value, used))
}

fn parse_auth_data(bytes: &[u8]) -> Result<AuthData, WebauthnError> {
    let bad = || WebauthnError::Malformed("authenticator data");
    if bytes.len() < 37 {
        return Err(bad());
    }
    let mut rp_id_hash = [0u8; 32];
    rp_id_hash.copy_from_slice(&bytes[..32]);
    let flags = bytes[32];
    let sign_count = u32::from_be_bytes([bytes[33], bytes[34], bytes[35], bytes[36]]);
    let mut rest = &bytes[37..];
    let attested = if flags & FLAG_AT != 0 {
        // aaguid (16) | credentialIdLength (2, big-endian) | credentialId | credentialPublicKey (COSE, CBOR)
        if rest.len() < 18 {
            return Err(bad());
        }
        let id_len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        rest = &rest[18..];
        if id_len == 0 || id_len > MAX_CREDENTIAL_ID_LEN || rest.len() < id_len {
            return Err(bad());
        }
        let credential_id = rest[..id_len].to_vec();
        rest = &rest[id_len..];
        let (_, used) = cbor_item(rest, "credential public key")?;
        let key = rest[..used].to_vec();
        rest = &rest[used..];
        Some((credential_id, key))
    } else {
        None
    };
    if flags & FLAG_ED != 0 {
        let (extensions, used) = cbor_item(rest, "extensions")?;
        if !extensions.is_map() {
            return Err(bad());
        }
        rest = &rest[used..];
    }
    if !rest.is_empty() {
        return Err(bad());
    }
    Ok(AuthData { rp_id_hash, flags, sign_count, attested })
}

fn check_auth_data(rp: &RelyingParty, data: &AuthData, require_uv: bool) -> Result<(), WebauthnError> {
    if !crate::constant_time_eq(&data.rp_id_hash, rp.id_hash().as_ref()) {
        return Err(WebauthnError::WrongRpId);
    }
    if data.flags & FLAG_UP == 0 {
        return Err(WebauthnError::UserNotPresent);
    }
    if require_uv && data.flags & FLAG_UV == 0 {
        return Err(WebauthnError::UserNotVerified);
    }
    Ok(())
}

/// A public key from its COSE form.
enum PublicKey {
    /// Uncompressed SEC1 point.
    Es256(Vec<u8>),
    /// The 32-byte key.
    Ed25519(Vec<u8>),
}

impl PublicKey {
    fn from_cose(bytes: &[u8]) -> Result<(Self, i64), WebauthnError> {
        let (value, used) = cbor_item(bytes, "COSE key")?;
        if used != bytes.len() {
            return Err(WebauthnError::Malformed("COSE key"));
        }
        let map = value.as_map().ok_or(WebauthnError::Malformed("COSE key"))?;
        let get = |label: i64| {
            map.iter().find(|(k, _)| k.as_integer().and_then(|i| i64::try_from(i).ok()) == Some(label)).map(|(_, v)| v)
        };
        let int = |label| get(label).and_then(Value::as_integer).and_then(|i| i64::try_from(i).ok());
        let coordinate = |label| {
            get(label).and_then(Value::as_bytes).filter(|b| b.len() == 32).ok_or(WebauthnError::Malformed("COSE key"))
        };
        // kty (1), alg (3), crv (-1), x (-2), y (-3)
        match (int(1), int(3), int(-1)) {
            (Some(2), Some(ES256), Some(1)) => {
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(coordinate(-2)?);
                point.extend_from_slice(coordinate(-3)?);
                Ok((Self::Es256(point), ES256))
            }
            (Some(1), Some(EDDSA), Some(6)) => Ok((Self::Ed25519(coordinate(-2)?.clone()), EDDSA)),
            _ => Err(WebauthnError::UnsupportedAlgorithm),
        }
    }

    fn verify(&self, message: &[u8], sig: &[u8]) -> Result<(), WebauthnError> {
        let (algorithm, key): (&'static dyn signature::VerificationAlgorithm, &[u8]) = match self {
            Self::Es256(point) => (&signature::ECDSA_P256_SHA256_ASN1, point),
            Self::Ed25519(key) => (&signature::ED25519, key),
        };
        signature::UnparsedPublicKey::new(algorithm, key).verify(message, sig).map_err(|_| WebauthnError::BadSignature)
    }
}

/// Verifies a registration (§7.1) against the challenge issued for it. `require_uv` refuses a credential created
/// without user verification.
///
/// # Errors
/// The first check that fails.
pub fn verify_registration(
    rp: &RelyingParty,
    challenge: &[u8],
    response: &RegistrationResponse,
    require_uv: bool,
) -> Result<Registration, WebauthnError> {
    check_client_data(rp, &response.client_data_json, "webauthn.create", challenge)?;
    let (object, used) = cbor_item(&response.attestation_object, "attestation object")?;
    if used != response.attestation_object.len() {
        return Err(WebauthnError::Malformed("attestation object"));
    }
    let map = object.as_map().ok_or(WebauthnError::Malformed("attestation object"))?;
    let field = |name: &str| map.iter().find(|(k, _)| k.as_text() == Some(name)).map(|(_, v)| v);
    let fmt = field("fmt").and_then(Value::as_text).ok_or(WebauthnError::Malformed("attestation format"))?;
    let statement = field("attStmt").and_then(Value::as_map).ok_or(WebauthnError::Malformed("attestation"))?;
    match fmt {
        "none" if statement.is_empty() => {}
        "none" => return Err(WebauthnError::Malformed("attestation statement")),
        // Self or basic attestation: not asked for, so not judged (the key's own signatures are what count).
        "packed" => {}
        _ => return Err(WebauthnError::UnsupportedAttestation),
    }
    let auth_data = field("authData").and_then(Value::as_bytes).ok_or(WebauthnError::Malformed("authData"))?;
    let data = parse_auth_data(auth_data)?;
    check_auth_data(rp, &data, require_uv)?;
    let (credential_id, public_key) = data.attested.ok_or(WebauthnError::Malformed("attested credential data"))?;
    if credential_id != response.raw_id {
        return Err(WebauthnError::Malformed("credential id"));
    }
    let (_, algorithm) = PublicKey::from_cose(&public_key)?;
    Ok(Registration {
        credential_id,
        public_key,
        algorithm,
        sign_count: data.sign_count,
        user_verified: data.flags & FLAG_UV != 0,
    })
}

/// Verifies an assertion (§7.2) by a stored credential (`public_key` as registered, `stored_count` its last
/// counter) against the challenge issued for it.
///
/// # Errors
/// The first check that fails.
pub fn verify_assertion(
    rp: &RelyingParty,
    challenge: &[u8],
    public_key: &[u8],
    stored_count: u32,
    response: &AssertionResponse,
    require_uv: bool,
) -> Result<AssertionOutcome, WebauthnError> {
    check_client_data(rp, &response.client_data_json, "webauthn.get", challenge)?;
    let data = parse_auth_data(&response.authenticator_data)?;
    check_auth_data(rp, &data, require_uv)?;
    let (key, _) = PublicKey::from_cose(public_key)?;
    let client_hash = digest::digest(&digest::SHA256, &response.client_data_json);
    let mut signed = Vec::with_capacity(response.authenticator_data.len() + 32);
    signed.extend_from_slice(&response.authenticator_data);
    signed.extend_from_slice(client_hash.as_ref());
    key.verify(&signed, &response.signature)?;
    if (data.sign_count != 0 || stored_count != 0) && data.sign_count <= stored_count {
        return Err(WebauthnError::CounterNotIncreased);
    }
    Ok(AssertionOutcome { sign_count: data.sign_count, user_verified: data.flags & FLAG_UV != 0 })
}

/// A fresh random challenge.
///
/// # Errors
/// [`crate::CryptoError::Rng`] when the system RNG fails.
pub fn new_challenge() -> Result<[u8; CHALLENGE_LEN], crate::CryptoError> {
    let mut challenge = [0u8; CHALLENGE_LEN];
    crate::fill_random(&mut challenge).map_err(|_| crate::CryptoError::Rng)?;
    Ok(challenge)
}

/// The SHA-256 of a challenge, as stored and looked up.
#[must_use]
pub fn challenge_hash(challenge: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, challenge).as_ref());
    out
}

/// Base64url without padding, the encoding of binary fields in WebAuthn's JSON.
#[must_use]
pub fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A software authenticator (ES256), for tests: it builds what a browser and a security key would send.
#[cfg(any(test, feature = "soft-authenticator"))]
#[allow(clippy::expect_used)]
pub mod soft {
    use aws_lc_rs::digest;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ciborium::Value;

    use super::{AssertionResponse, FLAG_AT, FLAG_UP, FLAG_UV, RegistrationResponse};

    /// One credential on a software authenticator.
    pub struct SoftAuthenticator {
        key: EcdsaKeyPair,
        /// The credential id.
        pub credential_id: Vec<u8>,
        /// The counter it will put in its next assertion minus one (0 keeps it at 0, as many passkeys do).
        pub sign_count: u32,
        /// Whether the counter grows with each assertion.
        pub counting: bool,
    }

    impl Default for SoftAuthenticator {
        fn default() -> Self {
            Self::new()
        }
    }

    impl SoftAuthenticator {
        /// A new credential with a random key and id; its counter grows from 1.
        ///
        /// # Panics
        /// When the RNG fails.
        #[must_use]
        pub fn new() -> Self {
            let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).expect("generate P-256 key");
            let mut credential_id = vec![0u8; 16];
            crate::fill_random(&mut credential_id).expect("random credential id");
            Self { key, credential_id, sign_count: 0, counting: true }
        }

        /// The COSE form of the public key.
        ///
        /// # Panics
        /// Never for a P-256 key.
        #[must_use]
        pub fn cose_public_key(&self) -> Vec<u8> {
            let point = self.key.public_key().as_ref();
            let map = Value::Map(vec![
                (Value::from(1), Value::from(2)),
                (Value::from(3), Value::from(-7)),
                (Value::from(-1), Value::from(1)),
                (Value::from(-2), Value::Bytes(point[1..33].to_vec())),
                (Value::from(-3), Value::Bytes(point[33..65].to_vec())),
            ]);
            cbor(&map)
        }

        /// Client data JSON as a browser writes it.
        #[must_use]
        pub fn client_data(ceremony: &str, challenge: &[u8], origin: &str) -> Vec<u8> {
            serde_json::json!({
                "type": ceremony,
                "challenge": URL_SAFE_NO_PAD.encode(challenge),
                "origin": origin,
                "crossOrigin": false,
            })
            .to_string()
            .into_bytes()
        }

        /// Authenticator data for `rp_id` with these flags and counter; with the attested credential when
        /// `flags` has AT.
        #[must_use]
        pub fn auth_data(&self, rp_id: &str, flags: u8, count: u32) -> Vec<u8> {
            let mut out = digest::digest(&digest::SHA256, rp_id.as_bytes()).as_ref().to_vec();
            out.push(flags);
            out.extend_from_slice(&count.to_be_bytes());
            if flags & FLAG_AT != 0 {
                out.extend_from_slice(&[0u8; 16]);
                let len = u16::try_from(self.credential_id.len()).unwrap_or(u16::MAX);
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&self.credential_id);
                out.extend_from_slice(&self.cose_public_key());
            }
            out
        }

        /// An attestation object of format `none` around `auth_data`.
        #[must_use]
        pub fn attestation_object(auth_data: &[u8]) -> Vec<u8> {
            cbor(&Value::Map(vec![
                (Value::from("fmt"), Value::from("none")),
                (Value::from("attStmt"), Value::Map(vec![])),
                (Value::from("authData"), Value::Bytes(auth_data.to_vec())),
            ]))
        }

        /// The signature over `auth_data || SHA-256(client_data)`.
        ///
        /// # Panics
        /// When signing fails.
        #[must_use]
        pub fn sign(&self, auth_data: &[u8], client_data: &[u8]) -> Vec<u8> {
            let mut message = auth_data.to_vec();
            message.extend_from_slice(digest::digest(&digest::SHA256, client_data).as_ref());
            let sig = self.key.sign(&SystemRandom::new(), &message).expect("sign");
            sig.as_ref().to_vec()
        }

        /// What `navigator.credentials.create` returns, for `rp_id` and `origin` (UP and UV set).
        #[must_use]
        pub fn register(&self, rp_id: &str, origin: &str, challenge: &[u8]) -> RegistrationResponse {
            let data = self.auth_data(rp_id, FLAG_UP | FLAG_UV | FLAG_AT, self.sign_count);
            RegistrationResponse {
                raw_id: self.credential_id.clone(),
                client_data_json: Self::client_data("webauthn.create", challenge, origin),
                attestation_object: Self::attestation_object(&data),
            }
        }

        /// What `navigator.credentials.get` returns (UP and UV set); the counter moves on first when counting.
        #[must_use]
        pub fn assert(&mut self, rp_id: &str, origin: &str, challenge: &[u8]) -> AssertionResponse {
            if self.counting {
                self.sign_count += 1;
            }
            let authenticator_data = self.auth_data(rp_id, FLAG_UP | FLAG_UV, self.sign_count);
            let client_data_json = Self::client_data("webauthn.get", challenge, origin);
            let signature = self.sign(&authenticator_data, &client_data_json);
            AssertionResponse { raw_id: self.credential_id.clone(), client_data_json, authenticator_data, signature }
        }
    }

    impl RegistrationResponse {
        /// The JSON a browser script posts.
        #[must_use]
        pub fn to_json(&self) -> serde_json::Value {
            let id = URL_SAFE_NO_PAD.encode(&self.raw_id);
            serde_json::json!({
                "id": id, "rawId": id, "type": "public-key",
                "response": {
                    "clientDataJSON": URL_SAFE_NO_PAD.encode(&self.client_data_json),
                    "attestationObject": URL_SAFE_NO_PAD.encode(&self.attestation_object),
                },
            })
        }
    }

    impl AssertionResponse {
        /// The JSON a browser script posts.
        #[must_use]
        pub fn to_json(&self) -> serde_json::Value {
            let id = URL_SAFE_NO_PAD.encode(&self.raw_id);
            serde_json::json!({
                "id": id, "rawId": id, "type": "public-key",
                "response": {
                    "clientDataJSON": URL_SAFE_NO_PAD.encode(&self.client_data_json),
                    "authenticatorData": URL_SAFE_NO_PAD.encode(&self.authenticator_data),
                    "signature": URL_SAFE_NO_PAD.encode(&self.signature),
                },
            })
        }
    }

    fn cbor(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::ser::into_writer(value, &mut out).expect("CBOR into a Vec");
        out
    }

    /// Ed25519 variant bits for tests of the -8 path.
    #[must_use]
    pub fn ed25519_cose_key(public: &[u8]) -> Vec<u8> {
        cbor(&Value::Map(vec![
            (Value::from(1), Value::from(1)),
            (Value::from(3), Value::from(-8)),
            (Value::from(-1), Value::from(6)),
            (Value::from(-2), Value::Bytes(public.to_vec())),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};

    use super::soft::SoftAuthenticator;
    use super::*;

    const RP_ID: &str = "clinic.example";
    const ORIGIN: &str = "https://clinic.example";

    fn rp() -> RelyingParty {
        RelyingParty::from_public_url("https://clinic.example/").unwrap()
    }

    fn challenge(byte: u8) -> Vec<u8> {
        vec![byte; CHALLENGE_LEN]
    }

    fn registered() -> (SoftAuthenticator, Registration) {
        let auth = SoftAuthenticator::new();
        let reg =
            verify_registration(&rp(), &challenge(1), &auth.register(RP_ID, ORIGIN, &challenge(1)), true).unwrap();
        (auth, reg)
    }

    #[test]
    fn the_relying_party_follows_the_public_url() {
        let rp = RelyingParty::from_public_url("https://Forms.Clinic.example:443/path?q").unwrap();
        assert_eq!((rp.id(), rp.origin()), ("forms.clinic.example", "https://forms.clinic.example"));
        let rp = RelyingParty::from_public_url("http://localhost:8080").unwrap();
        assert_eq!((rp.id(), rp.origin()), ("localhost", "http://localhost:8080"));
        for bad in ["ftp://x", "https://", "https://u@x", "x.example", "https://x:port"] {
            assert!(RelyingParty::from_public_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_registration_and_a_good_assertion_pass() {
        let (mut auth, reg) = registered();
        assert_eq!(reg.credential_id, auth.credential_id);
        assert_eq!(reg.public_key, auth.cose_public_key());
        assert_eq!((reg.algorithm, reg.sign_count, reg.user_verified), (ES256, 0, true));
        let assertion = auth.assert(RP_ID, ORIGIN, &challenge(2));
        let outcome = verify_assertion(&rp(), &challenge(2), &reg.public_key, 0, &assertion, true).unwrap();
        assert_eq!(outcome, AssertionOutcome { sign_count: 1, user_verified: true });
        // Through the JSON the browser script posts.
        let again = AssertionResponse::from_json(&auth.assert(RP_ID, ORIGIN, &challenge(3)).to_json()).unwrap();
        assert_eq!(verify_assertion(&rp(), &challenge(3), &reg.public_key, 1, &again, true).unwrap().sign_count, 2);
        let json = RegistrationResponse::from_json(&auth.register(RP_ID, ORIGIN, &challenge(4)).to_json()).unwrap();
        assert!(verify_registration(&rp(), &challenge(4), &json, false).is_ok());
    }

    #[test]
    fn registrations_for_another_site_challenge_or_ceremony_are_refused() {
        let auth = SoftAuthenticator::new();
        let check = |response: &RegistrationResponse| verify_registration(&rp(), &challenge(1), response, false);
        assert_eq!(
            check(&auth.register(RP_ID, "https://evil.example", &challenge(1))),
            Err(WebauthnError::WrongOrigin)
        );
        assert_eq!(
            check(&auth.register(RP_ID, "http://clinic.example", &challenge(1))),
            Err(WebauthnError::WrongOrigin)
        );
        assert_eq!(check(&auth.register("evil.example", ORIGIN, &challenge(1))), Err(WebauthnError::WrongRpId));
        assert_eq!(check(&auth.register(RP_ID, ORIGIN, &challenge(9))), Err(WebauthnError::WrongChallenge));
        let mut wrong_type = auth.register(RP_ID, ORIGIN, &challenge(1));
        wrong_type.client_data_json = SoftAuthenticator::client_data("webauthn.get", &challenge(1), ORIGIN);
        assert_eq!(check(&wrong_type), Err(WebauthnError::WrongType("webauthn.create")));
        let absent = auth.auth_data(RP_ID, FLAG_AT, 0);
        let mut not_present = auth.register(RP_ID, ORIGIN, &challenge(1));
        not_present.attestation_object = SoftAuthenticator::attestation_object(&absent);
        assert_eq!(check(&not_present), Err(WebauthnError::UserNotPresent));
        let unverified = auth.auth_data(RP_ID, FLAG_AT | FLAG_UP, 0);
        let mut no_uv = auth.register(RP_ID, ORIGIN, &challenge(1));
        no_uv.attestation_object = SoftAuthenticator::attestation_object(&unverified);
        assert!(check(&no_uv).is_ok());
        assert_eq!(verify_registration(&rp(), &challenge(1), &no_uv, true), Err(WebauthnError::UserNotVerified));
        let mut truncated = auth.register(RP_ID, ORIGIN, &challenge(1));
        truncated.attestation_object.pop();
        assert!(matches!(check(&truncated), Err(WebauthnError::Malformed(_))));
        let mut cross = auth.register(RP_ID, ORIGIN, &challenge(1));
        let mut client: serde_json::Value = serde_json::from_slice(&cross.client_data_json).unwrap();
        client["crossOrigin"] = true.into();
        cross.client_data_json = client.to_string().into_bytes();
        assert_eq!(check(&cross), Err(WebauthnError::CrossOrigin));
    }

    #[test]
    fn assertions_with_wrong_origin_rp_challenge_signature_or_flags_are_refused() {
        let (mut auth, reg) = registered();
        let verify =
            |response: &AssertionResponse| verify_assertion(&rp(), &challenge(2), &reg.public_key, 0, response, false);
        assert_eq!(verify(&auth.assert(RP_ID, "https://evil.example", &challenge(2))), Err(WebauthnError::WrongOrigin));
        assert_eq!(verify(&auth.assert("evil.example", ORIGIN, &challenge(2))), Err(WebauthnError::WrongRpId));
        assert_eq!(verify(&auth.assert(RP_ID, ORIGIN, &challenge(3))), Err(WebauthnError::WrongChallenge));
        let mut bad_sig = auth.assert(RP_ID, ORIGIN, &challenge(2));
        let last = bad_sig.signature.len() - 2;
        bad_sig.signature[last] ^= 1;
        assert_eq!(verify(&bad_sig), Err(WebauthnError::BadSignature));
        // Data changed after signing: the signature no longer covers it.
        let mut altered = auth.assert(RP_ID, ORIGIN, &challenge(2));
        altered.authenticator_data[36] ^= 0x10;
        assert_eq!(verify(&altered), Err(WebauthnError::BadSignature));
        // Another key's signature.
        let other = SoftAuthenticator::new();
        let mut foreign = auth.assert(RP_ID, ORIGIN, &challenge(2));
        foreign.signature = other.sign(&foreign.authenticator_data, &foreign.client_data_json);
        assert_eq!(verify(&foreign), Err(WebauthnError::BadSignature));
        // Signed properly, but without user presence.
        let data = auth.auth_data(RP_ID, FLAG_UV, 5);
        let client = SoftAuthenticator::client_data("webauthn.get", &challenge(2), ORIGIN);
        let no_up = AssertionResponse {
            raw_id: auth.credential_id.clone(),
            signature: auth.sign(&data, &client),
            authenticator_data: data,
            client_data_json: client,
        };
        assert_eq!(verify(&no_up), Err(WebauthnError::UserNotPresent));
        // Without user verification when it is required.
        let data = auth.auth_data(RP_ID, FLAG_UP, 6);
        let client = SoftAuthenticator::client_data("webauthn.get", &challenge(2), ORIGIN);
        let no_uv = AssertionResponse {
            raw_id: auth.credential_id.clone(),
            signature: auth.sign(&data, &client),
            authenticator_data: data,
            client_data_json: client,
        };
        assert!(verify(&no_uv).is_ok());
        assert_eq!(
            verify_assertion(&rp(), &challenge(2), &reg.public_key, 0, &no_uv, true),
            Err(WebauthnError::UserNotVerified)
        );
        // A registration's client data is not an assertion's.
        let mut wrong_type = auth.assert(RP_ID, ORIGIN, &challenge(2));
        wrong_type.client_data_json = SoftAuthenticator::client_data("webauthn.create", &challenge(2), ORIGIN);
        wrong_type.signature = auth.sign(&wrong_type.authenticator_data, &wrong_type.client_data_json);
        assert_eq!(verify(&wrong_type), Err(WebauthnError::WrongType("webauthn.get")));
    }

    #[test]
    fn a_counter_that_does_not_grow_is_refused() {
        let (mut auth, reg) = registered();
        let first = auth.assert(RP_ID, ORIGIN, &challenge(2));
        assert_eq!(verify_assertion(&rp(), &challenge(2), &reg.public_key, 0, &first, false).unwrap().sign_count, 1);
        // The same counter again (a clone that signed with the same state), or a lower one.
        assert_eq!(
            verify_assertion(&rp(), &challenge(2), &reg.public_key, 1, &first, false),
            Err(WebauthnError::CounterNotIncreased)
        );
        assert_eq!(
            verify_assertion(&rp(), &challenge(2), &reg.public_key, 7, &first, false),
            Err(WebauthnError::CounterNotIncreased)
        );
        // An authenticator that always says 0 is accepted while the stored counter is 0 too.
        auth.counting = false;
        auth.sign_count = 0;
        let zero = auth.assert(RP_ID, ORIGIN, &challenge(3));
        assert!(verify_assertion(&rp(), &challenge(3), &reg.public_key, 0, &zero, false).is_ok());
        assert_eq!(
            verify_assertion(&rp(), &challenge(3), &reg.public_key, 4, &zero, false),
            Err(WebauthnError::CounterNotIncreased)
        );
    }

    #[test]
    fn ed25519_keys_verify() {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let cose = soft::ed25519_cose_key(pair.public_key().as_ref());
        let auth = SoftAuthenticator::new();
        let data = auth.auth_data(RP_ID, FLAG_UP, 3);
        let client = SoftAuthenticator::client_data("webauthn.get", &challenge(2), ORIGIN);
        let mut message = data.clone();
        message.extend_from_slice(digest::digest(&digest::SHA256, &client).as_ref());
        let response = AssertionResponse {
            raw_id: vec![1],
            signature: pair.sign(&message).as_ref().to_vec(),
            authenticator_data: data,
            client_data_json: client,
        };
        assert_eq!(verify_assertion(&rp(), &challenge(2), &cose, 2, &response, false).unwrap().sign_count, 3);
        let mut forged = response.clone();
        forged.signature[0] ^= 1;
        assert_eq!(verify_assertion(&rp(), &challenge(2), &cose, 2, &forged, false), Err(WebauthnError::BadSignature));
    }

    #[test]
    fn unsupported_keys_and_attestation_formats_are_refused() {
        let auth = SoftAuthenticator::new();
        let mut response = auth.register(RP_ID, ORIGIN, &challenge(1));
        let data = auth.auth_data(RP_ID, FLAG_UP | FLAG_AT, 0);
        let object = |fmt: &str| {
            let mut out = Vec::new();
            ciborium::ser::into_writer(
                &Value::Map(vec![
                    (Value::from("fmt"), Value::from(fmt)),
                    (Value::from("attStmt"), Value::Map(vec![])),
                    (Value::from("authData"), Value::Bytes(data.clone())),
                ]),
                &mut out,
            )
            .unwrap();
            out
        };
        response.attestation_object = object("tpm");
        assert_eq!(
            verify_registration(&rp(), &challenge(1), &response, false),
            Err(WebauthnError::UnsupportedAttestation)
        );
        response.attestation_object = object("packed");
        assert!(verify_registration(&rp(), &challenge(1), &response, false).is_ok());
        // An RSA (kty 3, alg -257) key.
        let rsa = {
            let mut out = Vec::new();
            let key = Value::Map(vec![(Value::from(1), Value::from(3)), (Value::from(3), Value::from(-257))]);
            ciborium::ser::into_writer(&key, &mut out).unwrap();
            out
        };
        assert!(matches!(PublicKey::from_cose(&rsa), Err(WebauthnError::UnsupportedAlgorithm)));
    }
}
