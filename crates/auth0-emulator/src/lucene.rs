//! The subset of Auth0's user search query syntax (search engine v3, Lucene-like) that the emulator
//! understands: `field:value`, quoted phrases, `*` wildcards, ranges `[a TO b]` / `{a TO b}` with `*`
//! ends, `_exists_:field`, `AND`/`OR`/`NOT` (upper-case only), parentheses, `field:(a OR b)` groups,
//! dotted metadata paths and backslash escapes. Evaluation follows Auth0's user-search (v3) query syntax documentation.
//!
//! Two choices are ours (Auth0 does not document them): adjacent clauses without an operator are
//! AND-ed, and a term without a field matches the normalized profile fields (never metadata).

use serde_json::{Map, Value};
use std::cmp::Ordering;

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    And(Vec<Query>),
    Or(Vec<Query>),
    Not(Box<Query>),
    Term {
        field: Option<String>,
        value: TermValue,
    },
    Exists(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum TermValue {
    /// A word or a quoted phrase: the whole field must equal it.
    Exact(String),
    /// A pattern with `*` (already unescaped; `\u{0}` never appears, literal `*` is stored as `Lit`).
    Wildcard(Vec<Glob>),
    Range {
        lower: Bound,
        upper: Bound,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Glob {
    Lit(String),
    Star,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    Open,
    Inclusive(String),
    Exclusive(String),
}

/// Why a query was rejected; the text goes into Auth0's 400 body.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

/// Fields Auth0 compares case-insensitively (everything else, metadata included, is case-sensitive).
const CASE_INSENSITIVE: &[&str] = &[
    "email",
    "name",
    "given_name",
    "family_name",
    "nickname",
    "email.domain",
];
/// Fields a term without a field name is matched against.
const DEFAULT_FIELDS: &[&str] = &[
    "user_id",
    "email",
    "name",
    "nickname",
    "given_name",
    "family_name",
    "username",
    "phone_number",
];
/// Fields holding ISO-8601 instants: ranges on them compare as time, and partial dates are allowed.
const DATE_FIELDS: &[&str] = &[
    "created_at",
    "updated_at",
    "last_login",
    "last_password_reset",
];

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    /// `field:` prefix (field name unescaped)
    Field(String),
    Word {
        text: String,
        wildcard: Vec<Glob>,
    },
    Phrase(String),
    Range {
        lower: Bound,
        upper: Bound,
    },
}

fn is_word_end(c: char) -> bool {
    c.is_whitespace() || c == '(' || c == ')'
}

fn tokenize(input: &str) -> Result<Vec<Tok>, QueryError> {
    let chars: Vec<char> = input.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        match c {
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(QueryError("unterminated quoted phrase".into())),
                        Some('\\') => {
                            let n = chars
                                .get(i + 1)
                                .ok_or_else(|| QueryError("dangling escape".into()))?;
                            s.push(*n);
                            i += 2;
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Phrase(s));
            }
            '[' | '{' => {
                let inclusive_lo = c == '[';
                let close = chars[i + 1..]
                    .iter()
                    .position(|&ch| ch == ']' || ch == '}')
                    .ok_or_else(|| QueryError("unterminated range".into()))?;
                let body: String = chars[i + 1..i + 1 + close].iter().collect();
                let inclusive_hi = chars[i + 1 + close] == ']';
                let parts: Vec<&str> = body.split(" TO ").collect();
                if parts.len() != 2 {
                    return Err(QueryError(format!(
                        "invalid range [{body}]: expected 'a TO b'"
                    )));
                }
                let bound = |s: &str, inclusive: bool| {
                    let s = unquote(s.trim());
                    if s == "*" {
                        Bound::Open
                    } else if inclusive {
                        Bound::Inclusive(s)
                    } else {
                        Bound::Exclusive(s)
                    }
                };
                out.push(Tok::Range {
                    lower: bound(parts[0], inclusive_lo),
                    upper: bound(parts[1], inclusive_hi),
                });
                i += close + 2;
            }
            _ => {
                // A word, an operator or a `field:` prefix.
                let mut text = String::new();
                let mut glob: Vec<Glob> = Vec::new();
                let mut lit = String::new();
                let mut escaped_any = false;
                while i < chars.len() && !is_word_end(chars[i]) {
                    let ch = chars[i];
                    if ch == '\\' {
                        let n = *chars
                            .get(i + 1)
                            .ok_or_else(|| QueryError("dangling escape".into()))?;
                        text.push(n);
                        lit.push(n);
                        escaped_any = true;
                        i += 2;
                        continue;
                    }
                    if ch == ':' {
                        break;
                    }
                    if ch == '*' {
                        if !lit.is_empty() {
                            glob.push(Glob::Lit(std::mem::take(&mut lit)));
                        }
                        glob.push(Glob::Star);
                    } else {
                        lit.push(ch);
                    }
                    text.push(ch);
                    i += 1;
                }
                if i < chars.len() && chars[i] == ':' {
                    i += 1;
                    if text.is_empty() {
                        return Err(QueryError("empty field name".into()));
                    }
                    out.push(Tok::Field(text));
                    continue;
                }
                if !escaped_any && glob.is_empty() {
                    match text.as_str() {
                        "AND" | "&&" => {
                            out.push(Tok::And);
                            continue;
                        }
                        "OR" | "||" => {
                            out.push(Tok::Or);
                            continue;
                        }
                        "NOT" => {
                            out.push(Tok::Not);
                            continue;
                        }
                        _ => {}
                    }
                }
                if !lit.is_empty() {
                    glob.push(Glob::Lit(lit));
                }
                let wildcard = if glob.contains(&Glob::Star) {
                    glob
                } else {
                    Vec::new()
                };
                out.push(Tok::Word { text, wildcard });
            }
        }
    }
    Ok(out)
}

