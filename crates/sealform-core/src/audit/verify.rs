//! `sealform audit verify`: walks the chain and the checkpoints and names the first bad entry.
//!
//! The walk reads [`ChainPage`]s (every hashed column of a page of entries in one buffer), so what it costs per
//! entry is one HMAC and a copy, not a decoded row. The sequence range is split into chunks verified on tasks of
//! their own, so the hashing of one chunk runs beside the hashing and reading of the others.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sealform_crypto::{CHAIN_HASH_LEN, CheckpointVerifier, GENESIS_HASH};
use tokio::task::JoinHandle;

use super::chain::{ChainPage, EntryRef};
use super::{AuditRow, Auditor, ChainFault, CheckpointRow, Verdict};
use crate::DomainError;

/// Rows read per query while verifying. A page of the trail is about 0.5 MiB, and each chunk holds at most four
/// (the one being checked, two read ahead, one being read).
const VERIFY_PAGE: u32 = 1_000;
/// Chunks verified concurrently, each on its own read connection.
const VERIFY_CHUNKS: usize = 4;

/// Verifies the chain from the start (or from `from_seq`, trusting the entry before it), calling `progress` with
/// the entries checked so far.
///
/// The sequence range is split into chunks verified concurrently, each on its own reads: a chunk starting after
/// entry k starts from the *stored* hash of entry k, which the chunk before checks against its recomputation, so
/// the chunks chain. Each chunk also feeds the first row past its end (the look-ahead that tells a swap) and checks
/// that this row is the one expected next. The verdict is that of the first chunk, in sequence order, that finds a
/// fault or reaches the end of the trail: exactly what the sequential walk reports (the tamper tests compare the
/// two with faults at and around every chunk boundary).
///
/// # Errors
/// Storage errors; a broken chain is a [`Verdict`], not an error.
pub async fn verify<S: crate::store::Store>(
    store: &S,
    auditor: &Arc<Auditor>,
    from_seq: Option<i64>,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<Verdict, DomainError> {
    verify_paged(store, auditor, from_seq, VERIFY_PAGE, true, progress).await
}

/// [`verify`] reading `page` rows per query. With `chunked`, chunking engages once the trail spans
/// [`VERIFY_CHUNKS`] pages, so a small page lets tests put faults at chunk boundaries of a small trail; without it,
/// the sequential walk (for tests and the benchmark to compare against).
#[doc(hidden)]
pub async fn verify_paged<S: crate::store::Store>(
    store: &S,
    auditor: &Arc<Auditor>,
    from_seq: Option<i64>,
    page: u32,
    chunked: bool,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<Verdict, DomainError> {
    let verifying_key = match store.audit_keyset().await? {
        Some(stored) => CheckpointVerifier::from_bytes(&stored.verifying_key),
        None => return Ok(Verdict::Ok { entries: 0 }),
    };
    let mut checkpoints = store.audit_checkpoints().await?;
    checkpoints.sort_by_key(|c| c.checkpoint.seq);
    let checkpoints: Arc<[CheckpointRow]> = checkpoints.into();
    let mut first = Verifier::new(Arc::clone(auditor), Arc::clone(&checkpoints));
    let mut after = 0;
    if let Some(from) = from_seq.filter(|&s| s > 1) {
        let anchor = store
            .audit_entry(from - 1)
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("there is no audit entry {}", from - 1)))?;
        first.resume_after(&anchor);
        after = anchor.seq;
    }
    // The checkpoints the whole walk must account for: those after where it starts.
    let checkpoints_from = first.checkpoints_from;
    let bounds =
        if chunked { chunk_starts(after, checkpoints.last().map(|c| c.checkpoint.seq), page) } else { vec![after] };

    let done = Arc::new(AtomicU64::new(0));
    let (ticks, mut ticked) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut first = Some(first);
    let chunks = Chunks(
        (0..bounds.len())
            .map(|k| {
                let span = Span { start: bounds[k], end: bounds.get(k + 1).copied(), page };
                let verifier = first.take().map_or_else(
                    || Start::After(Verifier::new(Arc::clone(auditor), Arc::clone(&checkpoints))),
                    Start::Ready,
                );
                let progress = Progress { done: Arc::clone(&done), tick: ticks.clone() };
                tokio::spawn(run_chunk(store.clone(), verifier, span, progress))
            })
            .collect(),
    );
    drop(ticks);
    // Every chunk holds a sender until it ends, so this reports progress until the last chunk is done.
    while ticked.recv().await.is_some() {
        progress(done.load(Ordering::Relaxed));
    }

    // In sequence order: a later chunk's fault or storage error does not matter once an earlier chunk has ended
    // the walk, exactly as the sequential walk would never have read that far.
    let mut entries = 0;
    for handle in chunks.take() {
        let result = handle.await.map_err(|e| DomainError::Internal(format!("audit verification task: {e}")))?;
        match result? {
            Chunk::Broken(seq, fault) => return Ok(Verdict::Broken { seq, fault }),
            Chunk::Continue(n) => entries += n,
            Chunk::End(mut verifier) => {
                verifier.entries += entries;
                verifier.checkpoints_from = checkpoints_from;
                return Ok(verifier.finish(&verifying_key));
            }
            // Only reached when an earlier chunk ended the walk, so never here.
            Chunk::NoAnchor => break,
        }
    }
    Err(DomainError::Internal("audit verification chunks did not cover the trail".into()))
}

