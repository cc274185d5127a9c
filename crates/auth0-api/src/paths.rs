//! Path segments built from user data are percent-encoded so that no id can change the route
//! (`/`, `?`, `#`, `%`, `..` included).

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything except RFC 3986 unreserved characters is encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Encodes one path segment. `.` and `..` would be removed by URL normalisation, so they are
/// refused: no Auth0 id is a bare dot.
pub fn segment(raw: &str) -> Option<String> {
    if raw.is_empty() || raw == "." || raw == ".." {
        return None;
    }
    let encoded = utf8_percent_encode(raw, SEGMENT).to_string();
    Some(encoded)
}

#[cfg(test)]
mod tests {
    use super::segment;

    #[test]
    fn hostile_ids_stay_one_segment() {
        assert_eq!(segment("auth0|63d1").unwrap(), "auth0%7C63d1");
        assert_eq!(segment("a/../../jobs").unwrap(), "a%2F..%2F..%2Fjobs");
        assert_eq!(segment("x?y#z%").unwrap(), "x%3Fy%23z%25");
        assert_eq!(segment("é").unwrap(), "%C3%A9");
        assert!(segment("..").is_none());
        assert!(segment(".").is_none());
        assert!(segment("").is_none());
    }
}
