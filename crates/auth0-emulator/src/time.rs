//! Time in the emulator: Auth0's timestamp format, partial dates in search ranges, and an emulator
//! clock that tests can move forward (job expiry, link expiry) without waiting.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Auth0's timestamp format: ISO-8601 UTC with milliseconds, `2023-01-25T17:48:16.543Z`.
pub fn format_ms(ms: i64) -> String {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => "1970-01-01T00:00:00.000Z".to_string(),
    }
}

/// Parses a full instant (RFC 3339, or without a zone meaning UTC).
pub fn parse_instant_ms(s: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    None
}

/// Parses a range bound. Partial dates (`2017`, `2017-12`, `2017-12-31`) stand for a period: its
/// first millisecond as a lower bound, its last millisecond as an upper bound.
pub fn parse_bound_ms(s: &str, upper: bool) -> Option<i64> {
    if let Some(ms) = parse_instant_ms(s) {
        return Some(ms);
    }
    let parts: Vec<&str> = s.split('-').collect();
    let (start, end) = match parts.as_slice() {
        [y] => {
            let y: i32 = y.parse().ok()?;
            (
                NaiveDate::from_ymd_opt(y, 1, 1)?,
                NaiveDate::from_ymd_opt(y + 1, 1, 1)?,
            )
        }
        [y, m] => {
            let start = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)?;
            let end = if start.month() == 12 {
                NaiveDate::from_ymd_opt(start.year() + 1, 1, 1)?
            } else {
                NaiveDate::from_ymd_opt(start.year(), start.month() + 1, 1)?
            };
            (start, end)
        }
        [y, m, d] => {
            let start = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
            (start, start + Duration::days(1))
        }
        _ => return None,
    };
    let to_ms = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis())
    };
    if upper {
        Some(to_ms(end)? - 1)
    } else {
        to_ms(start)
    }
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
}
