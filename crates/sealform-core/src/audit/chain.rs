//! What the chain hash covers, and the compact pages the verifier reads.
//!
//! [`EntryRef`] is one entry's hashed columns, borrowed; [`EntryRef::write_canonical`] is the single definition of
//! the canonical bytes, used when appending ([`AuditRow::canonical_bytes`]) and when verifying. A [`ChainPage`]
//! holds many entries' columns in one buffer, so a storage backend can hand the verifier a page of the trail with
//! a few allocations instead of several per entry (the verifier needs nothing else: no decoded times, no strings).

use std::ops::Range;

use super::{AuditRow, micros};

/// The canonical bytes start with this, so they can never be mistaken for another format's.
const CANONICAL_PREFIX: &[u8] = b"sealform/audit-entry/v1";

/// One entry's hashed columns, as stored (bytes, not decoded values: a tampered row is hashed as it is).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryRef<'a> {
    /// Sequence number.
    pub seq: i64,
    /// Time, microseconds since the Unix epoch.
    pub at_micros: i64,
    /// Organisation id (16 bytes when genuine).
    pub org: Option<&'a [u8]>,
    /// Action name.
    pub action: &'a [u8],
    /// Actor id (16 bytes when genuine).
    pub actor: Option<&'a [u8]>,
    /// Outcome.
    pub outcome: &'a [u8],
    /// Keyed hash of the first target.
    pub target_hash: Option<&'a [u8]>,
    /// Sealed detail.
    pub detail: &'a [u8],
    /// The stored chain hash (32 bytes when genuine).
    pub chain_hash: &'a [u8],
}

impl EntryRef<'_> {
    /// Writes into `out` (cleared first) the bytes the chain hash covers, as if the entry had sequence number
    /// `seq`: every column but the hash itself, each length-prefixed. The verifier passes another `seq` to test
    /// whether an entry was moved from its neighbour's place.
    pub fn write_canonical(&self, seq: i64, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(CANONICAL_PREFIX);
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&self.at_micros.to_be_bytes());
        for part in [self.org, Some(self.action), self.actor, Some(self.outcome), self.target_hash, Some(self.detail)] {
            match part {
                None => out.push(0),
                Some(bytes) => {
                    out.push(1);
                    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
                    out.extend_from_slice(bytes);
                }
            }
        }
    }
}

impl AuditRow {
    /// This row's hashed columns, borrowed.
    #[must_use]
    pub fn entry_ref(&self) -> EntryRef<'_> {
        EntryRef {
            seq: self.seq,
            at_micros: micros(self.at),
            org: self.org.as_ref().map(|o| o.as_uuid().as_bytes().as_slice()),
            action: self.action.as_bytes(),
            actor: self.actor_id.as_ref().map(|a| a.as_bytes().as_slice()),
            outcome: self.outcome.as_bytes(),
            target_hash: self.target_hash.as_deref(),
            detail: &self.detail,
            chain_hash: &self.chain_hash,
        }
    }

    /// The bytes the chain hash covers: every column but the hash itself, each length-prefixed.
    #[must_use]
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.entry_ref().write_canonical(self.seq, &mut out);
        out
    }
}

/// Consecutive entries of the trail (in the order storage returned them), their columns in one buffer.
#[derive(Clone, Debug, Default)]
pub struct ChainPage {
    bytes: Vec<u8>,
    entries: Vec<Slots>,
}

/// Where one entry's columns are in [`ChainPage::bytes`].
#[derive(Clone, Debug)]
struct Slots {
    seq: i64,
    at_micros: i64,
    org: Option<Range<usize>>,
    action: Range<usize>,
    actor: Option<Range<usize>>,
    outcome: Range<usize>,
    target_hash: Option<Range<usize>>,
    detail: Range<usize>,
    chain_hash: Range<usize>,
}

impl ChainPage {
    /// An empty page with room for about `entries` entries of `bytes` column bytes in all.
    #[must_use]
    pub fn with_capacity(entries: usize, bytes: usize) -> Self {
        Self { bytes: Vec::with_capacity(bytes), entries: Vec::with_capacity(entries) }
    }

    /// Appends a copy of `entry`.
    pub fn push(&mut self, entry: &EntryRef<'_>) {
        let bytes = &mut self.bytes;
        let mut put = |part: &[u8]| {
            let start = bytes.len();
            bytes.extend_from_slice(part);
            start..bytes.len()
        };
        let slots = Slots {
            seq: entry.seq,
            at_micros: entry.at_micros,
            org: entry.org.map(&mut put),
            action: put(entry.action),
            actor: entry.actor.map(&mut put),
            outcome: put(entry.outcome),
            target_hash: entry.target_hash.map(&mut put),
            detail: put(entry.detail),
            chain_hash: put(entry.chain_hash),
        };
        self.entries.push(slots);
    }

