//! Auth0 timestamps (`2023-01-25T17:48:16.543Z`) to and from Postgres' microseconds since
//! 2000-01-01 UTC (this runs for every timestamp of every row).
//!
//! The calendar and the ISO-8601 / RFC 3339 syntax are chrono's (`parse_from_rfc3339`,
//! `to_rfc3339_opts`), not pgrx's timestamp types: these functions are pure (a string in, an
//! `i64` out, and back), so they are unit-tested without a Postgres backend, and they keep working
//! in code that has none (a background worker's Tokio task, the tests). pgrx only sees the `i64`.
//! chrono is built without default features (no `clock`, no time-zone database): `std` only.
//!
//! What is accepted is exactly what this module accepted when it was hand-written, except that
//! chrono refuses what the old code let through as arithmetic: a day the month does not have
//! (`2023-02-29`, `2023-04-31`, once rolled into the next month) and an offset of 24 hours or more
//! or 60 minutes or more (`+24:00`, `+01:60`). Postgres refuses those too.

use chrono::{DateTime, Datelike, FixedOffset, SecondsFormat, SubsecRound, TimeDelta, Utc};
use std::borrow::Cow;

/// Microseconds between the Unix epoch and the Postgres epoch (2000-01-01 UTC).
const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

/// Parses an ISO-8601 instant (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, `T` or a space between
/// date and time, no zone meaning UTC, or a bare date meaning its midnight UTC) into Postgres
/// microseconds, digits past the microsecond dropped. `None` for anything else.
pub fn parse_iso_to_pg_micros(s: &str) -> Option<i64> {
    // chrono's RFC 3339 parser also takes a lower-case `t` and a Unicode minus sign (U+2212) in
    // the offset; they were never accepted here and stay refused.
    if !s.is_ascii() || s.as_bytes().get(10) == Some(&b't') {
        return None;
    }
    // RFC 3339 wants a time and a zone: complete the two shorter forms (the allocation is only for
    // them; Auth0 always writes the zone).
    let full: Cow<str> = if s.len() == 10 {
        format!("{s}T00:00:00Z").into()
    } else if s.ends_with(['Z', 'z']) || s.get(19..).is_some_and(|t| t.contains(['+', '-'])) {
        s.into()
    } else {
        format!("{s}Z").into()
    };
    let t: DateTime<FixedOffset> = DateTime::parse_from_rfc3339(&full).ok()?;
    // A leap second (`:60`) counts as the next second's first, as Postgres reads it.
    Some(t.timestamp_micros() - PG_EPOCH_UNIX_MICROS)
}

