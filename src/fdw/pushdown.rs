//! From the quals, sort and limit Postgres hands the scan to a remote plan (see
//! docs/architecture.md, "The data path of a scan"). Pushed conditions only ever narrow to a superset of the answer: Postgres rechecks every
//! qual, so anything Auth0 cannot evaluate exactly is widened or left out, never guessed.

use super::columns::{self, Sort as SortRule};
use super::filter::{self, Filter, Lit, Op, Operand, Target};
pub use auth0_api::users::Sort as RemoteSort;

/// Facts about the query that the framework does not pass to `get_rel_size` (read by our
/// planner hook from the `PlannerInfo`).
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryShape {
    /// Number of `ORDER BY` keys of the query.
    pub pathkeys: usize,
    /// The query reads only this table and has nothing between the scan and its LIMIT
    /// (no join, grouping, DISTINCT, window, set operation or set-returning function).
    pub limit_applies_to_scan: bool,
    /// The query joins this table with other relations (row estimates matter).
    pub joined: bool,
}

/// What planning read for the scan, beyond what the framework passes.
#[derive(Debug, Clone, Default)]
pub struct Planning {
    pub shape: QueryShape,
    pub clauses: Vec<Clause>,
    /// The SQL of each `AtStart` value (`$1` is the first), for EXPLAIN.
    pub at_start_sql: Vec<String>,
}

/// One restriction clause of the table (the planner's `baserestrictinfo`): the tree search
/// reasons about, and its SQL for EXPLAIN.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub filter: Filter,
    pub sql: String,
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
    /// A clause compares a column with NULL (an outer row without an e-mail, a parameter
    /// left NULL): no user can match, no request is made.
    Nothing,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub access: Access,
    /// Translated clauses, AND-ed into the search query.
    pub conditions: Vec<String>,
    /// Clauses (as SQL) Auth0 does not evaluate at all; Postgres filters them.
    pub local: Vec<String>,
    /// Every clause was translated exactly, so a LIMIT may be pushed.
    pub all_pushed: bool,
    pub sort: Option<RemoteSort>,
    pub limit: Option<u64>,
    /// Top-level fields to ask for; `None` asks for whole users.
    pub fields: Option<Vec<String>>,
    /// The value of the `q` column (the raw query the user passed).
    pub q_text: Option<String>,
    /// The query has two different `q = '...'` clauses (an error: see `q_text`).
    pub q_conflict: bool,
    /// `connection = 'name'`: an export job can be limited to that connection.
    pub connection: Option<String>,
}

