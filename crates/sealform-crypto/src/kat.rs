//! Known-answer tests against the vectors committed in `tests/vectors/` (format described in
//! `tests/vectors/README.md`). They pin every byte format: a change to any layout, label, key derivation or
//! algorithm makes them fail. Randomised steps (KEM encapsulation) are checked in the decrypt direction, plus the
//! deterministic AEAD step re-run from the recorded shared secret and nonce.
//!
//! The vectors were made once by `generate_vectors` below, which only runs when asked twice over:
//! `SEALFORM_REGENERATE_VECTORS=1 cargo test -p sealform-crypto --lib kat::generate_vectors -- --ignored`.
//! Regenerating them means the formats changed, which breaks every stored envelope: bump the version byte instead.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::blind::blind_index;
use crate::data::{DataKey, RecordBinding, open, seal_with_nonce};
use crate::kek::{KeyEncryptionKey, master_wrap};
use crate::keys::{KeyId, RecipientPrivateKey, Suite};
use crate::stream::{STREAM_SEGMENT_LEN, StreamSealer, open_stream, seal_stream_with};
use crate::wrap::{Derivation, WrappedKey, decapsulate, encapsulate, seal_key, unwrap};
use crate::{BlindIndexKey, MasterKey};

/// One record: names to bytes.
type Record = BTreeMap<String, Vec<u8>>;

fn vector_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(name)
}

/// Parses `name: hex` lines; blank lines separate records; `#` starts a comment line.
fn load(name: &str) -> Vec<Record> {
    let text = std::fs::read_to_string(vector_path(name)).unwrap();
    let mut records = vec![Record::new()];
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') {
            continue;
        }
        if line.is_empty() {
            if !records.last().unwrap().is_empty() {
                records.push(Record::new());
            }
            continue;
        }
        let (key, value) = line.split_once(':').unwrap();
        let value = hex::decode(value.trim()).unwrap_or_else(|e| panic!("{name}: {key}: {e}"));
        records.last_mut().unwrap().insert(key.trim().to_owned(), value);
    }
    records.retain(|r| !r.is_empty());
    records
}

fn field<'a>(record: &'a Record, name: &str) -> &'a [u8] {
    record.get(name).unwrap_or_else(|| panic!("vector has no `{name}`"))
}

fn arr<const N: usize>(record: &Record, name: &str) -> [u8; N] {
    field(record, name).try_into().unwrap()
}

fn master_from(bytes: [u8; 32]) -> MasterKey {
    MasterKey::parse(&STANDARD.encode(bytes)).unwrap()
}

/// The binding used by the data-seal vector.
fn seal_binding() -> RecordBinding<'static> {
    RecordBinding {
        org_id: core::array::from_fn(|i| i as u8),
        form_id: core::array::from_fn(|i| 0x10 + i as u8),
        submission_id: core::array::from_fn(|i| 0x20 + i as u8),
        revision: 3,
        field_path: "q7/answer",
    }
}

/// Plaintext of the stream vector: byte `i` is `(31 i + 7) mod 256`.
fn stream_plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(31).wrapping_add(7) % 256) as u8).collect()
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, bytes).as_ref().to_vec()
}

#[test]
fn data_seal_vector() {
    let v = &load("seal.txt")[0];
    assert_eq!(seal_binding().to_aad(), field(v, "aad"), "RecordBinding encoding changed");
    let key = DataKey::from_array(arr(v, "key")).unwrap();
    let sealed = seal_with_nonce(&key, field(v, "aad"), field(v, "plaintext"), arr(v, "nonce")).unwrap();
    assert_eq!(sealed, field(v, "sealed"));
    assert_eq!(open(&key, field(v, "aad"), field(v, "sealed")).unwrap().as_slice(), field(v, "plaintext"));
}

fn check_wrap_vector(file: &str, suite: Suite) {
    let v = &load(file)[0];
    let recipient = RecipientPrivateKey::from_secret_bytes(field(v, "secret_key")).unwrap();
    assert_eq!(recipient.suite(), suite);
    assert_eq!(recipient.key_id(), KeyId(arr(v, "key_id")));
    assert_eq!(recipient.public_key().unwrap().to_bytes(), field(v, "public_key"));
    let wrapped = WrappedKey::from_bytes(field(v, "wrapped").to_vec()).unwrap();
    let data_key = unwrap(&recipient, &wrapped, field(v, "aad")).unwrap();
    assert_eq!(data_key.expose(), field(v, "data_key"));
    // The KEM step gives the recorded secret, and the AEAD step re-run from it gives the recorded envelope.
    let encapsulation = field(v, "encapsulation");
    assert_eq!(decapsulate(&recipient, encapsulation).unwrap().as_slice(), field(v, "shared_secret"));
    let context: Option<[u8; 16]> = v.contains_key("context").then(|| arr(v, "context"));
    let derivation = context.map_or(Derivation::V1, Derivation::V2);
    assert_eq!(wrapped.as_bytes()[4], if context.is_some() { 2 } else { 1 });
    let again = seal_key(
        derivation,
        suite,
        recipient.key_id(),
        encapsulation,
        &arr(v, "shared_secret"),
        arr(v, "nonce"),
        &data_key,
        field(v, "aad"),
    )
    .unwrap();
    assert_eq!(again.as_bytes(), field(v, "wrapped"));
}