/// Formats Postgres microseconds as Auth0 does, to the millisecond (`round_up` chooses how the
/// sub-millisecond part goes: down for lower bounds, up for upper bounds).
///
/// `None` outside years 0001–9999: Auth0 writes four-digit years, so an instant outside them
/// (Postgres allows 4713 BC to 294276 AD) has no representation a search could compare with.
/// Checked arithmetic: any `i64` is a valid input.
pub fn format_pg_micros(us: i64, round_up: bool) -> Option<String> {
    let t = DateTime::<Utc>::from_timestamp_micros(us.checked_add(PG_EPOCH_UNIX_MICROS)?)?;
    let ms = t.trunc_subsecs(3);
    let ms = if round_up && ms != t {
        ms.checked_add_signed(TimeDelta::milliseconds(1))?
    } else {
        ms
    };
    if !(1..=9999).contains(&ms.year()) {
        return None;
    }
    Some(ms.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Now, as Auth0 writes timestamps.
pub fn now_iso() -> String {
    let unix_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    format_pg_micros(unix_us - PG_EPOCH_UNIX_MICROS, false)
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".into()) // a clock outside 0001-9999
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_epoch_is_2000_01_01_utc() {
        let epoch = chrono::NaiveDate::from_ymd_opt(2000, 1, 1)
            .unwrap()
            .and_time(chrono::NaiveTime::MIN)
            .and_utc();
        assert_eq!(epoch.timestamp_micros(), PG_EPOCH_UNIX_MICROS);
    }

    #[test]
    fn round_trips_auth0_timestamps() {
        for s in [
            "2023-01-25T17:48:16.543Z",
            "2000-01-01T00:00:00.000Z",
            "1999-12-31T23:59:59.999Z",
            "2026-02-28T12:00:00.001Z",
            "2024-02-29T00:00:00.000Z",
            "2024-02-29T23:59:59.999Z",
            "1970-01-01T00:00:00.000Z",
            "0001-01-01T00:00:00.000Z",
            "9999-12-31T23:59:59.999Z",
        ] {
            let us = parse_iso_to_pg_micros(s).unwrap();
            assert_eq!(format_pg_micros(us, false).as_deref(), Some(s));
            assert_eq!(format_pg_micros(us, true).as_deref(), Some(s));
        }
        assert_eq!(parse_iso_to_pg_micros("2000-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_iso_to_pg_micros("2000-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_iso_to_pg_micros("2000-01-01"), Some(0));
        assert_eq!(
            parse_iso_to_pg_micros("2000-01-01T00:00:00.5Z"),
            Some(500_000)
        );
        assert_eq!(
            parse_iso_to_pg_micros("2000-01-01T00:00:00.1234567Z"),
            Some(123_456)
        );
    }

    #[test]
    fn before_the_pg_epoch_is_negative() {
        assert_eq!(
            parse_iso_to_pg_micros("1999-12-31T23:59:59.999Z"),
            Some(-1_000)
        );
        assert_eq!(
            parse_iso_to_pg_micros("1999-12-31T23:59:59.999999Z"),
            Some(-1)
        );
        assert_eq!(parse_iso_to_pg_micros("1999-12-31"), Some(-86_400_000_000));
        // Flooring, not truncation towards zero: -1 µs is in the millisecond before the epoch.
        assert_eq!(
            format_pg_micros(-1, false).as_deref(),
            Some("1999-12-31T23:59:59.999Z")
        );
        assert_eq!(
            format_pg_micros(-1, true).as_deref(),
            Some("2000-01-01T00:00:00.000Z")
        );
        assert_eq!(
            format_pg_micros(-1_001, true).as_deref(),
            Some("1999-12-31T23:59:59.999Z")
        );
    }

    #[test]
    fn leap_day() {
        let feb29 = parse_iso_to_pg_micros("2024-02-29").unwrap();
        let feb28 = parse_iso_to_pg_micros("2024-02-28").unwrap();
        let mar01 = parse_iso_to_pg_micros("2024-03-01").unwrap();
        assert_eq!(feb29 - feb28, 86_400_000_000);
        assert_eq!(mar01 - feb29, 86_400_000_000);
        assert_eq!(
            format_pg_micros(feb29 + 86_399_999_999, false).as_deref(),
            Some("2024-02-29T23:59:59.999Z")
        );
        assert_eq!(
            format_pg_micros(feb29 + 86_399_999_999, true).as_deref(),
            Some("2024-03-01T00:00:00.000Z")
        );
        // Leap days of centuries: 2000 has one, 1900 and 2100 do not.
        assert!(parse_iso_to_pg_micros("2000-02-29").is_some());
        assert!(parse_iso_to_pg_micros("1900-02-29").is_none());
        assert!(parse_iso_to_pg_micros("2100-02-29T00:00:00Z").is_none());
    }

    #[test]
    fn year_9999() {
        let us = parse_iso_to_pg_micros("9999-12-31T23:59:59.999999Z").unwrap();
        assert_eq!(us, 252_455_615_999_999_999);
        assert_eq!(
            format_pg_micros(us, false).as_deref(),
            Some("9999-12-31T23:59:59.999Z")
        );
        assert_eq!(format_pg_micros(us, true), None, "rounds up into 10000");
        assert_eq!(
            parse_iso_to_pg_micros("9999-01-01"),
            Some(252_424_080_000_000_000)
        );
    }

    #[test]
    fn fractions_of_1_to_9_digits_and_more() {
        let base = parse_iso_to_pg_micros("2020-05-06T07:08:09Z").unwrap();
        for (frac, us) in [
            ("1", 100_000),
            ("12", 120_000),
            ("123", 123_000),
            ("1234", 123_400),
            ("12345", 123_450),
            ("123456", 123_456),
            ("1234567", 123_456),
            ("12345678", 123_456),
            ("123456789", 123_456),
            ("1234567891234", 123_456),
            ("999999999", 999_999),
            ("000001", 1),
            ("0000009", 0),
        ] {
            let s = format!("2020-05-06T07:08:09.{frac}Z");
            assert_eq!(parse_iso_to_pg_micros(&s), Some(base + us), "{s}");
        }
        assert_eq!(parse_iso_to_pg_micros("2020-05-06T07:08:09.Z"), None);
        assert_eq!(parse_iso_to_pg_micros("2020-05-06T07:08:09."), None);
        assert_eq!(parse_iso_to_pg_micros("2020-05-06T07:08:09,5Z"), None);
    }

    #[test]
    fn zones_and_separators() {
        let utc = parse_iso_to_pg_micros("2024-04-10T12:34:56.789Z").unwrap();
        for s in [
            "2024-04-10T12:34:56.789z",
            "2024-04-10T12:34:56.789",
            "2024-04-10 12:34:56.789",
            "2024-04-10 12:34:56.789Z",
            "2024-04-10T14:34:56.789+02:00",
            "2024-04-10T10:04:56.789-02:30",
            "2024-04-10T12:34:56.789+00:00",
            "2024-04-10T12:34:56.789-00:00",
            "2024-04-11T11:34:56.789+23:00",
            "2024-04-10T12:34:56.789123+00:00",
        ] {
            assert_eq!(
                parse_iso_to_pg_micros(s).map(|us| us - us.rem_euclid(1000)),
                Some(utc),
                "{s}"
            );
        }
        assert_eq!(
            parse_iso_to_pg_micros("2024-04-10T12:34:56"),
            parse_iso_to_pg_micros("2024-04-10T12:34:56Z")
        );
        // A leap second is the next minute's first second.
        assert_eq!(
            parse_iso_to_pg_micros("2016-12-31T23:59:60.5Z"),
            parse_iso_to_pg_micros("2017-01-01T00:00:00.5Z")
        );
        assert_eq!(
            parse_iso_to_pg_micros("2016-12-31T12:30:60+01:00"),
            parse_iso_to_pg_micros("2016-12-31T11:31:00Z")
        );
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "",
            "yesterday",
            "2023-13-01T00:00:00Z",
            "2023-01-01T25:00:00Z",
            "2023-01-01T00:00:00X",
            "2023-01-01T00:00",
            // Shapes the hand-written parser refused too.
            "2023-00-01",
            "2023-01-00",
            "2023-01-32",
            "2023-1-01",
            "+2023-01-01",
            "20230101",
            "2023-01-01T",
            "2023-01-01Z",
            "2023-01-01t00:00:00Z",
            "2023-01-01T00:00:00 Z",
            "2023-01-01T24:00:00Z",
            "2023-01-01T00:60:00Z",
            "2023-01-01T00:00:61Z",
            "2023-01-01T0:00:00Z",
            "2023-01-01T00:00:00+01",
            "2023-01-01T00:00:00+0100",
            "2023-01-01T00:00:00+01:0",
            "2023-01-01T00:00:00\u{2212}01:00",
            "2023-01-01T00:00:00Z ",
            " 2023-01-01T00:00:00Z",
            "2023-01-01T00:00:00ZZ",
            "2023-01-01T00:00:00+01:00Z",
            "2023-01-01T00:00:00UTC",
            "２023-01-01",
            // Refused since chrono: not a day of the month, not an offset.
            "2023-02-29",
            "2023-04-31T00:00:00Z",
            "2023-01-01T00:00:00+24:00",
            "2023-01-01T00:00:00+01:60",
        ] {
            assert!(parse_iso_to_pg_micros(s).is_none(), "{s}");
        }
    }

    #[test]
    fn rounding_for_bounds() {
        let us = parse_iso_to_pg_micros("2023-01-25T17:48:16.543Z").unwrap() + 500;
        assert_eq!(
            format_pg_micros(us, false).unwrap(),
            "2023-01-25T17:48:16.543Z"
        );
        assert_eq!(
            format_pg_micros(us, true).unwrap(),
            "2023-01-25T17:48:16.544Z"
        );
        assert_eq!(
            format_pg_micros(us - 500, true).unwrap(),
            "2023-01-25T17:48:16.543Z"
        );
    }

    #[test]
    fn instants_outside_four_digit_years_have_no_format() {
        let first = parse_iso_to_pg_micros("0001-01-01T00:00:00Z").unwrap();
        let last = parse_iso_to_pg_micros("9999-12-31T23:59:59.999Z").unwrap();
        assert_eq!(
            format_pg_micros(first, false).unwrap(),
            "0001-01-01T00:00:00.000Z"
        );
        assert_eq!(
            format_pg_micros(last, true).unwrap(),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(format_pg_micros(first - 1, false), None);
        assert_eq!(
            format_pg_micros(last + 1, true),
            None,
            "rounds up into year 10000"
        );
        // Year 0 (1 BC) parses, as it always did, but has no Auth0 format.
        let year0 = parse_iso_to_pg_micros("0000-12-31T23:59:59.999Z").unwrap();
        assert_eq!(year0 + 1_000, first);
        assert_eq!(format_pg_micros(year0, false), None);
        // Postgres' own extremes (4713 BC, 294276 AD) and any i64.
        for us in [
            i64::MIN,
            -211_813_488_000_000_000,
            9_223_371_331_200_000_000,
            i64::MAX,
        ] {
            assert_eq!(
                format_pg_micros(std::hint::black_box(us), false),
                None,
                "{us}"
            );
            assert_eq!(
                format_pg_micros(std::hint::black_box(us), true),
                None,
                "{us}"
            );
        }
    }

    #[test]
    fn now_is_an_auth0_timestamp() {
        let now = now_iso();
        assert_eq!(now.len(), 24, "{now}");
        let us = parse_iso_to_pg_micros(&now).unwrap();
        assert_eq!(format_pg_micros(us, false).as_deref(), Some(now.as_str()));
        assert!(now.as_str() > "2024-01-01T00:00:00.000Z", "{now}");
    }
}
