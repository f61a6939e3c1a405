//! List parameters as Jotform documents them: `offset`, `limit` (default 20, at most 1000), `filter` (a JSON object:
//! `created_at:gt`, `created_at:lt`, `id:gt`, `status`, `status:ne`, `formIDs`, `fullText`), `orderby` and
//! `direction`. Anything malformed or unsupported is a 400 naming the parameter, never echoing its value.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::Failure;
use super::envelope::parse_date;

/// Items per page unless `limit` says otherwise.
pub(crate) const DEFAULT_LIMIT: u32 = 20;
/// The largest `limit` accepted.
pub(crate) const MAX_LIMIT: u32 = 1_000;
/// The largest `offset` accepted: deeper pages are reached with `created_at`/`id` filters.
pub(crate) const MAX_OFFSET: u64 = 100_000;

/// The query string of a list, as sent.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawList {
    #[serde(default)]
    offset: Option<String>,
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    orderby: Option<String>,
    #[serde(default)]
    direction: Option<String>,
}

/// Which way a list runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Asc,
    Desc,
}

/// A list request, checked.
#[derive(Clone, Debug)]
pub(crate) struct ListParams {
    pub(crate) offset: u64,
    pub(crate) limit: u32,
    pub(crate) filter: Filter,
    pub(crate) orderby: String,
    pub(crate) direction: Direction,
}

/// The `filter` object, checked.
#[derive(Clone, Debug, Default)]
pub(crate) struct Filter {
    pub(crate) created_after: Option<OffsetDateTime>,
    pub(crate) created_before: Option<OffsetDateTime>,
    pub(crate) id_after: Option<String>,
    pub(crate) status: Option<String>,
    pub(crate) status_not: Option<String>,
    pub(crate) form_ids: Option<Vec<String>>,
    pub(crate) full_text: Option<String>,
}

impl ListParams {
    /// Checks the parameters; `orderable` are the fields `orderby` may name (the first is the default).
    pub(crate) fn parse(raw: RawList, orderable: &[&str]) -> Result<Self, Failure> {
        let offset = match raw.offset.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => 0,
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|o| *o <= MAX_OFFSET)
                .ok_or_else(|| Failure::bad_request(format!("offset must be a whole number up to {MAX_OFFSET}")))?,
        };
        let limit =
            match raw.limit.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => DEFAULT_LIMIT,
                Some(text) => text.parse::<u32>().ok().filter(|l| (1..=MAX_LIMIT).contains(l)).ok_or_else(|| {
                    Failure::bad_request(format!("limit must be a whole number from 1 to {MAX_LIMIT}"))
                })?,
            };
        let filter = match raw.filter.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => Filter::default(),
            Some(text) => Filter::parse(text)?,
        };
        // `orderby` may carry the direction too (`created_at,ASC`), as some clients send it.
        let (field, inline_direction) = match raw.orderby.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => (orderable[0].to_owned(), None),
            Some(text) => match text.split_once(',') {
                Some((field, direction)) => (field.trim().to_owned(), Some(direction.trim().to_owned())),
                None => (text.to_owned(), None),
            },
        };
        if !orderable.contains(&field.as_str()) {
            return Err(Failure::bad_request(format!("orderby supports {}", orderable.join(", "))));
        }
        let direction = match raw.direction.or(inline_direction).as_deref().map(str::trim) {
            None | Some("") => Direction::Desc,
            Some(d) if d.eq_ignore_ascii_case("desc") => Direction::Desc,
            Some(d) if d.eq_ignore_ascii_case("asc") => Direction::Asc,
            Some(_) => return Err(Failure::bad_request("direction must be ASC or DESC")),
        };
        Ok(Self { offset, limit, filter, orderby: field, direction })
    }

    /// How many matching items the page needs from the start (offset plus limit).
    pub(crate) fn wanted(&self) -> usize {
        usize::try_from(self.offset).unwrap_or(usize::MAX).saturating_add(self.limit as usize)
    }

    /// The page of `items` (already filtered and ordered).
    pub(crate) fn page<T>(&self, items: Vec<T>) -> Vec<T> {
        items.into_iter().skip(usize::try_from(self.offset).unwrap_or(usize::MAX)).take(self.limit as usize).collect()
    }
}