#[test]
fn suite_1_hybrid_wrap_vectors_of_both_versions() {
    for file in ["wrap_suite1.txt", "wrap_v2_suite1.txt"] {
        check_wrap_vector(file, Suite::HybridMlKem768X25519);
    }
}

#[test]
fn suite_2_rsa_wrap_vectors_of_both_versions() {
    for file in ["wrap_suite2.txt", "wrap_v2_suite2.txt"] {
        check_wrap_vector(file, Suite::RsaOaep3072Sha256);
    }
}

#[test]
fn master_key_wrap_vector() {
    let v = &load("master_wrap.txt")[0];
    let master = master_from(arr(v, "master_key"));
    assert_eq!(master.fingerprint().as_slice(), field(v, "fingerprint"));
    let wrapped = master_wrap(&master, field(v, "secret"), field(v, "aad"), arr(v, "nonce")).unwrap();
    assert_eq!(wrapped, field(v, "wrapped"));
    assert_eq!(master.unwrap_secret(field(v, "wrapped"), field(v, "aad")).unwrap().as_slice(), field(v, "secret"));
}

#[test]
fn stream_vector() {
    let v = &load("stream.txt")[0];
    let len = usize::try_from(u64::from_be_bytes(arr(v, "plaintext_len"))).unwrap();
    let plain = stream_plaintext(len);
    assert_eq!(sha256(&plain), field(v, "plaintext_sha256"));
    let key = DataKey::from_array(arr(v, "key")).unwrap();
    let (sealer, header) =
        StreamSealer::with_randomness(&key, field(v, "aad"), arr(v, "salt"), arr(v, "prefix")).unwrap();
    assert_eq!(header, field(v, "header"));
    let mut sealed = Vec::new();
    seal_stream_with(sealer, &header, plain.as_slice(), &mut sealed).unwrap();
    assert_eq!(sha256(&sealed), field(v, "sealed_sha256"));
    // Each segment's tag, and the first bytes of every segment's ciphertext, are recorded in full.
    let tags: Vec<u8> = segment_ranges(header.len(), sealed.len())
        .into_iter()
        .flat_map(|r| sealed[r.end - 16..r.end].to_vec())
        .collect();
    assert_eq!(tags, field(v, "tags"));
    let heads: Vec<u8> = segment_ranges(header.len(), sealed.len())
        .into_iter()
        .flat_map(|r| sealed[r.start..r.start + 16].to_vec())
        .collect();
    assert_eq!(heads, field(v, "segment_heads"));
    let mut out = Vec::new();
    open_stream(&key, field(v, "aad"), sealed.as_slice(), &mut out).unwrap();
    assert_eq!(out, plain);
}

/// Byte ranges of each sealed segment after the header.
fn segment_ranges(header_len: usize, total: usize) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = header_len;
    while start < total {
        let end = (start + STREAM_SEGMENT_LEN + 16).min(total);
        ranges.push(start..end);
        start = end;
    }
    ranges
}

#[test]
fn blind_index_vectors() {
    let records = load("blind_index.txt");
    assert!(records.len() >= 3);
    for v in records {
        let key = BlindIndexKey::from_bytes(field(&v, "key")).unwrap();
        let name = std::str::from_utf8(field(&v, "field")).unwrap();
        assert_eq!(blind_index(&key, name, field(&v, "value")).as_slice(), field(&v, "index"));
    }
}

fn put(out: &mut String, name: &str, bytes: &[u8]) {
    writeln!(out, "{name}: {}", hex::encode(bytes)).unwrap();
}

fn write_vector(name: &str, text: &str) {
    std::fs::write(vector_path(name), text).unwrap();
}

