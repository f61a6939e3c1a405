//! Organisation key pairs: the recipients data keys are wrapped to (DESIGN.md §5, "Wrapping").
//!
//! An organisation has one current [`RecipientPrivateKey`] of one [`Suite`], named by a [`KeyId`] the caller chooses
//! (the key's UUID). Its public half can sit on an intake node that must not read anything; its secret half is stored
//! only wrapped under the master key ([`crate::KeyEncryptionKey`]).
//!
//! Both halves encode themselves with the suite and key id inside, so a stored blob says what it is:
//! `magic (4) || version (1) || suite id (1) || key id (16) || body length (u16 BE) || body`, with magic `SFPK` for
//! public keys and `SFSK` for secret keys. Bodies:
//! - suite 1 public: ML-KEM-768 encapsulation key (1184) `||` X25519 public key (32);
//! - suite 1 secret: ML-KEM-768 decapsulation key (2400, the FIPS 203 expanded form) `||` X25519 private key (32);
//! - suite 2 public: RSA-3072 `SubjectPublicKeyInfo` DER;
//! - suite 2 secret: RSA-3072 PKCS#8 v1 DER.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::agreement::{self, X25519};
use aws_lc_rs::digest;
use aws_lc_rs::encoding::{AsBigEndian, AsDer, Curve25519SeedBin, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::kem::{DecapsulationKey, EncapsulationKey, ML_KEM_768};
use aws_lc_rs::rsa::{
    KeySize, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
};
use zeroize::Zeroizing;

use crate::CryptoError;
use crate::codec::Reader;

/// Magic of an encoded [`RecipientPublicKey`].
const PUBLIC_MAGIC: &[u8; 4] = b"SFPK";
/// Magic of an encoded [`RecipientPrivateKey`].
const SECRET_MAGIC: &[u8; 4] = b"SFSK";
/// Version of both key encodings.
const KEY_FORMAT_VERSION: u8 = 1;

/// ML-KEM-768 encapsulation (public) key length.
pub(crate) const MLKEM_EK_LEN: usize = 1184;
/// ML-KEM-768 decapsulation key length (FIPS 203 expanded form).
pub(crate) const MLKEM_DK_LEN: usize = 2400;
/// ML-KEM-768 ciphertext length.
pub(crate) const MLKEM_CT_LEN: usize = 1088;
/// X25519 key and share length.
pub(crate) const X25519_LEN: usize = 32;
/// Where the encapsulation key sits inside a FIPS 203 decapsulation key: after the 3 × 384-byte secret vector.
const DK_EK_OFFSET: usize = 1152;
/// Where `H(ek)` sits inside a decapsulation key, just after the encapsulation key.
const DK_HASH_OFFSET: usize = DK_EK_OFFSET + MLKEM_EK_LEN;
/// RSA modulus size of suite 2.
const RSA_BITS: usize = 3072;
/// RSA-3072 ciphertext length.
pub(crate) const RSA_CT_LEN: usize = RSA_BITS / 8;

/// A key-wrapping suite. The suite is an organisation setting; every build opens both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Suite {
    /// Suite 1, the default: ML-KEM-768 + X25519 with the X-Wing combiner. Post-quantum, and about ten times
    /// cheaper to unwrap than RSA-3072, which matters for bulk export.
    HybridMlKem768X25519,
    /// Suite 2, for compatibility with the classic design: RSA-OAEP-3072 with SHA-256.
    RsaOaep3072Sha256,
}

impl Suite {
    /// The suite's id byte in every encoding (1 or 2).
    #[must_use]
    pub fn id(self) -> u8 {
        match self {
            Self::HybridMlKem768X25519 => 1,
            Self::RsaOaep3072Sha256 => 2,
        }
    }

    /// The suite with this id byte.
    ///
    /// # Errors
    /// [`CryptoError::UnknownSuite`] for any byte other than 1 or 2.
    pub fn from_id(id: u8) -> Result<Self, CryptoError> {
        match id {
            1 => Ok(Self::HybridMlKem768X25519),
            2 => Ok(Self::RsaOaep3072Sha256),
            _ => Err(CryptoError::UnknownSuite),
        }
    }
}

/// The public id of an organisation key; the caller passes the key's UUID bytes. Written into every wrapped key so
/// reads keep working while keys rotate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 16]);