/// Where each verification chunk starts (after which sequence number): one chunk from `after` when the trail is
/// short, else [`VERIFY_CHUNKS`] equal spans up to the last checkpoint (made at least every
/// [`super::CHECKPOINT_EVERY`] entries, so near the end of the trail). The last chunk reads on to the real end,
/// whatever it is; a forged or missing checkpoint only moves the boundaries, never what is checked.
#[doc(hidden)]
#[must_use]
pub fn chunk_starts(after: i64, last_checkpoint: Option<i64>, page: u32) -> Vec<i64> {
    let span = last_checkpoint.map_or(0, |seq| seq - after);
    let chunks = VERIFY_CHUNKS as i64;
    if span < chunks * i64::from(page) {
        return vec![after];
    }
    (0..chunks).map(|k| after + span * k / chunks).collect()
}

/// The chunk tasks; aborted if the walk ends (or fails) before collecting them all.
struct Chunks(Vec<JoinHandle<Result<Chunk, DomainError>>>);

impl Chunks {
    fn take(mut self) -> Vec<JoinHandle<Result<Chunk, DomainError>>> {
        std::mem::take(&mut self.0)
    }
}

impl Drop for Chunks {
    fn drop(&mut self) {
        for handle in &self.0 {
            handle.abort();
        }
    }
}

/// The entries a chunk checks: those after `start`, up to `end` (or to the end of the trail), read `page` at a time.
#[derive(Clone, Copy)]
struct Span {
    start: i64,
    end: Option<i64>,
    page: u32,
}

/// How a chunk's verifier starts.
enum Start {
    /// Where the walk starts (the first chunk).
    Ready(Verifier),
    /// After the stored entry at the chunk's start, which the chunk before checks.
    After(Verifier),
}

/// Entries checked so far by all chunks, and a nudge to the caller to report them.
struct Progress {
    done: Arc<AtomicU64>,
    tick: tokio::sync::mpsc::UnboundedSender<()>,
}

impl Progress {
    fn add(&self, entries: u64) {
        self.done.fetch_add(entries, Ordering::Relaxed);
        let _ = self.tick.send(());
    }
}

/// How a chunk of the verification ended.
enum Chunk {
    /// A fault, the first in the chunk.
    Broken(i64, ChainFault),
    /// Every entry up to the chunk's end checked, and the next one is the one expected: carry on with the next
    /// chunk. Carries the entries checked.
    Continue(u64),
    /// The trail ended in this chunk: finish here.
    End(Box<Verifier>),
    /// The entry the chunk starts after does not exist (an earlier chunk ends the walk).
    NoAnchor,
}