    /// The entries in `rows`, in their order.
    #[must_use]
    pub fn from_rows(rows: &[AuditRow]) -> Self {
        let mut page = Self::with_capacity(rows.len(), rows.iter().map(|r| r.detail.len() + 128).sum());
        for row in rows {
            page.push(&row.entry_ref());
        }
        page
    }

    /// How many entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `i`-th entry.
    ///
    /// # Panics
    /// When `i` is out of range.
    #[must_use]
    pub fn get(&self, i: usize) -> EntryRef<'_> {
        let slots = &self.entries[i];
        // The ranges were made by `push` over this buffer, which only grows.
        let at = |range: &Range<usize>| &self.bytes[range.clone()];
        EntryRef {
            seq: slots.seq,
            at_micros: slots.at_micros,
            org: slots.org.as_ref().map(at),
            action: at(&slots.action),
            actor: slots.actor.as_ref().map(at),
            outcome: at(&slots.outcome),
            target_hash: slots.target_hash.as_ref().map(at),
            detail: at(&slots.detail),
            chain_hash: at(&slots.chain_hash),
        }
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl Iterator<Item = EntryRef<'_>> {
        (0..self.len()).map(|i| self.get(i))
    }

    /// The sequence number of the `i`-th entry.
    ///
    /// # Panics
    /// When `i` is out of range.
    #[must_use]
    pub fn seq(&self, i: usize) -> i64 {
        self.entries[i].seq
    }

    /// The sequence number of the last entry.
    #[must_use]
    pub fn last_seq(&self) -> Option<i64> {
        self.entries.last().map(|s| s.seq)
    }

    /// Keeps the first `len` entries (their bytes stay until the page is dropped).
    pub fn truncate(&mut self, len: usize) {
        self.entries.truncate(len);
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::*;
    use crate::ids::OrgId;

    fn row(org: Option<OrgId>, target_hash: Option<Vec<u8>>) -> AuditRow {
        AuditRow {
            seq: 42,
            org,
            at: OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_000).unwrap(),
            action: "submission.read".into(),
            actor_id: Some(Uuid::from_u128(7)),
            outcome: "ok".into(),
            target_hash,
            detail: vec![0, 1, 2, 255],
            chain_hash: [9; 32],
        }
    }

    /// The canonical bytes of existing chains must never change: spelled out field by field here.
    #[test]
    fn canonical_bytes_are_the_stored_format() {
        let org = OrgId::from_uuid(Uuid::from_u128(5));
        let r = row(Some(org), None);
        let mut expected = b"sealform/audit-entry/v1".to_vec();
        expected.extend(42_i64.to_be_bytes());
        expected.extend(1_700_000_000_123_456_i64.to_be_bytes());
        let mut part = |bytes: &[u8]| {
            expected.push(1);
            expected.extend((bytes.len() as u64).to_be_bytes());
            expected.extend_from_slice(bytes);
        };
        part(Uuid::from_u128(5).as_bytes());
        part(b"submission.read");
        part(Uuid::from_u128(7).as_bytes());
        part(b"ok");
        expected.push(0); // no target hash
        expected.push(1);
        expected.extend(4_u64.to_be_bytes());
        expected.extend([0, 1, 2, 255]);
        assert_eq!(r.canonical_bytes(), expected);

        let mut moved = Vec::new();
        r.entry_ref().write_canonical(43, &mut moved);
        expected[23..31].copy_from_slice(&43_i64.to_be_bytes());
        assert_eq!(moved, expected, "only the sequence number changes");
    }

    #[test]
    fn a_page_returns_what_was_pushed() {
        let rows = [row(None, Some(vec![1; 16])), row(Some(OrgId::new()), None), row(None, Some(Vec::new()))];
        let page = ChainPage::from_rows(&rows);
        assert_eq!(page.len(), 3);
        for (got, row) in page.iter().zip(&rows) {
            assert_eq!(got, row.entry_ref());
        }
        assert_eq!(page.last_seq(), Some(42));
        let mut page = page;
        page.truncate(1);
        assert_eq!(page.len(), 1);
        assert_eq!(page.get(0), rows[0].entry_ref());
    }
}
