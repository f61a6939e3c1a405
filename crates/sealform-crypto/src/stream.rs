//! Streaming AEAD for files: the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár, "Online
//! Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", CRYPTO 2015) over AES-256-GCM.
//!
//! ```text
//! header:  magic "SFST" (4) | version 0x01 (1) | salt (32) | nonce prefix (7)          = 44 bytes
//! then:    segment 0 | segment 1 | ... | segment n-1      each = ciphertext || tag (16)
//! ```
//!
//! Plaintext is cut into [`STREAM_SEGMENT_LEN`] (64 KiB) segments; every segment but the last is exactly that long,
//! the last holds 0 to 64 KiB (an empty input is one empty final segment). Segment `i` is sealed with
//! - key: `HKDF-SHA256(salt, data key, "sealform/stream/v1")`, fresh per stream because the salt is random, so two
//!   streams under one data key never share a (key, nonce) pair;
//! - nonce: `prefix (7) || i as u32 BE (4) || last flag (1: 0x01 on the final segment, else 0x00)`;
//! - associated data: the 44-byte header followed by the caller's associated data, on every segment.
//!
//! Reordering, swapping or dropping segments changes `i`; cutting the stream at a segment boundary leaves a final
//! segment sealed with flag 0; appending data makes the real final segment (flag 1) be read as non-final. Each of
//! these fails authentication. Memory use is constant: two segment buffers.

use std::io::{self, Read, Write};

use zeroize::Zeroizing;

use crate::CryptoError;
use crate::codec::Reader;
use crate::data::DataKey;
use crate::gcm::{GcmKey, NONCE_LEN, TAG_LEN};
use crate::kdf::hkdf_sha256;

/// Plaintext bytes per segment.
pub const STREAM_SEGMENT_LEN: usize = 65536;
/// Length of the stream header.
pub const STREAM_HEADER_LEN: usize = 4 + 1 + SALT_LEN + PREFIX_LEN;
/// Magic of a sealed stream.
const STREAM_MAGIC: &[u8; 4] = b"SFST";
/// Version of the stream format.
const STREAM_VERSION: u8 = 1;
/// HKDF salt length.
const SALT_LEN: usize = 32;
/// Random nonce prefix length.
const PREFIX_LEN: usize = 7;
/// A full sealed segment.
const SEALED_SEGMENT_LEN: usize = STREAM_SEGMENT_LEN + TAG_LEN;
/// HKDF info for the per-stream key.
const STREAM_INFO: &[u8] = b"sealform/stream/v1";

/// Why streaming encryption or decryption failed.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The cryptography failed: the stream is altered, truncated, extended, reordered, or under another key or
    /// associated data (see [`CryptoError`]).
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Reading the input or writing the output failed.
    #[error("stream I/O failed")]
    Io(#[from] io::Error),
}

/// State shared by sealer and opener: the per-stream key, nonce prefix, associated data and position.
struct Segments {
    gcm: GcmKey,
    prefix: [u8; PREFIX_LEN],
    /// `header || caller aad`, the associated data of every segment.
    aad: Vec<u8>,
    /// Index of the next segment; at most 2^32.
    next: u64,
    finished: bool,
}

impl Segments {
    fn new(key: &DataKey, aad: &[u8], header: &[u8; STREAM_HEADER_LEN]) -> Result<Self, CryptoError> {
        let mut r = Reader::new(header, "stream header is truncated");
        if r.take(4)? != STREAM_MAGIC {
            return Err(CryptoError::Malformed("not a Sealform sealed stream"));
        }
        if r.u8()? != STREAM_VERSION {
            return Err(CryptoError::UnsupportedVersion);
        }
        let salt: [u8; SALT_LEN] = r.array()?;
        let prefix: [u8; PREFIX_LEN] = r.array()?;
        r.finish()?;
        let subkey = hkdf_sha256(&salt, key.expose(), &[STREAM_INFO])?;
        let mut full_aad = Vec::with_capacity(STREAM_HEADER_LEN + aad.len());
        full_aad.extend_from_slice(header);
        full_aad.extend_from_slice(aad);
        Ok(Self { gcm: GcmKey::new(&subkey)?, prefix, aad: full_aad, next: 0, finished: false })
    }