impl fmt::Display for KeyId {
    /// Lower-case hex, 32 digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// The public half of an organisation key: enough to wrap data keys, never to unwrap them.
#[derive(Clone)]
pub struct RecipientPublicKey {
    key_id: KeyId,
    encoded: Vec<u8>,
    pub(crate) inner: PublicInner,
}

/// Parsed public key material.
#[derive(Clone)]
pub(crate) enum PublicInner {
    Hybrid { ek: Arc<EncapsulationKey>, pk_x: [u8; X25519_LEN] },
    Rsa(Arc<OaepPublicEncryptingKey>),
}

impl RecipientPublicKey {
    /// The suite this key wraps with.
    #[must_use]
    pub fn suite(&self) -> Suite {
        match self.inner {
            PublicInner::Hybrid { .. } => Suite::HybridMlKem768X25519,
            PublicInner::Rsa(_) => Suite::RsaOaep3072Sha256,
        }
    }

    /// The key's id.
    #[must_use]
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The self-describing encoding (`SFPK`, version, suite, key id, body).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encoded.clone()
    }

    /// Parses [`Self::to_bytes`] output.
    ///
    /// # Errors
    /// [`CryptoError::Malformed`], [`CryptoError::UnsupportedVersion`] or [`CryptoError::UnknownSuite`] for bytes
    /// that do not parse; [`CryptoError::KeyRejected`] when the key material is not a valid key of the suite (for
    /// suite 2, anything but a 3072-bit RSA key).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let (suite, key_id, body) = decode_blob(bytes, PUBLIC_MAGIC, "not a Sealform recipient public key")?;
        let inner = match suite {
            Suite::HybridMlKem768X25519 => {
                if body.len() != MLKEM_EK_LEN + X25519_LEN {
                    return Err(CryptoError::Malformed("suite 1 public key has the wrong length"));
                }
                let (ek, pk_x) = body.split_at(MLKEM_EK_LEN);
                let ek = EncapsulationKey::new(&ML_KEM_768, ek).map_err(|_| CryptoError::KeyRejected)?;
                let pk_x = pk_x.try_into().map_err(|_| CryptoError::KeyRejected)?;
                PublicInner::Hybrid { ek: Arc::new(ek), pk_x }
            }
            Suite::RsaOaep3072Sha256 => {
                let key = PublicEncryptingKey::from_der(body).map_err(|_| CryptoError::KeyRejected)?;
                if key.key_size_bits() != RSA_BITS {
                    return Err(CryptoError::KeyRejected);
                }
                PublicInner::Rsa(Arc::new(OaepPublicEncryptingKey::new(key).map_err(|_| CryptoError::KeyRejected)?))
            }
        };
        Ok(Self { key_id, encoded: bytes.to_vec(), inner })
    }
}

impl PartialEq for RecipientPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.encoded == other.encoded
    }
}

impl Eq for RecipientPublicKey {}

impl fmt::Debug for RecipientPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecipientPublicKey").field("suite", &self.suite()).field("key_id", &self.key_id).finish()
    }
}

/// The secret half of an organisation key. No `Clone`; `Debug` prints `RecipientPrivateKey([redacted])`; its encoded
/// form is zeroized on drop, and aws-lc clears its own copies of the key material when they are freed.
pub struct RecipientPrivateKey {
    key_id: KeyId,
    secret: Zeroizing<Vec<u8>>,
    public: RecipientPublicKey,
    pub(crate) inner: PrivateInner,
}

/// Parsed secret key material.
pub(crate) enum PrivateInner {
    Hybrid { dk: DecapsulationKey, sk_x: agreement::PrivateKey, pk_x: [u8; X25519_LEN] },
    Rsa(OaepPrivateDecryptingKey),
}

