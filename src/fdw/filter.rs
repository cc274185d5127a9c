//! The table's restriction clauses as a tree search can reason about, and their translation into
//! Auth0 search queries (search engine v3).
//!
//! `clauses.rs` reads the planner's expressions into [`Filter`]s; this module is pure (no
//! Postgres), so every rule below is unit-tested on its own.
//!
//! ## Only ever widen
//! Postgres rechecks every clause on every row the scan returns, so a translation may match
//! *more* users than the clause (a superset), never fewer. Three-valued logic makes `NOT` the
//! hard part: the users where `NOT p` is true are those where `p` is *false*, so a superset of
//! them is the complement of a *subset* of the users where `p` is true or unknown. Each
//! translation therefore has two sides ([`Translation`]):
//! - `upper`: matches at least every user for whom the clause is true;
//! - `lower`: matches only users for whom the clause is true or NULL (never one where it is
//!   false);
//!
//! and `NOT p` is `upper = NOT lower(p)`, `lower = NOT upper(p)`. A side that cannot be
//! written is `None`: for `upper` that means "every user" (the clause is left to Postgres), for
//! `lower` "no user".
//!
//! `exact` says the `upper` side matches exactly the users for whom the clause is true: only
//! then may a LIMIT be sent with it (Postgres dropping rows after a remote LIMIT would return a
//! short result).
//!
//! Auth0's rules followed here (the README's "How a scan works" lists what is pushed): `email`, `name`,
//! `given_name`, `family_name` and `nickname` compare case-insensitively, everything else
//! (metadata included) case-sensitively; metadata terms look through arrays at every level;
//! empty arrays, empty objects and nulls are not indexed; wildcards and ranges are not
//! available on `user_metadata`; a wildcard term needs a literal prefix here (leading wildcards
//! are allowed by Auth0 but can exceed its 2 s search timeout on a large tenant).

use super::columns::{self, Search};
use super::lucene::{self, Like};
use serde_json::Value as Json;

/// A SQL value as search sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Text(String),
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Postgres microseconds since 2000-01-01 UTC.
    Time(i64),
    /// A `jsonb` value (the pattern of `@>`).
    Json(Json),
    /// A `numeric` strictly between `floor` and `floor + 1` (kept exact: a float would round
    /// `2.9999999999999999999` to 3).
    Fraction {
        floor: i64,
    },
    /// An array (the right side of `= ANY(...)` / `IN (...)`).
    List(Vec<Lit>),
    /// SQL NULL.
    Null,
    /// A value computed when the scan starts, not known yet (planning, plain EXPLAIN): shown
    /// as `$n`, never part of an exact translation.
    Later(usize),
    /// A value of a type search has no use for.
    Other,
}

/// Where the value of a comparison comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A constant of the query.
    Known(Lit),
    /// The n-th expression evaluated when the scan starts (`now() - interval '30 days'`,
    /// `current_date`, a parameter of a prepared statement, an InitPlan's result).
    AtStart(usize),
}

/// What a clause compares.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A column of the table, by name.
    Column(String),
    /// `lower(column)`.
    Folded(String),
    /// A text value inside a metadata column: `app_metadata->'a'->>'b'`,
    /// `app_metadata #>> '{a,b}'`.
    Path { column: String, path: Vec<String> },
}

/// A comparison operator (`<>` is read as `NOT =`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A restriction clause (or part of one).
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    /// `target op value`.
    Compare {
        target: Target,
        op: Op,
        value: Operand,
    },
    /// `target = ANY(list)`, `target IN (...)`.
    AnyOf {
        target: Target,
        list: Operand,
    },
    /// `target LIKE pattern`, or `ILIKE` when `case_insensitive`.
    Like {
        target: Target,
        pattern: Operand,
        case_insensitive: bool,
    },
    /// `target IS NULL` (never NULL itself).
    IsNull(Target),
    /// `column IS TRUE` / `column IS FALSE` (never NULL itself).
    Is {
        column: String,
        value: bool,
    },
    /// `column @> pattern` on a metadata column.
    Contains {
        column: String,
        pattern: Operand,
    },
    /// `q = '...'`: a raw search query, evaluated by Auth0 alone.
    Query(Operand),
    /// Anything search cannot evaluate.
    Opaque,
}

/// A translated filter (see the module's notes).
#[derive(Debug, Clone, PartialEq)]
pub struct Translation {
    pub upper: Option<String>,
    pub lower: Option<String>,
    pub exact: bool,
    /// The clause is never NULL (`IS NULL`, `IS TRUE`, and combinations of them).
    pub total: bool,
}

impl Translation {
    fn none() -> Translation {
        Translation {
            upper: None,
            lower: None,
            exact: false,
            total: false,
        }
    }

    /// A leaf query that matches exactly the users for whom the clause is true.
    fn exact(q: String, total: bool) -> Translation {
        Translation {
            upper: Some(q.clone()),
            lower: Some(q),
            exact: true,
            total,
        }
    }

    /// A leaf query that matches a superset of them.
    fn widened(q: String) -> Translation {
        Translation {
            upper: Some(q),
            lower: None,
            exact: false,
            total: false,
        }
    }

    fn from_leaf(leaf: Option<Leaf>) -> Translation {
        match leaf {
            Some(Leaf { query, exact: true }) => Translation::exact(query, false),
            Some(Leaf {
                query,
                exact: false,
            }) => Translation::widened(query),
            None => Translation::none(),
        }
    }
}

