//! Wrapping data keys to an organisation key: the versioned envelope (DESIGN.md §5, "Wrapping").
//!
//! Envelope bytes (all of `docs/envelope.md` §2); version 2 is written, versions 1 and 2 are read:
//!
//! ```text
//! magic "SFWK" (4) | version (1) | suite id (1) | key id (16) | encapsulation length (u16 BE)
//! | encapsulation | context (16, version 2 only) | nonce (12) | AES-256-GCM(data key) ciphertext + tag (32 + 16)
//! ```
//!
//! Both suites are a KEM followed by the same AEAD step:
//! - suite 1: ML-KEM-768 encapsulation `ct_M` plus an ephemeral X25519 share `ct_X`; the shared secret is the X-Wing
//!   combiner `SHA3-256(ss_M || ss_X || ct_X || pk_X || "\.//^\")`. Only the combiner is X-Wing's: the two keys are
//!   generated independently, not expanded from one X-Wing seed, so the X-Wing draft's test vectors do not apply;
//! - suite 2: a random 32-byte secret encrypted with RSA-OAEP-3072 (SHA-256, MGF1-SHA-256).
//!
//! Then the data key is sealed with AES-256-GCM under a KEK with a random nonce and associated data `header || aad`,
//! where the header is every byte before the nonce (so the encapsulation and context are authenticated too):
//! - version 2: `KEK = HKDF-SHA256(salt = "", ikm = shared secret, info = "sealform/wrap/v2" || suite id || key id
//!   || context)`, the context 16 random bytes of the envelope's own. One encapsulation can therefore serve many
//!   envelopes (a [`WrapSession`]), each under a key of its own: the KEM, two X25519 multiplications and an ML-KEM
//!   encapsulation (about 40 µs), is paid once per session instead of once per data key;
//! - version 1: `KEK = HKDF-SHA256(salt = "", ikm = shared secret, info = "sealform/wrap/v1" || suite id || key id)`,
//!   one encapsulation per envelope.

use std::fmt;

use aws_lc_rs::agreement::{self, UnparsedPublicKey, X25519};
use aws_lc_rs::digest;
use aws_lc_rs::kem::{Ciphertext, DecapsulationKey, EncapsulationKey};
use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, OaepPublicEncryptingKey};
use zeroize::Zeroizing;

use crate::codec::Reader;
use crate::data::DataKey;
use crate::gcm::{GcmKey, KEY_LEN, NONCE_LEN, TAG_LEN, random_nonce};
use crate::kdf::hkdf_sha256;
use crate::keys::{MLKEM_CT_LEN, PrivateInner, PublicInner, RSA_CT_LEN, X25519_LEN};
use crate::{CryptoError, KeyId, RecipientPrivateKey, RecipientPublicKey, Suite};

/// Magic of a wrapped data key.
const WRAP_MAGIC: &[u8; 4] = b"SFWK";
/// The envelope version written since wrap sessions; version 1 (no context) is still read.
const WRAP_VERSION: u8 = 2;
/// magic + version + suite + key id + encapsulation length.
const FIXED_HEADER_LEN: usize = 4 + 1 + 1 + 16 + 2;
/// The sealed data key: 32 bytes of key and a 16-byte tag.
const SEALED_KEY_LEN: usize = KEY_LEN + TAG_LEN;
/// Length of a version 2 envelope's context, the random input that gives it a KEK of its own.
pub(crate) const CONTEXT_LEN: usize = 16;
/// HKDF info labels for the key-encryption key, by envelope version.
const KEK_LABEL_V1: &[u8] = b"sealform/wrap/v1";
const KEK_LABEL_V2: &[u8] = b"sealform/wrap/v2";
/// The X-Wing combiner's label, `\.//^\`.
pub(crate) const XWING_LABEL: [u8; 6] = [0x5c, 0x2e, 0x2f, 0x2f, 0x5e, 0x5c];
/// RSA-OAEP label (domain separation from any other use of an RSA key).
const OAEP_LABEL: &[u8] = b"sealform/wrap/v1/rsa-oaep";

/// A data key wrapped to one organisation key: safe to store, useless without that organisation's private key.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey {
    bytes: Vec<u8>,
    suite: Suite,
    key_id: KeyId,
}

