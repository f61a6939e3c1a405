//! The committed vectors, decoded by a second implementation written from `docs/envelope.md` with bare aws-lc-rs
//! calls. The crate's own known-answer tests (`src/kat.rs`) check the code against the vectors; these check the
//! vectors (and so the code) against the document.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, UnparsedPublicKey, X25519};
use aws_lc_rs::digest::{self, SHA3_256, SHA256};
use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Prk, Salt};
use aws_lc_rs::hmac;
use aws_lc_rs::kem::{Ciphertext, DecapsulationKey, ML_KEM_768};
use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, PrivateDecryptingKey};
use base64::Engine as _;
use sealform_crypto::{
    BlindIndexKey, KeyEncryptionKey, MasterKey, RecipientPrivateKey, RecordBinding, WrappedKey, blind_index, seal,
    unwrap,
};

use crate::common::vector;

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn gcm_open(key: &[u8], nonce: &[u8], aad: &[u8], ct_and_tag: &[u8]) -> Vec<u8> {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap());
    let mut buf = ct_and_tag.to_vec();
    let len =
        key.open_in_place(Nonce::try_assume_unique_for_key(nonce).unwrap(), Aad::from(aad), &mut buf).unwrap().len();
    buf.truncate(len);
    buf
}

fn gcm_seal(key: &[u8], nonce: &[u8], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap());
    let mut buf = plaintext.to_vec();
    key.seal_in_place_append_tag(Nonce::try_assume_unique_for_key(nonce).unwrap(), Aad::from(aad), &mut buf).unwrap();
    buf
}

