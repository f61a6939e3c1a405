//! Shared helpers: recipient keys made once per run, fast deterministic plaintext, vector loading.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use proptest::prelude::*;
use sealform_crypto::{KeyId, RecipientPrivateKey, STREAM_SEGMENT_LEN, Suite};

pub const MIB: usize = 1024 * 1024;

/// One recipient key per suite. RSA-3072 generation is slow, so each is made once per run.
pub fn recipient(suite: Suite) -> &'static RecipientPrivateKey {
    static HYBRID: OnceLock<RecipientPrivateKey> = OnceLock::new();
    static RSA: OnceLock<RecipientPrivateKey> = OnceLock::new();
    let (cell, id) = match suite {
        Suite::HybridMlKem768X25519 => (&HYBRID, 1),
        Suite::RsaOaep3072Sha256 => (&RSA, 2),
    };
    cell.get_or_init(|| RecipientPrivateKey::generate(suite, KeyId([id; 16])).unwrap())
}

pub fn any_suite() -> impl Strategy<Value = Suite> {
    prop_oneof![Just(Suite::HybridMlKem768X25519), Just(Suite::RsaOaep3072Sha256)]
}

/// `len` bytes from a seeded xorshift: generating megabytes through proptest's element strategies would be slow.
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Plaintext lengths from 0 to 10 MiB, weighted to small sizes and segment boundaries.
pub fn plaintext_len() -> impl Strategy<Value = usize> {
    let seg = STREAM_SEGMENT_LEN;
    prop_oneof![
        6 => 0..4096usize,
        2 => prop::sample::select(vec![seg - 1, seg, seg + 1, 2 * seg, 3 * seg - 1]),
        3 => 0..4 * seg,
        1 => 0..=10 * MIB,
    ]
}

/// Records of `name: hex` lines from `tests/vectors/<name>`.
pub fn vector(name: &str) -> Vec<BTreeMap<String, Vec<u8>>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(name);
    let text = std::fs::read_to_string(path).unwrap();
    let mut records = vec![BTreeMap::new()];
    for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        if line.is_empty() {
            records.push(BTreeMap::new());
        } else {
            let (k, v) = line.split_once(':').unwrap();
            records.last_mut().unwrap().insert(k.trim().to_owned(), hex::decode(v.trim()).unwrap());
        }
    }
    records.retain(|r| !r.is_empty());
    records
}
