//! The chain check's bulk read on SQLite: a page of the trail as **one** value.
//!
//! Read row by row, sqlx costs about 5 µs of CPU per audit row (its worker thread copies each of the nine values
//! and hands the row over a channel; the timestamp is parsed into a `time` value), which alone caps `audit verify`
//! far below its target. Here SQLite itself packs each entry's hashed columns into one record and concatenates a
//! page of records, so sqlx moves one value per page and Rust slices it up. The bytes are the stored ones: nothing
//! is decoded that the chain hash does not cover, and a page that does not fit the packing (a NULL in a NOT NULL
//! column, a time that is not RFC 3339, records out of order) goes down the ordinary row-by-row read instead, so
//! an odd row gets exactly the verdict or error it always got.

use sealform_core::audit::{ChainPage, EntryRef, micros};
use sealform_core::store::StoreError;
use sqlx::Row as _;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::backend;

/// One record per entry: a fixed-width hex header (the sequence number, then the byte length of each column,
/// `ffffffff` for NULL), then the columns' bytes back to back. `concat` (which skips NULLs, hence the header's mark)
/// and `group_concat` copy bytes as they are, embedded NULs included. The records come in the subquery's order;
/// an `ORDER BY` inside `group_concat` would make SQLite sort them again through a temporary B-tree (a third of
/// the query's time), so instead [`unpack`] checks that the sequence numbers rise and otherwise refuses the page.
const PAGE: &str = "SELECT CAST(group_concat(packed, '') AS BLOB) FROM (SELECT concat(\
       printf('%016x%08x%08x%08x%08x%08x%08x%08x%08x', seq, \
         ifnull(octet_length(at), 0xffffffff), ifnull(octet_length(org_id), 0xffffffff), \
         ifnull(octet_length(action), 0xffffffff), ifnull(octet_length(actor_id), 0xffffffff), \
         ifnull(octet_length(outcome), 0xffffffff), ifnull(octet_length(target_hash), 0xffffffff), \
         ifnull(octet_length(detail), 0xffffffff), ifnull(octet_length(chain_hash), 0xffffffff)), \
       at, org_id, action, actor_id, outcome, target_hash, detail, chain_hash) AS packed \
     FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2)";

/// Header: 16 hex digits of sequence number, then 8 per column.
const HEADER: usize = 16 + 8 * COLUMNS;
const COLUMNS: usize = 8;
/// The header's length for a NULL column.
const NULL: u32 = u32::MAX;

/// Up to `limit` entries after `after`, packed by SQLite (see [`PAGE`]); the row-by-row read when a row does not
/// fit the packing.
pub(crate) async fn audit_chain_page(pool: &sqlx::SqlitePool, after: i64, limit: u32) -> Result<ChainPage, StoreError> {
    let row = sqlx::query(PAGE)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_one(pool)
        .await
        .map_err(backend("read audit page"))?;
    // Borrowed from the row: the page is copied once, into the `ChainPage`.
    let packed: Option<&[u8]> = row.try_get(0).map_err(backend("read audit page"))?;
    let Some(packed) = packed else { return Ok(ChainPage::default()) };
    match unpack(packed, limit as usize) {
        Some(page) => Ok(page),
        None => Ok(ChainPage::from_rows(&super::queries::audit_entries(pool, after, limit).await?)),
    }
}

/// The entries of a packed page, or `None` when one does not fit the packing or they are out of order.
fn unpack(packed: &[u8], entries: usize) -> Option<ChainPage> {
    let mut page = ChainPage::with_capacity(entries, packed.len());
    let mut rest = Cursor(packed);
    while !rest.0.is_empty() {
        let header = rest.take(HEADER)?;
        let seq = hex(&header[..16])? as i64;
        if page.last_seq().is_some_and(|last| last >= seq) {
            return None;
        }
        let mut lengths = [0; COLUMNS];
        for (k, length) in lengths.iter_mut().enumerate() {
            *length = u32::try_from(hex(&header[16 + 8 * k..24 + 8 * k])?).ok()?;
        }
        let [at, org, action, actor, outcome, target_hash, detail, chain_hash] = lengths.map(|n| rest.column(n));
        let at = std::str::from_utf8(at??).ok()?;
        // The parse sqlx tries first for this column; anything else goes the row-by-row way, which tries the rest.
        let at_micros = micros(OffsetDateTime::parse(at, &Rfc3339).ok()?);
        page.push(&EntryRef {
            seq,
            at_micros,
            org: org?,
            action: action??,
            actor: actor?,
            outcome: outcome??,
            target_hash: target_hash?,
            detail: detail??,
            chain_hash: chain_hash??,
        });
    }
    Some(page)
}

