//! Cursor pagination: a page of items and the cursor of the next page, `null` on the last. A cursor is the id of
//! the last item served (ids are UUIDv7, so in time order); clients treat it as opaque.

use serde::{Deserialize, Serialize};

use crate::problem::ApiError;

/// Items per page unless `limit` says otherwise.
pub(crate) const DEFAULT_LIMIT: u32 = 50;
/// Most items per page.
pub(crate) const MAX_LIMIT: u32 = 200;

/// One page of a list.
#[derive(Serialize)]
pub(crate) struct Page<T> {
    /// The items, in the list's order.
    pub(crate) items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_cursor: Option<String>,
}

/// The paging parameters every list takes.
#[derive(Deserialize, Default)]
pub(crate) struct Paging {
    /// Continue after this cursor.
    #[serde(default)]
    pub(crate) cursor: Option<String>,
    /// Items per page, 1 to [`MAX_LIMIT`].
    #[serde(default)]
    pub(crate) limit: Option<u32>,
}

impl Paging {
    /// The page size asked for, checked.
    pub(crate) fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n @ 1..=MAX_LIMIT) => Ok(n),
            Some(_) => Err(ApiError::new(
                http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!("limit must be 1 to {MAX_LIMIT}"),
            )),
        }
    }

    /// The cursor as an id; a cursor that is no id of ours is a client error.
    pub(crate) fn after<T: std::str::FromStr>(&self) -> Result<Option<T>, ApiError> {
        self.cursor
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(|c| {
                c.parse().map_err(|_| {
                    ApiError::new(http::StatusCode::UNPROCESSABLE_ENTITY, "invalid", "the cursor is not valid")
                })
            })
            .transpose()
    }
}

/// Pages an in-memory list (already in order, filtered to what the caller may see) after the item whose id is
/// `after`; the next cursor is the last item's id when more follow.
pub(crate) fn page_of<T, I: PartialEq + ToString>(
    items: Vec<T>,
    id: impl Fn(&T) -> I,
    after: Option<I>,
    limit: u32,
) -> Page<T> {
    let start = after.map_or(0, |after| items.iter().position(|i| id(i) == after).map_or(items.len(), |p| p + 1));
    let mut rest: Vec<T> = items.into_iter().skip(start).collect();
    let more = rest.len() > limit as usize;
    rest.truncate(limit as usize);
    let next_cursor = more.then(|| rest.last().map(|i| id(i).to_string())).flatten();
    Page { items: rest, next_cursor }
}

/// A time as RFC 3339 (UTC).
pub(crate) fn rfc3339(at: time::OffsetDateTime) -> String {
    let at = at.checked_to_offset(time::UtcOffset::UTC).unwrap_or(at);
    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Parses an optional RFC 3339 time from input, as UTC: times are stored and shown in UTC whatever offset they came
/// with, and one whose UTC year is outside 1 to 9999 (`9999-12-31T23:00:00-05:00`, `0000-01-01T00:00:00+00:01`) is
/// refused, as nothing downstream can hold it.
pub(crate) fn parse_time(text: Option<&str>, what: &str) -> Result<Option<time::OffsetDateTime>, ApiError> {
    let invalid = |why: &str| ApiError::new(http::StatusCode::UNPROCESSABLE_ENTITY, "invalid", format!("{what} {why}"));
    text.filter(|t| !t.is_empty())
        .map(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .map_err(|_| invalid("is not an RFC 3339 time"))?
                .checked_to_offset(time::UtcOffset::UTC)
                .filter(|at| (1..=9999).contains(&at.year()))
                .ok_or_else(|| invalid("is out of range"))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_every_item_once() {
        let items: Vec<u32> = (0..7).collect();
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = page_of(items.clone(), |i| *i, after, 3);
            seen.extend(page.items.iter().copied());
            match page.next_cursor {
                Some(c) => after = Some(c.parse().unwrap()),
                None => break,
            }
        }
        assert_eq!(seen, items);
        // An unknown cursor ends the list rather than starting it again.
        assert!(page_of(items, |i| *i, Some(99), 3).items.is_empty());
    }
}
