//! From the quals, sort and limit Postgres hands the scan to a remote plan (design.md §2, steps
//! 1–3). Pushed conditions only ever narrow to a superset of the answer: Postgres rechecks every
//! qual, so anything Auth0 cannot evaluate exactly is widened or left out, never guessed.

use super::columns::{self, Search, Sort as SortRule};
use super::lucene::{self, Like};
use supabase_wrappers::prelude::{Cell, Limit, Qual, Sort, Value};

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
    pub sort: Option<String>,
    pub limit: Option<u64>,
    /// Top-level fields to ask for; `None` asks for whole users.
    pub fields: Option<Vec<String>>,
    /// The value of the `q` column (the raw query(ies) the user passed).
    pub q_text: Option<String>,
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
enum Lit {
    Text(String),
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Postgres microseconds since 2000-01-01 UTC.
    Time(i64),
}

fn lit(cell: &Cell) -> Option<Lit> {
    Some(match cell {
        Cell::String(s) => Lit::Text(s.clone()),
        Cell::Bool(b) => Lit::Bool(*b),
        Cell::I8(v) => Lit::Int(*v as i64),
        Cell::I16(v) => Lit::Int(*v as i64),
        Cell::I32(v) => Lit::Int(*v as i64),
        Cell::I64(v) => Lit::Int(*v),
        Cell::F32(v) => Lit::Float(*v as f64),
        Cell::F64(v) => Lit::Float(*v),
        Cell::Numeric(n) => Lit::Float(n.to_string().parse().ok()?),
        Cell::Timestamptz(t) if t.is_finite() => Lit::Time(i64::from(*t)),
        _ => return None,
    })
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
        (S::Time, "=", Lit::Time(t)) => Some(format!(
            "{field}:[{} TO {}]",
            crate::time::format_pg_micros(*t, false),
            crate::time::format_pg_micros(*t, true)
        )),
        (S::Time, ">" | ">=", Lit::Time(t)) => {
            Some(format!("{field}:[{} TO *]", crate::time::format_pg_micros(*t, false)))
        }
        (S::Time, "<" | "<=", Lit::Time(t)) => {
            Some(format!("{field}:[* TO {}]", crate::time::format_pg_micros(*t, true)))
        }
        _ => None,
    }
}

fn null_test(column: &str, negated: bool) -> Option<String> {
    let search = columns::spec(column).search;
    match search {
        Search::Text | Search::TextCaseInsensitive | Search::Bool | Search::Number | Search::Time => {
            let f = field_of(column, search);
            Some(if negated { format!("_exists_:{f}") } else { format!("NOT _exists_:{f}") })
        }
        _ => None,
    }
}

fn cell_value(qual: &Qual) -> Option<&Cell> {
    match &qual.value {
        Value::Cell(c) => Some(c),
        Value::Array(_) => None,
    }
}

/// Translates one qual; `None` leaves it to Postgres.
fn translate(qual: &Qual) -> Option<String> {
    if qual.field == "q" {
        return match (qual.operator.as_str(), cell_value(qual)) {
            ("=", Some(Cell::String(q))) if !q.trim().is_empty() => Some(format!("({q})")),
            _ => None,
        };
    }
    match (qual.operator.as_str(), &qual.value) {
        ("is" | "is not", Value::Cell(Cell::String(s))) if s == "null" => {
            null_test(&qual.field, qual.operator == "is not")
        }
        ("is" | "is not", Value::Cell(Cell::Bool(b))) if columns::spec(&qual.field).search == Search::Bool => {
            let c = format!("{}:{b}", qual.field);
            Some(if qual.operator == "is" { c } else { format!("NOT {c}") })
        }
        ("=", Value::Array(items)) if qual.use_or => {
            let parts: Option<Vec<String>> = items.iter().map(|c| lit(c).and_then(|l| condition(&qual.field, "=", &l))).collect();
            match parts?.as_slice() {
                [] => None,
                [one] => Some(one.clone()),
                many => Some(format!("({})", many.join(" OR "))),
            }
        }
        (op, Value::Cell(c)) if !qual.use_or => condition(&qual.field, op, &lit(c)?),
        _ => None,
    }
}