fn unquote(s: &str) -> String {
    let s = s
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s);
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            if let Some(n) = it.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    /// Groups and NOTs currently open (the parser recurses once per level).
    depth: usize,
}

/// Deepest nesting of groups and NOTs a query may have. Deeper queries are a 400, not a stack
/// overflow of the emulator. UNCONFIRMED: Auth0 does not document a limit (its search engine
/// refuses queries far past a few dozen levels); 64 is far beyond any real query.
pub const MAX_DEPTH: usize = 64;

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn parse_or(&mut self, field: Option<&str>) -> Result<Query, QueryError> {
        let mut parts = vec![self.parse_and(field)?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            parts.push(self.parse_and(field)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Query::Or(parts)
        })
    }

    fn parse_and(&mut self, field: Option<&str>) -> Result<Query, QueryError> {
        let mut parts = vec![self.parse_unary(field)?];
        loop {
            match self.peek() {
                Some(Tok::And) => {
                    self.pos += 1;
                    parts.push(self.parse_unary(field)?);
                }
                // Implicit conjunction between adjacent clauses.
                Some(Tok::Not)
                | Some(Tok::LParen)
                | Some(Tok::Field(_))
                | Some(Tok::Word { .. })
                | Some(Tok::Phrase(_))
                | Some(Tok::Range { .. }) => parts.push(self.parse_unary(field)?),
                _ => break,
            }
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Query::And(parts)
        })
    }

    fn parse_unary(&mut self, field: Option<&str>) -> Result<Query, QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(QueryError(format!(
                "the query nests groups or NOTs more than {MAX_DEPTH} levels deep"
            )));
        }
        let q = if self.peek() == Some(&Tok::Not) {
            self.pos += 1;
            self.parse_unary(field).map(|q| Query::Not(Box::new(q)))
        } else {
            self.parse_primary(field)
        };
        self.depth -= 1;
        q
    }

    fn parse_primary(&mut self, field: Option<&str>) -> Result<Query, QueryError> {
        match self.next() {
            Some(Tok::LParen) => {
                let q = self.parse_or(field)?;
                match self.next() {
                    Some(Tok::RParen) => Ok(q),
                    _ => Err(QueryError("missing closing parenthesis".into())),
                }
            }
            Some(Tok::Field(name)) => {
                if field.is_some() {
                    return Err(QueryError(format!(
                        "nested field '{name}' inside a field group"
                    )));
                }
                if name == "_exists_" {
                    return match self.next() {
                        Some(Tok::Word { text, wildcard }) if wildcard.is_empty() => {
                            Ok(Query::Exists(text))
                        }
                        Some(Tok::Phrase(text)) => Ok(Query::Exists(text)),
                        _ => Err(QueryError("_exists_ needs a field name".into())),
                    };
                }
                match self.peek() {
                    Some(Tok::LParen) => {
                        self.pos += 1;
                        let q = self.parse_or(Some(&name))?;
                        match self.next() {
                            Some(Tok::RParen) => Ok(q),
                            _ => Err(QueryError("missing closing parenthesis".into())),
                        }
                    }
                    _ => self.parse_value(Some(name)),
                }
            }
            Some(t @ (Tok::Word { .. } | Tok::Phrase(_) | Tok::Range { .. })) => {
                self.pos -= 1;
                let _ = t;
                self.parse_value(field.map(str::to_string))
            }
            Some(t) => Err(QueryError(format!("unexpected {t:?}"))),
            None => Err(QueryError("unexpected end of query".into())),
        }
    }

    fn parse_value(&mut self, field: Option<String>) -> Result<Query, QueryError> {
        let value = match self.next() {
            Some(Tok::Word { text, wildcard }) => {
                if wildcard.is_empty() {
                    TermValue::Exact(text)
                } else {
                    TermValue::Wildcard(wildcard)
                }
            }
            Some(Tok::Phrase(s)) => TermValue::Exact(s),
            Some(Tok::Range { lower, upper }) => TermValue::Range { lower, upper },
            _ => {
                return Err(QueryError(format!(
                    "missing value for field '{}'",
                    field.unwrap_or_default()
                )))
            }
        };
        check_term(field.as_deref(), &value)?;
        Ok(Query::Term { field, value })
    }
}

