//! Auth0 timestamps (`2023-01-25T17:48:16.543Z`) to and from Postgres' microseconds since
//! 2000-01-01 UTC, without a date library (this runs for every timestamp of every row).

/// Seconds between the Unix epoch and the Postgres epoch (2000-01-01).
const PG_EPOCH_UNIX_SECONDS: i64 = 946_684_800;

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn num(b: &[u8]) -> Option<i64> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0i64, |acc, d| acc * 10 + (d - b'0') as i64))
}

/// Parses an ISO-8601 instant (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, or a bare date)
/// into Postgres microseconds. `None` for anything else.
pub fn parse_iso_to_pg_micros(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(&b[0..4])?, num(&b[5..7])?, num(&b[8..10])?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = days_from_civil(y, mo, d) * 86_400;
    let mut micros = 0i64;
    let mut rest = &b[10..];
    if !rest.is_empty() {
        if !(rest[0] == b'T' || rest[0] == b' ')
            || rest.len() < 9
            || rest[3] != b':'
            || rest[6] != b':'
        {
            return None;
        }
        let (h, mi, sec) = (num(&rest[1..3])?, num(&rest[4..6])?, num(&rest[7..9])?);
        if h > 23 || mi > 59 || sec > 60 {
            return None;
        }
        secs += h * 3600 + mi * 60 + sec;
        rest = &rest[9..];
        if rest.first() == Some(&b'.') {
            let digits = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return None;
            }
            let frac = &rest[1..1 + digits];
            let mut us = 0i64;
            for i in 0..6 {
                us = us * 10 + frac.get(i).map(|c| (c - b'0') as i64).unwrap_or(0);
            }
            micros = us;
            rest = &rest[1 + digits..];
        }
        match rest {
            b"" | b"Z" | b"z" => {}
            [sign @ (b'+' | b'-'), oh1, oh2, b':', om1, om2] => {
                let off = num(&[*oh1, *oh2])? * 3600 + num(&[*om1, *om2])? * 60;
                secs += if *sign == b'+' { -off } else { off };
            }
            _ => return None,
        }
    }
    Some((secs - PG_EPOCH_UNIX_SECONDS) * 1_000_000 + micros)
}

/// Formats Postgres microseconds as Auth0 does, to the millisecond (`round_up` chooses how the
/// sub-millisecond part goes: down for lower bounds, up for upper bounds).
///
/// `None` outside years 0001–9999: Auth0 writes four-digit years, so an instant outside them
/// (Postgres allows 4713 BC to 294276 AD) has no representation a search could compare with.
/// Checked arithmetic: any `i64` is a valid input.
pub fn format_pg_micros(us: i64, round_up: bool) -> Option<String> {
    let unix_us = us.checked_add(PG_EPOCH_UNIX_SECONDS * 1_000_000)?;
    let mut ms = unix_us.div_euclid(1000);
    if round_up && unix_us.rem_euclid(1000) != 0 {
        ms += 1; // |ms| <= i64::MAX / 1000: no overflow
    }
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    if !(1..=9999).contains(&y) {
        return None;
    }
    let sod = secs.rem_euclid(86_400);
    Some(format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60,
        ms.rem_euclid(1000)
    ))
}

/// Now, as Auth0 writes timestamps.
pub fn now_iso() -> String {
    let unix_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    format_pg_micros(unix_us - PG_EPOCH_UNIX_SECONDS * 1_000_000, false)
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".into()) // a clock outside 0001-9999
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_auth0_timestamps() {
        for s in [
            "2023-01-25T17:48:16.543Z",
            "2000-01-01T00:00:00.000Z",
            "1999-12-31T23:59:59.999Z",
            "2026-02-28T12:00:00.001Z",
        ] {
            let us = parse_iso_to_pg_micros(s).unwrap();
            assert_eq!(format_pg_micros(us, false).as_deref(), Some(s));
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
    fn rejects_garbage() {
        for s in [
            "",
            "yesterday",
            "2023-13-01T00:00:00Z",
            "2023-01-01T25:00:00Z",
            "2023-01-01T00:00:00X",
            "2023-01-01T00:00",
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
}