impl Plan {
    /// The search query (`None` lists every user).
    pub fn query(&self) -> Option<String> {
        (!self.conditions.is_empty()).then(|| filter::join(self.conditions.clone(), "AND"))
    }
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

/// Longest search query we send; Auth0 answers 414 for over-long URLs. Conditions past it are
/// left to Postgres (biggest first).
const MAX_QUERY_CHARS: usize = 3000;

/// The text value of a top-level `column = value` clause.
fn text_eq(clauses: &[Clause], values: &[Lit], column: &str) -> Option<String> {
    clauses.iter().find_map(|c| match &c.filter {
        Filter::Compare {
            target: Target::Column(name),
            op: Op::Eq,
            value,
        } if name == column => match value {
            Operand::Known(Lit::Text(s)) => Some(s.clone()),
            Operand::AtStart(n) => match values.get(*n) {
                Some(Lit::Text(s)) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    })
}

/// Whether a top-level clause is `column op NULL` (never true).
fn compares_with_null(clauses: &[Clause], values: &[Lit]) -> bool {
    clauses.iter().any(|c| match &c.filter {
        Filter::Compare {
            target: Target::Column(_),
            value,
            ..
        } => match value {
            Operand::Known(l) => *l == Lit::Null,
            Operand::AtStart(n) => values.get(*n) == Some(&Lit::Null),
        },
        _ => false,
    })
}

/// The e-mails `users-by-email` accepts (Auth0 answers 400 "didn't pass validation for format
/// email" for others, `x@localhost` for one); anything else is searched for instead (a stored
/// e-mail Auth0 would not accept today can still be compared).
fn email_lookup_ok(s: &str) -> bool {
    auth0_api::import::is_email(s)
}

/// A user id `GET /api/v2/users/{id}` can name (`.` and `..` are path steps in a URL).
fn user_id_lookup_ok(s: &str) -> bool {
    s != "." && s != ".."
}

/// Decides the remote plan. `values` are the clauses' `AtStart` values (`Lit::Later` while
/// planning); `columns` are the columns the query needs; `limit` is `(count, offset)`.
pub fn plan(
    clauses: &[Clause],
    values: &[Lit],
    columns: &[String],
    sorts: &[SortKey],
    limit: Option<(i64, i64)>,
    shape: &QueryShape,
) -> Plan {
    // (condition, whether it may be left to Postgres: a raw `q` may not, Postgres cannot
    // evaluate it)
    let mut conditions: Vec<(String, bool)> = Vec::new();
    let mut local = Vec::new();
    let mut all_pushed = true;
    for c in clauses {
        let t = filter::translate(&c.filter, values);
        all_pushed &= t.exact;
        match t.upper {
            Some(q) => conditions.push((q, !matches!(c.filter, Filter::Query(_)))),
            None => local.push(c.sql.clone()),
        }
    }
    // Over-long queries: leave the longest conditions to Postgres (a `q` stays: if it is too
    // long on its own, Auth0 says so).
    while conditions.iter().map(|(c, _)| c.len() + 7).sum::<usize>() > MAX_QUERY_CHARS {
        let Some(i) = conditions
            .iter()
            .enumerate()
            .filter(|(_, (_, droppable))| *droppable)
            .max_by_key(|(_, (c, _))| c.len())
            .map(|(i, _)| i)
        else {
            break;
        };
        all_pushed = false;
        local.push(format!("(too long to send) {}", conditions.remove(i).0));
    }
    let conditions: Vec<String> = conditions.into_iter().map(|(c, _)| c).collect();

    let q_text: Vec<String> = clauses
        .iter()
        .filter_map(|c| match &c.filter {
            Filter::Query(Operand::Known(Lit::Text(s))) => Some(s.clone()),
            Filter::Query(Operand::AtStart(n)) => match values.get(*n) {
                Some(Lit::Text(s)) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let mut q_text = q_text;
    q_text.dedup();
    // The q column reads back as its query: two different ones cannot both be equal to it.
    let q_conflict = q_text.len() > 1;
    let q_text = q_text.into_iter().next();

    let connection = text_eq(clauses, values, "connection");
    // A raw `q` is evaluated by Auth0's search alone (Postgres cannot recheck it: the column
    // reads back as the query), so a query with one never takes a point lookup, which would
    // ignore it.
    let access = if compares_with_null(clauses, values) {
        Access::Nothing
    } else if q_text.is_some() {
        Access::Search
    } else if let Some(id) = text_eq(clauses, values, "user_id").filter(|i| user_id_lookup_ok(i)) {
        Access::UserId(id)
    } else if let Some(email) = text_eq(clauses, values, "email").filter(|e| email_lookup_ok(e)) {
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
        q_conflict,
        connection,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `column op value` as a top-level clause (`<>` as `NOT =`, as the planner reader does).
    fn c(column: &str, op: &str, l: Lit) -> Clause {
        let cmp = |op| Filter::Compare {
            target: Target::Column(column.into()),
            op,
            value: Operand::Known(l.clone()),
        };
        let filter = match op {
            "=" => cmp(Op::Eq),
            "<" => cmp(Op::Lt),
            "<=" => cmp(Op::Le),
            ">" => cmp(Op::Gt),
            ">=" => cmp(Op::Ge),
            "<>" => Filter::Not(Box::new(cmp(Op::Eq))),
            other => panic!("{other}"),
        };
        Clause {
            filter,
            sql: format!("{column} {op} {l:?}"),
        }
    }
    fn clause(filter: Filter) -> Clause {
        Clause {
            sql: format!("{filter:?}"),
            filter,
        }
    }
    fn q(text: &str) -> Clause {
        clause(Filter::Query(Operand::Known(t(text))))
    }
    fn t(v: &str) -> Lit {
        Lit::Text(v.into())
    }
    fn shape() -> QueryShape {
        QueryShape {
            pathkeys: 0,
            limit_applies_to_scan: true,
            joined: false,
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
    fn simple(clauses: &[Clause]) -> Plan {
        plan(clauses, &[], &cols(&["user_id"]), &[], None, &shape())
    }

    #[test]
    fn point_lookups() {
        let p = simple(&[
            c("user_id", "=", t("auth0|1")),
            c("email", "=", t("ada@example.com")),
        ]);
        assert_eq!(p.access, Access::UserId("auth0|1".into()));
        let p = simple(&[c("email", "=", t("ada@example.com"))]);
        assert_eq!(p.access, Access::Email("ada@example.com".into()));
        for not_for_lookup in [
            "not an email",
            "x@localhost",
            "a..b@example.com",
            "x@1.2.3.4",
        ] {
            let p = simple(&[c("email", "=", t(not_for_lookup))]);
            assert_eq!(p.access, Access::Search, "{not_for_lookup}");
            assert_eq!(
                p.query().unwrap(),
                format!("email:{}", crate::fdw::lucene::phrase(not_for_lookup))
            );
        }
        assert_eq!(simple(&[c("user_id", "=", t(".."))]).access, Access::Search);
        // A value computed when the scan starts takes the lookup too.
        let at_start = clause(Filter::Compare {
            target: Target::Column("user_id".into()),
            op: Op::Eq,
            value: Operand::AtStart(0),
        });
        let p = plan(
            std::slice::from_ref(&at_start),
            &[t("auth0|2")],
            &cols(&["user_id"]),
            &[],
            None,
            &shape(),
        );
        assert_eq!(p.access, Access::UserId("auth0|2".into()));
    }

    #[test]
    fn a_comparison_with_null_reads_nothing() {
        let at_start = clause(Filter::Compare {
            target: Target::Column("email".into()),
            op: Op::Eq,
            value: Operand::AtStart(0),
        });
        let p = plan(
            std::slice::from_ref(&at_start),
            &[Lit::Null],
            &cols(&["user_id"]),
            &[],
            None,
            &shape(),
        );
        assert_eq!(p.access, Access::Nothing);
        assert_eq!(simple(&[c("name", "=", Lit::Null)]).access, Access::Nothing);
    }

    #[test]
    fn q_is_never_dropped_by_a_point_lookup() {
        for key in ["user_id", "email"] {
            let p = simple(&[c(key, "=", t("ada@example.com")), q("email_verified:false")]);
            assert_eq!(p.access, Access::Search, "{key}");
            assert_eq!(
                p.query().unwrap(),
                format!("{key}:\"ada@example.com\" AND (email_verified:false)")
            );
        }
    }

    #[test]
    fn clauses_are_grouped_when_combined() {
        let list = clause(Filter::AnyOf {
            target: Target::Column("email".into()),
            list: Operand::Known(Lit::List(vec![t("a@x.com"), t("b@x.com")])),
        });
        let p = simple(&[list, c("blocked", "<>", Lit::Bool(true))]);
        assert_eq!(
            p.query().unwrap(),
            r#"(email:"a@x.com" OR email:"b@x.com") AND blocked:false"#
        );
        assert!(!p.all_pushed, "case-insensitive e-mail");
    }

    #[test]
    fn pushed_limits_never_overflow() {
        let rows = |count: i64, offset: i64| {
            let lim = Some((std::hint::black_box(count), std::hint::black_box(offset)));
            plan(&[], &[], &cols(&["user_id"]), &[], lim, &shape()).limit
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
            let p = simple(&[c("created_at", op, v.clone())]);
            assert!(p.conditions.is_empty(), "{op}: {:?}", p.conditions);
            assert_eq!(p.local.len(), 1, "{op}");
        }
        let p = simple(&[c("created_at", "<", at("9999-12-31T23:59:59.999Z"))]);
        assert_eq!(
            p.conditions,
            vec!["created_at:[* TO 9999-12-31T23:59:59.999Z}"]
        );
    }

    #[test]
    fn limit_only_when_everything_is_pushed_exactly() {
        let lim = Some((10, 5));
        let by_created = sort("created_at", true, true);
        let sh = QueryShape {
            pathkeys: 1,
            limit_applies_to_scan: true,
            joined: false,
        };
        let with = |clauses: &[Clause], sorts: &[SortKey], sh: &QueryShape| {
            plan(clauses, &[], &cols(&["user_id"]), sorts, lim, sh)
        };
        let p = with(
            &[c("blocked", "=", Lit::Bool(false))],
            std::slice::from_ref(&by_created),
            &sh,
        );
        assert_eq!(
            (p.sort.as_ref().map(|s| s.to_string()).as_deref(), p.limit),
            (Some("created_at:-1"), Some(15))
        );

        // A clause Postgres must evaluate, or one Auth0 only narrows (case, other
        // identities, arrays, values known at start): no limit.
        for clauses in [
            vec![c("picture", "=", t("x"))],
            vec![c("name", "=", t("Ada"))],
            vec![c("connection", "=", t("github"))],
            vec![c("username", "<>", t("ada"))],
            vec![clause(Filter::Opaque)],
        ] {
            let p = with(&clauses, std::slice::from_ref(&by_created), &sh);
            assert_eq!(p.limit, None, "{clauses:?}");
        }
        // A join or grouping between the scan and the LIMIT: no limit.
        let joined = QueryShape {
            limit_applies_to_scan: false,
            ..shape()
        };
        assert_eq!(with(&[], &[], &joined).limit, None);
        // Text order is not Postgres' collation order; NULLS FIRST is not Auth0's order.
        assert_eq!(with(&[], &[sort("name", false, false)], &sh).limit, None);
        assert_eq!(
            with(&[], &[sort("last_login", true, true)], &sh).limit,
            None
        );
        assert_eq!(
            with(&[], &[sort("last_login", true, false)], &sh).limit,
            Some(15)
        );
        let collated = SortKey {
            collated: true,
            ..by_created.clone()
        };
        assert_eq!(with(&[], &[collated], &sh).limit, None);
        // Two ORDER BY keys: Auth0 sorts by one.
        let two = QueryShape { pathkeys: 2, ..sh };
        assert_eq!(
            with(
                &[],
                &[by_created.clone(), sort("logins_count", false, false)],
                &two
            )
            .limit,
            None
        );
        // No ORDER BY: any rows will do.
        assert_eq!(with(&[], &[], &shape()).limit, Some(15));
        // Lookups ignore LIMIT.
        assert_eq!(
            with(&[c("user_id", "=", t("a|b"))], &[], &shape()).limit,
            None
        );
    }

    #[test]
    fn over_long_queries_leave_conditions_to_postgres() {
        let many: Vec<Lit> = (0..400)
            .map(|i| t(&format!("user{i}@example.com")))
            .collect();
        let clauses = vec![
            clause(Filter::AnyOf {
                target: Target::Column("user_id".into()),
                list: Operand::Known(Lit::List(many)),
            }),
            c("blocked", "=", Lit::Bool(true)),
        ];
        let p = plan(
            &clauses,
            &[],
            &cols(&["email"]),
            &[],
            Some((5, 0)),
            &shape(),
        );
        assert_eq!(p.query().as_deref(), Some("blocked:true"));
        assert!(!p.all_pushed);
        assert_eq!(p.limit, None);
    }

    #[test]
    fn a_long_q_is_never_left_behind() {
        let long = format!("name:\"{}\"", "x".repeat(3500));
        let p = simple(&[q(&long), c("blocked", "=", Lit::Bool(true))]);
        assert_eq!(p.query(), Some(format!("({long})")));
        assert_eq!(p.local.len(), 1, "blocked left to Postgres instead");
    }

    #[test]
    fn q_reads_back_and_fields_follow_columns() {
        let p = plan(
            &[q("a:b")],
            &[],
            &cols(&["email", "connection", "q"]),
            &[],
            None,
            &shape(),
        );
        assert_eq!(p.q_text.as_deref(), Some("a:b"));
        assert_eq!(p.query().as_deref(), Some("(a:b)"));
        assert!(!p.q_conflict);
        let twice = simple(&[q("a:b"), q("a:b")]);
        assert!(!twice.q_conflict, "the same query twice is one");
        assert!(simple(&[q("a:b"), q("c:d")]).q_conflict);
        assert_eq!(p.fields, Some(vec!["email".into(), "identities".into()]));
        let p = plan(&[], &[], &cols(&["email", "raw"]), &[], None, &shape());
        assert_eq!(p.fields, None);
        let p = plan(&[], &[], &[], &[], None, &shape());
        assert_eq!(p.fields, Some(vec!["user_id".into()]));
    }
}
