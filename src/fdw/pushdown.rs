//! From the quals, sort and limit Postgres hands the scan to a remote plan (see
//! docs/architecture.md, "The data path of a scan"). Pushed conditions only ever narrow to a superset of the answer: Postgres rechecks every
//! qual, so anything Auth0 cannot evaluate exactly is widened or left out, never guessed.

use super::columns::{self, Search, Sort as SortRule};
use super::lucene::{self, Like};
pub use auth0_api::users::Sort as RemoteSort;

/// Facts about the query that the framework does not pass to `get_rel_size` (read by our
/// planner hook from the `PlannerInfo`).
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryShape {
    /// Restriction clauses on the table; more than the quals we were given means some were not
    /// even offered for pushdown.
    pub restrictions: usize,
    /// Number of `ORDER BY` keys of the query.
    pub pathkeys: usize,
    /// The query reads only this table and has nothing between the scan and its LIMIT
    /// (no join, grouping, DISTINCT, window, set operation or set-returning function).
    pub limit_applies_to_scan: bool,
}

/// How the scan reaches the users.
#[derive(Debug, Clone, PartialEq)]
pub enum Access {
    /// `user_id = X`: `GET /api/v2/users/{id}`.
    UserId(String),
    /// `email = X`: `GET /api/v2/users-by-email`.
    Email(String),
    /// Everything else: `GET /api/v2/users?q=...`.
    Search,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub access: Access,
    /// Translated conditions, AND-ed into the search query.
    pub conditions: Vec<String>,
    /// Quals (as SQL) Auth0 does not evaluate; Postgres filters them.
    pub local: Vec<String>,
    /// Every restriction was translated exactly enough for a LIMIT to be pushed.
    pub all_pushed: bool,
    pub sort: Option<RemoteSort>,
    pub limit: Option<u64>,
    /// Top-level fields to ask for; `None` asks for whole users.
    pub fields: Option<Vec<String>>,
    /// The value of the `q` column (the raw query(ies) the user passed).
    pub q_text: Option<String>,
    /// `connection = 'name'`: an export job can be limited to that connection.
    pub connection: Option<String>,
}

impl Plan {
    /// The search query (`None` lists every user).
    pub fn query(&self) -> Option<String> {
        match self.conditions.len() {
            0 => None,
            1 => Some(self.conditions[0].clone()),
            _ => Some(self.conditions.join(" AND ")),
        }
    }
}

/// Longest search query we send; Auth0 answers 414 for over-long URLs. Conditions past it are
/// left to Postgres (biggest first).
const MAX_QUERY_CHARS: usize = 3000;

/// A SQL literal as search sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Text(String),
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Postgres microseconds since 2000-01-01 UTC.
    Time(i64),
}

fn number(l: &Lit) -> Option<String> {
    match l {
        Lit::Int(i) => Some(i.to_string()),
        Lit::Float(f) if f.is_finite() => Some(f.to_string()),
        _ => None,
    }
}

/// The search field for a column.
fn field_of(column: &str, search: Search) -> &str {
    if search == Search::Connection {
        "identities.connection"
    } else {
        column
    }
}

