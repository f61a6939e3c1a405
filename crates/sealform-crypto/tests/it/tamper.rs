//! Tampering properties: any bit flip, truncation, extension, segment reorder, swap or drop, wrong key or wrong
//! associated data gives a typed error — never `Ok`, never a panic, never unauthenticated plaintext.

use proptest::prelude::*;
use sealform_crypto::{
    CryptoError, DataKey, KeyEncryptionKey, KeyId, MasterKey, RecipientPrivateKey, RecipientPublicKey,
    STREAM_HEADER_LEN, STREAM_SEGMENT_LEN, StreamError, StreamOpener, Suite, WrappedKey, open, open_stream, seal,
    seal_stream, unwrap, wrap,
};

use crate::common::{any_suite, bytes, recipient};

const SEALED_SEGMENT: usize = STREAM_SEGMENT_LEN + 16;

/// A change to a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    /// Flip bit `bit` of the byte at `pos` (taken modulo the length).
    Flip { pos: usize, bit: u8 },
    /// Keep only the first `keep` bytes (modulo the length).
    Truncate { keep: usize },
    /// Append bytes.
    Extend(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 0u8..8).prop_map(|(pos, bit)| Mutation::Flip { pos, bit }),
        2 => any::<usize>().prop_map(|keep| Mutation::Truncate { keep }),
        1 => prop::collection::vec(any::<u8>(), 1..40).prop_map(Mutation::Extend),
    ]
}

