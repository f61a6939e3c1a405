//! Secrets never print: `Debug` shows the type name and `[redacted]` only.

use sealform_crypto::{BlindIndexKey, DataKey, MasterKey, Suite};

use crate::common::recipient;

#[test]
fn debug_of_every_secret_type_is_redacted() {
    assert_eq!(format!("{:?}", DataKey::generate().unwrap()), "DataKey([redacted])");
    assert_eq!(format!("{:?}", BlindIndexKey::generate().unwrap()), "BlindIndexKey([redacted])");
    assert_eq!(format!("{:?}", MasterKey::generate().unwrap()), "MasterKey([redacted])");
    for suite in [Suite::HybridMlKem768X25519, Suite::RsaOaep3072Sha256] {
        assert_eq!(format!("{:?}", recipient(suite)), "RecipientPrivateKey([redacted])");
        assert_eq!(format!("{:#?}", recipient(suite)), "RecipientPrivateKey([redacted])");
    }
}

#[test]
fn public_types_print_public_facts_only() {
    let public = recipient(Suite::HybridMlKem768X25519).public_key().unwrap();
    let shown = format!("{public:?}");
    assert!(shown.starts_with("RecipientPublicKey { suite: HybridMlKem768X25519, key_id: KeyId("), "{shown}");
    assert!(shown.len() < 200, "{shown}");
}