async fn run_chunk<S: crate::store::Store>(
    store: S,
    start: Start,
    span: Span,
    progress: Progress,
) -> Result<Chunk, DomainError> {
    let verifier = match start {
        Start::Ready(verifier) => verifier,
        Start::After(mut verifier) => {
            let Some(anchor) = store.audit_entry(span.start).await? else { return Ok(Chunk::NoAnchor) };
            verifier.resume_after(&anchor);
            verifier
        }
    };
    verify_chunk(store, verifier, span, &progress).await
}

/// Walks the entries of `span`, plus the first entry past its end.
async fn verify_chunk<S: crate::store::Store>(
    store: S,
    mut verifier: Verifier,
    span: Span,
    progress: &Progress,
) -> Result<Chunk, DomainError> {
    let Span { start, end, page } = span;
    // Pages are read on their own task, one or two pages ahead of the check.
    let (tx, mut pages) = tokio::sync::mpsc::channel::<Result<ChainPage, DomainError>>(2);
    tokio::spawn(async move {
        let mut after = start;
        loop {
            // Up to and including the first entry past the end (the look-ahead), never more than a page.
            let limit = end.map_or(page, |e| u32::try_from(e - after + 1).unwrap_or(page).clamp(1, page));
            let page = store.audit_chain_page(after, limit).await.map_err(DomainError::from);
            let stop = match &page {
                Ok(rows) => match rows.last_seq() {
                    None => true,
                    Some(last) => {
                        after = last;
                        end.is_some_and(|e| last > e)
                    }
                },
                Err(_) => true,
            };
            if tx.send(page).await.is_err() || stop {
                break;
            }
        }
    });
    loop {
        let Some(page) = pages.recv().await else {
            return Err(DomainError::Internal("the audit reader stopped".into()));
        };
        let mut page = page?;
        if page.is_empty() {
            return Ok(Chunk::End(Box::new(verifier)));
        }
        let beyond = end.and_then(|e| (0..page.len()).find(|&i| page.seq(i) > e));
        if let Some(at) = beyond {
            page.truncate(at + 1);
        }
        let checked = verifier.entries;
        let more = verifier.feed(&page);
        progress.add(verifier.entries - checked);
        if !more {
            let (seq, fault) = verifier.broken.clone().unwrap_or((verifier.expected_seq, ChainFault::Modified));
            return Ok(Chunk::Broken(seq, fault));
        }
        if beyond.is_some() {
            // The walk checks the first entry past the end next: it must be the one expected, and then the next
            // chunk, which starts from the stored hash of the entry before it, takes over.
            let next = verifier.pending.as_ref().and_then(ChainPage::last_seq).unwrap_or(verifier.expected_seq);
            return Ok(match next.cmp(&verifier.expected_seq) {
                std::cmp::Ordering::Equal => Chunk::Continue(verifier.entries),
                std::cmp::Ordering::Greater => Chunk::Broken(verifier.expected_seq, ChainFault::Missing),
                std::cmp::Ordering::Less => Chunk::Broken(verifier.expected_seq, ChainFault::Reordered),
            });
        }
    }
}

/// Walks the chain in sequence order, page by page, in constant memory.
struct Verifier {
    auditor: Arc<Auditor>,
    /// Every checkpoint, by sequence number.
    checkpoints: Arc<[CheckpointRow]>,
    /// The first of `checkpoints` after where the walk started: the ones [`Verifier::finish`] accounts for.
    checkpoints_from: usize,
    expected_seq: i64,
    previous: [u8; CHAIN_HASH_LEN],
    /// The last entry fed, checked once the next one is known (one entry of look-ahead).
    pending: Option<ChainPage>,
    entries: u64,
    broken: Option<(i64, ChainFault)>,
    /// The canonical bytes being hashed, reused from entry to entry.
    canonical: Vec<u8>,
}