impl RecipientPrivateKey {
    /// A new random key pair of `suite`, named `key_id`. Suite 2 takes a few hundred milliseconds (RSA key
    /// generation); suite 1 well under one.
    ///
    /// # Errors
    /// [`CryptoError::Internal`] if aws-lc cannot generate the key (e.g. its RNG failed).
    pub fn generate(suite: Suite, key_id: KeyId) -> Result<Self, CryptoError> {
        let body = match suite {
            Suite::HybridMlKem768X25519 => {
                let dk = DecapsulationKey::generate(&ML_KEM_768).map_err(|_| CryptoError::Internal)?;
                let dk_bytes = dk.key_bytes().map_err(|_| CryptoError::Internal)?;
                let ek = dk.encapsulation_key().map_err(|_| CryptoError::Internal)?;
                let ek_bytes = ek.key_bytes().map_err(|_| CryptoError::Internal)?;
                // `from_secret_bytes` reads the encapsulation key out of the decapsulation key (FIPS 203 layout);
                // refuse to store a key whose layout differs rather than produce one that cannot be reloaded.
                if dk_bytes.as_ref().get(DK_EK_OFFSET..DK_HASH_OFFSET) != Some(ek_bytes.as_ref()) {
                    return Err(CryptoError::Internal);
                }
                let sk_x = agreement::PrivateKey::generate(&X25519).map_err(|_| CryptoError::Internal)?;
                let seed: Curve25519SeedBin<'_> = sk_x.as_be_bytes().map_err(|_| CryptoError::Internal)?;
                let mut body = Zeroizing::new(Vec::with_capacity(MLKEM_DK_LEN + X25519_LEN));
                body.extend_from_slice(dk_bytes.as_ref());
                body.extend_from_slice(seed.as_ref());
                body
            }
            Suite::RsaOaep3072Sha256 => {
                let key = PrivateDecryptingKey::generate(KeySize::Rsa3072).map_err(|_| CryptoError::Internal)?;
                let der: Pkcs8V1Der<'_> = key.as_der().map_err(|_| CryptoError::Internal)?;
                Zeroizing::new(der.as_ref().to_vec())
            }
        };
        let encoded = Zeroizing::new(encode_blob(SECRET_MAGIC, suite, key_id, &body)?);
        Self::from_secret_bytes(&encoded)
    }

    /// The suite of this key.
    #[must_use]
    pub fn suite(&self) -> Suite {
        self.public.suite()
    }

    /// The key's id.
    #[must_use]
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The public half, to publish to intake nodes and to wrap with.
    ///
    /// # Errors
    /// None today (the public half is computed when the key is made); the `Result` leaves room for key stores that
    /// must fetch it.
    pub fn public_key(&self) -> Result<RecipientPublicKey, CryptoError> {
        Ok(self.public.clone())
    }

    /// The self-describing secret encoding (`SFSK`, version, suite, key id, body), to be wrapped under the master key
    /// ([`crate::KeyEncryptionKey::wrap_secret`]) and never stored bare.
    #[must_use]
    pub fn to_secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.secret.to_vec())
    }

    /// Parses [`Self::to_secret_bytes`] output.
    ///
    /// # Errors
    /// [`CryptoError::Malformed`], [`CryptoError::UnsupportedVersion`] or [`CryptoError::UnknownSuite`] for bytes
    /// that do not parse; [`CryptoError::KeyRejected`] when the key material is inconsistent or of the wrong size.
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let (suite, key_id, body) = decode_blob(bytes, SECRET_MAGIC, "not a Sealform recipient secret key")?;
        let (inner, public_body) = match suite {
            Suite::HybridMlKem768X25519 => parse_hybrid_secret(body)?,
            Suite::RsaOaep3072Sha256 => parse_rsa_secret(body)?,
        };
        let public = RecipientPublicKey::from_bytes(&encode_blob(PUBLIC_MAGIC, suite, key_id, &public_body)?)?;
        Ok(Self { key_id, secret: Zeroizing::new(bytes.to_vec()), public, inner })
    }
}

impl fmt::Debug for RecipientPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecipientPrivateKey([redacted])")
    }
}