    /// The nonce for the next segment, refusing use after the final segment or past 2^32 segments.
    fn nonce(&self, last: bool) -> Result<[u8; NONCE_LEN], CryptoError> {
        if self.finished {
            return Err(CryptoError::Misuse("the stream's final segment was already processed"));
        }
        let counter = u32::try_from(self.next).map_err(|_| CryptoError::Misuse("stream exceeds 2^32 segments"))?;
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..PREFIX_LEN].copy_from_slice(&self.prefix);
        nonce[PREFIX_LEN..PREFIX_LEN + 4].copy_from_slice(&counter.to_be_bytes());
        nonce[NONCE_LEN - 1] = u8::from(last);
        Ok(nonce)
    }

    fn advance(&mut self, last: bool) {
        self.next += 1;
        self.finished = last;
    }
}

/// Seals a stream segment by segment, for callers that do their own I/O. [`seal_stream`] wraps it for `Read`/`Write`.
pub struct StreamSealer(Segments);

impl StreamSealer {
    /// Starts a stream under `key`, binding `aad` to every segment. Returns the sealer and the header, which must be
    /// written before the first segment.
    ///
    /// # Errors
    /// [`CryptoError::Rng`] or [`CryptoError::Internal`].
    pub fn new(key: &DataKey, aad: &[u8]) -> Result<(Self, Vec<u8>), CryptoError> {
        let mut random = [0u8; SALT_LEN + PREFIX_LEN];
        crate::fill_random(&mut random).map_err(|_| CryptoError::Rng)?;
        let (salt, prefix) = random.split_at(SALT_LEN);
        let salt = salt.try_into().map_err(|_| CryptoError::Internal)?;
        let prefix = prefix.try_into().map_err(|_| CryptoError::Internal)?;
        Self::with_randomness(key, aad, salt, prefix)
    }

    /// [`Self::new`] with the salt and prefix given (for vectors).
    pub(crate) fn with_randomness(
        key: &DataKey,
        aad: &[u8],
        salt: [u8; SALT_LEN],
        prefix: [u8; PREFIX_LEN],
    ) -> Result<(Self, Vec<u8>), CryptoError> {
        let mut header = [0u8; STREAM_HEADER_LEN];
        header[..4].copy_from_slice(STREAM_MAGIC);
        header[4] = STREAM_VERSION;
        header[5..5 + SALT_LEN].copy_from_slice(&salt);
        header[5 + SALT_LEN..].copy_from_slice(&prefix);
        Ok((Self(Segments::new(key, aad, &header)?), header.to_vec()))
    }

    /// Seals the next segment. A non-final segment must be exactly [`STREAM_SEGMENT_LEN`] bytes; the final one at
    /// most that (and may be empty). Returns `ciphertext || tag`.
    ///
    /// # Errors
    /// [`CryptoError::Misuse`] for a wrong length or a segment after the final one; [`CryptoError::Internal`].
    pub fn seal_segment(&mut self, plaintext: &[u8], last: bool) -> Result<Vec<u8>, CryptoError> {
        // Zeroizing until sealed: if sealing failed, the buffer would still hold plaintext.
        let mut out = Zeroizing::new(Vec::with_capacity(plaintext.len() + TAG_LEN));
        out.extend_from_slice(plaintext);
        let tag = self.seal_in_place(&mut out, last)?;
        out.extend_from_slice(&tag);
        Ok(std::mem::take(&mut *out))
    }

    fn seal_in_place(&mut self, in_out: &mut [u8], last: bool) -> Result<[u8; TAG_LEN], CryptoError> {
        if !last && in_out.len() != STREAM_SEGMENT_LEN {
            return Err(CryptoError::Misuse("a non-final stream segment must be exactly STREAM_SEGMENT_LEN bytes"));
        }
        if in_out.len() > STREAM_SEGMENT_LEN {
            return Err(CryptoError::Misuse("a stream segment must be at most STREAM_SEGMENT_LEN bytes"));
        }
        let nonce = self.0.nonce(last)?;
        let tag = self.0.gcm.seal_in_place(nonce, &self.0.aad, in_out)?;
        self.0.advance(last);
        Ok(tag)
    }
}