/// Auth0's documented restrictions on individual terms.
fn check_term(field: Option<&str>, value: &TermValue) -> Result<(), QueryError> {
    let on_user_metadata =
        field.is_some_and(|f| f == "user_metadata" || f.starts_with("user_metadata."));
    match value {
        TermValue::Wildcard(parts) => {
            if on_user_metadata {
                return Err(QueryError(
                    "wildcard searches are not available on user metadata fields".into(),
                ));
            }
            let prefix_only = matches!(parts.as_slice(), [Glob::Lit(_), Glob::Star]);
            let literal: usize = parts
                .iter()
                .map(|p| {
                    if let Glob::Lit(s) = p {
                        s.chars().count()
                    } else {
                        0
                    }
                })
                .sum();
            if !prefix_only && literal < 3 {
                return Err(QueryError(
                    "wildcard searches other than prefix searches need at least 3 literal characters".into(),
                ));
            }
        }
        TermValue::Range { .. } if on_user_metadata => {
            return Err(QueryError(
                "range searches are not available on user metadata fields".into(),
            ))
        }
        _ => {}
    }
    Ok(())
}

/// Parses a `q` parameter. An empty query matches every user.
pub fn parse(input: &str) -> Result<Option<Query>, QueryError> {
    let toks = tokenize(input)?;
    if toks.is_empty() {
        return Ok(None);
    }
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let q = p.parse_or(None)?;
    if p.pos < p.toks.len() {
        return Err(QueryError(format!("unexpected {:?}", p.toks[p.pos])));
    }
    Ok(Some(q))
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

/// Does `user` match `query`?
pub fn matches(query: &Query, user: &Map<String, Value>) -> bool {
    match query {
        Query::And(qs) => qs.iter().all(|q| matches(q, user)),
        Query::Or(qs) => qs.iter().any(|q| matches(q, user)),
        Query::Not(q) => !matches(q, user),
        Query::Exists(field) => lookup(user, field).iter().any(|v| is_indexed(v)),
        Query::Term {
            field: Some(f),
            value,
        } => lookup(user, f).iter().any(|v| value_matches(f, v, value)),
        Query::Term { field: None, value } => DEFAULT_FIELDS
            .iter()
            .any(|f| lookup(user, f).iter().any(|v| value_matches(f, v, value))),
    }
}

/// Empty arrays, empty objects and nulls are not indexed by Auth0, so they are never found.
fn is_indexed(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// Every value at a dotted path; arrays are looked through at any level, as Auth0 does.
fn lookup<'a>(user: &'a Map<String, Value>, path: &str) -> Vec<&'a Value> {
    if path == "email.domain" {
        return match user.get("email") {
            Some(Value::String(_)) => vec![user.get("email").unwrap_or(&Value::Null)],
            _ => vec![],
        };
    }
    let mut current: Vec<&Value> = Vec::new();
    let mut segments = path.split('.');
    let Some(first) = segments.next() else {
        return current;
    };
    if let Some(v) = user.get(first) {
        current.push(v);
    }
    for seg in segments {
        let mut next = Vec::new();
        for v in current {
            collect_child(v, seg, &mut next);
        }
        current = next;
    }
    // Arrays are flattened at every depth (`[["x"]]` is indexed as "x").
    fn flatten<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
            other => out.push(other),
        }
    }
    let mut flat = Vec::new();
    for v in current {
        flatten(v, &mut flat);
    }
    flat
}