/// Writes every vector file. Guarded by an environment variable as well as `#[ignore]`, so `--ignored` alone cannot
/// silently rewrite the answers the tests above check.
#[test]
#[ignore = "writes tests/vectors; run only to create vectors for a new format version"]
fn generate_vectors() {
    if std::env::var("SEALFORM_REGENERATE_VECTORS").as_deref() != Ok("1") {
        eprintln!("set SEALFORM_REGENERATE_VECTORS=1 to rewrite tests/vectors");
        return;
    }
    let header = "# Generated once by sealform-crypto's kat::generate_vectors; see tests/vectors/README.md.\n";

    // Data seal.
    let key_bytes: [u8; 32] = core::array::from_fn(|i| 0x40 + i as u8);
    let key = DataKey::from_array(key_bytes).unwrap();
    let aad = seal_binding().to_aad();
    let nonce: [u8; 12] = core::array::from_fn(|i| 0xa0 + i as u8);
    let plaintext = br#"{"q7":"Patient reports no known allergies."}"#;
    let mut s = format!(
        "{header}# Data seal (docs/envelope.md section 3). aad = RecordBinding {{ org_id: 00..0f, form_id: 10..1f, \
         submission_id: 20..2f, revision: 3, field_path: \"q7/answer\" }}.to_aad()\n"
    );
    put(&mut s, "key", &key_bytes);
    put(&mut s, "aad", &aad);
    put(&mut s, "nonce", &nonce);
    put(&mut s, "plaintext", plaintext);
    put(&mut s, "sealed", &seal_with_nonce(&key, &aad, plaintext, nonce).unwrap());
    write_vector("seal.txt", &s);

    // Wrapped keys, one per suite, from freshly generated recipient keys.
    for (file, suite, id_byte) in
        [("wrap_suite1.txt", Suite::HybridMlKem768X25519, 0x11), ("wrap_suite2.txt", Suite::RsaOaep3072Sha256, 0x22)]
    {
        let recipient = RecipientPrivateKey::generate(suite, KeyId([id_byte; 16])).unwrap();
        let comment = format!(
            "{header}# Wrapped data key, suite {} (docs/envelope.md section 2): decrypt-direction vector.\n",
            suite.id()
        );
        let vector = WrapVector {
            recipient: &recipient,
            data_key: DataKey::from_array(core::array::from_fn(|i| 0x60 + i as u8)).unwrap(),
            aad: b"sealform test vector: submission 42 revision 1",
            context: None,
            nonce: core::array::from_fn(|i| 0xb0 + i as u8),
        };
        vector.write(file, comment);
    }

    // Master-key wrap of a (short, made-up) secret.
    let master_bytes: [u8; 32] = core::array::from_fn(|i| 0x80 + i as u8);
    let master = master_from(master_bytes);
    let aad = b"org 7 key 3";
    let nonce: [u8; 12] = core::array::from_fn(|i| 0xc0 + i as u8);
    let secret = b"an organisation's secret key bytes";
    let mut s = format!("{header}# Master-key wrap (docs/envelope.md section 4).\n");
    put(&mut s, "master_key", &master_bytes);
    put(&mut s, "fingerprint", &master.fingerprint());
    put(&mut s, "aad", aad);
    put(&mut s, "nonce", &nonce);
    put(&mut s, "secret", secret);
    put(&mut s, "wrapped", &master_wrap(&master, secret, aad, nonce).unwrap());
    write_vector("master_wrap.txt", &s);

    // Stream of 2.5 segments; the ciphertext is pinned by its SHA-256 plus each segment's first 16 bytes and tag.
    let len = STREAM_SEGMENT_LEN * 5 / 2;
    let plain = stream_plaintext(len);
    let key_bytes: [u8; 32] = core::array::from_fn(|i| 0xe0 + i as u8);
    let key = DataKey::from_array(key_bytes).unwrap();
    let aad = b"file 9 of submission 42";
    let salt: [u8; 32] = core::array::from_fn(|i| 0x10 + i as u8);
    let prefix: [u8; 7] = core::array::from_fn(|i| 0x70 + i as u8);
    let (sealer, stream_header) = StreamSealer::with_randomness(&key, aad, salt, prefix).unwrap();
    let mut sealed = Vec::new();
    seal_stream_with(sealer, &stream_header, plain.as_slice(), &mut sealed).unwrap();
    let ranges = segment_ranges(stream_header.len(), sealed.len());
    let tags: Vec<u8> = ranges.iter().flat_map(|r| sealed[r.end - 16..r.end].to_vec()).collect();
    let heads: Vec<u8> = ranges.iter().flat_map(|r| sealed[r.start..r.start + 16].to_vec()).collect();
    let mut s = format!(
        "{header}# Sealed stream (docs/envelope.md section 5). Plaintext byte i = (31*i + 7) mod 256; plaintext_len is \
         u64 BE.\n# tags and segment_heads concatenate, per segment, its last 16 and first 16 bytes.\n"
    );
    put(&mut s, "key", &key_bytes);
    put(&mut s, "aad", aad);
    put(&mut s, "salt", &salt);
    put(&mut s, "prefix", &prefix);
    put(&mut s, "plaintext_len", &(len as u64).to_be_bytes());
    put(&mut s, "plaintext_sha256", &sha256(&plain));
    put(&mut s, "header", &stream_header);
    put(&mut s, "tags", &tags);
    put(&mut s, "segment_heads", &heads);
    put(&mut s, "sealed_sha256", &sha256(&sealed));
    write_vector("stream.txt", &s);

    // Blind indexes.
    let key_bytes: [u8; 32] = core::array::from_fn(|i| 0x30 + i as u8);
    let key = BlindIndexKey::from_bytes(&key_bytes).unwrap();
    let mut s = format!("{header}# Blind indexes (docs/envelope.md section 6); field is UTF-8.\n");
    for (name, value) in [("email", &b"jane.doe@example.org"[..]), ("mrn", b"000123456"), ("email", b""), ("", b"x")] {
        s.push('\n');
        put(&mut s, "key", &key_bytes);
        put(&mut s, "field", name.as_bytes());
        put(&mut s, "value", value);
        put(&mut s, "index", &blind_index(&key, name, value));
    }
    write_vector("blind_index.txt", &s);
}