/// One search term and whether it is exact.
struct Leaf {
    query: String,
    exact: bool,
}

fn leaf(query: String, exact: bool) -> Option<Leaf> {
    Some(Leaf { query, exact })
}

/// Joins with an operator, parenthesising each part that is itself a combination.
pub fn join(parts: Vec<String>, op: &str) -> String {
    if parts.len() == 1 {
        return parts.into_iter().next().unwrap_or_default();
    }
    parts
        .into_iter()
        .map(|p| {
            if needs_parens(&p) {
                format!("({p})")
            } else {
                p
            }
        })
        .collect::<Vec<_>>()
        .join(&format!(" {op} "))
}

/// Whether `q` has an operator outside quotes, brackets and parentheses (then it is grouped
/// before being combined).
fn needs_parens(q: &str) -> bool {
    let (mut depth, mut quoted, mut escaped) = (0i32, false, false);
    let bytes = q.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' => escaped = true,
            b'"' => quoted = !quoted,
            b'(' | b'[' | b'{' if !quoted => depth += 1,
            b')' | b']' | b'}' if !quoted => depth -= 1,
            b' ' if !quoted && depth == 0 => {
                let rest = &q[i + 1..];
                if rest.starts_with("AND ") || rest.starts_with("OR ") {
                    return true;
                }
            }
            _ => {}
        }
    }
    q.starts_with("NOT ")
}

fn negate(q: &str) -> String {
    if let Some(inner) = q.strip_prefix("NOT ").filter(|i| !needs_parens(i)) {
        return inner.to_string();
    }
    if needs_parens(q) {
        format!("NOT ({q})")
    } else {
        format!("NOT {q}")
    }
}

/// Deepest AND/OR/NOT nesting translated (Auth0 refuses very deep queries; deeper parts are
/// left to Postgres).
const MAX_DEPTH: usize = 24;

/// Translates a filter with the values of its `AtStart` operands (`values[n]`).
pub fn translate(f: &Filter, values: &[Lit]) -> Translation {
    translate_at(f, values, 0)
}

fn translate_at(f: &Filter, values: &[Lit], depth: usize) -> Translation {
    let translate = |f: &Filter, values: &[Lit]| translate_at(f, values, depth + 1);
    if depth > MAX_DEPTH && matches!(f, Filter::And(_) | Filter::Or(_) | Filter::Not(_)) {
        return Translation::none();
    }
    match f {
        Filter::And(parts) => {
            let parts: Vec<Translation> = parts.iter().map(|p| translate(p, values)).collect();
            let uppers: Vec<String> = parts.iter().filter_map(|p| p.upper.clone()).collect();
            let lowers: Option<Vec<String>> = parts.iter().map(|p| p.lower.clone()).collect();
            Translation {
                exact: parts.iter().all(|p| p.exact),
                total: parts.iter().all(|p| p.total),
                upper: (!uppers.is_empty()).then(|| join(uppers, "AND")),
                lower: lowers.filter(|l| !l.is_empty()).map(|l| join(l, "AND")),
            }
        }
        Filter::Or(parts) => {
            let parts: Vec<Translation> = parts.iter().map(|p| translate(p, values)).collect();
            let uppers: Option<Vec<String>> = parts
                .iter()
                .map(|p| p.upper.clone().filter(|u| !nested_metadata(u)))
                .collect();
            let lowers: Vec<String> = parts
                .iter()
                .filter_map(|p| p.lower.clone().filter(|l| !nested_metadata(l)))
                .collect();
            Translation {
                exact: parts.iter().all(|p| p.exact),
                total: parts.iter().all(|p| p.total),
                upper: uppers.filter(|u| !u.is_empty()).map(|u| join(u, "OR")),
                lower: (!lowers.is_empty()).then(|| join(lowers, "OR")),
            }
        }
        Filter::Not(inner) => {
            if let Some(t) = negated_bool(inner, values) {
                return t;
            }
            let t = translate(inner, values);
            Translation {
                upper: t
                    .lower
                    .as_deref()
                    .filter(|l| !nested_metadata(l))
                    .map(negate),
                lower: t
                    .upper
                    .as_deref()
                    .filter(|u| !nested_metadata(u))
                    .map(negate),
                // Where `p` is NULL, `NOT p` is NULL too, yet `NOT lower(p)` matches that user.
                exact: t.exact && t.total && t.lower.is_some(),
                total: t.total,
            }
        }
        Filter::Compare { target, op, value } => {
            Translation::from_leaf(compare(target, *op, &resolve(value, values)))
        }
        Filter::AnyOf { target, list } => match resolve(list, values) {
            Lit::List(items) => {
                let leaves: Option<Vec<Leaf>> = items
                    .iter()
                    .filter(|l| **l != Lit::Null) // `x = NULL` is never true
                    .map(|l| compare(target, Op::Eq, l))
                    .collect();
                match leaves {
                    Some(l) if l.len() > 1 && l.iter().any(|l| nested_metadata(&l.query)) => {
                        Translation::none()
                    }
                    Some(l) if !l.is_empty() => {
                        let exact = l.iter().all(|l| l.exact);
                        let q = join(l.into_iter().map(|l| l.query).collect(), "OR");
                        Translation::from_leaf(leaf(q, exact))
                    }
                    _ => Translation::none(),
                }
            }
            _ => Translation::none(),
        },
        Filter::Like {
            target,
            pattern,
            case_insensitive,
        } => match resolve(pattern, values) {
            Lit::Text(p) => Translation::from_leaf(like(target, &p, *case_insensitive)),
            _ => Translation::none(),
        },
        Filter::IsNull(Target::Column(c)) => {
            let search = columns::spec(c).search;
            match search {
                Search::Text
                | Search::TextCaseInsensitive
                | Search::Bool
                | Search::Number
                | Search::Time => {
                    Translation::exact(format!("NOT _exists_:{}", field_of(c, search)), true)
                }
                _ => Translation::none(),
            }
        }
        Filter::IsNull(_) => Translation::none(),
        Filter::Is { column, value } if columns::spec(column).search == Search::Bool => {
            Translation::exact(format!("{column}:{value}"), true)
        }
        Filter::Is { .. } => Translation::none(),
        Filter::Contains { column, pattern } => match resolve(pattern, values) {
            Lit::Json(j @ Json::Object(_)) if is_metadata(column) => {
                let mut terms = Vec::new();
                containment_terms(column, &j, &mut terms);
                // One order whatever the key order of the pattern.
                terms.sort();
                terms.dedup();
                if terms.is_empty() {
                    Translation::none()
                } else {
                    Translation::widened(join(terms, "AND"))
                }
            }
            _ => Translation::none(),
        },
        Filter::Query(q) => match resolve(q, values) {
            Lit::Text(q) if !q.trim().is_empty() => Translation::exact(format!("({q})"), false),
            _ => Translation::none(),
        },
        Filter::Opaque => Translation::none(),
    }
}