fn hkdf(salt: &[u8], ikm: &[u8], info: &[&[u8]], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    Salt::new(HKDF_SHA256, salt).extract(ikm).expand(info, Len(len)).unwrap().fill(&mut out).unwrap();
    out
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[test]
fn data_seal_matches_the_document() {
    let v = &vector("seal.txt")[0];
    // RecordBinding: u32 len || label || org || form || submission || revision u32 || u64 len || path.
    let binding = RecordBinding {
        org_id: core::array::from_fn(|i| i as u8),
        form_id: core::array::from_fn(|i| 0x10 + i as u8),
        submission_id: core::array::from_fn(|i| 0x20 + i as u8),
        revision: 3,
        field_path: "q7/answer",
    };
    let org: Vec<u8> = (0..16).collect();
    let form: Vec<u8> = (0x10..0x20).collect();
    let sub: Vec<u8> = (0x20..0x30).collect();
    let expected_aad = cat(&[
        &18u32.to_be_bytes(),
        b"sealform/record/v1",
        &org,
        &form,
        &sub,
        &3u32.to_be_bytes(),
        &9u64.to_be_bytes(),
        b"q7/answer",
    ]);
    assert_eq!(binding.to_aad(), expected_aad);
    assert_eq!(v["aad"], expected_aad);
    // sealed = 0x01 || nonce || ct || tag
    let sealed = &v["sealed"];
    assert_eq!(sealed[0], 1);
    assert_eq!(&sealed[1..13], v["nonce"].as_slice());
    assert_eq!(gcm_open(&v["key"], &sealed[1..13], &v["aad"], &sealed[13..]), v["plaintext"]);
}

#[test]
fn master_key_wrap_matches_the_document() {
    let v = &vector("master_wrap.txt")[0];
    let prk = Prk::new_less_safe(HKDF_SHA256, &v["master_key"]);
    let mut fingerprint = [0u8; 8];
    prk.expand(&[b"sealform/master-key/v1/fingerprint"], Len(8)).unwrap().fill(&mut fingerprint).unwrap();
    let mut subkey = [0u8; 32];
    prk.expand(&[b"sealform/master-key/v1/wrap"], Len(32)).unwrap().fill(&mut subkey).unwrap();
    let w = &v["wrapped"];
    assert_eq!(&w[..4], b"SFMK");
    assert_eq!(w[4], 1);
    assert_eq!(&w[5..13], fingerprint.as_slice());
    assert_eq!(gcm_open(&subkey, &w[13..25], &cat(&[&w[..13], &v["aad"]]), &w[25..]), v["secret"]);

    let master = MasterKey::parse(&base64::engine::general_purpose::STANDARD.encode(&v["master_key"])).unwrap();
    assert_eq!(master.fingerprint(), fingerprint);
    assert_eq!(master.unwrap_secret(w, &v["aad"]).unwrap().as_slice(), v["secret"].as_slice());
}

/// Checks the envelope header and opens its AEAD step with `shared`; returns the data key. Version 2 envelopes
/// (those whose vector has a `context`) put it after the encapsulation and derive the KEK with it.
fn open_envelope(v: &std::collections::BTreeMap<String, Vec<u8>>, suite: u8, shared: &[u8]) -> Vec<u8> {
    let w = &v["wrapped"];
    let enc_len = usize::from(u16::from_be_bytes([w[22], w[23]]));
    assert_eq!(&w[..4], b"SFWK");
    assert_eq!(w[5], suite);
    assert_eq!(&w[6..22], v["key_id"].as_slice());
    assert_eq!(&w[24..24 + enc_len], v["encapsulation"].as_slice());
    let (header_len, kek) = match v.get("context") {
        None => {
            assert_eq!(w[4], 1);
            (24 + enc_len, hkdf(&[], shared, &[b"sealform/wrap/v1", &[suite], &v["key_id"]], 32))
        }
        Some(context) => {
            assert_eq!(w[4], 2);
            assert_eq!(&w[24 + enc_len..40 + enc_len], context.as_slice());
            (40 + enc_len, hkdf(&[], shared, &[b"sealform/wrap/v2", &[suite], &v["key_id"], context], 32))
        }
    };
    assert_eq!(w.len(), header_len + 12 + 48);
    let header = &w[..header_len];
    gcm_open(&kek, &w[header_len..header_len + 12], &cat(&[header, &v["aad"]]), &w[header_len + 12..])
}

/// The data key the public API unwraps is the vector's: it opens a seal made by the public API.
fn public_api_unwraps_the_vector_key(v: &std::collections::BTreeMap<String, Vec<u8>>) {
    let recipient = RecipientPrivateKey::from_secret_bytes(&v["secret_key"]).unwrap();
    let key = unwrap(&recipient, &WrappedKey::from_bytes(v["wrapped"].clone()).unwrap(), &v["aad"]).unwrap();
    let sealed = seal(&key, b"check", b"hello").unwrap();
    assert_eq!(gcm_open(&v["data_key"], &sealed[1..13], b"check", &sealed[13..]), b"hello");
}

#[test]
fn suite_1_envelope_matches_the_document() {
    for file in ["wrap_suite1.txt", "wrap_v2_suite1.txt"] {
        suite_1_vector_matches_the_document(&vector(file)[0]);
    }
}

fn suite_1_vector_matches_the_document(v: &std::collections::BTreeMap<String, Vec<u8>>) {
    let sk = &v["secret_key"];
    assert_eq!(&sk[..4], b"SFSK");
    assert_eq!(&sk[4..6], &[1, 1]);
    assert_eq!(u16::from_be_bytes([sk[22], sk[23]]), 2432);
    let (dk, seed) = sk[24..].split_at(2400);
    let enc = &v["encapsulation"];
    let (ct_m, ct_x) = enc.split_at(1088);
    let ss_m = DecapsulationKey::new(&ML_KEM_768, dk).unwrap().decapsulate(Ciphertext::from(ct_m)).unwrap();
    let sk_x = agreement::PrivateKey::from_private_key(&X25519, seed).unwrap();
    let pk_x = sk_x.compute_public_key().unwrap();
    let ss_x = agreement::agree(&sk_x, UnparsedPublicKey::new(&X25519, ct_x), (), |s| Ok(s.to_vec())).unwrap();
    let label = [0x5c, 0x2e, 0x2f, 0x2f, 0x5e, 0x5c];
    let ss = digest::digest(&SHA3_256, &cat(&[ss_m.as_ref(), &ss_x, ct_x, pk_x.as_ref(), &label]));
    assert_eq!(ss.as_ref(), v["shared_secret"].as_slice());
    assert_eq!(open_envelope(v, 1, ss.as_ref()), v["data_key"]);
    // The public key is `SFPK` ... || ek || pk_X, with ek read from inside dk (FIPS 203 layout).
    let pk = &v["public_key"];
    assert_eq!(&pk[..4], b"SFPK");
    assert_eq!(&pk[24..24 + 1184], &dk[1152..2336]);
    assert_eq!(&pk[24 + 1184..], pk_x.as_ref());
    public_api_unwraps_the_vector_key(v);
}

#[test]
fn suite_2_envelope_matches_the_document() {
    for file in ["wrap_suite2.txt", "wrap_v2_suite2.txt"] {
        suite_2_vector_matches_the_document(&vector(file)[0]);
    }
}

fn suite_2_vector_matches_the_document(v: &std::collections::BTreeMap<String, Vec<u8>>) {
    let sk = &v["secret_key"];
    assert_eq!(&sk[..6], &[b'S', b'F', b'S', b'K', 1, 2]);
    let rsa = OaepPrivateDecryptingKey::new(PrivateDecryptingKey::from_pkcs8(&sk[24..]).unwrap()).unwrap();
    assert_eq!(rsa.key_size_bits(), 3072);
    let mut out = vec![0u8; rsa.min_output_size()];
    let secret = rsa
        .decrypt(&OAEP_SHA256_MGF1SHA256, &v["encapsulation"], &mut out, Some(b"sealform/wrap/v1/rsa-oaep"))
        .unwrap();
    assert_eq!(secret, v["shared_secret"].as_slice());
    assert_eq!(open_envelope(v, 2, &v["shared_secret"]), v["data_key"]);
    public_api_unwraps_the_vector_key(v);
}

#[test]
fn stream_matches_the_document() {
    let v = &vector("stream.txt")[0];
    let len = usize::try_from(u64::from_be_bytes(v["plaintext_len"].as_slice().try_into().unwrap())).unwrap();
    let plain: Vec<u8> = (0..len).map(|i| ((31 * i + 7) % 256) as u8).collect();
    let header = cat(&[b"SFST", &[1], &v["salt"], &v["prefix"]]);
    assert_eq!(header, v["header"]);
    let subkey = hkdf(&v["salt"], &v["key"], &[b"sealform/stream/v1"], 32);
    let aad = cat(&[&header, &v["aad"]]);
    let mut sealed = header.clone();
    let segments: Vec<&[u8]> = plain.chunks(65536).collect();
    for (i, segment) in segments.iter().enumerate() {
        let last = u8::from(i + 1 == segments.len());
        let nonce = cat(&[&v["prefix"], &(i as u32).to_be_bytes(), &[last]]);
        sealed.extend_from_slice(&gcm_seal(&subkey, &nonce, &aad, segment));
    }
    assert_eq!(digest::digest(&SHA256, &sealed).as_ref(), v["sealed_sha256"].as_slice());
}

#[test]
fn blind_index_matches_the_document() {
    for v in vector("blind_index.txt") {
        let input = cat(&[
            &23u32.to_be_bytes(),
            b"sealform/blind-index/v1",
            &(v["field"].len() as u64).to_be_bytes(),
            &v["field"],
            &v["value"],
        ]);
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &v["key"]), &input);
        assert_eq!(&tag.as_ref()[..16], v["index"].as_slice());
        let key = BlindIndexKey::from_bytes(&v["key"]).unwrap();
        assert_eq!(blind_index(&key, std::str::from_utf8(&v["field"]).unwrap(), &v["value"]).as_slice(), v["index"]);
    }
}