impl WrappedKey {
    /// Takes stored envelope bytes, checking the header and every length before anything is trusted.
    ///
    /// # Errors
    /// [`CryptoError::Malformed`] for a bad magic or lengths that do not add up, [`CryptoError::UnsupportedVersion`],
    /// [`CryptoError::UnknownSuite`].
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, CryptoError> {
        let parsed = Parsed::new(&bytes)?;
        let (suite, key_id) = (parsed.suite, parsed.key_id);
        Ok(Self { bytes, suite, key_id })
    }

    /// The envelope bytes, to store.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The id of the organisation key this was wrapped to.
    #[must_use]
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The suite it was wrapped with.
    #[must_use]
    pub fn suite(&self) -> Suite {
        self.suite
    }
}

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedKey")
            .field("suite", &self.suite)
            .field("key_id", &self.key_id)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// Which key derivation an envelope uses: its version, and in version 2 its context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Derivation {
    /// Version 1: one KEK per encapsulation.
    V1,
    /// Version 2: one KEK per envelope, from the shared secret and this context.
    V2([u8; CONTEXT_LEN]),
}

impl Derivation {
    fn version(self) -> u8 {
        match self {
            Self::V1 => 1,
            Self::V2(_) => 2,
        }
    }

    /// `HKDF-SHA256(salt = "", ikm = shared, info = label || suite id || key id [|| context])`.
    fn kek(self, suite: Suite, key_id: KeyId, shared: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        match self {
            Self::V1 => hkdf_sha256(&[], shared, &[KEK_LABEL_V1, &[suite.id()], &key_id.0]),
            Self::V2(context) => hkdf_sha256(&[], shared, &[KEK_LABEL_V2, &[suite.id()], &key_id.0, &context]),
        }
    }
}

/// A parsed view of envelope bytes.
struct Parsed<'a> {
    suite: Suite,
    key_id: KeyId,
    derivation: Derivation,
    /// Every byte before the nonce: the AEAD's associated data starts with it.
    header: &'a [u8],
    encapsulation: &'a [u8],
    nonce: [u8; NONCE_LEN],
    sealed_key: &'a [u8],
}

impl<'a> Parsed<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self, CryptoError> {
        let mut r = Reader::new(bytes, "wrapped key is truncated or too long");
        if r.take(4)? != WRAP_MAGIC {
            return Err(CryptoError::Malformed("not a Sealform wrapped key"));
        }
        let version = r.u8()?;
        if !matches!(version, 1 | WRAP_VERSION) {
            return Err(CryptoError::UnsupportedVersion);
        }
        let suite = Suite::from_id(r.u8()?)?;
        let key_id = KeyId(r.array()?);
        let enc_len = usize::from(r.u16()?);
        if enc_len != encapsulation_len(suite) {
            return Err(CryptoError::Malformed("wrapped key's encapsulation length does not match its suite"));
        }
        let encapsulation = r.take(enc_len)?;
        let derivation = if version == 1 { Derivation::V1 } else { Derivation::V2(r.array()?) };
        let header = &bytes[..bytes.len() - r.rest().len()];
        let nonce = r.array()?;
        let sealed_key = r.take(SEALED_KEY_LEN)?;
        r.finish()?;
        Ok(Self { suite, key_id, derivation, header, encapsulation, nonce, sealed_key })
    }
}

/// Length of a suite's encapsulation.
fn encapsulation_len(suite: Suite) -> usize {
    match suite {
        Suite::HybridMlKem768X25519 => MLKEM_CT_LEN + X25519_LEN,
        Suite::RsaOaep3072Sha256 => RSA_CT_LEN,
    }
}

/// One KEM encapsulation to an organisation key, shared by the data keys wrapped with it (version 2 envelopes).
///
/// Every envelope it makes carries the encapsulation and a random context of its own, from which its KEK is derived:
/// each opens alone with the organisation's private key, and knowing one data key or KEK tells nothing of another.
/// What the session adds is its shared secret in memory while it lives, which opens every data key it wrapped; so
/// callers keep sessions short (Sealform core: one second, at most 1,024 keys). No `Clone`; `Debug` shows only the
/// suite and key id; the secret is zeroized on drop.
pub struct WrapSession {
    suite: Suite,
    key_id: KeyId,
    encapsulation: Vec<u8>,
    shared: Zeroizing<[u8; 32]>,
}