/// Applies `m`; returns the mutated bytes and, for a flip, the flipped position.
fn apply(m: &Mutation, original: &[u8]) -> (Vec<u8>, Option<usize>) {
    let mut out = original.to_vec();
    match m {
        Mutation::Flip { pos, bit } => {
            let pos = pos % out.len();
            out[pos] ^= 1 << bit;
            (out, Some(pos))
        }
        Mutation::Truncate { keep } => {
            out.truncate(keep % out.len());
            (out, None)
        }
        Mutation::Extend(extra) => {
            out.extend_from_slice(extra);
            (out, None)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn altered_seals_never_open(len in 0usize..600, seed in any::<u64>(), m in mutation()) {
        let key = DataKey::generate().unwrap();
        let sealed = seal(&key, b"record", &bytes(len, seed)).unwrap();
        let (bad, flipped) = apply(&m, &sealed);
        let err = open(&key, b"record", &bad).unwrap_err();
        let expected = match (&m, flipped) {
            (Mutation::Flip { .. }, Some(0)) => err == CryptoError::UnsupportedVersion,
            (Mutation::Truncate { .. }, _) if bad.len() < sealform_crypto::SEAL_OVERHEAD => {
                matches!(err, CryptoError::Malformed(_))
            }
            _ => err == CryptoError::Decrypt,
        };
        prop_assert!(expected, "{:?} -> {:?}", m, err);
    }

    #[test]
    fn seals_need_the_same_key_and_associated_data(len in 0usize..600, aad in prop::collection::vec(any::<u8>(), 0..32), other in prop::collection::vec(any::<u8>(), 0..32)) {
        let key = DataKey::generate().unwrap();
        let sealed = seal(&key, &aad, &bytes(len, 1)).unwrap();
        prop_assert_eq!(open(&DataKey::generate().unwrap(), &aad, &sealed).unwrap_err(), CryptoError::Decrypt);
        if other != aad {
            prop_assert_eq!(open(&key, &other, &sealed).unwrap_err(), CryptoError::Decrypt);
        }
    }

    #[test]
    fn master_key_wraps_reject_any_change(len in 0usize..200, m in mutation()) {
        let master = MasterKey::generate().unwrap();
        let wrapped = master.wrap_secret(&bytes(len, 3), b"org").unwrap();
        let (bad, flipped) = apply(&m, &wrapped);
        let err = master.unwrap_secret(&bad, b"org").unwrap_err();
        let ok = match flipped {
            Some(0..4) => matches!(err, CryptoError::Malformed(_)),
            Some(4) => err == CryptoError::UnsupportedVersion,
            Some(5..13) => err == CryptoError::WrongKey,
            Some(_) => err == CryptoError::Decrypt,
            None => matches!(err, CryptoError::Decrypt | CryptoError::Malformed(_) | CryptoError::WrongKey),
        };
        prop_assert!(ok, "{:?} -> {:?}", m, err);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn altered_wrapped_keys_never_unwrap(suite in any_suite(), m in mutation()) {
        let recipient = recipient(suite);
        let key = DataKey::generate().unwrap();
        let wrapped = wrap(&recipient.public_key().unwrap(), &key, b"sub-1").unwrap();
        let (bad, flipped) = apply(&m, wrapped.as_bytes());
        let err = WrappedKey::from_bytes(bad).and_then(|w| unwrap(recipient, &w, b"sub-1")).unwrap_err();
        let ok = match flipped {
            Some(0..4) | Some(22..24) => matches!(err, CryptoError::Malformed(_)),
            Some(4) => err == CryptoError::UnsupportedVersion,
            Some(5) => matches!(err, CryptoError::UnknownSuite | CryptoError::Malformed(_)),
            Some(6..22) => err == CryptoError::WrongKey,
            Some(_) => err == CryptoError::Decrypt,
            None => matches!(err, CryptoError::Malformed(_)),
        };
        prop_assert!(ok, "{:?} at {:?} -> {:?}", m, flipped, err);
    }

    #[test]
    fn wrapped_keys_need_the_same_associated_data(suite in any_suite(), aad in prop::collection::vec(any::<u8>(), 0..32), other in prop::collection::vec(any::<u8>(), 0..32)) {
        prop_assume!(aad != other);
        let recipient = recipient(suite);
        let wrapped = wrap(&recipient.public_key().unwrap(), &DataKey::generate().unwrap(), &aad).unwrap();
        prop_assert_eq!(unwrap(recipient, &wrapped, &other).unwrap_err(), CryptoError::Decrypt);
    }

    #[test]
    fn a_random_encapsulation_behind_a_valid_header_is_decrypt(suite in any_suite(), seed in any::<u64>()) {
        let recipient = recipient(suite);
        let wrapped = wrap(&recipient.public_key().unwrap(), &DataKey::generate().unwrap(), b"").unwrap();
        let mut bytes_ = wrapped.as_bytes().to_vec();
        let end = bytes_.len() - 12 - 48;
        let noise = bytes(end - 24, seed);
        bytes_[24..end].copy_from_slice(&noise);
        let bad = WrappedKey::from_bytes(bytes_).unwrap();
        prop_assert_eq!(unwrap(recipient, &bad, b"").unwrap_err(), CryptoError::Decrypt);
    }
}

#[test]
fn another_key_with_the_same_id_cannot_unwrap() {
    for suite in [Suite::HybridMlKem768X25519, Suite::RsaOaep3072Sha256] {
        let ours = recipient(suite);
        let impostor = RecipientPrivateKey::generate(suite, ours.key_id()).unwrap();
        let wrapped = wrap(&ours.public_key().unwrap(), &DataKey::generate().unwrap(), b"").unwrap();
        assert_eq!(unwrap(&impostor, &wrapped, b"").unwrap_err(), CryptoError::Decrypt);
        let other_id = RecipientPrivateKey::generate(Suite::HybridMlKem768X25519, KeyId([0xee; 16])).unwrap();
        assert_eq!(unwrap(&other_id, &wrapped, b"").unwrap_err(), CryptoError::WrongKey);
    }
}

/// A change to a sealed stream at the segment level or below.
#[derive(Debug, Clone)]
enum StreamMutation {
    Bytes(Mutation),
    Swap(usize, usize),
    Drop(usize),
    Duplicate(usize),
    /// Move segment `from` to position `to`.
    Move(usize, usize),
}

fn stream_mutation() -> impl Strategy<Value = StreamMutation> {
    prop_oneof![
        4 => mutation().prop_map(StreamMutation::Bytes),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| StreamMutation::Swap(a, b)),
        1 => any::<usize>().prop_map(StreamMutation::Drop),
        1 => any::<usize>().prop_map(StreamMutation::Duplicate),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| StreamMutation::Move(a, b)),
    ]
}

/// Applies `m` to `sealed`; `None` when the change would leave the stream as it was (e.g. swapping a segment with
/// an identical one), which only happens for plaintexts too short to have distinct segments.
fn apply_stream(m: &StreamMutation, sealed: &[u8]) -> Option<Vec<u8>> {
    let (header, body) = sealed.split_at(STREAM_HEADER_LEN);
    let mut segs: Vec<Vec<u8>> = body.chunks(SEALED_SEGMENT).map(<[u8]>::to_vec).collect();
    let n = segs.len();
    match m {
        StreamMutation::Bytes(b) => return Some(apply(b, sealed).0),
        StreamMutation::Swap(a, b) => {
            let (a, b) = (a % n, b % n);
            if a == b {
                return None;
            }
            segs.swap(a, b);
        }
        StreamMutation::Drop(i) => {
            segs.remove(i % n);
        }
        StreamMutation::Duplicate(i) => {
            let seg = segs[i % n].clone();
            segs.insert(i % n, seg);
        }
        StreamMutation::Move(from, to) => {
            let (from, to) = (from % n, to % n);
            if from == to {
                return None;
            }
            let seg = segs.remove(from);
            segs.insert(to, seg);
        }
    }
    Some([header.to_vec(), segs.concat()].concat())
}

fn stream_len() -> impl Strategy<Value = usize> {
    prop_oneof![
        2 => 0usize..2000,
        3 => 0usize..=4 * STREAM_SEGMENT_LEN,
        1 => prop::sample::select(vec![STREAM_SEGMENT_LEN, 2 * STREAM_SEGMENT_LEN, 3 * STREAM_SEGMENT_LEN]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn altered_streams_never_open_and_release_only_authenticated_segments(len in stream_len(), seed in any::<u64>(), m in stream_mutation()) {
        let key = DataKey::generate().unwrap();
        let plain = bytes(len, seed);
        let mut sealed = Vec::new();
        seal_stream(&key, b"file", plain.as_slice(), &mut sealed).unwrap();
        let Some(bad) = apply_stream(&m, &sealed) else { return Ok(()) };
        let mut out = Vec::new();
        let err = open_stream(&key, b"file", bad.as_slice(), &mut out).unwrap_err();
        prop_assert!(
            matches!(err, StreamError::Crypto(CryptoError::Decrypt | CryptoError::Malformed(_) | CryptoError::UnsupportedVersion)),
            "{:?} -> {:?}", m, err
        );
        // Whatever was written before the failure is a run of genuine, in-order segments.
        prop_assert!(plain.starts_with(&out));
        prop_assert!(out.len() % STREAM_SEGMENT_LEN == 0);
    }

    #[test]
    fn streams_need_the_same_key_and_associated_data(len in stream_len(), seed in any::<u64>()) {
        let key = DataKey::generate().unwrap();
        let mut sealed = Vec::new();
        seal_stream(&key, b"file", bytes(len, seed).as_slice(), &mut sealed).unwrap();
        let wrong_key = open_stream(&DataKey::generate().unwrap(), b"file", sealed.as_slice(), std::io::sink());
        prop_assert!(matches!(wrong_key, Err(StreamError::Crypto(CryptoError::Decrypt))));
        let wrong_aad = open_stream(&key, b"file2", sealed.as_slice(), std::io::sink());
        prop_assert!(matches!(wrong_aad, Err(StreamError::Crypto(CryptoError::Decrypt))));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Arbitrary bytes, optionally behind a valid magic and version, never panic any parser and never open.
    #[test]
    fn arbitrary_input_is_refused_without_panicking(
        prefix in prop::sample::select(vec![&b""[..], b"SFWK\x01\x01", b"SFWK\x01\x02", b"SFPK\x01\x01", b"SFPK\x01\x02", b"SFSK\x01\x01", b"SFSK\x01\x02", b"SFMK\x01", b"SFST\x01", b"\x01"]),
        body in prop::collection::vec(any::<u8>(), 0..3000),
    ) {
        let input = [prefix, &body].concat();
        let key = DataKey::generate().unwrap();
        prop_assert!(open(&key, b"", &input).is_err());
        prop_assert!(RecipientPublicKey::from_bytes(&input).is_err());
        prop_assert!(RecipientPrivateKey::from_secret_bytes(&input).is_err());
        prop_assert!(MasterKey::generate().unwrap().unwrap_secret(&input, b"").is_err());
        prop_assert!(open_stream(&key, b"", input.as_slice(), std::io::sink()).is_err());
        if let Ok(mut opener) = StreamOpener::new(&key, b"", &input[..input.len().min(STREAM_HEADER_LEN)]) {
            prop_assert!(opener.open_segment(&input, true).is_err());
        }
        if let Ok(wrapped) = WrappedKey::from_bytes(input.clone()) {
            for suite in [Suite::HybridMlKem768X25519, Suite::RsaOaep3072Sha256] {
                prop_assert!(unwrap(recipient(suite), &wrapped, b"").is_err());
            }
        }
    }
}
