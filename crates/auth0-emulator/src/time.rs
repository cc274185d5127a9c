//! Time in the emulator: Auth0's timestamp format, partial dates in search ranges, and an emulator
//! clock that tests can move forward (job expiry, link expiry) without waiting. The calendar is
//! chrono's throughout (the extension has its own copy of the one-line format: the two crates do
//! not depend on each other).

use chrono::{DateTime, Months, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Utc};

/// Auth0's timestamp format: ISO-8601 UTC with milliseconds, `2023-01-25T17:48:16.543Z`
/// (`1970-01-01T00:00:00.000Z` outside chrono's range, about ±262 000 years).
pub fn format_ms(ms: i64) -> String {
    match DateTime::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => "1970-01-01T00:00:00.000Z".to_string(),
    }
}

/// Parses a full instant (RFC 3339, or without a zone meaning UTC; `%.f` takes an optional
/// fraction).
pub fn parse_instant_ms(s: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .into_iter()
        .find_map(|fmt| NaiveDateTime::parse_from_str(s, fmt).ok())
        .map(|t| t.and_utc().timestamp_millis())
}

/// Parses a range bound. Partial dates (`2017`, `2017-12`, `2017-12-31`) stand for a period: its
/// first millisecond as a lower bound, its last millisecond as an upper bound. `None` for a
/// period chrono cannot end (one that reaches past 262142-12-31).
pub fn parse_bound_ms(s: &str, upper: bool) -> Option<i64> {
    if let Some(ms) = parse_instant_ms(s) {
        return Some(ms);
    }
    let parts: Vec<&str> = s.split('-').collect();
    let (start, end) = match parts.as_slice() {
        [y] => {
            let start = NaiveDate::from_ymd_opt(y.parse().ok()?, 1, 1)?;
            (start, start.checked_add_months(Months::new(12))?)
        }
        [y, m] => {
            let start = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)?;
            (start, start.checked_add_months(Months::new(1))?)
        }
        [y, m, d] => {
            let start = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
            (start, start.succ_opt()?)
        }
        _ => return None,
    };
    let to_ms = |d: NaiveDate| d.and_time(NaiveTime::MIN).and_utc().timestamp_millis();
    Some(if upper { to_ms(end) - 1 } else { to_ms(start) })
}

/// Wall-clock milliseconds since the epoch.
pub fn system_now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_auth0() {
        let ms = parse_instant_ms("2023-01-25T17:48:16.543Z").unwrap();
        assert_eq!(format_ms(ms), "2023-01-25T17:48:16.543Z");
    }

    #[test]
    fn partial_bounds() {
        let lo = parse_bound_ms("2017-12", false).unwrap();
        let hi = parse_bound_ms("2017-12", true).unwrap();
        assert_eq!(format_ms(lo), "2017-12-01T00:00:00.000Z");
        assert_eq!(format_ms(hi), "2017-12-31T23:59:59.999Z");
        assert_eq!(
            format_ms(parse_bound_ms("2020", true).unwrap()),
            "2020-12-31T23:59:59.999Z"
        );
        assert!(parse_bound_ms("not-a-date", false).is_none());
    }

    #[test]
    fn formats_any_millisecond() {
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_ms(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(format_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_ms(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
        // Beyond four digits the year is signed, as chrono's `%Y` wrote it.
        assert_eq!(format_ms(253_402_300_800_000), "+10000-01-01T00:00:00.000Z");
        assert_eq!(format_ms(-62_167_219_200_001), "-0001-12-31T23:59:59.999Z");
        // Outside chrono's range.
        assert_eq!(format_ms(i64::MAX), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_ms(i64::MIN), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn instants() {
        let at = |s| parse_instant_ms(s);
        let ms = 1_712_752_496_789;
        for s in [
            "2024-04-10T12:34:56.789Z",
            "2024-04-10t12:34:56.789z",
            "2024-04-10T14:34:56.789+02:00",
            "2024-04-10T12:34:56.789",
            "2024-04-10 12:34:56.789",
            "2024-04-10 12:34:56.789Z",
            "2024-04-10T12:34:56.789123456",
        ] {
            assert_eq!(at(s), Some(ms), "{s}");
        }
        assert_eq!(at("2024-04-10T12:34:56"), Some(ms - 789));
        assert_eq!(at("2024-04-10 12:34:56"), Some(ms - 789));
        assert_eq!(at("2024-04-10T12:34:56.7"), Some(ms - 89));
        assert_eq!(at("1969-12-31T23:59:59.999Z"), Some(-1));
        assert_eq!(at("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
        for s in [
            "2024-04-10",
            "2023-02-29T00:00:00Z",
            "2024-04-10T24:00:00Z",
            "",
        ] {
            assert_eq!(at(s), None, "{s}");
        }
    }

    #[test]
    fn partial_bounds_on_leap_years_and_edges() {
        let range = |s| {
            let lo = parse_bound_ms(s, false).map(format_ms);
            let hi = parse_bound_ms(s, true).map(format_ms);
            (lo, hi)
        };
        let some = |lo: &str, hi: &str| (Some(lo.to_string()), Some(hi.to_string()));
        assert_eq!(
            range("2024-02"),
            some("2024-02-01T00:00:00.000Z", "2024-02-29T23:59:59.999Z")
        );
        assert_eq!(
            range("2023-02"),
            some("2023-02-01T00:00:00.000Z", "2023-02-28T23:59:59.999Z")
        );
        assert_eq!(
            range("2024-02-29"),
            some("2024-02-29T00:00:00.000Z", "2024-02-29T23:59:59.999Z")
        );
        assert_eq!(
            range("2017-12-31"),
            some("2017-12-31T00:00:00.000Z", "2017-12-31T23:59:59.999Z")
        );
        assert_eq!(
            range("1999"),
            some("1999-01-01T00:00:00.000Z", "1999-12-31T23:59:59.999Z")
        );
        assert_eq!(
            range("9999-12"),
            some("9999-12-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z")
        );
        assert_eq!(
            range("2017-1-5"),
            some("2017-01-05T00:00:00.000Z", "2017-01-05T23:59:59.999Z")
        );
        // A full instant is its own bound on both sides.
        assert_eq!(
            range("2017-12-31T10:00:00Z"),
            some("2017-12-31T10:00:00.000Z", "2017-12-31T10:00:00.000Z")
        );
        for s in [
            "2023-02-29",
            "2023-13",
            "2023-00",
            "2017-12-31-1",
            "",
            "-2017",
        ] {
            assert_eq!(range(s), (None, None), "{s}");
        }
        // The last period chrono can hold ends past its range: no bound (`+ 1 day` panicked).
        assert_eq!(range("262142-12-31"), (None, None));
        assert_eq!(range("262142-12"), (None, None));
        assert_eq!(range("262142"), (None, None));
        assert!(parse_bound_ms("262142-12-30", true).is_some());
    }
}