impl WrapSession {
    /// Encapsulates a fresh shared secret to `recipient`.
    ///
    /// # Errors
    /// [`CryptoError::Rng`] or [`CryptoError::Internal`] if randomness or aws-lc fails; [`CryptoError::KeyRejected`]
    /// if the recipient's X25519 key is a low-order point.
    pub fn new(recipient: &RecipientPublicKey) -> Result<Self, CryptoError> {
        let (encapsulation, shared) = encapsulate(recipient)?;
        Ok(Self { suite: recipient.suite(), key_id: recipient.key_id(), encapsulation, shared })
    }

    /// The id of the organisation key it wraps to.
    #[must_use]
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// Wraps `key`, binding `aad` (e.g. the submission's [`crate::RecordBinding`] without a field path), under a KEK
    /// of this envelope's own.
    ///
    /// # Errors
    /// [`CryptoError::Rng`] or [`CryptoError::Internal`] if randomness or aws-lc fails.
    pub fn wrap(&self, key: &DataKey, aad: &[u8]) -> Result<WrappedKey, CryptoError> {
        let mut context = [0u8; CONTEXT_LEN];
        crate::fill_random(&mut context).map_err(|_| CryptoError::Rng)?;
        let nonce = random_nonce()?;
        seal_key(Derivation::V2(context), self.suite, self.key_id, &self.encapsulation, &self.shared, nonce, key, aad)
    }
}

impl fmt::Debug for WrapSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrapSession").field("suite", &self.suite).field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

/// Wraps `key` to `recipient` with an encapsulation of its own, binding `aad` (see [`WrapSession::wrap`]). To wrap
/// many keys, a [`WrapSession`] pays for the encapsulation once.
///
/// # Errors
/// [`CryptoError::Rng`] or [`CryptoError::Internal`] if randomness or aws-lc fails; [`CryptoError::KeyRejected`] if
/// the recipient's X25519 key is a low-order point.
pub fn wrap(recipient: &RecipientPublicKey, key: &DataKey, aad: &[u8]) -> Result<WrappedKey, CryptoError> {
    WrapSession::new(recipient)?.wrap(key, aad)
}

/// Wraps `key` in a version 1 envelope (an encapsulation of its own, no context), as builds before wrap sessions
/// wrote: for other crates' tests that data written then still opens and rotates.
///
/// # Errors
/// As [`wrap`].
#[cfg(any(test, feature = "legacy-envelopes"))]
pub fn wrap_version_1(recipient: &RecipientPublicKey, key: &DataKey, aad: &[u8]) -> Result<WrappedKey, CryptoError> {
    let (encapsulation, shared) = encapsulate(recipient)?;
    let (suite, key_id) = (recipient.suite(), recipient.key_id());
    seal_key(Derivation::V1, suite, key_id, &encapsulation, &shared, random_nonce()?, key, aad)
}

/// Unwraps a data key with the organisation's private key and the same `aad` it was wrapped with.
///
/// # Errors
/// [`CryptoError::WrongKey`] if the envelope names another key id or suite; [`CryptoError::Decrypt`] for a wrong
/// `aad` or altered bytes (whatever part was altered).
pub fn unwrap(recipient: &RecipientPrivateKey, wrapped: &WrappedKey, aad: &[u8]) -> Result<DataKey, CryptoError> {
    let parsed = Parsed::new(wrapped.as_bytes())?;
    if parsed.key_id != recipient.key_id() || parsed.suite != recipient.suite() {
        return Err(CryptoError::WrongKey);
    }
    let shared = decapsulate(recipient, parsed.encapsulation)?;
    let kek = parsed.derivation.kek(parsed.suite, parsed.key_id, &shared)?;
    let gcm = GcmKey::new(&kek)?;
    let gcm_aad = concat(parsed.header, aad);
    let mut buf = Zeroizing::new([0u8; SEALED_KEY_LEN]);
    buf.copy_from_slice(parsed.sealed_key);
    let plain = gcm.open_in_place(parsed.nonce, &gcm_aad, buf.as_mut())?;
    let bytes = Zeroizing::new(<[u8; KEY_LEN]>::try_from(&*plain).map_err(|_| CryptoError::Decrypt)?);
    DataKey::from_array(*bytes)
}

/// The suite's KEM: a fresh shared secret and the encapsulation that carries it to `recipient`.
pub(crate) fn encapsulate(recipient: &RecipientPublicKey) -> Result<Encapsulated, CryptoError> {
    match &recipient.inner {
        PublicInner::Hybrid { ek, pk_x } => hybrid_encapsulate(ek, pk_x),
        PublicInner::Rsa(pk) => rsa_encapsulate(pk),
    }
}

