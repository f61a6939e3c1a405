//! Time filters that compare instants on both backends.
//!
//! PostgreSQL stores `timestamptz` (to the microsecond: sqlx cuts times and bounds there) and compares instants.
//! SQLite stores times as the RFC 3339 text sqlx writes: the fraction varies in length (and is left out when zero),
//! `Z` sorts after every digit and after `.`, and a time keeps the offset it came with. Compared as text, `…:00.5Z`
//! sorts before `…:00Z` and `…:00.55Z` before `…:00.5Z`, and a bound of midnight at +02:00 sorts after every time of
//! the two hours before it (an API client asking from that midnight lost them). So on SQLite a range filter compares
//! a sortable key instead, built by the same rule from the stored text in SQL ([`sqlite_instant!`]) and from the
//! bound in Rust ([`sqlite_bound`]): the second since [`KEY_EPOCH`] as twelve digits, then the microseconds as six,
//! which is PostgreSQL's order. Each backend's queries get its pair; lists in time order sort by the same key.
//!
//! The expiry checks (sessions, resets, invitations, WebAuthn challenges, idempotency records) still compare text:
//! both sides are times of the server's own clock, written in UTC with a `Z`, so they can only disagree within one
//! second, which no expiry here is that exact about.

use time::OffsetDateTime;

/// The key's zero, in Unix seconds: a day before 0000-01-01T00:00:00Z, so that every time `time` can write in
/// RFC 3339 (years 0000 to 9999, offsets up to ±23:59) has a key of twelve digits, none negative.
pub(crate) const KEY_EPOCH: i64 = -62_167_305_600;

/// SQLite: the sortable key of an RFC 3339 text column (`YYYY-MM-DDTHH:MM:SS`, an optional fraction, then `Z` or
/// `±HH:MM`; as `time` writes it: four-digit years, offsets up to ±23:59). `unixepoch` reads the local time alone,
/// without its fraction (SQLite keeps times to the millisecond, and older versions round 23:59:59.9996 up to the
/// next second) and without its offset (SQLite accepts at most ±14:00), and the offset is taken off here; the
/// fraction's digits are copied, padded and cut to microseconds. `$column` is repeated through the expression, so it
/// must be a column or a parameter.
macro_rules! sqlite_instant {
    ($column:literal) => {
        concat!(
            "(printf('%012d', unixepoch(substr(",
            $column,
            ", 1, 19)) + 62167305600 - CASE WHEN ",
            $column,
            " LIKE '%Z' THEN 0 ELSE (CASE substr(",
            $column,
            ", -6, 1) WHEN '-' THEN -1 ELSE 1 END) * (substr(",
            $column,
            ", -5, 2) * 3600 + substr(",
            $column,
            ", -2, 2) * 60) END) || substr(CASE WHEN substr(",
            $column,
            ", 20, 1) = '.' THEN substr(",
            $column,
            ", 21, length(",
            $column,
            ") - CASE WHEN ",
            $column,
            " LIKE '%Z' THEN 21 ELSE 26 END) ELSE '' END || '000000', 1, 6))"
        )
    };
}
pub(crate) use sqlite_instant;

/// SQLite: a range bound as [`sqlite_instant!`] keys a stored time (a bound before [`KEY_EPOCH`] as the lowest key).
pub(crate) fn sqlite_bound(at: Option<OffsetDateTime>) -> Option<String> {
    at.map(|at| format!("{:012}{:06}", (at.unix_timestamp() - KEY_EPOCH).max(0), at.microsecond()))
}

/// PostgreSQL: the column itself; `timestamptz` compares instants.
macro_rules! postgres_instant {
    ($column:literal) => {
        $column
    };
}
pub(crate) use postgres_instant;

/// PostgreSQL: the bound itself, within years 1 to 9999 (PostgreSQL refuses years before 4713 BC, which `time` and
/// a date filter's `[year]` accept, with an error; no stored time lies outside, so the answer is the same).
pub(crate) fn postgres_bound(at: Option<OffsetDateTime>) -> Option<OffsetDateTime> {
    const FIRST: OffsetDateTime = time::macros::datetime!(0001-01-01 00:00:00 UTC);
    const LAST: OffsetDateTime = time::macros::datetime!(9999-12-31 23:59:59.999_999 UTC);
    at.map(|at| at.clamp(FIRST, LAST))
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;
    use time::macros::datetime;

    use super::{KEY_EPOCH, sqlite_bound};

    /// Instants in order, a microsecond or more apart: fractions of every length, offsets up to ±23:59, before 1970
    /// and at both ends of what `time` writes in RFC 3339.
    const ORDERED: [OffsetDateTime; 15] = [
        datetime!(0000-01-01 00:00:00 +23:59),
        datetime!(1969-12-31 23:59:58 UTC),
        datetime!(1969-12-31 23:59:59.5 UTC),
        datetime!(2026-12-01 00:00:00 +15:00),
        datetime!(2026-12-01 01:30:00.25 +05:30),
        datetime!(2026-11-30 23:59:59.9996 UTC),
        datetime!(2026-12-01 02:00:00 +02:00),
        datetime!(2026-12-01 00:00:00.000_001 UTC),
        datetime!(2026-12-01 00:00:00.5 UTC),
        datetime!(2026-12-01 00:00:00.55 UTC),
        datetime!(2026-12-01 00:00:00.6 UTC),
        datetime!(2026-12-01 00:00:01 UTC),
        datetime!(2026-12-01 00:00:00.123_456 -08:00),
        datetime!(2026-12-01 00:00:00 -23:59),
        datetime!(9999-12-31 23:00:00 -02:00),
    ];

    /// The key sorts as the instants do, to the microsecond (below it, as PostgreSQL stores times, one key).
    #[test]
    fn sqlite_bounds_sort_as_instants() {
        let keys: Vec<String> = ORDERED.iter().map(|at| sqlite_bound(Some(*at)).unwrap()).collect();
        let sorted_by_instant = ORDERED.windows(2).all(|pair| pair[0] < pair[1]);
        assert!(sorted_by_instant && keys.windows(2).all(|pair| pair[0] < pair[1]), "{keys:?}");
        assert!(keys.iter().all(|key| key.len() == 18 && key.bytes().all(|b| b.is_ascii_digit())), "{keys:?}");
        assert_eq!(keys[6], format!("{:012}000000", 1_796_083_200 - KEY_EPOCH));
        let below_a_microsecond = sqlite_bound(Some(datetime!(2026-12-01 00:00:00.000_000_9 UTC)));
        assert_eq!(below_a_microsecond, sqlite_bound(Some(datetime!(2026-12-01 00:00:00 UTC))));
        assert_eq!(sqlite_bound(None), None);
    }

    /// SQLite keys the text sqlx stores exactly as the bound is keyed, whatever its fraction and offset.
    #[test]
    fn sqlite_keys_stored_text_as_its_bound() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let sql = concat!("SELECT ", sqlite_instant!("?1"));
        let below_a_microsecond = [
            datetime!(2026-11-30 23:59:59.999_999_999 UTC),
            datetime!(2026-12-01 00:00:00.000_000_1 UTC),
            datetime!(2026-12-01 00:00:00.123_456_7 UTC),
        ];
        for at in ORDERED.into_iter().chain(below_a_microsecond) {
            let text = at.format(&Rfc3339).unwrap();
            let key: String = conn.query_row(sql, [&text], |row| row.get(0)).unwrap();
            assert_eq!(Some(key), sqlite_bound(Some(at)), "{text}");
        }
    }
}
