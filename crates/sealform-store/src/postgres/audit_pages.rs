//! The chain check's bulk read on PostgreSQL: a page of the trail as one `bytea`, as on SQLite
//! (`sqlite/audit_pages.rs`), so sqlx decodes one value per page instead of nine per entry.
//!
//! The server packs each entry's hashed columns in their binary send format (the same bytes sqlx would decode:
//! `uuid_send` is the UUID's 16 bytes, text is its UTF-8) and the time as microseconds since the Unix epoch, which
//! `extract(epoch …)` gives exactly (it is `numeric`); a page that does not unpack goes the row-by-row way.

use sealform_core::audit::{ChainPage, EntryRef};
use sealform_core::store::StoreError;

use crate::error::backend;

/// One record per entry, in sequence order: sequence number and time (8 bytes each, big-endian), the byte length of
/// each column (4 bytes, −1 for NULL), then the columns' bytes back to back.
const PAGE: &str = "SELECT string_agg(int8send(seq) || int8send((extract(epoch FROM at) * 1000000)::int8) \
     || int4send(coalesce(length(uuid_send(org_id)), -1)) || int4send(length(convert_to(action, 'UTF8'))) \
     || int4send(coalesce(length(uuid_send(actor_id)), -1)) || int4send(length(convert_to(outcome, 'UTF8'))) \
     || int4send(coalesce(length(target_hash), -1)) || int4send(length(detail)) || int4send(length(chain_hash)) \
     || coalesce(uuid_send(org_id), ''::bytea) || convert_to(action, 'UTF8') \
     || coalesce(uuid_send(actor_id), ''::bytea) || convert_to(outcome, 'UTF8') \
     || coalesce(target_hash, ''::bytea) || detail || chain_hash, ''::bytea ORDER BY seq) \
     FROM (SELECT * FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2) AS page";

/// Up to `limit` entries after `after`, packed by the server (see [`PAGE`]); the row-by-row read when the page does
/// not unpack.
pub(crate) async fn audit_chain_page(pool: &sqlx::PgPool, after: i64, limit: u32) -> Result<ChainPage, StoreError> {
    let packed: Option<Vec<u8>> = sqlx::query_scalar(PAGE)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_one(pool)
        .await
        .map_err(backend("read audit page"))?;
    let Some(packed) = packed else { return Ok(ChainPage::default()) };
    match unpack(&packed, limit as usize) {
        Some(page) => Ok(page),
        None => Ok(ChainPage::from_rows(&super::queries::audit_entries(pool, after, limit).await?)),
    }
}

/// The entries of a packed page, or `None` when it is malformed.
fn unpack(packed: &[u8], entries: usize) -> Option<ChainPage> {
    let mut page = ChainPage::with_capacity(entries, packed.len());
    let mut rest = packed;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (taken, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(taken)
    };
    while let Some(seq) = take(8) {
        let seq = i64::from_be_bytes(seq.try_into().ok()?);
        let at_micros = i64::from_be_bytes(take(8)?.try_into().ok()?);
        let mut lengths = [0_i32; 7];
        for length in &mut lengths {
            *length = i32::from_be_bytes(take(4)?.try_into().ok()?);
        }
        let mut columns = [None; 7];
        for (column, &length) in columns.iter_mut().zip(&lengths) {
            *column = match usize::try_from(length) {
                Ok(n) => Some(take(n)?),
                Err(_) if length == -1 => None,
                Err(_) => return None,
            };
        }
        let [org, action, actor, outcome, target_hash, detail, chain_hash] = columns;
        page.push(&EntryRef {
            seq,
            at_micros,
            org,
            action: action?,
            actor,
            outcome: outcome?,
            target_hash,
            detail: detail?,
            chain_hash: chain_hash?,
        });
    }
    // `take` stops at the first short read: a page that ends mid-record is malformed.
    rest.is_empty().then_some(page)
}
