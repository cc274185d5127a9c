//! The e-mail rule Auth0 applies (format `email` of its schemas, `users-by-email`, MFA e-mail
//! factors): validator.js `isEmail` with its default options, which is what Auth0's Node.js
//! validators use (its errors read "Object didn't pass validation for format email: ...", the
//! z-schema wording around validator.js).
//!
//! Ported from validator.js 13 (`src/lib/isEmail.js`, `src/lib/isFQDN.js`, MIT), defaults:
//! `allow_display_name: false`, `allow_utf8_local_part: true`, `require_tld: true`,
//! `allow_ip_domain: false`, `allow_underscores: false`, `ignore_max_length: false`,
//! `domain_specific_validation: false`, no blacklists. JavaScript measures lengths in UTF-16
//! code units, and its character classes see a character outside the BMP as two surrogates;
//! both are reproduced, so the same string gets the same answer.

/// validator.js `isEmail(s)` with default options.
///
/// `o'brien+news@example.com` and `josé@example.com` pass; `a@b.c` (one-letter TLD),
/// `.a@example.com`, `a.@example.com` and `a..b@example.com` (empty dot-separated parts) fail.
pub fn is_email(s: &str) -> bool {
    if utf16_len(s) > 254 {
        return false;
    }
    let Some((user, domain)) = s.rsplit_once('@') else {
        return false;
    };
    if user.len() > 64 || domain.len() > 254 {
        return false; // isByteLength: UTF-8 bytes
    }
    if !is_fqdn(domain) {
        return false; // allow_ip_domain is false
    }
    if let Some(quoted) = user.strip_prefix('"') {
        // validator.js drops the first and the last UTF-16 unit, whatever the last one is; a
        // last character outside the BMP leaves half a surrogate pair, which no class matches.
        let mut inner = quoted.chars();
        if inner.next_back().is_some_and(|c| c.len_utf16() == 2) {
            return false;
        }
        return quoted_local_part(inner.as_str());
    }
    user.split('.')
        .all(|part| !part.is_empty() && part.chars().all(local_char))
}

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// `\u00A1-\uD7FF\uF900-\uFDCF\uFDF0-\uFFEF`: the non-ASCII letters of validator.js' classes
/// (a character outside the BMP is two surrogates there, and surrogates are not in the range).
fn utf8_extra(c: char) -> bool {
    matches!(c, '\u{A1}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFEF}')
}

/// `emailUserUtf8Part`: `[a-z\d!#$%&'*+\-/=?^_`{|}~\u00A1-\uD7FF\uF900-\uFDCF\uFDF0-\uFFEF]`, case-insensitive.
fn local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || utf8_extra(c)
}

/// JavaScript's `\s`.
fn js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{B}' | '\u{C}' | '\r' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{FEFF}'
    )
}

/// `quotedEmailUserUtf8`: the inside of a quoted local part.
fn quoted_local_part(s: &str) -> bool {
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        let plain = js_space(c)
            || matches!(c, '\u{1}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{7F}' | '!')
            || matches!(c, '#'..='[' | ']'..='~')
            || utf8_extra(c);
        if plain {
            continue;
        }
        if c != '\\' {
            return false;
        }
        match chars.next() {
            Some(e)
                if matches!(e, '\u{1}'..='\u{9}' | '\u{B}' | '\u{C}' | '\u{D}'..='\u{7F}')
                    || utf8_extra(e) => {}
            _ => return false,
        }
    }
    true
}

/// validator.js `isFQDN(s)` with `require_tld: true` and the other options off.
fn is_fqdn(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    let tld = parts[parts.len() - 1];
    if parts.len() < 2 {
        return false;
    }
    // `^([a-z\u00A1-\u00A8\u00AA-\uD7FF\uF900-\uFDCF\uFDF0-\uFFEF]{2,}|xn[a-z0-9-]{2,})$`, /i
    let tld_letter = |c: char| {
        c.is_ascii_alphabetic()
            || matches!(c, '\u{A1}'..='\u{A8}' | '\u{AA}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFEF}')
    };
    let letters = tld.chars().count() >= 2 && tld.chars().all(tld_letter);
    let punycode = tld.len() >= 4
        && tld.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("xn"))
        && tld
            .get(2..)
            .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if !(letters || punycode) || tld.chars().any(js_space) {
        return false;
    }
    parts.iter().all(|part| {
        utf16_len(part) <= 63
            && !part.is_empty()
            // `^[a-z_\u00a1-\uffff0-9-]+$`, /i: every character from U+00A1 up, surrogates included
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c >= '\u{A1}')
            && !part.chars().any(|c| matches!(c, '\u{FF01}'..='\u{FF5E}')) // full-width
            && !part.starts_with('-')
            && !part.ends_with('-')
            && !part.contains('_')
    })
}

#[cfg(test)]
mod tests {
    use super::is_email;

    #[test]
    fn what_validator_js_accepts() {
        for ok in [
            "ada@example.com",
            "o'brien+news@example.com",
            "josé@example.com",
            "a.b.c@sub.example.co.uk",
            "UPPER@EXAMPLE.COM",
            "x@example.xn--p1ai",
            "\"quoted local\"@example.com",
            "\"a@b\"@example.com",
            "user@bücher.de",
            "!#$%&'*+-/=?^_`{|}~@example.com",
            "a@ex-ample.com",
            // Non-ASCII top-level domains are letters to validator.js (and once made us panic).
            "user@example.cóm",
            "user@example.xñ",
        ] {
            assert!(is_email(ok), "{ok} should pass");
        }
    }

    #[test]
    fn what_validator_js_refuses() {
        for bad in [
            "a@b.c",
            "a..b@example.com",
            ".a@example.com",
            "a.@example.com",
            "not-an-email",
            "bad@",
            "@example.com",
            "a@example",
            "a b@example.com",
            "a@exa mple.com",
            "a@-example.com",
            "a@example-.com",
            "a@exam_ple.com",
            "a@example.com.",
            "a@example.123",
            "a@[127.0.0.1]",
            "a@127.0.0.1",
            "a(b)@example.com",
            "a\"b@example.com",
            "😀@example.com",
            "a@ｅxample.com",
            "\"a😀@example.com",
        ] {
            assert!(!is_email(bad), "{bad} should fail");
        }
    }

    #[test]
    fn lengths() {
        let local64 = "a".repeat(64);
        assert!(is_email(&format!("{local64}@example.com")));
        assert!(!is_email(&format!("a{local64}@example.com")));
        // 63 characters per label, 254 in all.
        let label63 = "b".repeat(63);
        assert!(is_email(&format!("a@{label63}.com")));
        assert!(!is_email(&format!("a@b{label63}.com")));
        let long_domain = format!("{0}.{0}.{0}.{1}.com", label63, "c".repeat(56));
        let at_limit = format!("a@{long_domain}");
        assert_eq!(at_limit.len(), 254);
        assert!(is_email(&at_limit));
        assert!(!is_email(&format!("ab@{long_domain}")));
    }
}
