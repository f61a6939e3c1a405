//! Sealform's formats beside the bare aws-lc-rs primitives they are built from, in one run, on the same keys.
//!
//! `cargo bench -p sealform-crypto`; figures and targets in BENCHMARKS.md ("Crypto (sealform-crypto)"). Each group
//! has a `sealform` line (the public API) and an `aws-lc` line (the same primitive calls with no framing, key
//! derivation or parsing), so the ratio of the two is this crate's overhead.

use std::hint::black_box;
use std::io::{self, Read as _, Write as _};
use std::time::Duration;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, UnparsedPublicKey, X25519};
use aws_lc_rs::kem::{Ciphertext, DecapsulationKey, EncapsulationKey, ML_KEM_768};
use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sealform_crypto::{
    DataKey, KeyId, RecipientPrivateKey, STREAM_SEGMENT_LEN, Suite, WrapSession, WrappedKey, open, open_stream, seal,
    seal_stream, unwrap, wrap,
};
use zeroize::Zeroizing;

/// A typical submission's sealed answers.
const SUBMISSION_LEN: usize = 2048;
/// A large upload.
const STREAM_LEN: usize = 100 * 1024 * 1024;
const AAD: &[u8] = b"sealform/record/v1 org form submission revision field";

/// The bare aws-lc-rs key objects behind one recipient key (parsed from its secret encoding).
struct Bare {
    dk: DecapsulationKey,
    ek: EncapsulationKey,
    sk_x: agreement::PrivateKey,
    pk_x: Vec<u8>,
}

fn bare_hybrid(key: &RecipientPrivateKey) -> Bare {
    let secret = key.to_secret_bytes();
    let dk_bytes = &secret[24..24 + 2400];
    let dk = DecapsulationKey::new(&ML_KEM_768, dk_bytes).unwrap();
    let ek = EncapsulationKey::new(&ML_KEM_768, &dk_bytes[1152..1152 + 1184]).unwrap();
    let sk_x = agreement::PrivateKey::from_private_key(&X25519, &secret[24 + 2400..]).unwrap();
    let pk_x = sk_x.compute_public_key().unwrap().as_ref().to_vec();
    Bare { dk, ek, sk_x, pk_x }
}

fn bare_rsa(key: &RecipientPrivateKey) -> (OaepPrivateDecryptingKey, OaepPublicEncryptingKey) {
    let secret = key.to_secret_bytes();
    let private = PrivateDecryptingKey::from_pkcs8(&secret[24..]).unwrap();
    let public = OaepPublicEncryptingKey::new(private.public_key()).unwrap();
    (OaepPrivateDecryptingKey::new(private).unwrap(), public)
}

fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    aws_lc_rs::rand::fill(&mut out).unwrap();
    out
}

fn gcm(key: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap())
}

/// Bare AES-256-GCM seal then open of `plain` under a fresh key (a data key is new per submission, so the key
/// schedule is part of the work on both lines).
fn bare_seal_open(plain: &[u8]) -> Vec<u8> {
    let key = gcm(&random());
    let nonce: [u8; 12] = random();
    let mut buf = Vec::with_capacity(plain.len() + 16);
    buf.extend_from_slice(plain);
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(AAD), &mut buf).unwrap();
    let len = key.open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(AAD), &mut buf).unwrap().len();
    buf.truncate(len);
    buf
}

/// Bare suite 1 wrap: ML-KEM encapsulate, ephemeral X25519 key, agree. Returns what the unwrap side needs.
fn bare_hybrid_wrap(bare: &Bare) -> (Vec<u8>, Vec<u8>) {
    let (ct_m, ss_m) = bare.ek.encapsulate().unwrap();
    let eph = agreement::PrivateKey::generate(&X25519).unwrap();
    let ct_x = eph.compute_public_key().unwrap();
    agreement::agree(&eph, UnparsedPublicKey::new(&X25519, &bare.pk_x), (), |ss_x| {
        black_box((ss_m.as_ref(), ss_x));
        Ok(())
    })
    .unwrap();
    (ct_m.as_ref().to_vec(), ct_x.as_ref().to_vec())
}

/// Bare suite 1 unwrap: ML-KEM-768 decapsulate + X25519 agree.
fn bare_hybrid_unwrap(bare: &Bare, ct_m: &[u8], ct_x: &[u8]) {
    let ss_m = bare.dk.decapsulate(Ciphertext::from(ct_m)).unwrap();
    agreement::agree(&bare.sk_x, UnparsedPublicKey::new(&X25519, ct_x), (), |ss_x| {
        black_box((ss_m.as_ref(), ss_x));
        Ok(())
    })
    .unwrap();
}