/// The suite's KEM, inverse: the shared secret in `encapsulation`.
pub(crate) fn decapsulate(
    recipient: &RecipientPrivateKey,
    encapsulation: &[u8],
) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    match &recipient.inner {
        PrivateInner::Hybrid { dk, sk_x, pk_x } => hybrid_decapsulate(dk, sk_x, pk_x, encapsulation),
        PrivateInner::Rsa(key) => rsa_decapsulate(key, encapsulation),
    }
}

/// The AEAD step shared by both suites and versions, with everything random passed in (so vectors can be made).
#[allow(clippy::too_many_arguments)] // each is one field of the envelope
pub(crate) fn seal_key(
    derivation: Derivation,
    suite: Suite,
    key_id: KeyId,
    encapsulation: &[u8],
    shared: &[u8; 32],
    nonce: [u8; NONCE_LEN],
    key: &DataKey,
    aad: &[u8],
) -> Result<WrappedKey, CryptoError> {
    let enc_len = u16::try_from(encapsulation.len()).map_err(|_| CryptoError::Internal)?;
    let mut out = Vec::with_capacity(FIXED_HEADER_LEN + encapsulation.len() + CONTEXT_LEN + NONCE_LEN + SEALED_KEY_LEN);
    out.extend_from_slice(WRAP_MAGIC);
    out.push(derivation.version());
    out.push(suite.id());
    out.extend_from_slice(&key_id.0);
    out.extend_from_slice(&enc_len.to_be_bytes());
    out.extend_from_slice(encapsulation);
    if let Derivation::V2(context) = derivation {
        out.extend_from_slice(&context);
    }
    let kek = derivation.kek(suite, key_id, shared)?;
    let gcm = GcmKey::new(&kek)?;
    let gcm_aad = concat(&out, aad);
    let mut sealed = Zeroizing::new(*key.expose());
    let tag = gcm.seal_in_place(nonce, &gcm_aad, sealed.as_mut())?;
    out.extend_from_slice(&nonce);
    out.extend_from_slice(sealed.as_ref());
    out.extend_from_slice(&tag);
    Ok(WrappedKey { bytes: out, suite, key_id })
}

fn concat(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    out.extend_from_slice(a);
    out.extend_from_slice(b);
    out
}

/// The encapsulation and the shared secret it carries.
pub(crate) type Encapsulated = (Vec<u8>, Zeroizing<[u8; 32]>);

/// Suite 1 encapsulation: `ct_M || ct_X` and the X-Wing-combined secret.
fn hybrid_encapsulate(ek: &EncapsulationKey, pk_x: &[u8; X25519_LEN]) -> Result<Encapsulated, CryptoError> {
    let (ct_m, ss_m) = ek.encapsulate().map_err(|_| CryptoError::Internal)?;
    let eph = agreement::PrivateKey::generate(&X25519).map_err(|_| CryptoError::Internal)?;
    let ct_x = eph.compute_public_key().map_err(|_| CryptoError::Internal)?;
    let ss = agreement::agree(&eph, UnparsedPublicKey::new(&X25519, pk_x), CryptoError::KeyRejected, |ss_x| {
        Ok(xwing_combiner(ss_m.as_ref(), ss_x, ct_x.as_ref(), pk_x))
    })?;
    let mut encapsulation = Vec::with_capacity(MLKEM_CT_LEN + X25519_LEN);
    encapsulation.extend_from_slice(ct_m.as_ref());
    encapsulation.extend_from_slice(ct_x.as_ref());
    if encapsulation.len() != MLKEM_CT_LEN + X25519_LEN {
        return Err(CryptoError::Internal);
    }
    Ok((encapsulation, ss))
}

/// Suite 1 decapsulation. ML-KEM rejects implicitly (a bad `ct_M` yields an unrelated secret), and a low-order
/// `ct_X` fails the X25519 step; either way the caller sees only [`CryptoError::Decrypt`].
fn hybrid_decapsulate(
    dk: &DecapsulationKey,
    sk_x: &agreement::PrivateKey,
    pk_x: &[u8; X25519_LEN],
    encapsulation: &[u8],
) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let (ct_m, ct_x) = encapsulation.split_at_checked(MLKEM_CT_LEN).ok_or(CryptoError::Decrypt)?;
    let ss_m = dk.decapsulate(Ciphertext::from(ct_m)).map_err(|_| CryptoError::Decrypt)?;
    agreement::agree(sk_x, UnparsedPublicKey::new(&X25519, ct_x), CryptoError::Decrypt, |ss_x| {
        Ok(xwing_combiner(ss_m.as_ref(), ss_x, ct_x, pk_x))
    })
}

