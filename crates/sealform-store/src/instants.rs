//! Time filters that compare instants on both backends.
//!
//! PostgreSQL stores `timestamptz` and compares instants. SQLite stores times as the RFC 3339 text sqlx writes: the
//! fraction varies in length (and is left out when zero), `Z` sorts after every digit, and a time keeps the offset it
//! came with. Compared as text, `…:00.5Z` sorts before `…:00Z` and `…:00.55Z` before `…:00.5Z`, and a bound of
//! midnight at +02:00 sorts after every time of the two hours before it (an API client asking from that midnight lost
//! them). So on SQLite a range filter compares a sortable key instead, built by the same rule from the stored text in
//! SQL ([`sqlite_instant!`]) and from the bound in Rust ([`sqlite_bound`]): the Unix second, zero-padded to twelve
//! characters, then the nanoseconds as nine digits. Each backend's queries get its pair.
//!
//! The expiry checks (sessions, resets, invitations, WebAuthn challenges, idempotency records) still compare text:
//! both sides are the server's own UTC clock, so they can only disagree within one second, which no expiry here is
//! that exact about.

use time::OffsetDateTime;

/// SQLite: the sortable key of an RFC 3339 text column (`YYYY-MM-DDTHH:MM:SS`, an optional fraction, then `Z` or
/// `±HH:MM`). The second goes through `unixepoch` without its fraction, as SQLite keeps times to the millisecond
/// (older versions round 23:59:59.9996 up to the next second); the fraction's digits are copied and padded.
macro_rules! sqlite_instant {
    ($column:literal) => {
        concat!(
            "(printf('%012d', unixepoch(substr(",
            $column,
            ", 1, 19) || CASE WHEN ",
            $column,
            " LIKE '%Z' THEN '' ELSE substr(",
            $column,
            ", -6) END)) || substr(CASE WHEN substr(",
            $column,
            ", 20, 1) = '.' THEN substr(",
            $column,
            ", 21, length(",
            $column,
            ") - CASE WHEN ",
            $column,
            " LIKE '%Z' THEN 21 ELSE 26 END) ELSE '' END || '000000000', 1, 9))"
        )
    };
}
pub(crate) use sqlite_instant;

/// SQLite: a range bound as [`sqlite_instant!`] keys a stored time.
pub(crate) fn sqlite_bound(at: Option<OffsetDateTime>) -> Option<String> {
    at.map(|at| format!("{:012}{:09}", at.unix_timestamp(), at.nanosecond()))
}

/// PostgreSQL: the column itself; `timestamptz` compares instants.
macro_rules! postgres_instant {
    ($column:literal) => {
        $column
    };
}
pub(crate) use postgres_instant;

/// PostgreSQL: the bound itself.
pub(crate) fn postgres_bound(at: Option<OffsetDateTime>) -> Option<OffsetDateTime> {
    at
}

#[cfg(test)]
mod tests {
    use time::format_description::well_known::Rfc3339;
    use time::macros::datetime;

    use super::sqlite_bound;

    /// The key sorts as the instants do, wherever the fraction ends and whatever the offset.
    #[test]
    fn sqlite_bounds_sort_as_instants() {
        let ordered = [
            datetime!(2026-11-30 23:59:59.9996 UTC),
            datetime!(2026-12-01 02:00:00 +02:00),
            datetime!(2026-12-01 00:00:00.000_000_001 UTC),
            datetime!(2026-12-01 00:00:00.5 UTC),
            datetime!(2026-12-01 00:00:00.55 UTC),
            datetime!(2026-12-01 00:00:00.6 UTC),
            datetime!(2026-12-01 00:00:01 UTC),
        ];
        let keys: Vec<String> = ordered.iter().map(|at| sqlite_bound(Some(*at)).unwrap()).collect();
        assert!(keys.windows(2).all(|pair| pair[0] < pair[1]), "{keys:?}");
        assert_eq!(keys[1], "001796083200000000000");
        assert_eq!(sqlite_bound(None), None);
    }

    /// SQLite keys the text sqlx stores exactly as the bound is keyed, whatever its fraction and offset.
    #[test]
    fn sqlite_keys_stored_text_as_its_bound() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let sql = concat!("SELECT ", sqlite_instant!("?1"));
        for at in [
            datetime!(2026-11-30 23:59:59.9996 UTC),
            datetime!(2026-11-30 23:59:59.999_999_999 UTC),
            datetime!(2026-12-01 00:00:00 UTC),
            datetime!(2026-12-01 00:00:00.5 UTC),
            datetime!(2026-12-01 00:00:00.55 UTC),
            datetime!(2026-12-01 00:00:00.000_000_001 UTC),
            datetime!(2026-12-01 00:00:00 +02:00),
            datetime!(2026-12-01 01:30:00.25 +05:30),
            datetime!(2026-12-01 00:00:00.123_456 -08:00),
        ] {
            let text = at.format(&Rfc3339).unwrap();
            let key: String = conn.query_row(sql, [&text], |row| row.get(0)).unwrap();
            assert_eq!(Some(key), sqlite_bound(Some(at)), "{text}");
        }
    }
}