/// Opens a stream segment by segment. [`open_stream`] wraps it for `Read`/`Write`.
///
/// Each segment is authenticated on its own, so a caller that acts on a segment before the final one has opened
/// must be ready to undo it: only a successful final segment proves the stream is complete.
pub struct StreamOpener(Segments);

impl StreamOpener {
    /// Starts opening a stream whose header is `header`, under `key` and `aad`.
    ///
    /// # Errors
    /// [`CryptoError::Malformed`] for a header of the wrong length or magic, [`CryptoError::UnsupportedVersion`].
    pub fn new(key: &DataKey, aad: &[u8], header: &[u8]) -> Result<Self, CryptoError> {
        let header: &[u8; STREAM_HEADER_LEN] =
            header.try_into().map_err(|_| CryptoError::Malformed("stream header has the wrong length"))?;
        Ok(Self(Segments::new(key, aad, header)?))
    }

    /// Opens the next segment (`ciphertext || tag`); `last` says whether the caller saw it end the stream.
    ///
    /// # Errors
    /// [`CryptoError::Malformed`] for a segment of impossible length, [`CryptoError::Decrypt`] if it does not
    /// authenticate at this position with this `last` flag, [`CryptoError::Misuse`] after the final segment.
    pub fn open_segment(&mut self, sealed: &[u8], last: bool) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let mut buf = Zeroizing::new(sealed.to_vec());
        let len = self.open_in_place(&mut buf, last)?.len();
        buf.truncate(len);
        Ok(buf)
    }

    fn open_in_place<'a>(&mut self, in_out: &'a mut [u8], last: bool) -> Result<&'a mut [u8], CryptoError> {
        if !last && in_out.len() != SEALED_SEGMENT_LEN {
            return Err(CryptoError::Malformed("a non-final stream segment has the wrong length"));
        }
        if !(TAG_LEN..=SEALED_SEGMENT_LEN).contains(&in_out.len()) {
            return Err(CryptoError::Malformed("the final stream segment has an impossible length"));
        }
        let nonce = self.0.nonce(last)?;
        let plain = self.0.gcm.open_in_place(nonce, &self.0.aad, in_out)?;
        self.0.advance(last);
        Ok(plain)
    }
}

/// Seals everything `input` yields into `output` in constant memory. Returns the number of bytes written, which is
/// always [`sealed_stream_len`] of the bytes read.
///
/// # Errors
/// [`StreamError::Io`] if reading or writing fails; [`StreamError::Crypto`] if randomness or aws-lc fails, or the
/// input exceeds 2^32 segments (256 TiB).
pub fn seal_stream<R: Read, W: Write>(key: &DataKey, aad: &[u8], input: R, output: W) -> Result<u64, StreamError> {
    let (sealer, header) = StreamSealer::new(key, aad)?;
    seal_stream_with(sealer, &header, input, output)
}

/// [`seal_stream`] with the sealer made by the caller (for vectors).
pub(crate) fn seal_stream_with<R: Read, W: Write>(
    mut sealer: StreamSealer,
    header: &[u8],
    mut input: R,
    mut output: W,
) -> Result<u64, StreamError> {
    output.write_all(header)?;
    let mut written = header.len() as u64;
    let mut cur = Zeroizing::new(vec![0u8; SEALED_SEGMENT_LEN]);
    let mut next = Zeroizing::new(vec![0u8; SEALED_SEGMENT_LEN]);
    let mut cur_len = read_full(&mut input, &mut cur[..STREAM_SEGMENT_LEN])?;
    loop {
        // A full segment is final only if nothing follows it, so read one segment ahead.
        let (last, next_len) = if cur_len < STREAM_SEGMENT_LEN {
            (true, 0)
        } else {
            let n = read_full(&mut input, &mut next[..STREAM_SEGMENT_LEN])?;
            (n == 0, n)
        };
        let tag = sealer.seal_in_place(&mut cur[..cur_len], last)?;
        cur[cur_len..cur_len + TAG_LEN].copy_from_slice(&tag);
        output.write_all(&cur[..cur_len + TAG_LEN])?;
        written += (cur_len + TAG_LEN) as u64;
        if last {
            break;
        }
        std::mem::swap(&mut cur, &mut next);
        cur_len = next_len;
    }
    output.flush()?;
    Ok(written)
}

