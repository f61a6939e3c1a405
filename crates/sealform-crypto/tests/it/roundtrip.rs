//! Round-trip properties: what is sealed or wrapped opens to the same bytes, for sizes from 0 to 10 MiB.

use proptest::prelude::*;
use sealform_crypto::{
    BlindIndexKey, DataKey, KeyEncryptionKey, MasterKey, RecordBinding, STREAM_SEGMENT_LEN, StreamOpener, StreamSealer,
    WrappedKey, blind_index, open, open_stream, seal, seal_stream, sealed_stream_len, unwrap, wrap,
};

use crate::common::{MIB, any_suite, bytes, plaintext_len, recipient};

fn stream_round_trip(len: usize, seed: u64, aad: &[u8]) {
    let key = DataKey::generate().unwrap();
    let plain = bytes(len, seed);
    let mut sealed = Vec::new();
    let written = seal_stream(&key, aad, plain.as_slice(), &mut sealed).unwrap();
    assert_eq!(written, sealed.len() as u64);
    assert_eq!(written, sealed_stream_len(len as u64));
    let mut out = Vec::new();
    assert_eq!(open_stream(&key, aad, sealed.as_slice(), &mut out).unwrap(), len as u64);
    assert!(out == plain, "stream of {len} bytes did not round-trip");
}

#[test]
fn a_10_mib_stream_round_trips() {
    stream_round_trip(10 * MIB, 10, b"big file");
}

#[test]
fn a_10_mib_seal_round_trips() {
    let key = DataKey::generate().unwrap();
    let plain = bytes(10 * MIB, 11);
    let sealed = seal(&key, b"aad", &plain).unwrap();
    assert!(open(&key, b"aad", &sealed).unwrap().as_slice() == plain.as_slice());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn stream_round_trips(len in plaintext_len(), seed in any::<u64>(), aad in prop::collection::vec(any::<u8>(), 0..64)) {
        stream_round_trip(len, seed, &aad);
    }

    #[test]
    fn seal_round_trips(len in plaintext_len(), seed in any::<u64>(), path in "[a-z0-9/]{0,20}", revision in any::<u32>()) {
        let key = DataKey::generate().unwrap();
        let binding = RecordBinding { org_id: [1; 16], form_id: [2; 16], submission_id: [3; 16], revision, field_path: &path };
        let plain = bytes(len, seed);
        let sealed = seal(&key, &binding.to_aad(), &plain).unwrap();
        prop_assert_eq!(sealed.len(), len + sealform_crypto::SEAL_OVERHEAD);
        prop_assert!(open(&key, &binding.to_aad(), &sealed).unwrap().as_slice() == plain.as_slice());
    }

    #[test]
    fn segment_api_round_trips(segments in 0usize..4, tail in 0usize..=STREAM_SEGMENT_LEN, seed in any::<u64>()) {
        let key = DataKey::generate().unwrap();
        let plain = bytes(segments * STREAM_SEGMENT_LEN + tail, seed);
        let (mut sealer, header) = StreamSealer::new(&key, b"seg").unwrap();
        let mut parts = Vec::new();
        for chunk in plain[..segments * STREAM_SEGMENT_LEN].chunks(STREAM_SEGMENT_LEN) {
            parts.push(sealer.seal_segment(chunk, false).unwrap());
        }
        parts.push(sealer.seal_segment(&plain[segments * STREAM_SEGMENT_LEN..], true).unwrap());
        let mut opener = StreamOpener::new(&key, b"seg", &header).unwrap();
        let mut out = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            out.extend_from_slice(&opener.open_segment(part, i + 1 == parts.len()).unwrap());
        }
        prop_assert!(out == plain);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn wrap_round_trips_for_both_suites(suite in any_suite(), aad in prop::collection::vec(any::<u8>(), 0..128)) {
        let recipient = recipient(suite);
        let key = DataKey::generate().unwrap();
        let wrapped = wrap(&recipient.public_key().unwrap(), &key, &aad).unwrap();
        let stored = WrappedKey::from_bytes(wrapped.as_bytes().to_vec()).unwrap();
        prop_assert_eq!(&stored, &wrapped);
        prop_assert_eq!(stored.suite(), suite);
        prop_assert_eq!(stored.key_id(), recipient.key_id());
        let back = unwrap(recipient, &stored, &aad).unwrap();
        // Same key: what one seals the other opens.
        let sealed = seal(&key, b"x", b"payload").unwrap();
        let opened = open(&back, b"x", &sealed).unwrap();
        prop_assert_eq!(opened.as_slice(), b"payload");
    }

    #[test]
    fn organisation_keys_survive_the_master_key(suite in any_suite(), aad in prop::collection::vec(any::<u8>(), 0..64)) {
        let master = MasterKey::generate().unwrap();
        let org = recipient(suite);
        let stored = master.wrap_secret(&org.to_secret_bytes(), &aad).unwrap();
        let secret = master.unwrap_secret(&stored, &aad).unwrap();
        let back = sealform_crypto::RecipientPrivateKey::from_secret_bytes(&secret).unwrap();
        prop_assert_eq!(back.public_key().unwrap(), org.public_key().unwrap());
        let key = DataKey::generate().unwrap();
        let wrapped = wrap(&org.public_key().unwrap(), &key, b"").unwrap();
        prop_assert!(unwrap(&back, &wrapped, b"").is_ok());
    }

    #[test]
    fn blind_index_keys_survive_the_master_key(field in ".{0,16}", value in prop::collection::vec(any::<u8>(), 0..64)) {
        let master = MasterKey::generate().unwrap();
        let key = BlindIndexKey::generate().unwrap();
        let stored = master.wrap_secret(&key.to_secret_bytes(), b"form").unwrap();
        let back = BlindIndexKey::from_bytes(&master.unwrap_secret(&stored, b"form").unwrap()).unwrap();
        prop_assert_eq!(blind_index(&key, &field, &value), blind_index(&back, &field, &value));
    }
}