/// The unread part of a packed page.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (taken, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(taken)
    }

    /// A column of `length` bytes (`None` inside when NULL); `None` outside when the page is cut short.
    fn column(&mut self, length: u32) -> Option<Option<&'a [u8]>> {
        if length == NULL { Some(None) } else { self.take(length as usize).map(Some) }
    }
}

/// A lower-case hex number of up to 16 digits, as `printf('%x')` writes it.
fn hex(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0_u64, |n, &d| {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => return None,
        };
        Some(n << 4 | u64::from(v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: i64, columns: [Option<&[u8]>; COLUMNS]) -> Vec<u8> {
        let mut out = format!("{:016x}", seq as u64).into_bytes();
        for c in &columns {
            out.extend(format!("{:08x}", c.map_or(NULL, |c| c.len() as u32)).bytes());
        }
        for c in columns.into_iter().flatten() {
            out.extend_from_slice(c);
        }
        out
    }

    const AT: &[u8] = b"2026-12-07T03:08:50.123456Z";

    #[test]
    fn records_unpack_to_their_columns() {
        let mut packed = record(
            1,
            [Some(AT), Some(&[0; 16]), Some(b"a"), None, Some(b"ok"), None, Some(&[0, 0xff]), Some(&[7; 32])],
        );
        packed.extend(record(
            2,
            [Some(AT), None, Some(b""), Some(&[1; 16]), Some(b"x"), Some(&[2; 16]), Some(b""), Some(b"")],
        ));
        let page = unpack(&packed, 2).unwrap();
        assert_eq!(page.len(), 2);
        let first = page.get(0);
        assert_eq!((first.seq, first.at_micros), (1, 1_796_612_930_123_456));
        assert_eq!((first.org, first.action, first.actor), (Some(&[0; 16][..]), &b"a"[..], None));
        assert_eq!((first.outcome, first.target_hash, first.detail), (&b"ok"[..], None, &[0, 0xff][..]));
        assert_eq!(first.chain_hash, &[7; 32]);
        let second = page.get(1);
        assert_eq!((second.seq, second.org, second.actor), (2, None, Some(&[1; 16][..])));
        assert_eq!((second.target_hash, second.detail, second.chain_hash), (Some(&[2; 16][..]), &b""[..], &b""[..]));
    }

    #[test]
    fn what_does_not_fit_is_refused() {
        let good = record(1, [Some(AT), None, Some(b"a"), None, Some(b"ok"), None, Some(b"d"), Some(&[7; 32])]);
        assert!(unpack(&good, 1).is_some());
        assert!(unpack(&good[..good.len() - 1], 1).is_none(), "cut short");
        let null_action = record(1, [Some(AT), None, None, None, Some(b"ok"), None, Some(b"d"), Some(&[7; 32])]);
        assert!(unpack(&null_action, 1).is_none(), "NULL in a NOT NULL column");
        let other_time = record(
            1,
            [Some(b"2020-01-01 00:00:00"), None, Some(b"a"), None, Some(b"ok"), None, Some(b"d"), Some(&[7; 32])],
        );
        assert!(unpack(&other_time, 1).is_none(), "no offset, so not RFC 3339: left to sqlx's other formats");
        let mut bad_header = good.clone();
        bad_header[3] = b'g';
        assert!(unpack(&bad_header, 1).is_none());
        let mut unordered =
            record(2, [Some(AT), None, Some(b"a"), None, Some(b"ok"), None, Some(b"d"), Some(&[7; 32])]);
        unordered.extend(&good);
        assert!(unpack(&unordered, 2).is_none(), "out of order");
    }
}