impl Filter {
    fn parse(text: &str) -> Result<Self, Failure> {
        let object: BTreeMap<String, Value> =
            serde_json::from_str(text).map_err(|_| Failure::bad_request("filter must be a JSON object"))?;
        let mut filter = Self::default();
        for (key, value) in object {
            let string = || {
                super::body::text(&value)
                    .filter(|s| s.chars().count() <= 1_000)
                    .ok_or_else(|| Failure::bad_request(format!("the filter `{}` takes a text value", safe(&key))))
            };
            let date = || {
                parse_date(&string()?).ok_or_else(|| {
                    Failure::bad_request(format!("the filter `{}` takes a date as YYYY-MM-DD HH:MM:SS", safe(&key)))
                })
            };
            match key.as_str() {
                "created_at:gt" => filter.created_after = Some(date()?.saturating_add(time::Duration::seconds(1))),
                "created_at:gte" => filter.created_after = Some(date()?),
                "created_at:lt" => filter.created_before = Some(date()?),
                "id:gt" => filter.id_after = Some(string()?),
                "status" | "status:eq" => filter.status = Some(string()?.to_ascii_uppercase()),
                "status:ne" => filter.status_not = Some(string()?.to_ascii_uppercase()),
                "fullText" => filter.full_text = Some(string()?),
                "formIDs" => {
                    let ids = value
                        .as_array()
                        .map(|items| items.iter().map(super::body::text).collect::<Option<Vec<_>>>())
                        .and_then(|ids| ids.filter(|ids| ids.len() <= 1_000))
                        .ok_or_else(|| Failure::bad_request("the filter `formIDs` takes a list of form ids"))?;
                    filter.form_ids = Some(ids);
                }
                _ => {
                    return Err(Failure::bad_request(format!(
                        "Sealform does not support the filter `{}`; supported: created_at:gt, created_at:gte, \
                         created_at:lt, id:gt, status, status:ne, formIDs, fullText",
                        safe(&key)
                    )));
                }
            }
        }
        Ok(filter)
    }

    /// Whether a Jotform status passes the `status` and `status:ne` filters.
    pub(crate) fn status_passes(&self, status: &str) -> bool {
        self.status.as_deref().is_none_or(|s| s == status) && self.status_not.as_deref().is_none_or(|s| s != status)
    }

    /// Whether a creation time passes the date filters.
    pub(crate) fn created_passes(&self, at: OffsetDateTime) -> bool {
        self.created_after.is_none_or(|after| at >= after) && self.created_before.is_none_or(|before| at < before)
    }
}

/// A parameter name as it may be shown back: letters, digits and `:_.` only, at most 40.
fn safe(name: &str) -> String {
    name.chars().filter(|c| c.is_ascii_alphanumeric() || ":_.".contains(*c)).take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(offset: &str, limit: &str, filter: &str) -> RawList {
        RawList {
            offset: Some(offset.into()),
            limit: Some(limit.into()),
            filter: Some(filter.into()),
            orderby: None,
            direction: None,
        }
    }

    #[test]
    fn limits_offsets_and_filters_are_checked() {
        let p = ListParams::parse(RawList::default(), &["created_at"]).unwrap();
        assert_eq!((p.offset, p.limit, p.direction), (0, DEFAULT_LIMIT, Direction::Desc));
        assert!(ListParams::parse(raw("0", "1001", ""), &["created_at"]).is_err());
        assert!(ListParams::parse(raw("-1", "5", ""), &["created_at"]).is_err());
        assert!(ListParams::parse(raw("0", "5", "[1]"), &["created_at"]).is_err());
        assert!(ListParams::parse(raw("0", "5", r#"{"nope":1}"#), &["created_at"]).is_err());
        assert!(ListParams::parse(raw("0", "5", r#"{"created_at:gt":"yesterday"}"#), &["created_at"]).is_err());
        let p =
            ListParams::parse(raw("2", "5", r#"{"status:ne":"deleted","formIDs":["a"]}"#), &["created_at"]).unwrap();
        assert_eq!(p.filter.status_not.as_deref(), Some("DELETED"));
        assert!(!p.filter.status_passes("DELETED"));
        assert_eq!(p.page((0..10).collect()), vec![2, 3, 4, 5, 6]);
    }

    #[test]
    fn messages_never_echo_a_value() {
        let err = ListParams::parse(raw("0", "5", r#"{"<b>x</b>":"secret"}"#), &["created_at"]).unwrap_err();
        assert!(!err.message.contains('<') && !err.message.contains("secret"));
    }
}