/// Case folding as Auth0's search does it: one character at a time, each to its simple
/// lower-case mapping (as Java's `Character.toLowerCase`, which Elasticsearch's lowercase
/// filter uses): `İ` is `i`, a final `Σ` is `σ`, `ſ` stays `ſ`. UNCONFIRMED against a live
/// tenant for letters beyond ASCII; the FDW only relies on it for ASCII.
pub fn fold_case(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '\u{130}' {
                return 'i';
            }
            let mut lower = c.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(l), None) => l,
                _ => c,
            }
        })
        .collect()
}

fn collect_child<'a>(v: &'a Value, key: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(o) => {
            if let Some(c) = o.get(key) {
                out.push(c);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_child(item, key, out);
            }
        }
        _ => {}
    }
}

fn value_matches(field: &str, stored: &Value, want: &TermValue) -> bool {
    let ci = CASE_INSENSITIVE.contains(&field);
    let text: String = match stored {
        Value::String(s) if field == "email.domain" => s
            .rsplit_once('@')
            .map(|(_, d)| d.to_string())
            .unwrap_or_default(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => return false,
    };
    match want {
        TermValue::Exact(w) => match stored {
            Value::Number(n) => match (n.as_f64(), w.parse::<f64>()) {
                (Some(a), Ok(b)) => a == b,
                _ => false,
            },
            _ if ci => fold_case(&text) == fold_case(w),
            _ => text == *w,
        },
        TermValue::Wildcard(parts) => {
            if ci {
                let lowered: Vec<Glob> = parts
                    .iter()
                    .map(|g| match g {
                        Glob::Lit(s) => Glob::Lit(fold_case(s)),
                        Glob::Star => Glob::Star,
                    })
                    .collect();
                glob_match(&lowered, &fold_case(&text))
            } else {
                glob_match(parts, &text)
            }
        }
        TermValue::Range { lower, upper } => {
            let cmp = |bound: &str, upper_side: bool| -> Option<Ordering> {
                compare_for_range(field, stored, &text, bound, upper_side)
            };
            let lower_ok = match lower {
                Bound::Open => true,
                Bound::Inclusive(b) => cmp(b, false).is_some_and(|o| o != Ordering::Less),
                Bound::Exclusive(b) => cmp(b, false).is_some_and(|o| o == Ordering::Greater),
            };
            let upper_ok = match upper {
                Bound::Open => true,
                Bound::Inclusive(b) => cmp(b, true).is_some_and(|o| o != Ordering::Greater),
                Bound::Exclusive(b) => cmp(b, true).is_some_and(|o| o == Ordering::Less),
            };
            lower_ok && upper_ok
        }
    }
}

/// Compares a stored value with a range bound: numbers numerically, dates as instants (a partial
/// date such as `2017-12` means its first instant as a lower bound and its last as an upper one),
/// anything else as strings.
fn compare_for_range(
    field: &str,
    stored: &Value,
    text: &str,
    bound: &str,
    upper_side: bool,
) -> Option<Ordering> {
    if let Value::Number(n) = stored {
        return n.as_f64()?.partial_cmp(&bound.parse::<f64>().ok()?);
    }
    if DATE_FIELDS.contains(&field) {
        let have = crate::time::parse_instant_ms(text)?;
        let want = crate::time::parse_bound_ms(bound, upper_side)?;
        return Some(have.cmp(&want));
    }
    Some(text.cmp(bound))
}

fn glob_match(parts: &[Glob], text: &str) -> bool {
    match parts.split_first() {
        None => text.is_empty(),
        Some((Glob::Lit(l), rest)) => text
            .strip_prefix(l.as_str())
            .is_some_and(|t| glob_match(rest, t)),
        Some((Glob::Star, rest)) => {
            if rest.is_empty() {
                return true;
            }
            text.char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(text.len()))
                .any(|i| glob_match(rest, &text[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Map<String, Value> {
        json!({
            "user_id": "auth0|63d17c4c5d69f3e86d515d1c",
            "email": "chuck520@example.com",
            "name": "Chuck Sanchez",
            "given_name": "Chuck",
            "logins_count": 12,
            "blocked": false,
            "created_at": "2023-01-25T19:00:28.395Z",
            "identities": [{"connection": "Username-Password-Authentication", "provider": "auth0"}],
            "app_metadata": {"plan": "gold", "roles": ["admin", "dev"], "address": {"city": "Paris"}},
            "user_metadata": {"theme": "dark", "tags": []}
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    fn m(q: &str) -> bool {
        matches(&parse(q).unwrap().unwrap(), &user())
    }

    #[test]
    fn exact_terms_and_case_rules() {
        assert!(m(r#"email:"CHUCK520@example.com""#));
        assert!(m("given_name:chuck"));
        assert!(!m("app_metadata.plan:Gold"), "metadata is case-sensitive");
        assert!(m("app_metadata.plan:gold"));
        assert!(m(r#"name:"chuck sanchez""#));
        assert!(m(r"name:Chuck\ Sanchez"));
        assert!(!m("user_id:auth0"), "no tokenization");
        assert!(m("user_id:auth0*"));
        assert!(m(r#"user_id:"auth0|63d17c4c5d69f3e86d515d1c""#));
    }

    #[test]
    fn paths_arrays_and_exists() {
        assert!(m(
            r#"identities.connection:"Username-Password-Authentication""#
        ));
        assert!(m("app_metadata.roles:dev"));
        assert!(m("app_metadata.address.city:Paris"));
        assert!(m("_exists_:app_metadata.plan"));
        assert!(
            !m("_exists_:user_metadata.tags"),
            "empty arrays are not indexed"
        );
        assert!(!m("_exists_:last_login"));
        assert!(m("NOT _exists_:last_login"));
        assert!(m(r#"email.domain:"EXAMPLE.com""#));
        let nested = serde_json::json!({"app_metadata": {"a": [["x", [5]]]}});
        let nested = nested.as_object().unwrap();
        let q = |s: &str| matches(&parse(s).unwrap().unwrap(), nested);
        assert!(
            q(r#"app_metadata.a:"x""#),
            "arrays are flattened at every depth"
        );
        assert!(q("app_metadata.a:5"));
    }

    #[test]
    fn case_folding_is_per_character() {
        assert_eq!(fold_case("İPEK"), "ipek");
        assert_eq!(fold_case("ΟΔΟΣ"), "οδοσ");
        assert_eq!(fold_case("ſam"), "ſam");
        assert_eq!(fold_case("Ada"), "ada");
    }

    #[test]
    fn ranges_and_booleans() {
        assert!(m("logins_count:[10 TO *]"));
        assert!(!m("logins_count:{12 TO *]"));
        assert!(m("logins_count:[12 TO 12]"));
        assert!(
            m("created_at:[2023-01-25 TO 2023-01-25]"),
            "partial upper date covers the day"
        );
        assert!(m("created_at:[2023-01 TO 2023-02}"));
        assert!(!m("created_at:{2023-01-25T19:00:28.395Z TO *]"));
        assert!(m("created_at:[2023-01-25T19:00:28.395Z TO *]"));
        assert!(m("blocked:false"));
        assert!(!m("blocked:true"));
    }

    #[test]
    fn boolean_operators_and_groups() {
        assert!(m("blocked:true OR given_name:chuck"));
        assert!(!m("blocked:true AND given_name:chuck"));
        assert!(m("NOT blocked:true AND (given_name:x OR given_name:chuck)"));
        assert!(m(r#"given_name:("x" OR "chuck")"#));
        assert!(
            m("given_name:chuck logins_count:12"),
            "adjacent clauses are AND-ed"
        );
        assert!(m("chuck"), "field-less terms match profile fields");
    }

    #[test]
    fn wildcards() {
        assert!(m("email:chu*"));
        assert!(m("name:*anchez"));
        assert!(m("email:*520@*"));
        assert!(parse("name:*ez").is_err(), "suffix needs 3 literal chars");
        assert!(parse("user_metadata.theme:da*").is_err());
        assert!(parse("user_metadata.n:[1 TO 2]").is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        for q in [
            format!("name:{}", "(".repeat(500)),
            format!("{}a{}", "(".repeat(5000), ")".repeat(5000)),
            format!("{}a", "NOT ".repeat(5000)),
        ] {
            let e = parse(&q).unwrap_err();
            assert!(
                e.0.contains("levels deep") || e.0.contains("parenthesis"),
                "{}",
                e.0
            );
        }
        let ok = format!("{}email_verified:true{}", "(".repeat(30), ")".repeat(30));
        assert!(parse(&ok).unwrap().is_some());
    }

    #[test]
    fn syntax_errors() {
        for bad in ["(a", "email:", "a AND", "x:[1 TO", "\"open", "_exists_:"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse("  ").unwrap(), None);
    }
}