/// `NOT (b = v)` on a boolean column is true exactly where `b` is `NOT v`, and NULL where `b`
/// is missing, like `b = NOT v`: so it is that exact term (`NOT blocked` is `blocked:false`),
/// not the negation of `b:v`, which also matches users without the field.
fn negated_bool(inner: &Filter, values: &[Lit]) -> Option<Translation> {
    let Filter::Compare {
        target: Target::Column(c),
        op: Op::Eq,
        value,
    } = inner
    else {
        return None;
    };
    match resolve(value, values) {
        Lit::Bool(b) if columns::spec(c).search == Search::Bool => Some(Translation::from_leaf(
            compare_column(c, Op::Eq, &Lit::Bool(!b)),
        )),
        _ => None,
    }
}

/// Whether a query names a metadata field below the root (`app_metadata.a.b`). Auth0 documents
/// its boolean operators for "normalized user fields and root metadata fields" only, so such
/// terms are only ever AND-ed (never under OR or NOT). Text inside phrases may also trip this:
/// that only leaves more to Postgres.
fn nested_metadata(q: &str) -> bool {
    ["app_metadata.", "user_metadata."].iter().any(|m| {
        q.match_indices(m).any(|(i, _)| {
            let rest = &q[i + m.len()..];
            let field = rest.split(':').next().unwrap_or_default();
            field.contains('.')
        })
    })
}

fn resolve(o: &Operand, values: &[Lit]) -> Lit {
    match o {
        Operand::Known(l) => l.clone(),
        Operand::AtStart(n) => values.get(*n).cloned().unwrap_or(Lit::Other),
    }
}

fn is_metadata(column: &str) -> bool {
    column == "app_metadata" || column == "user_metadata"
}

/// The search field for a column.
fn field_of(column: &str, search: Search) -> &str {
    if search == Search::Connection {
        "identities.connection"
    } else {
        column
    }
}