fn bare_rsa_wrap(public: &OaepPublicEncryptingKey) -> Vec<u8> {
    let secret: [u8; 32] = random();
    let mut ct = vec![0u8; public.ciphertext_size()];
    public.encrypt(&OAEP_SHA256_MGF1SHA256, &secret, &mut ct, None).unwrap();
    ct
}

fn bare_rsa_unwrap(private: &OaepPrivateDecryptingKey, ct: &[u8]) {
    let mut out = [0u8; 384];
    black_box(private.decrypt(&OAEP_SHA256_MGF1SHA256, ct, &mut out, None).unwrap());
}

fn benches(c: &mut Criterion) {
    let hybrid = RecipientPrivateKey::generate(Suite::HybridMlKem768X25519, KeyId([1; 16])).unwrap();
    let rsa = RecipientPrivateKey::generate(Suite::RsaOaep3072Sha256, KeyId([2; 16])).unwrap();
    let bare = bare_hybrid(&hybrid);
    let (rsa_private, rsa_public) = bare_rsa(&rsa);
    let submission = vec![0x5au8; SUBMISSION_LEN];

    let mut g = c.benchmark_group("seal_open_2KiB");
    g.throughput(Throughput::Bytes(SUBMISSION_LEN as u64));
    g.bench_function("sealform", |b| {
        b.iter(|| {
            let key = DataKey::generate().unwrap();
            let sealed = seal(&key, AAD, black_box(&submission)).unwrap();
            open(&key, AAD, &sealed).unwrap()
        });
    });
    g.bench_function("aws-lc", |b| b.iter(|| bare_seal_open(black_box(&submission))));
    // The bare primitive whose plaintext is dropped as `Zeroizing<Vec<u8>>`, as `open`'s must be: isolates the
    // cost of zeroization from the cost of the format.
    g.bench_function("aws-lc+zeroize", |b| b.iter(|| Zeroizing::new(bare_seal_open(black_box(&submission)))));
    g.finish();

    for (name, recipient) in [("suite1", &hybrid), ("suite2", &rsa)] {
        let public = recipient.public_key().unwrap();
        let mut g = c.benchmark_group(format!("submission_2KiB_{name}"));
        g.bench_function("sealform", |b| {
            b.iter(|| {
                let key = DataKey::generate().unwrap();
                let sealed = seal(&key, AAD, black_box(&submission)).unwrap();
                let wrapped = WrappedKey::from_bytes(wrap(&public, &key, AAD).unwrap().as_bytes().to_vec()).unwrap();
                let key = unwrap(recipient, &wrapped, AAD).unwrap();
                open(&key, AAD, &sealed).unwrap()
            });
        });
        g.bench_function("aws-lc", |b| {
            b.iter(|| {
                if name == "suite1" {
                    let (ct_m, ct_x) = bare_hybrid_wrap(&bare);
                    bare_hybrid_unwrap(&bare, &ct_m, &ct_x);
                } else {
                    let ct = bare_rsa_wrap(&rsa_public);
                    bare_rsa_unwrap(&rsa_private, &ct);
                }
                bare_seal_open(black_box(&submission))
            });
        });
        g.finish();

        let key = DataKey::generate().unwrap();
        let wrapped = wrap(&public, &key, AAD).unwrap();
        let mut g = c.benchmark_group(format!("wrap_{name}"));
        g.bench_function("sealform", |b| b.iter(|| wrap(&public, &key, AAD).unwrap()));
        // One more data key in a wrap session (envelope version 2): the KEM is already paid.
        let session = WrapSession::new(&public).unwrap();
        g.bench_function("sealform-in-session", |b| b.iter(|| session.wrap(&key, AAD).unwrap()));
        if name == "suite1" {
            g.bench_function("aws-lc", |b| b.iter(|| bare_hybrid_wrap(&bare)));
        } else {
            g.bench_function("aws-lc", |b| b.iter(|| bare_rsa_wrap(&rsa_public)));
        }
        g.finish();

        let mut g = c.benchmark_group(format!("unwrap_{name}"));
        g.bench_function("sealform", |b| b.iter(|| unwrap(recipient, black_box(&wrapped), AAD).unwrap()));
        if name == "suite1" {
            let (ct_m, ct_x) = bare_hybrid_wrap(&bare);
            g.bench_function("aws-lc", |b| b.iter(|| bare_hybrid_unwrap(&bare, black_box(&ct_m), &ct_x)));
        } else {
            let ct = bare_rsa_wrap(&rsa_public);
            g.bench_function("aws-lc", |b| b.iter(|| bare_rsa_unwrap(&rsa_private, black_box(&ct))));
        }
        g.finish();
    }

    let plain = vec![0x42u8; STREAM_LEN];
    let key = DataKey::generate().unwrap();
    let mut sealed = Vec::with_capacity(STREAM_LEN + STREAM_LEN / 1000);
    seal_stream(&key, AAD, plain.as_slice(), &mut sealed).unwrap();
    let bare_key = gcm(&random());
    let prefix: [u8; 7] = random();
    let nonce = |i: usize, last: bool| {
        let mut n = [0u8; 12];
        n[..7].copy_from_slice(&prefix);
        n[7..11].copy_from_slice(&(i as u32).to_be_bytes());
        n[11] = u8::from(last);
        Nonce::assume_unique_for_key(n)
    };
    let segments = STREAM_LEN.div_ceil(STREAM_SEGMENT_LEN);

    let mut g = c.benchmark_group("stream_seal_100MiB");
    g.throughput(Throughput::Bytes(STREAM_LEN as u64)).sample_size(10).measurement_time(Duration::from_secs(8));
    g.bench_function("sealform", |b| b.iter(|| seal_stream(&key, AAD, plain.as_slice(), io::sink()).unwrap()));
    // The primitive in place over a buffer that is already in memory: no reading, no copying.
    let mut buf = plain.clone();
    let mut tags = vec![[0u8; 16]; segments];
    g.bench_function("aws-lc", |b| {
        b.iter(|| {
            for (i, (chunk, tag)) in buf.chunks_mut(STREAM_SEGMENT_LEN).zip(tags.iter_mut()).enumerate() {
                let t =
                    bare_key.seal_in_place_separate_tag(nonce(i, i + 1 == segments), Aad::from(AAD), chunk).unwrap();
                tag.copy_from_slice(t.as_ref());
            }
        });
    });
    // The same primitive loop fed through a `Read` like `seal_stream` is: one copy of each chunk into a buffer.
    g.bench_function("aws-lc+read-copy", |b| {
        let mut chunk = vec![0u8; STREAM_SEGMENT_LEN];
        b.iter(|| {
            let mut input = plain.as_slice();
            let mut sink = io::sink();
            for i in 0..segments {
                let n = input.read(&mut chunk).unwrap();
                let t = bare_key
                    .seal_in_place_separate_tag(nonce(i, i + 1 == segments), Aad::from(AAD), &mut chunk[..n])
                    .unwrap();
                sink.write_all(&chunk[..n]).unwrap();
                sink.write_all(t.as_ref()).unwrap();
            }
        });
    });
    g.finish();

    // Bare-sealed copy for the primitive's open, which decrypts out of place so every iteration sees ciphertext.
    let mut bare_sealed = plain.clone();
    for (i, (chunk, tag)) in bare_sealed.chunks_mut(STREAM_SEGMENT_LEN).zip(tags.iter_mut()).enumerate() {
        let t = bare_key.seal_in_place_separate_tag(nonce(i, i + 1 == segments), Aad::from(AAD), chunk).unwrap();
        tag.copy_from_slice(t.as_ref());
    }
    let mut out = vec![0u8; STREAM_SEGMENT_LEN];
    let mut g = c.benchmark_group("stream_open_100MiB");
    g.throughput(Throughput::Bytes(STREAM_LEN as u64)).sample_size(10).measurement_time(Duration::from_secs(8));
    g.bench_function("sealform", |b| b.iter(|| open_stream(&key, AAD, sealed.as_slice(), io::sink()).unwrap()));
    g.bench_function("aws-lc", |b| {
        b.iter(|| {
            for (i, (chunk, tag)) in bare_sealed.chunks(STREAM_SEGMENT_LEN).zip(tags.iter()).enumerate() {
                let out = &mut out[..chunk.len()];
                let n = nonce(i, i + 1 == segments);
                bare_key.open_separate_gather(n, Aad::from(AAD), chunk, tag, out).unwrap();
                black_box(&out);
            }
        });
    });
    g.bench_function("aws-lc+read-copy", |b| {
        let mut chunk = vec![0u8; STREAM_SEGMENT_LEN + 16];
        b.iter(|| {
            let mut sink = io::sink();
            for (i, (ct, tag)) in bare_sealed.chunks(STREAM_SEGMENT_LEN).zip(tags.iter()).enumerate() {
                // Reading ciphertext and tag into one buffer, as a reader of the sealed file would.
                let buf = &mut chunk[..ct.len() + 16];
                buf[..ct.len()].copy_from_slice(ct);
                buf[ct.len()..].copy_from_slice(tag);
                let n = nonce(i, i + 1 == segments);
                let plain = bare_key.open_in_place(n, Aad::from(AAD), buf).unwrap();
                sink.write_all(plain).unwrap();
            }
        });
    });
    g.finish();
}

criterion_group! {
    name = crypto;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(crypto);