fn text_eq(quals: &[Qual], column: &str) -> Option<String> {
    quals.iter().find_map(|q| match (&q.value, q.operator.as_str()) {
        (Value::Cell(Cell::String(s)), "=") if q.field == column && !q.use_or => Some(s.clone()),
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

/// The quals with the current values of their parameters. A qual whose parameter has no value
/// (yet) is dropped: Postgres still evaluates it, and since fewer quals than restrictions remain,
/// no LIMIT is pushed.
pub fn with_parameter_values(quals: &[Qual]) -> Vec<Qual> {
    quals
        .iter()
        .filter_map(|q| {
            let mut q = q.clone();
            if let Some(p) = &q.param {
                let value = p.eval_value.lock().map(|v| v.clone()).unwrap_or(None);
                q.value = value?;
            }
            Some(q)
        })
        .collect()
}

/// Decides the remote plan. `columns` are the columns the query needs.
pub fn plan(quals: &[Qual], columns: &[String], sorts: &[Sort], limit: &Option<Limit>, shape: &QueryShape) -> Plan {
    let mut conditions = Vec::new();
    let mut local = Vec::new();
    for q in quals {
        match translate(q) {
            Some(c) => conditions.push(c),
            None => local.push(q.deparse()),
        }
    }
    // Over-long queries: leave the longest conditions to Postgres.
    while conditions.iter().map(|c| c.len() + 5).sum::<usize>() > MAX_QUERY_CHARS && !conditions.is_empty() {
        let (i, _) = conditions.iter().enumerate().max_by_key(|(_, c)| c.len()).unwrap_or((0, &String::new()));
        local.push(format!("(too long to send) {}", conditions.remove(i)));
    }
    let all_pushed = local.is_empty() && quals.len() >= shape.restrictions;

    let q_text: Vec<String> = quals
        .iter()
        .filter(|q| q.field == "q" && q.operator == "=")
        .filter_map(|q| match cell_value(q) {
            Some(Cell::String(s)) => Some(s.clone()),
            _ => None,
        })
        .collect();
    let q_text = if q_text.is_empty() { None } else { Some(q_text.join(" AND ")) };

    let access = if let Some(id) = text_eq(quals, "user_id") {
        Access::UserId(id)
    } else if let Some(email) = text_eq(quals, "email").filter(|e| email_lookup_ok(e)) {
        Access::Email(email)
    } else {
        Access::Search
    };

    // A remote sort only serves a remote LIMIT, and both are exact only when Auth0 orders the
    // way Postgres does and nothing stands between the scan and the LIMIT.
    let remote_sort = match (sorts, shape.pathkeys) {
        ([], 0) => Some(None),
        ([s], 1) => {
            let rule = columns::spec(&s.field).sort;
            let ok = s.collate.is_none()
                && match rule {
                    SortRule::Always => true,
                    SortRule::NullsLast => !s.nulls_first,
                    SortRule::No => false,
                };
            ok.then(|| Some(format!("{}:{}", s.field, if s.reversed { -1 } else { 1 })))
        }
        _ => None,
    };
    let (sort, limit) = match (limit, remote_sort) {
        (Some(l), Some(sort)) if all_pushed && shape.limit_applies_to_scan && access == Access::Search => {
            (sort, Some((l.count.max(0) + l.offset.max(0)) as u64))
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(field: &str, op: &str, cell: Cell) -> Qual {
        Qual { field: field.into(), operator: op.into(), value: Value::Cell(cell), use_or: false, param: None }
    }
    fn s(v: &str) -> Cell {
        Cell::String(v.into())
    }
    fn shape(n: usize) -> QueryShape {
        QueryShape { restrictions: n, pathkeys: 0, limit_applies_to_scan: true }
    }
    fn cols(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn point_lookups() {
        let p = plan(&[q("user_id", "=", s("auth0|1")), q("email", "=", s("a@b.c"))], &cols(&["user_id"]), &[], &None, &shape(2));
        assert_eq!(p.access, Access::UserId("auth0|1".into()));
        let p = plan(&[q("email", "=", s("a@b.c"))], &cols(&["email"]), &[], &None, &shape(1));
        assert_eq!(p.access, Access::Email("a@b.c".into()));
        let p = plan(&[q("email", "=", s("not an email"))], &cols(&["email"]), &[], &None, &shape(1));
        assert_eq!(p.access, Access::Search);
        assert_eq!(p.query().unwrap(), r#"email:"not an email""#);
    }

    #[test]
    fn translations() {
        let cases: Vec<(Qual, Option<&str>)> = vec![
            (q("name", "=", s("Ada \"L\"")), Some(r#"name:"Ada \"L\"""#)),
            (q("name", "<>", s("Ada")), None),
            (q("username", "<>", s("ada")), Some(r#"NOT username:"ada""#)),
            (q("email", "~~", s("ada.%")), Some(r"email:ada.*")),
            (q("email", "~~", s("%@x.com")), None),
            (q("name", "~~*", s("a b%")), Some(r"name:a\ b*")),
            (q("username", "~~*", s("a%")), None),
            (q("connection", "=", s("google-oauth2")), Some(r#"identities.connection:"google-oauth2""#)),
            (q("blocked", "=", Cell::Bool(true)), Some("blocked:true")),
            (q("blocked", "is not", Cell::Bool(true)), Some("NOT blocked:true")),
            (q("logins_count", ">", Cell::I64(5)), Some("logins_count:{5 TO *]")),
            (q("logins_count", "<=", Cell::I32(5)), Some("logins_count:[* TO 5]")),
            (q("logins_count", "=", Cell::I64(0)), Some("logins_count:0")),
            (q("last_login", "is", s("null")), Some("NOT _exists_:last_login")),
            (q("phone_number", "is not", s("null")), Some("_exists_:phone_number")),
            (q("user_metadata", "is", s("null")), None),
            (q("picture", "=", s("x")), None),
            (q("q", "=", s("app_metadata.plan:gold")), Some("(app_metadata.plan:gold)")),
        ];
        for (qual, want) in cases {
            assert_eq!(translate(&qual).as_deref(), want, "{qual:?}");
        }
        let inq = Qual {
            field: "email".into(),
            operator: "=".into(),
            value: Value::Array(vec![s("a@x.com"), s("b@x.com")]),
            use_or: true,
            param: None,
        };
        assert_eq!(translate(&inq).unwrap(), r#"(email:"a@x.com" OR email:"b@x.com")"#);
    }

    #[test]
    fn limit_only_when_everything_is_pushed() {
        let lim = Some(Limit { count: 10, offset: 5 });
        let sort = Sort { field: "created_at".into(), field_no: 13, reversed: true, nulls_first: true, collate: None };
        let sh = QueryShape { restrictions: 1, pathkeys: 1, limit_applies_to_scan: true };
        let p = plan(&[q("blocked", "=", Cell::Bool(false))], &cols(&["user_id"]), std::slice::from_ref(&sort), &lim, &sh);
        assert_eq!((p.sort.as_deref(), p.limit), (Some("created_at:-1"), Some(15)));

        // A qual Postgres must evaluate: no limit.
        let p = plan(&[q("picture", "=", s("x"))], &cols(&["user_id"]), std::slice::from_ref(&sort), &lim, &sh);
        assert_eq!(p.limit, None);
        // A restriction the framework did not even offer (e.g. on a JSON path): no limit.
        let p = plan(&[], &cols(&["user_id"]), &[], &lim, &shape(1));
        assert_eq!(p.limit, None);
        // A join or grouping between the scan and the LIMIT: no limit.
        let p = plan(&[], &cols(&["user_id"]), &[], &lim, &QueryShape { limit_applies_to_scan: false, ..shape(0) });
        assert_eq!(p.limit, None);
        // Text order is not Postgres' collation order; NULLS FIRST is not Auth0's order.
        let by_name = Sort { field: "name".into(), ..sort.clone() };
        assert_eq!(plan(&[], &cols(&["name"]), &[by_name], &lim, &QueryShape { restrictions: 0, ..sh }).limit, None);
        let by_login = Sort { field: "last_login".into(), ..sort.clone() };
        assert_eq!(plan(&[], &cols(&["x"]), &[by_login.clone()], &lim, &QueryShape { restrictions: 0, ..sh }).limit, None);
        let nulls_last = Sort { nulls_first: false, ..by_login };
        assert_eq!(plan(&[], &cols(&["x"]), &[nulls_last], &lim, &QueryShape { restrictions: 0, ..sh }).limit, Some(15));
        // No ORDER BY: any rows will do.
        assert_eq!(plan(&[], &cols(&["x"]), &[], &lim, &shape(0)).limit, Some(15));
    }

    #[test]
    fn fields_follow_columns() {
        let p = plan(&[], &cols(&["email", "connection", "q"]), &[], &None, &shape(0));
        assert_eq!(p.fields, Some(vec!["email".into(), "identities".into()]));
        let p = plan(&[], &cols(&["email", "raw"]), &[], &None, &shape(0));
        assert_eq!(p.fields, None);
        let p = plan(&[], &[], &[], &None, &shape(0));
        assert_eq!(p.fields, Some(vec!["user_id".into()]));
    }
}