/// One comparison `column op value` as a search condition, when search can evaluate it as a
/// superset of the SQL meaning.
fn condition(column: &str, op: &str, value: &Lit) -> Option<String> {
    let search = columns::spec(column).search;
    let field = field_of(column, search);
    use Search as S;
    match (search, op, value) {
        (S::Text | S::TextCaseInsensitive | S::Connection, "=", Lit::Text(s)) => {
            Some(format!("{field}:{}", lucene::phrase(s)))
        }
        // `<>` on a case-insensitive field would also drop other spellings Postgres keeps.
        (S::Text, "<>", Lit::Text(s)) => Some(format!("NOT {field}:{}", lucene::phrase(s))),
        (S::Text | S::TextCaseInsensitive | S::Connection, "~~", Lit::Text(p))
        | (S::TextCaseInsensitive, "~~*", Lit::Text(p)) => match lucene::like(p) {
            Like::Exact(s) => Some(format!("{field}:{}", lucene::phrase(&s))),
            Like::Prefix(s) => Some(format!("{field}:{}*", lucene::escape_term(&s))),
            Like::Unusable => None,
        },
        (S::Bool, "=", Lit::Bool(b)) => Some(format!("{field}:{b}")),
        (S::Bool, "<>", Lit::Bool(b)) => Some(format!("NOT {field}:{b}")),
        (S::Number, "=", v) => number(v).map(|n| format!("{field}:{n}")),
        (S::Number, "<>", v) => number(v).map(|n| format!("NOT {field}:{n}")),
        (S::Number, "<" | "<=" | ">" | ">=", Lit::Int(i)) => Some(match op {
            "<" => format!("{field}:[* TO {i}}}"),
            "<=" => format!("{field}:[* TO {i}]"),
            ">" => format!("{field}:{{{i} TO *]"),
            _ => format!("{field}:[{i} TO *]"),
        }),
        (S::Number, "<" | "<=" | ">" | ">=", Lit::Float(f)) if f.is_finite() => Some(match op {
            "<" | "<=" => format!("{field}:[* TO {}]", f.ceil() as i64),
            _ => format!("{field}:[{} TO *]", f.floor() as i64),
        }),
        // Auth0 keeps milliseconds, Postgres microseconds: bounds are widened to whole
        // milliseconds and made inclusive, which can only add rows (Postgres drops them again).
        // An instant outside Auth0's four-digit years is not pushed (`?`): Postgres decides.
        (S::Time, "=", Lit::Time(t)) => Some(format!(
            "{field}:[{} TO {}]",
            crate::time::format_pg_micros(*t, false)?,
            crate::time::format_pg_micros(*t, true)?
        )),
        (S::Time, ">" | ">=", Lit::Time(t)) => Some(format!(
            "{field}:[{} TO *]",
            crate::time::format_pg_micros(*t, false)?
        )),
        (S::Time, "<" | "<=", Lit::Time(t)) => Some(format!(
            "{field}:[* TO {}]",
            crate::time::format_pg_micros(*t, true)?
        )),
        _ => None,
    }
}

fn null_test(column: &str, negated: bool) -> Option<String> {
    let search = columns::spec(column).search;
    match search {
        Search::Text
        | Search::TextCaseInsensitive
        | Search::Bool
        | Search::Number
        | Search::Time => {
            let f = field_of(column, search);
            Some(if negated {
                format!("_exists_:{f}")
            } else {
                format!("NOT _exists_:{f}")
            })
        }
        _ => None,
    }
}

/// A restriction on one column, as the framework passed it (values already converted).
#[derive(Debug, Clone, PartialEq)]
pub struct Cond {
    pub column: String,
    /// The operator's name: `=`, `<>`, `<`, `~~` (LIKE), `~~*` (ILIKE), `is`, `is not`, ...
    pub op: String,
    pub value: CondValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CondValue {
    One(Lit),
    /// `= ANY(array)` / `IN (...)`.
    Any(Vec<Lit>),
    /// `op ALL(array)`.
    All(Vec<Lit>),
    /// `IS [NOT] NULL`.
    Null,
    /// A value search cannot use (an unsupported type, a NULL constant).
    Other,
}

/// One `ORDER BY` key on a column.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub column: String,
    pub descending: bool,
    pub nulls_first: bool,
    /// An explicit COLLATE: never pushed.
    pub collated: bool,
}

/// Translates one restriction; `None` leaves it to Postgres.
fn translate(c: &Cond) -> Option<String> {
    if c.column == "q" {
        return match (c.op.as_str(), &c.value) {
            ("=", CondValue::One(Lit::Text(q))) if !q.trim().is_empty() => Some(format!("({q})")),
            _ => None,
        };
    }
    match (c.op.as_str(), &c.value) {
        ("is" | "is not", CondValue::Null) => null_test(&c.column, c.op == "is not"),
        ("is" | "is not", CondValue::One(Lit::Bool(b)))
            if columns::spec(&c.column).search == Search::Bool =>
        {
            let t = format!("{}:{b}", c.column);
            Some(if c.op == "is" { t } else { format!("NOT {t}") })
        }
        ("=", CondValue::Any(items)) => {
            let parts: Option<Vec<String>> =
                items.iter().map(|l| condition(&c.column, "=", l)).collect();
            match parts?.as_slice() {
                [] => None,
                [one] => Some(one.clone()),
                many => Some(format!("({})", many.join(" OR "))),
            }
        }
        (op, CondValue::One(l)) => condition(&c.column, op, l),
        _ => None,
    }
}