/// Suite 1 secret body → parsed key and the public body (`ek || pk_X`).
fn parse_hybrid_secret(body: &[u8]) -> Result<(PrivateInner, Vec<u8>), CryptoError> {
    if body.len() != MLKEM_DK_LEN + X25519_LEN {
        return Err(CryptoError::Malformed("suite 1 secret key has the wrong length"));
    }
    let (dk_bytes, seed) = body.split_at(MLKEM_DK_LEN);
    let ek_bytes = dk_bytes.get(DK_EK_OFFSET..DK_HASH_OFFSET).ok_or(CryptoError::KeyRejected)?;
    let ek_hash = dk_bytes.get(DK_HASH_OFFSET..DK_HASH_OFFSET + 32).ok_or(CryptoError::KeyRejected)?;
    // FIPS 203 §7.3 decapsulation-key check: H(ek) stored in dk must match the ek stored in dk.
    if digest::digest(&digest::SHA3_256, ek_bytes).as_ref() != ek_hash {
        return Err(CryptoError::KeyRejected);
    }
    let dk = DecapsulationKey::new(&ML_KEM_768, dk_bytes).map_err(|_| CryptoError::KeyRejected)?;
    let sk_x = agreement::PrivateKey::from_private_key(&X25519, seed).map_err(|_| CryptoError::KeyRejected)?;
    let pk = sk_x.compute_public_key().map_err(|_| CryptoError::KeyRejected)?;
    let pk_x: [u8; X25519_LEN] = pk.as_ref().try_into().map_err(|_| CryptoError::KeyRejected)?;
    let mut public_body = Vec::with_capacity(MLKEM_EK_LEN + X25519_LEN);
    public_body.extend_from_slice(ek_bytes);
    public_body.extend_from_slice(&pk_x);
    Ok((PrivateInner::Hybrid { dk, sk_x, pk_x }, public_body))
}

/// Suite 2 secret body → parsed key and the public body (SPKI DER).
fn parse_rsa_secret(body: &[u8]) -> Result<(PrivateInner, Vec<u8>), CryptoError> {
    let key = PrivateDecryptingKey::from_pkcs8(body).map_err(|_| CryptoError::KeyRejected)?;
    if key.key_size_bits() != RSA_BITS {
        return Err(CryptoError::KeyRejected);
    }
    let spki: PublicKeyX509Der<'_> = key.public_key().as_der().map_err(|_| CryptoError::KeyRejected)?;
    let public_body = spki.as_ref().to_vec();
    let key = OaepPrivateDecryptingKey::new(key).map_err(|_| CryptoError::KeyRejected)?;
    Ok((PrivateInner::Rsa(key), public_body))
}