/// The X-Wing combiner (draft-connolly-cfrg-xwing-kem §5.3): `SHA3-256(ss_M || ss_X || ct_X || pk_X || XWingLabel)`.
pub(crate) fn xwing_combiner(ss_m: &[u8], ss_x: &[u8], ct_x: &[u8], pk_x: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut ctx = digest::Context::new(&digest::SHA3_256);
    ctx.update(ss_m);
    ctx.update(ss_x);
    ctx.update(ct_x);
    ctx.update(pk_x);
    ctx.update(&XWING_LABEL);
    let digest = ctx.finish();
    let mut out = Zeroizing::new([0u8; 32]);
    let d = digest.as_ref();
    let n = d.len().min(32);
    out[..n].copy_from_slice(&d[..n]);
    out
}

/// Suite 2 encapsulation: a random 32-byte secret under RSA-OAEP.
fn rsa_encapsulate(pk: &OaepPublicEncryptingKey) -> Result<Encapsulated, CryptoError> {
    let mut secret = Zeroizing::new([0u8; 32]);
    crate::fill_random(secret.as_mut()).map_err(|_| CryptoError::Rng)?;
    let mut ct = vec![0u8; pk.ciphertext_size()];
    let len = pk
        .encrypt(&OAEP_SHA256_MGF1SHA256, secret.as_ref(), &mut ct, Some(OAEP_LABEL))
        .map_err(|_| CryptoError::Internal)?
        .len();
    ct.truncate(len);
    if ct.len() != RSA_CT_LEN {
        return Err(CryptoError::Internal);
    }
    Ok((ct, secret))
}