fn text_eq(conds: &[Cond], column: &str) -> Option<String> {
    conds.iter().find_map(|c| match (&c.value, c.op.as_str()) {
        (CondValue::One(Lit::Text(s)), "=") if c.column == column => Some(s.clone()),
        _ => None,
    })
}

/// The e-mail shape `users-by-email` accepts; anything else is searched for instead (a value
/// that Auth0 would reject as an e-mail can still be compared).
fn email_lookup_ok(s: &str) -> bool {
    matches!(s.split_once('@'), Some((l, d)) if !l.is_empty() && !d.is_empty() && !d.contains('@'))
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && s.len() <= 254
}

/// A restriction as SQL-ish text for EXPLAIN.
pub fn describe(c: &Cond) -> String {
    let show = |l: &Lit| match l {
        Lit::Text(s) => format!("'{}'", s.replace('\'', "''")),
        Lit::Bool(b) => b.to_string(),
        Lit::Int(i) => i.to_string(),
        Lit::Float(f) => f.to_string(),
        Lit::Time(t) => match crate::time::format_pg_micros(*t, false) {
            Some(iso) => format!("'{iso}'"),
            None => format!("(a timestamp outside years 0001-9999: {t} µs from 2000-01-01)"),
        },
    };
    let op = match c.op.as_str() {
        "~~" => "LIKE",
        "~~*" => "ILIKE",
        "!~~" => "NOT LIKE",
        "!~~*" => "NOT ILIKE",
        "is" => "IS",
        "is not" => "IS NOT",
        other => other,
    };
    let list = |items: &[Lit]| items.iter().map(show).collect::<Vec<_>>().join(", ");
    match &c.value {
        CondValue::One(l) => format!("{} {op} {}", c.column, show(l)),
        CondValue::Any(items) => format!("{} {op} ANY({})", c.column, list(items)),
        CondValue::All(items) => format!("{} {op} ALL({})", c.column, list(items)),
        CondValue::Null => format!("{} {op} NULL", c.column),
        CondValue::Other => format!("{} {op} (value)", c.column),
    }
}

