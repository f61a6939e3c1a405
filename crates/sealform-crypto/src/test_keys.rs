//! Recipient keys shared by the unit tests: RSA-3072 generation takes a noticeable fraction of a second, so each key
//! is made once per test run.

use std::sync::OnceLock;

use crate::{KeyId, RecipientPrivateKey, Suite};

pub(crate) fn hybrid_key() -> &'static RecipientPrivateKey {
    static KEY: OnceLock<RecipientPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RecipientPrivateKey::generate(Suite::HybridMlKem768X25519, KeyId([1; 16])).unwrap())
}

pub(crate) fn rsa_key() -> &'static RecipientPrivateKey {
    static KEY: OnceLock<RecipientPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RecipientPrivateKey::generate(Suite::RsaOaep3072Sha256, KeyId([2; 16])).unwrap())
}