impl Verifier {
    /// Starts at the beginning of the chain. `checkpoints` sorted by sequence number.
    fn new(auditor: Arc<Auditor>, checkpoints: Arc<[CheckpointRow]>) -> Self {
        Self {
            auditor,
            checkpoints,
            checkpoints_from: 0,
            expected_seq: 1,
            previous: GENESIS_HASH,
            pending: None,
            entries: 0,
            broken: None,
            canonical: Vec::with_capacity(1024),
        }
    }

    /// Starts after `anchor`, trusting it (for `audit verify --from`, and for every chunk but the first).
    fn resume_after(&mut self, anchor: &AuditRow) {
        self.expected_seq = anchor.seq + 1;
        self.previous = anchor.chain_hash;
        self.checkpoints_from = self.checkpoints.partition_point(|c| c.checkpoint.seq <= anchor.seq);
    }

    /// Feeds the next entries, in sequence order. Returns false once a fault is found (stop feeding).
    fn feed(&mut self, page: &ChainPage) -> bool {
        let Some(last) = page.len().checked_sub(1) else { return self.broken.is_none() };
        // One entry of look-ahead lets a mismatch be told apart as a swap with its successor.
        if let Some(pending) = self.pending.take() {
            self.check(pending.get(0), Some(page.get(0)));
        }
        for i in 0..last {
            if self.broken.is_some() {
                return false;
            }
            self.check(page.get(i), Some(page.get(i + 1)));
        }
        if self.broken.is_some() {
            return false;
        }
        let mut pending = ChainPage::with_capacity(1, 1024);
        pending.push(&page.get(last));
        self.pending = Some(pending);
        true
    }

    /// Finishes: checks the last entry and the checkpoints.
    fn finish(mut self, verifying_key: &CheckpointVerifier) -> Verdict {
        if let Some(last) = self.pending.take() {
            self.check(last.get(0), None);
        }
        if let Some((seq, fault)) = self.broken {
            return Verdict::Broken { seq, fault };
        }
        let last_seq = self.expected_seq - 1;
        for checkpoint in &self.checkpoints[self.checkpoints_from..] {
            if !verifying_key.verify(&checkpoint.checkpoint, &checkpoint.signature) {
                return Verdict::Broken { seq: checkpoint.checkpoint.seq, fault: ChainFault::BadCheckpoint };
            }
            if checkpoint.checkpoint.seq > last_seq {
                return Verdict::Broken { seq: last_seq + 1, fault: ChainFault::TruncatedAfterCheckpoint };
            }
        }
        Verdict::Ok { entries: self.entries }
    }

    fn check(&mut self, entry: EntryRef<'_>, next: Option<EntryRef<'_>>) {
        if self.broken.is_some() {
            return;
        }
        if entry.seq != self.expected_seq {
            let fault = if entry.seq > self.expected_seq { ChainFault::Missing } else { ChainFault::Reordered };
            self.broken = Some((self.expected_seq, fault));
            return;
        }
        let expected = self.link(&entry, entry.seq);
        if expected.as_slice() != entry.chain_hash {
            // Would the next entry, moved into this place, be the one expected here?
            let swapped = next.is_some_and(|n| self.link(&n, entry.seq).as_slice() == n.chain_hash);
            self.broken = Some((entry.seq, if swapped { ChainFault::Reordered } else { ChainFault::Modified }));
            return;
        }
        let at = self.checkpoints.partition_point(|c| c.checkpoint.seq < entry.seq);
        let mut here = self.checkpoints[at..].iter().take_while(|c| c.checkpoint.seq == entry.seq);
        if here.any(|c| c.checkpoint.hash != expected) {
            self.broken = Some((entry.seq, ChainFault::BadCheckpoint));
            return;
        }
        self.previous = expected;
        self.expected_seq += 1;
        self.entries += 1;
    }

    /// The chain hash `entry` must have if it has sequence number `seq` and follows the last entry checked.
    fn link(&mut self, entry: &EntryRef<'_>, seq: i64) -> [u8; CHAIN_HASH_LEN] {
        entry.write_canonical(seq, &mut self.canonical);
        self.auditor.keys.link(&self.previous, &self.canonical)
    }
}