/// Opens a stream made by [`seal_stream`], writing each segment's plaintext only after that segment authenticates.
/// Returns the number of plaintext bytes written.
///
/// **On error the caller must discard everything written to `output`**: segments before the failure did
/// authenticate, but the stream as a whole did not (it may be truncated or spliced). Write to a temporary file and
/// move it into place only on `Ok`.
///
/// # Errors
/// [`StreamError::Crypto`] with [`CryptoError::Decrypt`] for a wrong key or associated data, altered, reordered,
/// swapped, dropped or appended segments, or a stream cut at a segment boundary; [`CryptoError::Malformed`] for a bad
/// header or a stream cut inside the header or final tag; [`StreamError::Io`] if reading or writing fails.
pub fn open_stream<R: Read, W: Write>(
    key: &DataKey,
    aad: &[u8],
    mut input: R,
    mut output: W,
) -> Result<u64, StreamError> {
    let mut header = [0u8; STREAM_HEADER_LEN];
    if read_full(&mut input, &mut header)? < STREAM_HEADER_LEN {
        return Err(CryptoError::Malformed("stream header is truncated").into());
    }
    let mut opener = StreamOpener::new(key, aad, &header)?;
    let mut written = 0u64;
    let mut cur = Zeroizing::new(vec![0u8; SEALED_SEGMENT_LEN]);
    let mut next = Zeroizing::new(vec![0u8; SEALED_SEGMENT_LEN]);
    let mut cur_len = read_full(&mut input, &mut cur)?;
    loop {
        let (last, next_len) = if cur_len < SEALED_SEGMENT_LEN {
            (true, 0)
        } else {
            let n = read_full(&mut input, &mut next)?;
            (n == 0, n)
        };
        let plain = opener.open_in_place(&mut cur[..cur_len], last)?;
        output.write_all(plain)?;
        written += plain.len() as u64;
        if last {
            break;
        }
        std::mem::swap(&mut cur, &mut next);
        cur_len = next_len;
    }
    output.flush()?;
    Ok(written)
}