/// Suite 2 decapsulation. If OAEP fails (or yields other than 32 bytes) a random secret stands in, so the failure
/// surfaces only as the AEAD failing: one error, one code path, for every kind of tampering.
fn rsa_decapsulate(key: &OaepPrivateDecryptingKey, encapsulation: &[u8]) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let mut out = Zeroizing::new(vec![0u8; key.min_output_size()]);
    let mut secret = Zeroizing::new([0u8; 32]);
    match key.decrypt(&OAEP_SHA256_MGF1SHA256, encapsulation, &mut out, Some(OAEP_LABEL)) {
        Ok(plain) if plain.len() == 32 => secret.copy_from_slice(plain),
        _ => crate::fill_random(secret.as_mut()).map_err(|_| CryptoError::Rng)?,
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_keys::{hybrid_key, rsa_key};

    fn keys() -> [&'static RecipientPrivateKey; 2] {
        [hybrid_key(), rsa_key()]
    }

    #[test]
    fn wrap_then_unwrap_returns_the_same_key_for_both_suites() {
        for recipient in keys() {
            let key = DataKey::generate().unwrap();
            let wrapped = wrap(&recipient.public_key().unwrap(), &key, b"aad").unwrap();
            assert_eq!(wrapped.suite(), recipient.suite());
            assert_eq!(wrapped.key_id(), recipient.key_id());
            let expected_len =
                FIXED_HEADER_LEN + encapsulation_len(recipient.suite()) + CONTEXT_LEN + NONCE_LEN + SEALED_KEY_LEN;
            assert_eq!(wrapped.as_bytes().len(), expected_len);
            let back = unwrap(recipient, &WrappedKey::from_bytes(wrapped.as_bytes().to_vec()).unwrap(), b"aad");
            assert_eq!(back.unwrap().expose(), key.expose());
        }
    }

    #[test]
    fn wrong_aad_or_any_flipped_bit_fails_as_decrypt() {
        for recipient in keys() {
            let key = DataKey::generate().unwrap();
            let wrapped = wrap(&recipient.public_key().unwrap(), &key, b"aad").unwrap();
            assert_eq!(unwrap(recipient, &wrapped, b"aae").unwrap_err(), CryptoError::Decrypt);
            // Past the key id (which would be WrongKey) and the length (Malformed): encapsulation, nonce, ciphertext.
            let bytes = wrapped.as_bytes();
            for pos in (FIXED_HEADER_LEN..bytes.len()).step_by(97).chain([bytes.len() - 1]) {
                let mut bad = bytes.to_vec();
                bad[pos] ^= 0x10;
                let bad = WrappedKey::from_bytes(bad).unwrap();
                assert_eq!(unwrap(recipient, &bad, b"aad").unwrap_err(), CryptoError::Decrypt, "byte {pos}");
            }
        }
    }

    #[test]
    fn a_flipped_context_byte_fails_as_decrypt() {
        for recipient in keys() {
            let wrapped = wrap(&recipient.public_key().unwrap(), &DataKey::generate().unwrap(), b"").unwrap();
            let context_at = FIXED_HEADER_LEN + encapsulation_len(recipient.suite());
            for pos in [context_at, context_at + CONTEXT_LEN - 1] {
                let mut bad = wrapped.as_bytes().to_vec();
                bad[pos] ^= 0x01;
                let bad = WrappedKey::from_bytes(bad).unwrap();
                assert_eq!(unwrap(recipient, &bad, b"").unwrap_err(), CryptoError::Decrypt, "byte {pos}");
            }
        }
    }

    #[test]
    fn another_key_id_or_suite_is_wrong_key() {
        let key = DataKey::generate().unwrap();
        let wrapped = wrap(&hybrid_key().public_key().unwrap(), &key, b"").unwrap();
        assert_eq!(unwrap(rsa_key(), &wrapped, b"").unwrap_err(), CryptoError::WrongKey);
        let mut bytes = wrapped.as_bytes().to_vec();
        bytes[6] ^= 1;
        let other_id = WrappedKey::from_bytes(bytes).unwrap();
        assert_eq!(unwrap(hybrid_key(), &other_id, b"").unwrap_err(), CryptoError::WrongKey);
    }

    #[test]
    fn header_damage_is_caught_by_from_bytes() {
        let key = DataKey::generate().unwrap();
        let bytes = wrap(&hybrid_key().public_key().unwrap(), &key, b"").unwrap().as_bytes().to_vec();
        let with = |pos: usize, value: u8| {
            let mut b = bytes.clone();
            b[pos] = value;
            WrappedKey::from_bytes(b).unwrap_err()
        };
        assert!(matches!(with(0, b'X'), CryptoError::Malformed(_)));
        assert_eq!(with(4, 3), CryptoError::UnsupportedVersion);
        assert_eq!(with(4, 0), CryptoError::UnsupportedVersion);
        // Version 1 has no context: the same bytes read as version 1 are 16 bytes too long.
        assert!(matches!(with(4, 1), CryptoError::Malformed(_)));
        assert_eq!(with(5, 0), CryptoError::UnknownSuite);
        // Suite 2 with suite 1's encapsulation length.
        assert!(matches!(with(5, 2), CryptoError::Malformed(_)));
        assert!(matches!(with(23, 0), CryptoError::Malformed(_)));
        for cut in [0, 1, 5, 23, 24, bytes.len() - 1] {
            assert!(matches!(WrappedKey::from_bytes(bytes[..cut].to_vec()), Err(CryptoError::Malformed(_))));
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(WrappedKey::from_bytes(long), Err(CryptoError::Malformed(_))));
    }

    #[test]
    fn a_low_order_x25519_share_fails_as_decrypt() {
        let key = DataKey::generate().unwrap();
        let mut bytes = wrap(&hybrid_key().public_key().unwrap(), &key, b"").unwrap().as_bytes().to_vec();
        let ct_x = FIXED_HEADER_LEN + MLKEM_CT_LEN;
        bytes[ct_x..ct_x + 32].fill(0);
        let bad = WrappedKey::from_bytes(bytes).unwrap();
        assert_eq!(unwrap(hybrid_key(), &bad, b"").unwrap_err(), CryptoError::Decrypt);
    }

    #[test]
    fn the_combiner_hashes_its_inputs_in_x_wing_order() {
        let mut input = Vec::new();
        input.extend_from_slice(&[1; 32]);
        input.extend_from_slice(&[2; 32]);
        input.extend_from_slice(&[3; 32]);
        input.extend_from_slice(&[4; 32]);
        input.extend_from_slice(br"\.//^\");
        let expected = digest::digest(&digest::SHA3_256, &input);
        assert_eq!(xwing_combiner(&[1; 32], &[2; 32], &[3; 32], &[4; 32]).as_slice(), expected.as_ref());
    }

    /// The encapsulation bytes of an envelope (version 1 or 2).
    fn encapsulation_of(wrapped: &WrappedKey) -> Vec<u8> {
        Parsed::new(wrapped.as_bytes()).unwrap().encapsulation.to_vec()
    }

    #[test]
    fn a_session_shares_one_encapsulation_and_each_envelope_opens_alone() {
        for recipient in keys() {
            let session = WrapSession::new(&recipient.public_key().unwrap()).unwrap();
            let keys: Vec<DataKey> = (0..3).map(|_| DataKey::generate().unwrap()).collect();
            let wrapped: Vec<WrappedKey> =
                keys.iter().enumerate().map(|(i, key)| session.wrap(key, &[i as u8]).unwrap()).collect();
            assert_eq!(encapsulation_of(&wrapped[0]), encapsulation_of(&wrapped[2]));
            for (i, (key, wrapped)) in keys.iter().zip(&wrapped).enumerate() {
                let stored = WrappedKey::from_bytes(wrapped.as_bytes().to_vec()).unwrap();
                assert_eq!(unwrap(recipient, &stored, &[i as u8]).unwrap().expose(), key.expose());
            }
            // A fresh session encapsulates afresh.
            let other = WrapSession::new(&recipient.public_key().unwrap()).unwrap().wrap(&keys[0], b"").unwrap();
            assert_ne!(encapsulation_of(&other), encapsulation_of(&wrapped[0]));
        }
    }

    #[test]
    fn envelopes_of_one_session_have_keks_of_their_own() {
        let session = WrapSession::new(&hybrid_key().public_key().unwrap()).unwrap();
        let key = DataKey::generate().unwrap();
        let (a, b) = (session.wrap(&key, b"").unwrap(), session.wrap(&key, b"").unwrap());
        let context_at = FIXED_HEADER_LEN + MLKEM_CT_LEN + X25519_LEN;
        let (a, b) = (a.as_bytes(), b.as_bytes());
        assert_ne!(a[context_at..context_at + CONTEXT_LEN], b[context_at..context_at + CONTEXT_LEN]);
        // b's body under a's header (a's context, so a's KEK) does not open: the KEKs differ, not only the nonces.
        let mut spliced = a[..context_at + CONTEXT_LEN].to_vec();
        spliced.extend_from_slice(&b[context_at + CONTEXT_LEN..]);
        let spliced = WrappedKey::from_bytes(spliced).unwrap();
        assert_eq!(unwrap(hybrid_key(), &spliced, b"").unwrap_err(), CryptoError::Decrypt);
    }

    #[test]
    fn version_1_envelopes_still_open() {
        for recipient in keys() {
            let key = DataKey::generate().unwrap();
            let v1 = wrap_version_1(&recipient.public_key().unwrap(), &key, b"a").unwrap();
            assert_eq!(v1.as_bytes()[4], 1);
            let expected_len = FIXED_HEADER_LEN + encapsulation_len(recipient.suite()) + NONCE_LEN + SEALED_KEY_LEN;
            assert_eq!(v1.as_bytes().len(), expected_len);
            let stored = WrappedKey::from_bytes(v1.as_bytes().to_vec()).unwrap();
            assert_eq!(unwrap(recipient, &stored, b"a").unwrap().expose(), key.expose());
            assert_eq!(unwrap(recipient, &stored, b"b").unwrap_err(), CryptoError::Decrypt);
        }
    }

    #[test]
    fn debug_of_a_session_shows_no_secret() {
        let session = WrapSession::new(&hybrid_key().public_key().unwrap()).unwrap();
        let shown = format!("{session:?}");
        assert_eq!(shown, format!("WrapSession {{ suite: HybridMlKem768X25519, key_id: {:?}, .. }}", session.key_id()));
    }

    #[test]
    fn debug_of_a_wrapped_key_shows_only_public_facts() {
        let key = DataKey::generate().unwrap();
        let wrapped = wrap(&hybrid_key().public_key().unwrap(), &key, b"").unwrap();
        let shown = format!("{wrapped:?}");
        assert!(shown.starts_with("WrappedKey { suite: HybridMlKem768X25519"), "{shown}");
    }
}