/// A metadata key usable in a field name (`app_metadata.<key>`): no dots, spaces or query
/// syntax.
fn safe_key(k: &str) -> bool {
    // A number may be an array position (`#>> '{tags,0}'`), which search cannot address.
    k.parse::<i64>().is_err()
        && !k.is_empty()
        && k.len() <= 100
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn metadata_field(column: &str, path: &[String]) -> Option<String> {
    (is_metadata(column) && !path.is_empty() && path.iter().all(|k| safe_key(k)))
        .then(|| format!("{column}.{}", path.join(".")))
}

/// A number as a search term: a leading `-` is escaped (unescaped, Lucene reads it as the
/// prohibit operator: `logins_count:-1` is a syntax error).
fn num_term(n: String) -> String {
    match n.strip_prefix('-') {
        Some(rest) => format!("\\-{rest}"),
        None => n,
    }
}

fn number(l: &Lit) -> Option<String> {
    match l {
        Lit::Int(i) => Some(num_term(i.to_string())),
        Lit::Float(f) if f.is_finite() => Some(num_term(f.to_string())),
        Lit::Later(n) => Some(format!("${}", n + 1)),
        _ => None,
    }
}

/// An instant as a range bound, rounded to Auth0's milliseconds (down or up).
fn instant(l: &Lit, up: bool) -> Option<String> {
    match l {
        Lit::Time(t) => crate::time::format_pg_micros(*t, up),
        Lit::Later(n) => Some(format!("${}", n + 1)),
        _ => None,
    }
}

fn whole_ms(l: &Lit) -> bool {
    matches!(l, Lit::Time(t) if t.rem_euclid(1000) == 0)
}

/// `target op value` as one search term.
fn compare(target: &Target, op: Op, value: &Lit) -> Option<Leaf> {
    match target {
        Target::Column(c) => compare_column(c, op, value),
        Target::Folded(c) => {
            // Auth0 compares these fields case-insensitively: `email:"x"` matches every
            // spelling whose `lower()` is `x` — when `x` is ASCII. Case rules for other letters
            // differ between Postgres (per collation) and Auth0 (`İ`, `ſ`, a final `Σ`), so those
            // are left to Postgres.
            let search = columns::spec(c).search;
            match (search, op, value) {
                (Search::TextCaseInsensitive, Op::Eq, Lit::Text(s)) if s.is_ascii() => {
                    leaf(format!("{c}:{}", lucene::phrase(s)), false)
                }
                _ => None,
            }
        }
        Target::Path { column, path } => {
            let field = metadata_field(column, path)?;
            match (op, value) {
                (Op::Eq, Lit::Text(s)) => metadata_text(&field, s),
                _ => None,
            }
        }
    }
}

/// `metadata->>'key' = 'text'`. `->>` also turns numbers and booleans into text, so a value
/// that reads as one is searched both ways. Text that only an object or array turns into (`{`,
/// `[`) and empty text are left to Postgres (not indexed, or not matchable by a term).
fn metadata_text(field: &str, s: &str) -> Option<Leaf> {
    if s.is_empty() || s.starts_with('{') || s.starts_with('[') {
        return None;
    }
    let phrase = format!("{field}:{}", lucene::phrase(s));
    let scalar = match serde_json::from_str::<Json>(s) {
        Ok(Json::Number(n)) => Some(num_term(n.to_string())),
        Ok(Json::Bool(b)) => Some(b.to_string()),
        _ => None,
    };
    // Never exact: a term also matches inside arrays, where `->>` reads the whole array.
    match scalar {
        // Two spellings need an OR, which nested metadata fields do not take.
        Some(_) if nested_metadata(field) => None,
        Some(v) => leaf(format!("({phrase} OR {field}:{v})"), false),
        None => leaf(phrase, false),
    }
}

fn compare_column(column: &str, op: Op, value: &Lit) -> Option<Leaf> {
    let search = columns::spec(column).search;
    let field = field_of(column, search);
    use Search as S;
    match (search, op, value) {
        (S::Text, Op::Eq, Lit::Text(s)) => leaf(format!("{field}:{}", lucene::phrase(s)), true),
        // Auth0 ignores case on these; `identities.connection` matches any identity, the column
        // holds the first one's.
        (S::TextCaseInsensitive | S::Connection, Op::Eq, Lit::Text(s)) => {
            leaf(format!("{field}:{}", lucene::phrase(s)), false)
        }
        (S::Text | S::TextCaseInsensitive | S::Connection, Op::Eq, Lit::Later(n)) => {
            leaf(format!("{field}:${}", n + 1), false)
        }
        (S::Bool, Op::Eq, Lit::Bool(b)) => leaf(format!("{field}:{b}"), true),
        (S::Number, Op::Eq, v) => number(v).map(|n| Leaf {
            query: format!("{field}:{n}"),
            exact: !matches!(v, Lit::Later(_)),
        }),
        // Auth0 counts whole logins: each bound is moved to the nearest whole number that
        // keeps exactly the same users (`> 5.5` is `>= 6`).
        (S::Number, _, Lit::Int(i)) => leaf(range(field, op, &i.to_string(), &i.to_string()), true),
        (S::Number, _, Lit::Float(f)) if f.is_finite() && f.abs() < 9.0e15 => {
            let (down, up) = (f.floor() as i64, f.ceil() as i64);
            leaf(range(field, op, &down.to_string(), &up.to_string()), true)
        }
        (S::Number, _, Lit::Fraction { floor }) => {
            let up = floor.checked_add(1)?;
            leaf(range(field, op, &floor.to_string(), &up.to_string()), true)
        }
        (S::Number, _, Lit::Later(n)) => {
            let p = format!("${}", n + 1);
            leaf(range(field, op, &p, &p), false)
        }
        // Auth0 keeps milliseconds, Postgres microseconds: a stored millisecond `s` is `> t`
        // exactly when it is `> floor(t)`, `>= t` when `>= ceil(t)`, and so on. An instant
        // outside Auth0's four-digit years is not pushed (`?`).
        (S::Time, Op::Eq, t) => {
            let (down, up) = (instant(t, false)?, instant(t, true)?);
            leaf(format!("{field}:[{down} TO {up}]"), whole_ms(t))
        }
        (S::Time, _, t @ (Lit::Time(_) | Lit::Later(_))) => leaf(
            range(field, op, &instant(t, false)?, &instant(t, true)?),
            !matches!(t, Lit::Later(_)),
        ),
        _ => None,
    }
}

/// A one-sided range for `op` given the value rounded down and up to what Auth0 stores.
fn range(field: &str, op: Op, down: &str, up: &str) -> String {
    match op {
        Op::Gt => format!("{field}:{{{down} TO *]"),
        Op::Ge => format!("{field}:[{up} TO *]"),
        Op::Lt => format!("{field}:[* TO {up}}}"),
        Op::Le => format!("{field}:[* TO {down}]"),
        Op::Eq => format!("{field}:[{down} TO {up}]"),
    }
}

/// `target LIKE pattern` / `ILIKE`.
fn like(target: &Target, pattern: &str, case_insensitive: bool) -> Option<Leaf> {
    let (field, search) = match target {
        Target::Column(c) => {
            let search = columns::spec(c).search;
            (field_of(c, search).to_string(), search)
        }
        Target::Folded(c) if columns::spec(c).search == Search::TextCaseInsensitive => {
            (c.clone(), Search::TextCaseInsensitive)
        }
        _ => return None,
    };
    // `%@example.com` on the e-mail: Auth0 indexes the domain on its own. Only for a
    // case-sensitive LIKE on the column: whether Auth0 compares domains case-insensitively is
    // not documented.
    if field == "email" && !case_insensitive && matches!(target, Target::Column(_)) {
        if let Some(domain) = pattern.strip_prefix("%@") {
            if let Like::Exact(d) = lucene::like(domain) {
                if !d.is_empty() && !d.contains('@') {
                    return leaf(format!("email.domain:{}", lucene::phrase(&d)), false);
                }
            }
        }
    }
    match search {
        Search::Text | Search::TextCaseInsensitive | Search::Connection => {}
        _ => return None,
    }
    // ILIKE cannot be evaluated on a field Auth0 compares case-sensitively; case-insensitive
    // matches agree with Auth0's only for ASCII patterns (see `compare`, `Target::Folded`).
    // ILIKE lower-cases the pattern by collation: a Turkish one makes `I` a dotless `ı`.
    let folded = case_insensitive || matches!(target, Target::Folded(_));
    if folded
        && (search != Search::TextCaseInsensitive
            || !pattern.is_ascii()
            || (case_insensitive && pattern.contains('I')))
    {
        return None;
    }
    let exact_field = search == Search::Text && !case_insensitive;
    match lucene::like(pattern) {
        Like::Exact(s) => leaf(format!("{field}:{}", lucene::phrase(&s)), exact_field),
        Like::Prefix(p) => {
            // Exact only for `literal%` (a `_` or a later literal is widened to the prefix).
            let exact = exact_field && lucene::like_is_prefix_only(pattern);
            leaf(format!("{field}:{}*", lucene::escape_term(&p)), exact)
        }
        Like::Unusable => None,
    }
}

/// The terms an `@>` pattern implies: every scalar at its path (arrays are looked through, as
/// Auth0's search does). Nulls, empty containers and keys search cannot name are skipped (the
/// term list only narrows less).
fn containment_terms(prefix: &str, pattern: &Json, out: &mut Vec<String>) {
    match pattern {
        Json::Object(map) => {
            for (k, v) in map {
                if safe_key(k) {
                    containment_terms(&format!("{prefix}.{k}"), v, out);
                }
            }
        }
        Json::Array(items) => {
            for v in items {
                containment_terms(prefix, v, out);
            }
        }
        // A path with at least one key below the column.
        _ if !prefix.contains('.') => {}
        Json::String(s) if !s.is_empty() => out.push(format!("{prefix}:{}", lucene::phrase(s))),
        Json::Number(n) => out.push(format!("{prefix}:{}", num_term(n.to_string()))),
        Json::Bool(b) => out.push(format!("{prefix}:{b}")),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(c: &str) -> Target {
        Target::Column(c.into())
    }
    fn text(s: &str) -> Operand {
        Operand::Known(Lit::Text(s.into()))
    }
    fn cmp(t: Target, op: Op, v: Operand) -> Filter {
        Filter::Compare {
            target: t,
            op,
            value: v,
        }
    }
    fn up(f: &Filter) -> Option<String> {
        translate(f, &[]).upper
    }
    fn path(column: &str, keys: &[&str]) -> Target {
        Target::Path {
            column: column.into(),
            path: keys.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn metadata_paths() {
        let f = cmp(path("app_metadata", &["plan"]), Op::Eq, text("gold"));
        let t = translate(&f, &[]);
        assert_eq!(t.upper.as_deref(), Some(r#"app_metadata.plan:"gold""#));
        assert!(!t.exact, "a term also matches inside arrays");
        assert_eq!(t.lower, None);
        let f = cmp(
            path("user_metadata", &["prefs", "theme"]),
            Op::Eq,
            text("dark"),
        );
        assert_eq!(
            up(&f).as_deref(),
            Some(r#"user_metadata.prefs.theme:"dark""#)
        );
        // ->> turns numbers and booleans into text.
        let f = cmp(path("app_metadata", &["n"]), Op::Eq, text("5"));
        assert_eq!(
            up(&f).as_deref(),
            Some(r#"(app_metadata.n:"5" OR app_metadata.n:5)"#)
        );
        // Not indexed, unmatchable, or not a field name: left to Postgres.
        for (keys, v) in [
            (&["plan"][..], "{}"),
            (&["plan"][..], "[]"),
            (&["plan"][..], ""),
            (&["a.b"][..], "x"),
            (&["a b"][..], "x"),
            (&["tags", "0"][..], "x"),
            (&["tags", "-1"][..], "x"),
            (&[][..], "x"),
        ] {
            assert_eq!(up(&cmp(path("app_metadata", keys), Op::Eq, text(v))), None);
        }
        assert_eq!(up(&cmp(path("raw", &["email"]), Op::Eq, text("x"))), None);
        // No ranges or wildcards on metadata.
        assert_eq!(
            up(&cmp(path("app_metadata", &["n"]), Op::Gt, text("5"))),
            None
        );
        let like = Filter::Like {
            target: path("user_metadata", &["theme"]),
            pattern: text("da%"),
            case_insensitive: false,
        };
        assert_eq!(up(&like), None);
    }

    #[test]
    fn nested_metadata_is_only_and_ed() {
        let nested = cmp(
            path("user_metadata", &["prefs", "theme"]),
            Op::Eq,
            text("dark"),
        );
        let root = cmp(path("app_metadata", &["plan"]), Op::Eq, text("pro"));
        let or = Filter::Or(vec![nested.clone(), root.clone()]);
        assert_eq!(up(&or), None);
        assert_eq!(up(&Filter::Not(Box::new(nested.clone()))), None);
        assert_eq!(
            up(&Filter::Or(vec![root.clone(), root.clone()])).as_deref(),
            Some(r#"app_metadata.plan:"pro" OR app_metadata.plan:"pro""#)
        );
        assert_eq!(
            up(&Filter::And(vec![nested.clone(), root])).as_deref(),
            Some(r#"user_metadata.prefs.theme:"dark" AND app_metadata.plan:"pro""#)
        );
        assert_eq!(
            up(&cmp(path("app_metadata", &["a", "n"]), Op::Eq, text("5"))),
            None
        );
        assert!(!nested_metadata(r#"app_metadata.plan:"a.b""#));
    }

    #[test]
    fn negative_numbers_are_escaped() {
        let t = translate(
            &cmp(col("logins_count"), Op::Eq, Operand::Known(Lit::Int(-1))),
            &[],
        );
        assert_eq!(t.upper.as_deref(), Some(r"logins_count:\-1"));
        let f = cmp(path("app_metadata", &["tz"]), Op::Eq, text("-5"));
        assert_eq!(
            up(&f).as_deref(),
            Some(r#"(app_metadata.tz:"-5" OR app_metadata.tz:\-5)"#)
        );
    }

    #[test]
    fn containment() {
        let c = |j: Json| Filter::Contains {
            column: "app_metadata".into(),
            pattern: Operand::Known(Lit::Json(j)),
        };
        assert_eq!(
            up(&c(serde_json::json!({"plan": "gold"}))).as_deref(),
            Some(r#"app_metadata.plan:"gold""#)
        );
        assert_eq!(
            up(&c(serde_json::json!({"roles": ["admin", "x"], "vip": true, "n": 5, "a": {"b": null}, "e": [], "o": {}})))
                .as_deref(),
            Some(r#"app_metadata.n:5 AND app_metadata.roles:"admin" AND app_metadata.roles:"x" AND app_metadata.vip:true"#)
        );
        assert_eq!(up(&c(serde_json::json!({}))), None);
        assert_eq!(up(&c(serde_json::json!(["x"]))), None);
        assert_eq!(up(&c(serde_json::json!({"bad key": 1}))), None);
    }

    #[test]
    fn boolean_trees_only_widen() {
        let verified = cmp(
            col("email_verified"),
            Op::Eq,
            Operand::Known(Lit::Bool(true)),
        );
        let blocked = cmp(col("blocked"), Op::Eq, Operand::Known(Lit::Bool(true)));
        let many = cmp(col("logins_count"), Op::Gt, Operand::Known(Lit::Int(100)));
        let f = Filter::Or(vec![
            Filter::And(vec![
                verified.clone(),
                Filter::Not(Box::new(blocked.clone())),
            ]),
            many.clone(),
        ]);
        let t = translate(&f, &[]);
        assert_eq!(
            t.upper.as_deref(),
            Some("(email_verified:true AND blocked:false) OR logins_count:{100 TO *]")
        );
        assert!(
            t.exact,
            "NOT blocked is NULL where blocked is missing, as blocked:false"
        );
        // NOT NOT blocked widens: `NOT blocked:false` also matches users without the field.
        let t = translate(
            &Filter::Not(Box::new(Filter::Not(Box::new(blocked.clone())))),
            &[],
        );
        assert_eq!(
            (t.upper.as_deref(), t.exact),
            (Some("NOT blocked:false"), false)
        );
        // A value known at scan start is negated the same way.
        let later = cmp(col("blocked"), Op::Eq, Operand::AtStart(0));
        let t = translate(&Filter::Not(Box::new(later)), &[Lit::Bool(false)]);
        assert_eq!((t.upper.as_deref(), t.exact), (Some("blocked:true"), true));

        // An untranslatable part: AND drops it, OR gives up, NOT of a widened term gives up.
        let opaque = Filter::Opaque;
        assert_eq!(
            up(&Filter::And(vec![verified.clone(), opaque.clone()])).as_deref(),
            Some("email_verified:true")
        );
        assert_eq!(
            up(&Filter::Or(vec![verified.clone(), opaque.clone()])),
            None
        );
        let ci = cmp(col("name"), Op::Eq, text("Ada"));
        assert_eq!(up(&Filter::Not(Box::new(ci.clone()))), None);
        // NOT (a OR opaque) = NOT a AND NOT opaque: NOT a still narrows.
        assert_eq!(
            up(&Filter::Not(Box::new(Filter::Or(vec![
                verified.clone(),
                opaque
            ]))))
            .as_deref(),
            Some("NOT email_verified:true")
        );
        // `<>` on an exact field, total tests.
        let t = translate(
            &Filter::Not(Box::new(Filter::IsNull(col("last_login")))),
            &[],
        );
        assert_eq!(t.upper.as_deref(), Some("_exists_:last_login"));
        assert!(t.exact);
        let t = translate(
            &Filter::Not(Box::new(Filter::Is {
                column: "blocked".into(),
                value: true,
            })),
            &[],
        );
        assert_eq!(
            (t.upper.as_deref(), t.exact),
            (Some("NOT blocked:true"), true)
        );
    }

    #[test]
    fn case_insensitive_fields_are_never_exact() {
        for c in [
            "email",
            "name",
            "nickname",
            "given_name",
            "family_name",
            "connection",
        ] {
            let t = translate(&cmp(col(c), Op::Eq, text("Ada")), &[]);
            assert!(t.upper.is_some() && !t.exact, "{c}");
        }
        let t = translate(&cmp(col("user_id"), Op::Eq, text("auth0|1")), &[]);
        assert!(t.exact);
        let lower = cmp(
            Target::Folded("email".into()),
            Op::Eq,
            text("ada@example.com"),
        );
        assert_eq!(up(&lower).as_deref(), Some(r#"email:"ada@example.com""#));
        assert_eq!(
            up(&cmp(Target::Folded("user_id".into()), Op::Eq, text("x"))),
            None
        );
        // Case rules beyond ASCII differ (Postgres' collation, Auth0's search).
        for s in ["οδοσ", "ırmak", "i\u{307}pek"] {
            assert_eq!(
                up(&cmp(Target::Folded("name".into()), Op::Eq, text(s))),
                None,
                "{s}"
            );
        }
    }

    #[test]
    fn like_patterns() {
        let l = |c: &str, p: &str, ci: bool| {
            let t = translate(
                &Filter::Like {
                    target: col(c),
                    pattern: text(p),
                    case_insensitive: ci,
                },
                &[],
            );
            (t.upper, t.exact)
        };
        assert_eq!(
            l("email", "%@example.com", false),
            (Some(r#"email.domain:"example.com""#.into()), false)
        );
        assert_eq!(l("email", "%@%.com", false), (None, false));
        assert_eq!(
            l("email", "%@example.com", true),
            (None, false),
            "domain case unknown"
        );
        assert_eq!(
            l("family_name", "YILMAZ%", true),
            (None, false),
            "a Turkish I"
        );
        assert_eq!(
            l("family_name", "yilmaz%", true),
            (Some("family_name:yilmaz*".into()), false)
        );
        assert_eq!(l("name", "%son", false), (None, false));
        assert_eq!(l("email", "ada%", true), (Some("email:ada*".into()), false));
        assert_eq!(l("username", "ada%", true), (None, false));
        assert_eq!(l("name", "οδοσ%", true), (None, false));
        assert_eq!(
            l("name", "ΟΔΟΣ%", false),
            (Some("name:ΟΔΟΣ*".into()), false)
        );
        assert_eq!(
            l("username", "ada%", false),
            (Some("username:ada*".into()), true)
        );
        assert_eq!(
            l("username", "ad_a%", false),
            (Some("username:ad*".into()), false)
        );
        assert_eq!(
            l("username", "ada%x", false),
            (Some("username:ada*".into()), false)
        );
        assert_eq!(
            l("user_id", "auth0|x", false),
            (Some(r#"user_id:"auth0|x""#.into()), true)
        );
        let folded = Filter::Like {
            target: Target::Folded("email".into()),
            pattern: text("ada%"),
            case_insensitive: false,
        };
        assert_eq!(up(&folded).as_deref(), Some("email:ada*"));
    }

    #[test]
    fn numbers_and_instants_round_to_what_auth0_stores() {
        let n = |op: Op, v: Lit| {
            let t = translate(&cmp(col("logins_count"), op, Operand::Known(v)), &[]);
            (t.upper.unwrap(), t.exact)
        };
        assert_eq!(
            n(Op::Gt, Lit::Float(5.5)),
            ("logins_count:{5 TO *]".into(), true)
        );
        assert_eq!(
            n(Op::Ge, Lit::Float(5.5)),
            ("logins_count:[6 TO *]".into(), true)
        );
        assert_eq!(
            n(Op::Lt, Lit::Float(5.5)),
            ("logins_count:[* TO 6}".into(), true)
        );
        assert_eq!(
            n(Op::Le, Lit::Float(5.5)),
            ("logins_count:[* TO 5]".into(), true)
        );
        assert_eq!(
            n(Op::Gt, Lit::Int(5)),
            ("logins_count:{5 TO *]".into(), true)
        );
        assert_eq!(n(Op::Eq, Lit::Int(5)), ("logins_count:5".into(), true));
        // 2.9999999999999999999 as a numeric: between 2 and 3, exactly.
        let frac = Lit::Fraction { floor: 2 };
        assert_eq!(
            n(Op::Gt, frac.clone()),
            ("logins_count:{2 TO *]".into(), true)
        );
        assert_eq!(
            n(Op::Ge, frac.clone()),
            ("logins_count:[3 TO *]".into(), true)
        );
        assert_eq!(
            n(Op::Lt, frac.clone()),
            ("logins_count:[* TO 3}".into(), true)
        );
        assert_eq!(
            n(Op::Le, frac.clone()),
            ("logins_count:[* TO 2]".into(), true)
        );
        assert_eq!(
            translate(&cmp(col("logins_count"), Op::Eq, Operand::Known(frac)), &[]).upper,
            None
        );
        let t = |op: Op, us: i64| {
            let t = translate(
                &cmp(col("created_at"), op, Operand::Known(Lit::Time(us))),
                &[],
            );
            (t.upper.unwrap(), t.exact)
        };
        // 500 µs after 2000-01-01: no stored millisecond equals it.
        assert_eq!(
            t(Op::Gt, 500).0,
            "created_at:{2000-01-01T00:00:00.000Z TO *]"
        );
        assert_eq!(
            t(Op::Ge, 500).0,
            "created_at:[2000-01-01T00:00:00.001Z TO *]"
        );
        assert_eq!(
            t(Op::Lt, 500).0,
            "created_at:[* TO 2000-01-01T00:00:00.001Z}"
        );
        assert_eq!(
            t(Op::Le, 500).0,
            "created_at:[* TO 2000-01-01T00:00:00.000Z]"
        );
        assert!(t(Op::Le, 500).1);
        assert_eq!(
            t(Op::Eq, 500),
            (
                "created_at:[2000-01-01T00:00:00.000Z TO 2000-01-01T00:00:00.001Z]".into(),
                false
            )
        );
        assert_eq!(
            t(Op::Eq, 1000),
            (
                "created_at:[2000-01-01T00:00:00.001Z TO 2000-01-01T00:00:00.001Z]".into(),
                true
            )
        );
        // A value known only when the scan starts: shown as a placeholder, never exact.
        let later = translate(
            &cmp(col("created_at"), Op::Gt, Operand::AtStart(0)),
            &[Lit::Later(0)],
        );
        assert_eq!(
            (later.upper.as_deref(), later.exact),
            (Some("created_at:{$1 TO *]"), false)
        );
        let now = translate(
            &cmp(col("created_at"), Op::Gt, Operand::AtStart(0)),
            &[Lit::Time(1000)],
        );
        assert_eq!(
            now.upper.as_deref(),
            Some("created_at:{2000-01-01T00:00:00.001Z TO *]")
        );
        assert!(now.exact);
        // Far outside Auth0's years: not pushed.
        assert_eq!(
            up(&cmp(
                col("created_at"),
                Op::Lt,
                Operand::Known(Lit::Time(9_223_371_331_200_000_000))
            )),
            None
        );
    }

    #[test]
    fn lists() {
        let f = Filter::AnyOf {
            target: col("email"),
            list: Operand::Known(Lit::List(vec![
                Lit::Text("a@x.com".into()),
                Lit::Null,
                Lit::Text("b@x.com".into()),
            ])),
        };
        assert_eq!(
            up(&f).as_deref(),
            Some(r#"email:"a@x.com" OR email:"b@x.com""#)
        );
        let f = Filter::AnyOf {
            target: path("app_metadata", &["plan"]),
            list: Operand::Known(Lit::List(vec![
                Lit::Text("gold".into()),
                Lit::Text("pro".into()),
            ])),
        };
        assert_eq!(
            up(&f).as_deref(),
            Some(r#"app_metadata.plan:"gold" OR app_metadata.plan:"pro""#)
        );
        let empty = Filter::AnyOf {
            target: col("email"),
            list: Operand::Known(Lit::List(vec![])),
        };
        assert_eq!(up(&empty), None);
    }

    #[test]
    fn very_deep_trees_leave_the_deep_part_to_postgres() {
        let leaf = cmp(col("user_id"), Op::Eq, text("a"));
        let mut f = leaf.clone();
        for _ in 0..(MAX_DEPTH * 2) {
            f = Filter::Or(vec![leaf.clone(), Filter::Not(Box::new(f))]);
        }
        // Still a sound translation of the upper levels, never deeper than the cap.
        let q = translate(&f, &[]).upper.unwrap_or_default();
        let depth = q
            .chars()
            .scan(0i32, |d, c| {
                *d += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                Some(*d)
            })
            .max()
            .unwrap_or(0);
        assert!(depth as usize <= MAX_DEPTH, "{depth}: {q}");
    }

    #[test]
    fn grouping_keeps_precedence() {
        let a = cmp(col("user_id"), Op::Eq, text("a"));
        let list = Filter::AnyOf {
            target: col("user_id"),
            list: Operand::Known(Lit::List(vec![
                Lit::Text("b".into()),
                Lit::Text("c".into()),
            ])),
        };
        assert_eq!(
            up(&Filter::And(vec![a.clone(), list.clone()])).as_deref(),
            Some(r#"user_id:"a" AND (user_id:"b" OR user_id:"c")"#)
        );
        assert_eq!(
            up(&Filter::Not(Box::new(list))).as_deref(),
            Some(r#"NOT (user_id:"b" OR user_id:"c")"#)
        );
        // A phrase holding " OR " is not an operator.
        assert!(!needs_parens(r#"name:"a OR b""#));
        assert!(!needs_parens("created_at:[a TO b]"));
    }
}