/// `magic || version || suite || key id || u16 BE len || body`.
fn encode_blob(magic: &[u8; 4], suite: Suite, key_id: KeyId, body: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let len = u16::try_from(body.len()).map_err(|_| CryptoError::Internal)?;
    let mut out = Vec::with_capacity(24 + body.len());
    out.extend_from_slice(magic);
    out.push(KEY_FORMAT_VERSION);
    out.push(suite.id());
    out.extend_from_slice(&key_id.0);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

/// Inverse of [`encode_blob`]; the body must end the input exactly.
fn decode_blob<'a>(
    bytes: &'a [u8],
    magic: &[u8; 4],
    what: &'static str,
) -> Result<(Suite, KeyId, &'a [u8]), CryptoError> {
    let mut r = Reader::new(bytes, what);
    if r.take(4)? != magic {
        return Err(CryptoError::Malformed(what));
    }
    if r.u8()? != KEY_FORMAT_VERSION {
        return Err(CryptoError::UnsupportedVersion);
    }
    let suite = Suite::from_id(r.u8()?)?;
    let key_id = KeyId(r.array()?);
    let len = usize::from(r.u16()?);
    let body = r.take(len)?;
    r.finish()?;
    Ok((suite, key_id, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_keys::rsa_key;

    #[test]
    fn suite_ids_are_fixed() {
        assert_eq!(Suite::HybridMlKem768X25519.id(), 1);
        assert_eq!(Suite::RsaOaep3072Sha256.id(), 2);
        for suite in [Suite::HybridMlKem768X25519, Suite::RsaOaep3072Sha256] {
            assert_eq!(Suite::from_id(suite.id()).unwrap(), suite);
        }
        for id in [0, 3, 255] {
            assert_eq!(Suite::from_id(id).unwrap_err(), CryptoError::UnknownSuite);
        }
    }

    #[test]
    fn hybrid_secret_bytes_round_trip_and_keep_the_public_key() {
        let key = RecipientPrivateKey::generate(Suite::HybridMlKem768X25519, KeyId([7; 16])).unwrap();
        let secret = key.to_secret_bytes();
        assert_eq!(secret.len(), 24 + MLKEM_DK_LEN + X25519_LEN);
        let back = RecipientPrivateKey::from_secret_bytes(&secret).unwrap();
        assert_eq!(back.suite(), Suite::HybridMlKem768X25519);
        assert_eq!(back.key_id(), KeyId([7; 16]));
        assert_eq!(back.public_key().unwrap(), key.public_key().unwrap());
        let public = key.public_key().unwrap();
        assert_eq!(public.to_bytes().len(), 24 + MLKEM_EK_LEN + X25519_LEN);
        assert_eq!(RecipientPublicKey::from_bytes(&public.to_bytes()).unwrap(), public);
    }

    #[test]
    fn rsa_secret_bytes_round_trip_and_keep_the_public_key() {
        let key = rsa_key();
        let back = RecipientPrivateKey::from_secret_bytes(&key.to_secret_bytes()).unwrap();
        assert_eq!(back.suite(), Suite::RsaOaep3072Sha256);
        assert_eq!(back.public_key().unwrap(), key.public_key().unwrap());
        let public = key.public_key().unwrap();
        assert_eq!(RecipientPublicKey::from_bytes(&public.to_bytes()).unwrap(), public);
    }

    #[test]
    fn rsa_keys_of_other_sizes_are_rejected() {
        let small = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
        let der: Pkcs8V1Der<'_> = small.as_der().unwrap();
        let blob = encode_blob(SECRET_MAGIC, Suite::RsaOaep3072Sha256, KeyId([0; 16]), der.as_ref()).unwrap();
        assert_eq!(RecipientPrivateKey::from_secret_bytes(&blob).unwrap_err(), CryptoError::KeyRejected);
        let spki: PublicKeyX509Der<'_> = small.public_key().as_der().unwrap();
        let blob = encode_blob(PUBLIC_MAGIC, Suite::RsaOaep3072Sha256, KeyId([0; 16]), spki.as_ref()).unwrap();
        assert_eq!(RecipientPublicKey::from_bytes(&blob).unwrap_err(), CryptoError::KeyRejected);
    }

    #[test]
    fn a_corrupted_hybrid_secret_key_is_rejected() {
        let key = RecipientPrivateKey::generate(Suite::HybridMlKem768X25519, KeyId([7; 16])).unwrap();
        let mut secret = key.to_secret_bytes();
        secret[24 + DK_EK_OFFSET + 5] ^= 1;
        assert_eq!(RecipientPrivateKey::from_secret_bytes(&secret).unwrap_err(), CryptoError::KeyRejected);
    }

    #[test]
    fn blobs_that_do_not_parse_are_typed_errors() {
        let key = RecipientPrivateKey::generate(Suite::HybridMlKem768X25519, KeyId([7; 16])).unwrap();
        let secret = key.to_secret_bytes();
        let public = key.public_key().unwrap().to_bytes();
        // Secret and public encodings are not interchangeable.
        assert!(matches!(RecipientPublicKey::from_bytes(&secret).unwrap_err(), CryptoError::Malformed(_)));
        assert!(matches!(RecipientPrivateKey::from_secret_bytes(&public).unwrap_err(), CryptoError::Malformed(_)));
        let mut bad = secret.to_vec();
        bad[4] = 9;
        assert_eq!(RecipientPrivateKey::from_secret_bytes(&bad).unwrap_err(), CryptoError::UnsupportedVersion);
        let mut bad = secret.to_vec();
        bad[5] = 9;
        assert_eq!(RecipientPrivateKey::from_secret_bytes(&bad).unwrap_err(), CryptoError::UnknownSuite);
        for cut in [0, 3, 23, 24, secret.len() - 1] {
            assert!(matches!(RecipientPrivateKey::from_secret_bytes(&secret[..cut]), Err(CryptoError::Malformed(_))));
        }
        for cut in [0, 3, 23, 24, public.len() - 1] {
            assert!(matches!(RecipientPublicKey::from_bytes(&public[..cut]), Err(CryptoError::Malformed(_))));
        }
        let mut long = secret.to_vec();
        long.push(0);
        assert!(matches!(RecipientPrivateKey::from_secret_bytes(&long).unwrap_err(), CryptoError::Malformed(_)));
    }

    #[test]
    fn debug_of_the_private_key_is_redacted_and_key_ids_print_as_hex() {
        let key = RecipientPrivateKey::generate(Suite::HybridMlKem768X25519, KeyId([0xab; 16])).unwrap();
        assert_eq!(format!("{key:?}"), "RecipientPrivateKey([redacted])");
        assert_eq!(KeyId([0xab; 16]).to_string(), "ab".repeat(16));
    }

    #[test]
    fn keys_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RecipientPrivateKey>();
        assert_send_sync::<RecipientPublicKey>();
    }
}
