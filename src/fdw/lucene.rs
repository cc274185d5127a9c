//! Building Auth0 search queries (search engine v3) from values that come from SQL. Every value
//! is quoted or escaped, so no value can change the query's structure.

/// A quoted phrase: `"..."` with `\` and `"` escaped.
pub fn phrase(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// An unquoted term (used before a trailing `*`): every character with a meaning in the query
/// syntax, and whitespace, is escaped with a backslash.
pub fn escape_term(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if c.is_whitespace() || "+-=&|><!(){}[]^\"~*?:\\/".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// What a SQL `LIKE` pattern means for search.
#[derive(Debug, PartialEq, Eq)]
pub enum Like {
    /// No wildcard: plain equality.
    Exact(String),
    /// Starts with a literal prefix, then a wildcard somewhere.
    Prefix(String),
    /// Starts with a wildcard: nothing to search with.
    Unusable,
}

/// Reads a `LIKE` pattern with the default escape character (backslash).
pub fn like(pattern: &str) -> Like {
    let mut literal = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) => literal.push(n),
                None => return Like::Unusable, // Postgres rejects a trailing escape anyway
            },
            '%' | '_' => {
                return if literal.is_empty() {
                    Like::Unusable
                } else {
                    Like::Prefix(literal)
                };
            }
            c => literal.push(c),
        }
    }
    Like::Exact(literal)
}

/// Whether a `LIKE` pattern is a literal followed by one final `%` (`abc%`), which a prefix
/// term matches exactly.
pub fn like_is_prefix_only(pattern: &str) -> bool {
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // An escape takes the next character with it (a literal).
            '\\' if chars.next().is_none() => return false,
            '%' => return chars.peek().is_none(),
            '_' => return false,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_cannot_break_out() {
        assert_eq!(phrase(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(
            phrase(r#"" OR _exists_:email OR ""#),
            r#""\" OR _exists_:email OR \"""#
        );
    }

    #[test]
    fn terms_escape_syntax() {
        assert_eq!(escape_term("a b"), r"a\ b");
        assert_eq!(escape_term("x) OR (y:*"), r"x\)\ OR\ \(y\:\*");
        assert_eq!(escape_term("auth0|abc/def"), r"auth0\|abc\/def");
    }

    #[test]
    fn like_patterns() {
        assert_eq!(like("ada%"), Like::Prefix("ada".into()));
        assert_eq!(like("ad_a%"), Like::Prefix("ad".into()));
        assert_eq!(like(r"100\%%"), Like::Prefix("100%".into()));
        assert_eq!(like("exact"), Like::Exact("exact".into()));
        assert_eq!(like("%ada"), Like::Unusable);
        assert_eq!(like("_"), Like::Unusable);
        assert!(like_is_prefix_only(r"ad\_a%"));
        assert!(!like_is_prefix_only("ad_a%"));
        assert!(!like_is_prefix_only("ada%%"));
        assert!(!like_is_prefix_only("ada"));
        assert!(!like_is_prefix_only("a%b"));
    }
}