/// The exact length of [`seal_stream`]'s output for `plaintext_len` input bytes: the header plus one tag per
/// segment (at least one segment). Saturates at `u64::MAX` for lengths no stream can have.
#[must_use]
pub fn sealed_stream_len(plaintext_len: u64) -> u64 {
    let segments = plaintext_len.div_ceil(STREAM_SEGMENT_LEN as u64).max(1);
    (STREAM_HEADER_LEN as u64).saturating_add(plaintext_len).saturating_add(segments.saturating_mul(TAG_LEN as u64))
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full<R: Read>(input: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(key: &DataKey, plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let n = seal_stream(key, b"file-1", plain, &mut out).unwrap();
        assert_eq!(n, out.len() as u64);
        assert_eq!(n, sealed_stream_len(plain.len() as u64));
        out
    }

    fn opened(key: &DataKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, StreamError> {
        let mut out = Vec::new();
        open_stream(key, aad, sealed, &mut out).map(|_| out)
    }

    #[test]
    fn round_trips_at_segment_boundaries() {
        let key = DataKey::generate().unwrap();
        for len in [0, 1, STREAM_SEGMENT_LEN - 1, STREAM_SEGMENT_LEN, STREAM_SEGMENT_LEN + 1, 2 * STREAM_SEGMENT_LEN] {
            let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let sealed = sealed(&key, &plain);
            assert_eq!(opened(&key, b"file-1", &sealed).unwrap(), plain, "len {len}");
        }
    }

    #[test]
    fn sealed_len_counts_one_tag_per_segment() {
        let h = STREAM_HEADER_LEN as u64;
        let s = STREAM_SEGMENT_LEN as u64;
        assert_eq!(sealed_stream_len(0), h + 16);
        assert_eq!(sealed_stream_len(1), h + 17);
        assert_eq!(sealed_stream_len(s), h + s + 16);
        assert_eq!(sealed_stream_len(s + 1), h + s + 1 + 32);
        assert_eq!(sealed_stream_len(u64::MAX), u64::MAX);
    }

    #[test]
    fn dropping_the_final_segment_at_a_boundary_is_detected() {
        let key = DataKey::generate().unwrap();
        let plain = vec![7u8; 2 * STREAM_SEGMENT_LEN + 10];
        let sealed = sealed(&key, &plain);
        let cut = STREAM_HEADER_LEN + 2 * SEALED_SEGMENT_LEN;
        let err = opened(&key, b"file-1", &sealed[..cut]).unwrap_err();
        assert!(matches!(err, StreamError::Crypto(CryptoError::Decrypt)), "{err:?}");
        // Header only: no final segment at all.
        let err = opened(&key, b"file-1", &sealed[..STREAM_HEADER_LEN]).unwrap_err();
        assert!(matches!(err, StreamError::Crypto(CryptoError::Malformed(_))), "{err:?}");
    }

    #[test]
    fn swapped_segments_and_appended_bytes_are_detected() {
        let key = DataKey::generate().unwrap();
        let plain = vec![7u8; 3 * STREAM_SEGMENT_LEN];
        let sealed = sealed(&key, &plain);
        let seg =
            |i: usize| STREAM_HEADER_LEN + i * SEALED_SEGMENT_LEN..STREAM_HEADER_LEN + (i + 1) * SEALED_SEGMENT_LEN;
        let mut swapped = sealed.clone();
        swapped[seg(0)].copy_from_slice(&sealed[seg(1)]);
        swapped[seg(1)].copy_from_slice(&sealed[seg(0)]);
        assert!(matches!(opened(&key, b"file-1", &swapped), Err(StreamError::Crypto(CryptoError::Decrypt))));
        let mut extended = sealed.clone();
        extended.extend_from_slice(&sealed[seg(2)]);
        assert!(matches!(opened(&key, b"file-1", &extended), Err(StreamError::Crypto(CryptoError::Decrypt))));
        assert!(matches!(opened(&key, b"file-2", &sealed), Err(StreamError::Crypto(CryptoError::Decrypt))));
    }

    #[test]
    fn the_segment_api_refuses_misuse() {
        let key = DataKey::generate().unwrap();
        let (mut sealer, header) = StreamSealer::new(&key, b"").unwrap();
        assert!(matches!(sealer.seal_segment(&[0; 10], false), Err(CryptoError::Misuse(_))));
        assert!(matches!(sealer.seal_segment(&vec![0; STREAM_SEGMENT_LEN + 1], true), Err(CryptoError::Misuse(_))));
        let first = sealer.seal_segment(&vec![1; STREAM_SEGMENT_LEN], false).unwrap();
        let last = sealer.seal_segment(b"end", true).unwrap();
        assert!(matches!(sealer.seal_segment(b"more", true), Err(CryptoError::Misuse(_))));

        let mut opener = StreamOpener::new(&key, b"", &header).unwrap();
        assert_eq!(opener.open_segment(&first, true).unwrap_err(), CryptoError::Decrypt);
        assert_eq!(opener.open_segment(&first, false).unwrap().as_slice(), vec![1; STREAM_SEGMENT_LEN].as_slice());
        assert!(matches!(opener.open_segment(&last, false), Err(CryptoError::Malformed(_))));
        assert_eq!(opener.open_segment(&last, true).unwrap().as_slice(), b"end");
        assert!(matches!(opener.open_segment(&last, true), Err(CryptoError::Misuse(_))));
    }

    #[test]
    fn a_bad_header_is_a_typed_error() {
        let key = DataKey::generate().unwrap();
        let (_, header) = StreamSealer::new(&key, b"").unwrap();
        assert!(matches!(StreamOpener::new(&key, b"", &header[..43]), Err(CryptoError::Malformed(_))));
        let mut bad = header.clone();
        bad[0] = b'X';
        assert!(matches!(StreamOpener::new(&key, b"", &bad), Err(CryptoError::Malformed(_))));
        bad = header.clone();
        bad[4] = 2;
        assert!(matches!(StreamOpener::new(&key, b"", &bad), Err(CryptoError::UnsupportedVersion)));
        assert!(matches!(opened(&key, b"", &header[..10]), Err(StreamError::Crypto(CryptoError::Malformed(_)))));
    }

    #[test]
    fn io_errors_surface_as_io() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk gone"))
            }
        }
        let key = DataKey::generate().unwrap();
        assert!(matches!(seal_stream(&key, b"", Failing, io::sink()), Err(StreamError::Io(_))));
        assert!(matches!(open_stream(&key, b"", Failing, io::sink()), Err(StreamError::Io(_))));
    }
}