/// Decides the remote plan. `columns` are the columns the query needs; `limit` is
/// `(count, offset)`.
pub fn plan(
    conds: &[Cond],
    columns: &[String],
    sorts: &[SortKey],
    limit: Option<(i64, i64)>,
    shape: &QueryShape,
) -> Plan {
    let mut conditions = Vec::new();
    let mut local = Vec::new();
    for c in conds {
        match translate(c) {
            Some(t) => conditions.push(t),
            None => local.push(describe(c)),
        }
    }
    // Over-long queries: leave the longest conditions to Postgres.
    while conditions.iter().map(|c| c.len() + 5).sum::<usize>() > MAX_QUERY_CHARS {
        let Some(i) = conditions
            .iter()
            .enumerate()
            .max_by_key(|(_, c)| c.len())
            .map(|(i, _)| i)
        else {
            break;
        };
        local.push(format!("(too long to send) {}", conditions.remove(i)));
    }
    let all_pushed = local.is_empty() && conds.len() >= shape.restrictions;

    let q_text: Vec<String> = conds
        .iter()
        .filter_map(|c| match (&c.value, c.op.as_str()) {
            (CondValue::One(Lit::Text(s)), "=") if c.column == "q" => Some(s.clone()),
            _ => None,
        })
        .collect();
    let q_text = if q_text.is_empty() {
        None
    } else {
        Some(q_text.join(" AND "))
    };

    let connection = text_eq(conds, "connection");
    // A raw `q` is evaluated by Auth0's search alone (Postgres cannot recheck it: the column
    // reads back as the query), so a query with one never takes a point lookup, which would
    // ignore it.
    let access = if q_text.is_some() {
        Access::Search
    } else if let Some(id) = text_eq(conds, "user_id") {
        Access::UserId(id)
    } else if let Some(email) = text_eq(conds, "email").filter(|e| email_lookup_ok(e)) {
        Access::Email(email)
    } else {
        Access::Search
    };

    // A remote sort only serves a remote LIMIT, and both are exact only when Auth0 orders the
    // way Postgres does and nothing stands between the scan and the LIMIT.
    let remote_sort = match (sorts, shape.pathkeys) {
        ([], 0) => Some(None),
        ([s], 1) => {
            let ok = !s.collated
                && match columns::spec(&s.column).sort {
                    SortRule::Always => true,
                    SortRule::NullsLast => !s.nulls_first,
                    SortRule::No => false,
                };
            ok.then(|| Some(RemoteSort::new(s.column.clone(), s.descending)))
        }
        _ => None,
    };
    let (sort, limit) = match (limit, remote_sort) {
        (Some((count, offset)), Some(sort))
            if all_pushed && shape.limit_applies_to_scan && access == Access::Search =>
        {
            // Saturating: `LIMIT 9223372036854775807 OFFSET 1` needs every row, and so does
            // a saturated bound (it exceeds any tenant).
            let rows = count.max(0).saturating_add(offset.max(0));
            (sort, Some(rows as u64)) // >= 0 after max(0): the cast is exact
        }
        _ => (None, None),
    };

    let mut fields: Vec<String> = Vec::new();
    let mut whole = false;
    for c in columns {
        match columns::auth0_field(c) {
            Some("*") => whole = true,
            Some(f) if !fields.iter().any(|x| x == f) => fields.push(f.to_string()),
            _ => {}
        }
    }
    if fields.is_empty() {
        fields.push("user_id".into()); // count(*) and friends: the smallest answer
    }
    Plan {
        access,
        conditions,
        local,
        all_pushed,
        sort,
        limit,
        fields: if whole { None } else { Some(fields) },
        q_text,
        connection,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(column: &str, op: &str, l: Lit) -> Cond {
        Cond {
            column: column.into(),
            op: op.into(),
            value: CondValue::One(l),
        }
    }
    fn t(v: &str) -> Lit {
        Lit::Text(v.into())
    }
    fn null(column: &str, op: &str) -> Cond {
        Cond {
            column: column.into(),
            op: op.into(),
            value: CondValue::Null,
        }
    }
    fn shape(n: usize) -> QueryShape {
        QueryShape {
            restrictions: n,
            pathkeys: 0,
            limit_applies_to_scan: true,
        }
    }
    fn cols(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| s.to_string()).collect()
    }
    fn sort(column: &str, descending: bool, nulls_first: bool) -> SortKey {
        SortKey {
            column: column.into(),
            descending,
            nulls_first,
            collated: false,
        }
    }

    #[test]
    fn point_lookups() {
        let p = plan(
            &[c("user_id", "=", t("auth0|1")), c("email", "=", t("a@b.c"))],
            &cols(&["user_id"]),
            &[],
            None,
            &shape(2),
        );
        assert_eq!(p.access, Access::UserId("auth0|1".into()));
        let p = plan(
            &[c("email", "=", t("a@b.c"))],
            &cols(&["email"]),
            &[],
            None,
            &shape(1),
        );
        assert_eq!(p.access, Access::Email("a@b.c".into()));
        let p = plan(
            &[c("email", "=", t("not an email"))],
            &cols(&["email"]),
            &[],
            None,
            &shape(1),
        );
        assert_eq!(p.access, Access::Search);
        assert_eq!(p.query().unwrap(), r#"email:"not an email""#);
    }

    #[test]
    fn translations() {
        let cases: Vec<(Cond, Option<&str>)> = vec![
            (c("name", "=", t("Ada \"L\"")), Some(r#"name:"Ada \"L\"""#)),
            (c("name", "<>", t("Ada")), None),
            (c("username", "<>", t("ada")), Some(r#"NOT username:"ada""#)),
            (c("email", "~~", t("ada.%")), Some(r"email:ada.*")),
            (c("email", "~~", t("%@x.com")), None),
            (c("name", "~~*", t("a b%")), Some(r"name:a\ b*")),
            (c("username", "~~*", t("a%")), None),
            (
                c("connection", "=", t("google-oauth2")),
                Some(r#"identities.connection:"google-oauth2""#),
            ),
            (c("blocked", "=", Lit::Bool(true)), Some("blocked:true")),
            (
                c("blocked", "is not", Lit::Bool(true)),
                Some("NOT blocked:true"),
            ),
            (
                c("logins_count", ">", Lit::Int(5)),
                Some("logins_count:{5 TO *]"),
            ),
            (
                c("logins_count", "<=", Lit::Int(5)),
                Some("logins_count:[* TO 5]"),
            ),
            (
                c("logins_count", ">", Lit::Float(5.5)),
                Some("logins_count:[5 TO *]"),
            ),
            (c("logins_count", "=", Lit::Int(0)), Some("logins_count:0")),
            (
                c("created_at", ">=", Lit::Time(500)),
                Some("created_at:[2000-01-01T00:00:00.000Z TO *]"),
            ),
            (
                c("created_at", "<", Lit::Time(500)),
                Some("created_at:[* TO 2000-01-01T00:00:00.001Z]"),
            ),
            (
                c("created_at", "=", Lit::Time(0)),
                Some("created_at:[2000-01-01T00:00:00.000Z TO 2000-01-01T00:00:00.000Z]"),
            ),
            (c("created_at", "<>", Lit::Time(0)), None),
            (null("last_login", "is"), Some("NOT _exists_:last_login")),
            (
                null("phone_number", "is not"),
                Some("_exists_:phone_number"),
            ),
            (null("user_metadata", "is"), None),
            (c("picture", "=", t("x")), None),
            (c("custom_column", "=", t("x")), None),
            (
                c("q", "=", t("app_metadata.plan:gold")),
                Some("(app_metadata.plan:gold)"),
            ),
            (
                Cond {
                    column: "email".into(),
                    op: "=".into(),
                    value: CondValue::Other,
                },
                None,
            ),
            (
                Cond {
                    column: "email".into(),
                    op: "=".into(),
                    value: CondValue::Any(vec![t("a@x.com"), t("b@x.com")]),
                },
                Some(r#"(email:"a@x.com" OR email:"b@x.com")"#),
            ),
            (
                Cond {
                    column: "email".into(),
                    op: "<>".into(),
                    value: CondValue::All(vec![t("a@x.com")]),
                },
                None,
            ),
        ];
        for (cond, want) in cases {
            assert_eq!(translate(&cond).as_deref(), want, "{cond:?}");
        }
    }

    #[test]
    fn q_is_never_dropped_by_a_point_lookup() {
        let q = c("q", "=", t("email_verified:false"));
        for key in ["user_id", "email"] {
            let p = plan(
                &[c(key, "=", t("ada@example.com")), q.clone()],
                &cols(&["user_id"]),
                &[],
                None,
                &shape(2),
            );
            assert_eq!(p.access, Access::Search, "{key}");
            assert_eq!(
                p.query().unwrap(),
                format!("{key}:\"ada@example.com\" AND (email_verified:false)")
            );
        }
    }

    #[test]
    fn pushed_limits_never_overflow() {
        let sh = shape(0);
        let rows = |count: i64, offset: i64| {
            let lim = Some((std::hint::black_box(count), std::hint::black_box(offset)));
            plan(&[], &cols(&["user_id"]), &[], lim, &sh).limit
        };
        assert_eq!(rows(i64::MAX, 1), Some(i64::MAX as u64));
        assert_eq!(rows(i64::MAX, i64::MAX), Some(i64::MAX as u64));
        assert_eq!(rows(1, i64::MAX), Some(i64::MAX as u64));
        assert_eq!(rows(0, 0), Some(0));
        assert_eq!(
            rows(-5, 3),
            Some(3),
            "negative counts are refused by Postgres later"
        );
        assert_eq!(rows(10, -1), Some(10));
        assert_eq!(rows(999, 2), Some(1001));
    }

    #[test]
    fn timestamps_auth0_cannot_write_are_left_to_postgres() {
        let at = |iso: &str| Lit::Time(crate::time::parse_iso_to_pg_micros(iso).unwrap());
        // 10000-01-01 and 4713 BC do not parse as Auth0 timestamps; Postgres' extremes:
        let far_future = Lit::Time(9_223_371_331_200_000_000); // 294276 AD
        let far_past = Lit::Time(-211_813_488_000_000_000); // 4713 BC
        for (op, v) in [
            ("<", &far_future),
            (">", &far_future),
            (">=", &far_past),
            ("=", &far_past),
        ] {
            let p = plan(
                &[c("created_at", op, v.clone())],
                &cols(&["user_id"]),
                &[],
                None,
                &shape(1),
            );
            assert!(p.conditions.is_empty(), "{op}: {:?}", p.conditions);
            assert_eq!(p.local.len(), 1, "{op}");
        }
        let p = plan(
            &[c("created_at", "<", at("9999-12-31T23:59:59.999Z"))],
            &cols(&["user_id"]),
            &[],
            None,
            &shape(1),
        );
        assert_eq!(
            p.conditions,
            vec!["created_at:[* TO 9999-12-31T23:59:59.999Z]"]
        );
    }

    #[test]
    fn limit_only_when_everything_is_pushed() {
        let lim = Some((10, 5));
        let by_created = sort("created_at", true, true);
        let sh = QueryShape {
            restrictions: 1,
            pathkeys: 1,
            limit_applies_to_scan: true,
        };
        let p = plan(
            &[c("blocked", "=", Lit::Bool(false))],
            &cols(&["user_id"]),
            std::slice::from_ref(&by_created),
            lim,
            &sh,
        );
        assert_eq!(
            (p.sort.as_ref().map(|s| s.to_string()).as_deref(), p.limit),
            (Some("created_at:-1"), Some(15))
        );

        // A qual Postgres must evaluate: no limit.
        let p = plan(
            &[c("picture", "=", t("x"))],
            &cols(&["user_id"]),
            std::slice::from_ref(&by_created),
            lim,
            &sh,
        );
        assert_eq!(p.limit, None);
        // A restriction the framework did not even offer (e.g. on a JSON path): no limit.
        assert_eq!(
            plan(&[], &cols(&["user_id"]), &[], lim, &shape(1)).limit,
            None
        );
        // A join or grouping between the scan and the LIMIT: no limit.
        let joined = QueryShape {
            limit_applies_to_scan: false,
            ..shape(0)
        };
        assert_eq!(
            plan(&[], &cols(&["user_id"]), &[], lim, &joined).limit,
            None
        );
        // Text order is not Postgres' collation order; NULLS FIRST is not Auth0's order.
        let sh0 = QueryShape {
            restrictions: 0,
            ..sh
        };
        assert_eq!(
            plan(
                &[],
                &cols(&["name"]),
                &[sort("name", false, false)],
                lim,
                &sh0
            )
            .limit,
            None
        );
        assert_eq!(
            plan(
                &[],
                &cols(&["x"]),
                &[sort("last_login", true, true)],
                lim,
                &sh0
            )
            .limit,
            None
        );
        assert_eq!(
            plan(
                &[],
                &cols(&["x"]),
                &[sort("last_login", true, false)],
                lim,
                &sh0
            )
            .limit,
            Some(15)
        );
        let collated = SortKey {
            collated: true,
            ..by_created.clone()
        };
        assert_eq!(plan(&[], &cols(&["x"]), &[collated], lim, &sh0).limit, None);
        // Two ORDER BY keys: Auth0 sorts by one.
        let two = QueryShape { pathkeys: 2, ..sh0 };
        assert_eq!(
            plan(
                &[],
                &cols(&["x"]),
                &[by_created.clone(), sort("logins_count", false, false)],
                lim,
                &two
            )
            .limit,
            None
        );
        // No ORDER BY: any rows will do.
        assert_eq!(
            plan(&[], &cols(&["x"]), &[], lim, &shape(0)).limit,
            Some(15)
        );
        // Lookups ignore LIMIT.
        assert_eq!(
            plan(
                &[c("user_id", "=", t("a|b"))],
                &cols(&["x"]),
                &[],
                lim,
                &shape(1)
            )
            .limit,
            None
        );
    }

    #[test]
    fn over_long_queries_leave_conditions_to_postgres() {
        let many: Vec<Lit> = (0..400)
            .map(|i| t(&format!("user{i}@example.com")))
            .collect();
        let conds = vec![
            Cond {
                column: "email".into(),
                op: "=".into(),
                value: CondValue::Any(many),
            },
            c("blocked", "=", Lit::Bool(true)),
        ];
        let p = plan(&conds, &cols(&["email"]), &[], Some((5, 0)), &shape(2));
        assert_eq!(p.query().as_deref(), Some("blocked:true"));
        assert!(!p.all_pushed);
        assert_eq!(p.limit, None);
    }

    #[test]
    fn q_reads_back_and_fields_follow_columns() {
        let p = plan(
            &[c("q", "=", t("a:b"))],
            &cols(&["email", "connection", "q"]),
            &[],
            None,
            &shape(1),
        );
        assert_eq!(p.q_text.as_deref(), Some("a:b"));
        assert_eq!(p.fields, Some(vec!["email".into(), "identities".into()]));
        let p = plan(&[], &cols(&["email", "raw"]), &[], None, &shape(0));
        assert_eq!(p.fields, None);
        let p = plan(&[], &[], &[], None, &shape(0));
        assert_eq!(p.fields, Some(vec!["user_id".into()]));
    }
}