/// Writes the version 2 wrap vectors only (section 2, "version 2"), with the recipient keys of the version 1 vectors;
/// guarded like [`generate_vectors`].
#[test]
#[ignore = "writes tests/vectors/wrap_v2_*; run only to create vectors for a new format version"]
fn generate_wrap_v2_vectors() {
    if std::env::var("SEALFORM_REGENERATE_VECTORS").as_deref() != Ok("1") {
        eprintln!("set SEALFORM_REGENERATE_VECTORS=1 to rewrite tests/vectors");
        return;
    }
    let header = "# Generated once by sealform-crypto's kat::generate_wrap_v2_vectors; see tests/vectors/README.md.\n";
    for (from, file) in [("wrap_suite1.txt", "wrap_v2_suite1.txt"), ("wrap_suite2.txt", "wrap_v2_suite2.txt")] {
        let recipient = RecipientPrivateKey::from_secret_bytes(field(&load(from)[0], "secret_key")).unwrap();
        let comment = format!(
            "{header}# Wrapped data key, version 2, suite {} (docs/envelope.md section 2): decrypt-direction vector; \
             the recipient key is {from}'s.\n",
            recipient.suite().id()
        );
        let vector = WrapVector {
            recipient: &recipient,
            data_key: DataKey::from_array(core::array::from_fn(|i| 0x61 + i as u8)).unwrap(),
            aad: b"sealform test vector: submission 43 revision 2",
            context: Some(core::array::from_fn(|i| 0xd0 + i as u8)),
            nonce: core::array::from_fn(|i| 0xb1 + i as u8),
        };
        vector.write(file, comment);
    }
}

/// A wrap vector's chosen inputs; the encapsulation is fresh. `context` makes it version 2.
struct WrapVector<'a> {
    recipient: &'a RecipientPrivateKey,
    data_key: DataKey,
    aad: &'a [u8],
    context: Option<[u8; 16]>,
    nonce: [u8; 12],
}

impl WrapVector<'_> {
    /// Wraps the data key and writes every field, in the order the checks read them, after `comment`.
    fn write(&self, file: &str, mut s: String) {
        let (suite, key_id) = (self.recipient.suite(), self.recipient.key_id());
        let public = self.recipient.public_key().unwrap();
        let (encapsulation, shared) = encapsulate(&public).unwrap();
        let derivation = self.context.map_or(Derivation::V1, Derivation::V2);
        let wrapped =
            seal_key(derivation, suite, key_id, &encapsulation, &shared, self.nonce, &self.data_key, self.aad).unwrap();
        put(&mut s, "key_id", &key_id.0);
        put(&mut s, "secret_key", &self.recipient.to_secret_bytes());
        put(&mut s, "public_key", &public.to_bytes());
        put(&mut s, "aad", self.aad);
        put(&mut s, "encapsulation", &encapsulation);
        put(&mut s, "shared_secret", shared.as_ref());
        if let Some(context) = &self.context {
            put(&mut s, "context", context);
        }
        put(&mut s, "nonce", &self.nonce);
        put(&mut s, "wrapped", wrapped.as_bytes());
        put(&mut s, "data_key", self.data_key.expose());
        write_vector(file, &s);
    }
}
