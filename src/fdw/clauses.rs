//! Reading the planner's restriction clauses on the table (`baserel->baserestrictinfo`) into
//! [`Filter`] trees, and the values of their operands into [`Lit`]s.
//!
//! supabase-wrappers 0.1.28 hands the FDW only top-level `column op constant` clauses; every
//! `OR`, `NOT`, JSON path, `lower()` or `now() - interval` was read as "no condition" and the
//! whole tenant was read. This module reads every clause itself. What it does not recognise
//! becomes [`Filter::Opaque`] (Postgres evaluates it; nothing is guessed).
//!
//! A value that is not a constant but is the same for every row (no column of any table, no
//! volatile function, no sub-plan: `now() - interval '30 days'`, `current_date`, `$1`, an
//! InitPlan's result) becomes [`Operand::AtStart`]: the expression is placed in the plan's
//! `fdw_exprs` (so Postgres fixes its parameters up like any plan expression) and evaluated
//! when the scan starts (`at_start.rs`).

use super::filter::{Filter, Lit, Op, Operand, Target};
use super::pushdown::Clause;
use pgrx::datum::{AnyNumeric, FromDatum, JsonB, TimestampWithTimeZone};
use pgrx::pg_sys;
use pgrx::PgList;
use std::ffi::CStr;

/// The clauses of one table, and the expressions whose values are computed at scan start.
pub struct Read {
    pub clauses: Vec<Clause>,
    /// `Operand::AtStart(n)` is the value of `at_start[n]`.
    pub at_start: Vec<*mut pg_sys::Node>,
    /// Each of `at_start` as SQL (for EXPLAIN); empty when not asked for.
    pub at_start_sql: Vec<String>,
}

/// Reads `baserel`'s restriction clauses. `with_sql` also deparses each clause and value for
/// EXPLAIN (planning needs it; the second read in `GetForeignPlan` does not).
///
/// # Safety
/// Called from a planner callback with its valid `baserel`, for a foreign table `table`.
pub unsafe fn read(baserel: *mut pg_sys::RelOptInfo, table: pg_sys::Oid, with_sql: bool) -> Read {
    let mut reader = Reader {
        relid: 0,
        table,
        at_start: Vec::new(),
    };
    let mut clauses = Vec::new();
    // SAFETY: `baserel` is valid for this planning call (contract above); its
    // `baserestrictinfo` is a list of `RestrictInfo` nodes owned by the planner.
    unsafe {
        reader.relid = (*baserel).relid;
        let infos = PgList::<pg_sys::RestrictInfo>::from_pg((*baserel).baserestrictinfo);
        for ri in infos.iter_ptr() {
            let clause = (*ri).clause as *mut pg_sys::Node;
            let filter = match reader.filter(clause) {
                // `q = '...'` only means "this search" at the top level of the WHERE clause.
                Filter::Compare {
                    target: Target::Column(c),
                    op: Op::Eq,
                    value,
                } if c == "q" => Filter::Query(value),
                other => other,
            };
            let sql = if with_sql {
                reader.sql(clause)
            } else {
                String::new()
            };
            clauses.push(Clause { filter, sql });
        }
    }
    let at_start_sql = if with_sql {
        // SAFETY: the nodes were just taken from (or built on) this planning's clauses.
        reader
            .at_start
            .iter()
            .map(|n| unsafe { reader.sql(*n) })
            .collect()
    } else {
        Vec::new()
    };
    Read {
        clauses,
        at_start: reader.at_start,
        at_start_sql,
    }
}

impl From<Read> for super::pushdown::Planning {
    fn from(r: Read) -> Self {
        super::pushdown::Planning {
            shape: Default::default(),
            clauses: r.clauses,
            at_start_sql: r.at_start_sql,
        }
    }
}

/// The columns a join can look users up by, one request per outer row.
pub const LOOKUP_COLUMNS: &[&str] = &["email", "user_id"];

/// A join clause `column = <outer expression>` usable for a lookup per outer row.
pub struct JoinLookup {
    pub column: String,
    /// The other side, which references other relations' columns (Postgres turns them into
    /// parameters of the plan).
    pub outer: *mut pg_sys::Node,
}

/// Recognises `email = <expr of other relations>` or `user_id = ...` (either way round) among
/// join clauses (`RestrictInfo`s).
///
/// # Safety
/// Called from a planner callback with its valid `root` and `baserel` (a foreign table
/// `table`) and a valid list of `RestrictInfo`s.
pub unsafe fn join_lookups(
    root: *mut pg_sys::PlannerInfo,
    baserel: *mut pg_sys::RelOptInfo,
    table: pg_sys::Oid,
    infos: *mut pg_sys::List,
) -> Vec<JoinLookup> {
    // SAFETY: per the contract; the clause nodes are only read.
    unsafe {
        let reader = Reader {
            relid: (*baserel).relid,
            table,
            at_start: Vec::new(),
        };
        let mut out = Vec::new();
        for ri in PgList::<pg_sys::RestrictInfo>::from_pg(infos).iter_ptr() {
            if let Some(l) = reader.join_lookup(root, (*ri).clause as *mut pg_sys::Node) {
                out.push(l);
            }
        }
        out
    }
}

struct Reader {
    /// The table's range-table index in this query (`Var.varno`).
    relid: pg_sys::Index,
    table: pg_sys::Oid,
    at_start: Vec<*mut pg_sys::Node>,
}

/// # Safety
/// `node` is null or a valid node.
unsafe fn is_a(node: *mut pg_sys::Node, tag: pg_sys::NodeTag) -> bool {
    // SAFETY: per the contract; null is checked first.
    !node.is_null() && unsafe { (*node).type_ == tag }
}

/// Looks through binary-compatible casts (`varchar` to `text`).
///
/// # Safety
/// `node` is null or a valid node.
pub(crate) unsafe fn strip(mut node: *mut pg_sys::Node) -> *mut pg_sys::Node {
    // SAFETY: a RelabelType's `arg` is a valid expression node.
    unsafe {
        while is_a(node, pg_sys::NodeTag::T_RelabelType) {
            node = (*(node as *mut pg_sys::RelabelType)).arg as *mut pg_sys::Node;
        }
    }
    node
}

/// The two arguments of an expression's argument list, if it has exactly two.
///
/// # Safety
/// `args` is a valid `List` of nodes (or null).
unsafe fn two(args: *mut pg_sys::List) -> Option<(*mut pg_sys::Node, *mut pg_sys::Node)> {
    // SAFETY: per the contract.
    let args = unsafe { PgList::<pg_sys::Node>::from_pg(args) };
    match (args.len(), args.get_ptr(0), args.get_ptr(1)) {
        (2, Some(a), Some(b)) => Some((a, b)),
        _ => None,
    }
}

/// A built-in operator's name (`None` for operators users created: their meaning is unknown).
fn builtin_opname(opno: pg_sys::Oid) -> Option<String> {
    // SAFETY: `get_opname` returns a palloc'd copy of the name, or null for an unknown oid.
    builtin_name(opno, |o| unsafe { pg_sys::get_opname(o) })
}

/// A built-in function's name (`None` for functions users created).
fn builtin_funcname(funcid: pg_sys::Oid) -> Option<String> {
    // SAFETY: `get_func_name` returns a palloc'd copy of the name, or null for an unknown oid.
    builtin_name(funcid, |f| unsafe { pg_sys::get_func_name(f) })
}

/// The name a catalog `lookup` gives a built-in object (oid below `FirstNormalObjectId`).
fn builtin_name(
    oid: pg_sys::Oid,
    lookup: impl FnOnce(pg_sys::Oid) -> *mut std::ffi::c_char,
) -> Option<String> {
    if oid.to_u32() >= pg_sys::FirstNormalObjectId {
        return None;
    }
    let p = lookup(oid);
    // SAFETY: the lookups above return a valid NUL-terminated string or null.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

fn is_text(t: pg_sys::Oid) -> bool {
    t == pg_sys::TEXTOID || t == pg_sys::VARCHAROID
}

/// Whether a column of type `t` is what search can compare for `search`.
fn type_fits(search: super::columns::Search, column: &str, t: pg_sys::Oid) -> bool {
    use super::columns::Search as S;
    match search {
        S::Text | S::TextCaseInsensitive | S::Connection => is_text(t),
        S::Bool => t == pg_sys::BOOLOID,
        S::Number => [
            pg_sys::INT2OID,
            pg_sys::INT4OID,
            pg_sys::INT8OID,
            pg_sys::NUMERICOID,
            pg_sys::FLOAT4OID,
            pg_sys::FLOAT8OID,
        ]
        .contains(&t),
        S::Time => t == pg_sys::TIMESTAMPTZOID,
        S::No => match column {
            "app_metadata" | "user_metadata" => t == pg_sys::JSONBOID,
            "q" => is_text(t),
            _ => false,
        },
    }
}

/// Whether comparisons under `collation` are plain equality of characters (a nondeterministic
/// ICU collation can make `'ABC' = 'abc'` or `'é' = 'e'` true, which no search term follows).
fn deterministic(collation: pg_sys::Oid) -> bool {
    // SAFETY: a catalog lookup by oid; an invalid oid (no collation) is checked first.
    collation == pg_sys::InvalidOid || unsafe { pg_sys::get_collation_isdeterministic(collation) }
}

fn commute(op: Op) -> Op {
    match op {
        Op::Lt => Op::Gt,
        Op::Le => Op::Ge,
        Op::Gt => Op::Lt,
        Op::Ge => Op::Le,
        Op::Eq => Op::Eq,
    }
}

impl Reader {
    /// The column a `Var` of this table names, if its type is what search expects.
    ///
    /// # Safety
    /// `node` is null or a valid node.
    unsafe fn column(&self, node: *mut pg_sys::Node) -> Option<String> {
        // SAFETY: checked to be a Var before the cast; `get_attname` returns a palloc'd copy
        // (or null with missing_ok).
        unsafe {
            let node = strip(node);
            if !is_a(node, pg_sys::NodeTag::T_Var) {
                return None;
            }
            let var = node as *mut pg_sys::Var;
            if (*var).varno as pg_sys::Index != self.relid
                || (*var).varlevelsup != 0
                || (*var).varattno <= 0
            {
                return None;
            }
            let p = pg_sys::get_attname(self.table, (*var).varattno, true);
            if p.is_null() {
                return None;
            }
            let name = CStr::from_ptr(p).to_string_lossy().into_owned();
            let search = super::columns::spec(&name).search;
            type_fits(search, &name, (*var).vartype).then_some(name)
        }
    }

    /// What a clause compares: a column, `lower/upper(column)`, or a metadata path.
    ///
    /// # Safety
    /// `node` is null or a valid node.
    unsafe fn target(&self, node: *mut pg_sys::Node) -> Option<Target> {
        // SAFETY: every cast follows a tag check; argument lists are the nodes' own.
        unsafe {
            let node = strip(node);
            if let Some(c) = self.column(node) {
                return Some(Target::Column(c));
            }
            if is_a(node, pg_sys::NodeTag::T_FuncExpr) {
                let f = node as *mut pg_sys::FuncExpr;
                let name = builtin_funcname((*f).funcid)?;
                let args = PgList::<pg_sys::Node>::from_pg((*f).args);
                // `upper()` is not read: letters such as `ſ` and `ı` upper-case to ASCII while
                // Auth0 (lower-casing) keeps them apart.
                if name == "lower" && args.len() == 1 && deterministic((*f).inputcollid) {
                    return self.column(args.get_ptr(0)?).map(Target::Folded);
                }
                return None;
            }
            if is_a(node, pg_sys::NodeTag::T_OpExpr) {
                let o = node as *mut pg_sys::OpExpr;
                let name = builtin_opname((*o).opno)?;
                let (json, key) = two((*o).args)?;
                let keys = match name.as_str() {
                    "->>" => vec![const_text(key)?],
                    "#>>" => const_text_array(key)?,
                    _ => return None,
                };
                let (column, mut path) = self.json_path(json)?;
                path.extend(keys);
                return Some(Target::Path { column, path });
            }
            None
        }
    }

    /// A `jsonb` column, or `column -> 'key' -> ...`.
    ///
    /// # Safety
    /// `node` is null or a valid node.
    unsafe fn json_path(&self, node: *mut pg_sys::Node) -> Option<(String, Vec<String>)> {
        // SAFETY: as in `target`.
        unsafe {
            if let Some(c) = self.column(node) {
                return (c == "app_metadata" || c == "user_metadata").then(|| (c, vec![]));
            }
            if is_a(node, pg_sys::NodeTag::T_OpExpr) {
                let o = node as *mut pg_sys::OpExpr;
                if builtin_opname((*o).opno)? == "->" {
                    let (inner, key) = two((*o).args)?;
                    let (c, mut path) = self.json_path(inner)?;
                    path.push(const_text(key)?);
                    return Some((c, path));
                }
            }
            None
        }
    }

    /// A value the same for every row: a constant, or an expression evaluated at scan start.
    /// `as_time` converts `date` and `timestamp` values to `timestamptz` (as the comparison
    /// with a `timestamptz` column does, in the session's time zone).
    ///
    /// # Safety
    /// `node` is null or a valid node.
    unsafe fn value(&mut self, node: *mut pg_sys::Node, as_time: bool) -> Option<Operand> {
        // SAFETY: the checks below only read the tree; `coerce_to_target_type` builds a new
        // node in the planner's memory context.
        unsafe {
            let mut node = strip(node);
            if node.is_null()
                || pg_sys::contain_var_clause(node)
                || pg_sys::contain_volatile_functions(node)
                || pg_sys::contain_subplans(node)
            {
                return None;
            }
            let t = pg_sys::exprType(node);
            if as_time && (t == pg_sys::DATEOID || t == pg_sys::TIMESTAMPOID) {
                node = pg_sys::coerce_to_target_type(
                    std::ptr::null_mut(),
                    node,
                    t,
                    pg_sys::TIMESTAMPTZOID,
                    -1,
                    pg_sys::CoercionContext::COERCION_IMPLICIT,
                    pg_sys::CoercionForm::COERCE_IMPLICIT_CAST,
                    -1,
                );
                if node.is_null() {
                    return None;
                }
            } else if as_time && t != pg_sys::TIMESTAMPTZOID {
                return None;
            }
            if is_a(node, pg_sys::NodeTag::T_Const) {
                let c = node as *mut pg_sys::Const;
                return Some(Operand::Known(datum_lit(
                    (*c).constvalue,
                    (*c).constisnull,
                    (*c).consttype,
                )));
            }
            self.at_start.push(node);
            Some(Operand::AtStart(self.at_start.len() - 1))
        }
    }

    /// One clause (or part of one) as a filter.
    ///
    /// # Safety
    /// `node` is a valid expression node of this table's restriction clauses.
    unsafe fn filter(&mut self, node: *mut pg_sys::Node) -> Filter {
        // SAFETY: every cast follows a tag check; lists are the nodes' own argument lists.
        unsafe {
            let node = strip(node);
            if is_a(node, pg_sys::NodeTag::T_BoolExpr) {
                let b = node as *mut pg_sys::BoolExpr;
                let args = PgList::<pg_sys::Node>::from_pg((*b).args);
                let parts: Vec<Filter> = args.iter_ptr().map(|a| self.filter(a)).collect();
                return match (*b).boolop {
                    pg_sys::BoolExprType::AND_EXPR => Filter::And(parts),
                    pg_sys::BoolExprType::OR_EXPR => Filter::Or(parts),
                    _ => match <[Filter; 1]>::try_from(parts) {
                        Ok([p]) => Filter::Not(Box::new(p)),
                        Err(_) => Filter::Opaque,
                    },
                };
            }
            if is_a(node, pg_sys::NodeTag::T_OpExpr) {
                let o = node as *mut pg_sys::OpExpr;
                if !deterministic((*o).inputcollid) {
                    return Filter::Opaque;
                }
                return self
                    .operator((*o).opno, (*o).args)
                    .unwrap_or(Filter::Opaque);
            }
            if is_a(node, pg_sys::NodeTag::T_ScalarArrayOpExpr) {
                if !deterministic((*(node as *mut pg_sys::ScalarArrayOpExpr)).inputcollid) {
                    return Filter::Opaque;
                }
                return self
                    .array_operator(node as *mut pg_sys::ScalarArrayOpExpr)
                    .unwrap_or(Filter::Opaque);
            }
            if is_a(node, pg_sys::NodeTag::T_NullTest) {
                let n = node as *mut pg_sys::NullTest;
                let Some(target) = self.target((*n).arg as *mut pg_sys::Node) else {
                    return Filter::Opaque;
                };
                let test = Filter::IsNull(target);
                return if (*n).nulltesttype == pg_sys::NullTestType::IS_NULL {
                    test
                } else {
                    Filter::Not(Box::new(test))
                };
            }
            if is_a(node, pg_sys::NodeTag::T_BooleanTest) {
                let b = node as *mut pg_sys::BooleanTest;
                let Some(column) = self.column((*b).arg as *mut pg_sys::Node) else {
                    return Filter::Opaque;
                };
                use pg_sys::BoolTestType as B;
                let is = |value| Filter::Is {
                    column: column.clone(),
                    value,
                };
                let not = |f| Filter::Not(Box::new(f));
                return match (*b).booltesttype {
                    B::IS_TRUE => is(true),
                    B::IS_NOT_TRUE => not(is(true)),
                    B::IS_FALSE => is(false),
                    B::IS_NOT_FALSE => not(is(false)),
                    B::IS_UNKNOWN => Filter::IsNull(Target::Column(column)),
                    _ => not(Filter::IsNull(Target::Column(column))),
                };
            }
            // A boolean column on its own: `WHERE blocked`.
            if let Some(column) = self.column(node) {
                if super::columns::spec(&column).search == super::columns::Search::Bool {
                    return Filter::Compare {
                        target: Target::Column(column),
                        op: Op::Eq,
                        value: Operand::Known(Lit::Bool(true)),
                    };
                }
            }
            Filter::Opaque
        }
    }

    /// `a op b` with a built-in operator.
    ///
    /// # Safety
    /// `args` is the operator's valid argument list.
    unsafe fn operator(&mut self, opno: pg_sys::Oid, args: *mut pg_sys::List) -> Option<Filter> {
        // SAFETY: per the contract; sub-nodes are the operator's own arguments.
        unsafe {
            let name = builtin_opname(opno)?;
            let (left, right) = two(args)?;
            let op = match name.as_str() {
                "=" | "<>" => Some(Op::Eq),
                "<" => Some(Op::Lt),
                "<=" => Some(Op::Le),
                ">" => Some(Op::Gt),
                ">=" => Some(Op::Ge),
                _ => None,
            };
            if let Some(op) = op {
                let (target, op, value) = match self.target(left) {
                    Some(t) => (t, op, right),
                    None => (self.target(right)?, commute(op), left),
                };
                let value = self.value(value, self.is_time(&target))?;
                let cmp = Filter::Compare { target, op, value };
                return Some(if name == "<>" {
                    Filter::Not(Box::new(cmp))
                } else {
                    cmp
                });
            }
            match name.as_str() {
                "~~" | "~~*" | "!~~" | "!~~*" => {
                    let target = self.target(left)?;
                    let pattern = self.value(right, false)?;
                    let like = Filter::Like {
                        target,
                        pattern,
                        case_insensitive: name.ends_with('*'),
                    };
                    Some(if name.starts_with('!') {
                        Filter::Not(Box::new(like))
                    } else {
                        like
                    })
                }
                "@>" | "<@" => {
                    let (json, pattern) = if name == "@>" {
                        (left, right)
                    } else {
                        (right, left)
                    };
                    match self.target(json)? {
                        Target::Column(column) if column.ends_with("_metadata") => {
                            let pattern = self.value(pattern, false)?;
                            Some(Filter::Contains { column, pattern })
                        }
                        _ => None,
                    }
                }
                _ => None,
            }
        }
    }

    /// `target = ANY(array)` (and `IN (...)`), `target <> ALL(array)` (`NOT IN`).
    ///
    /// # Safety
    /// `node` is a valid `ScalarArrayOpExpr`.
    unsafe fn array_operator(&mut self, node: *mut pg_sys::ScalarArrayOpExpr) -> Option<Filter> {
        // SAFETY: per the contract.
        unsafe {
            let name = builtin_opname((*node).opno)?;
            let (left, right) = two((*node).args)?;
            let target = self.target(left)?;
            let list = self.value(right, false)?;
            let any = Filter::AnyOf { target, list };
            match (name.as_str(), (*node).useOr) {
                ("=", true) => Some(any),
                // `x <> ALL(a)` is `NOT (x = ANY(a))`, NULLs included.
                ("<>", false) => Some(Filter::Not(Box::new(any))),
                _ => None,
            }
        }
    }

    /// `column = outer` for a lookup column, with `outer` free of this table's columns.
    ///
    /// # Safety
    /// `node` is a valid expression node.
    unsafe fn join_lookup(
        &self,
        root: *mut pg_sys::PlannerInfo,
        node: *mut pg_sys::Node,
    ) -> Option<JoinLookup> {
        // SAFETY: checked to be an OpExpr before the cast; its arguments are its own.
        unsafe {
            let node = strip(node);
            if !is_a(node, pg_sys::NodeTag::T_OpExpr) {
                return None;
            }
            let o = node as *mut pg_sys::OpExpr;
            if builtin_opname((*o).opno)? != "=" || !deterministic((*o).inputcollid) {
                return None;
            }
            let (left, right) = two((*o).args)?;
            let (column, outer) = match self.column(left) {
                Some(c) => (c, right),
                None => (self.column(right)?, left),
            };
            let ours = pg_sys::bms_make_singleton(self.relid as i32);
            let free = !pg_sys::bms_overlap(pg_sys::pull_varnos(root, outer), ours)
                && !pg_sys::contain_volatile_functions(outer)
                && !pg_sys::contain_subplans(outer)
                && is_text(pg_sys::exprType(outer));
            (LOOKUP_COLUMNS.contains(&column.as_str()) && free)
                .then_some(JoinLookup { column, outer })
        }
    }

    fn is_time(&self, target: &Target) -> bool {
        matches!(target, Target::Column(c) if super::columns::spec(c).search == super::columns::Search::Time)
    }

    /// An expression as SQL, for EXPLAIN. The table's columns are shown by name; anything that
    /// cannot be shown is described instead of failing the planning.
    ///
    /// # Safety
    /// `node` is a valid expression node of this planning.
    unsafe fn sql(&self, node: *mut pg_sys::Node) -> String {
        let (relid, table) = (self.relid, self.table);
        pgrx::PgTryBuilder::new(|| {
            // SAFETY: the copy is ours: its Vars (all of this table, the only relation of a
            // restriction clause) are renumbered to the one-table context `deparse_context_for`
            // makes, in place, through the pointers `pull_var_clause` returns.
            unsafe {
                let copy =
                    pg_sys::copyObjectImpl(node as *const std::ffi::c_void) as *mut pg_sys::Node;
                let flags = (pg_sys::PVC_RECURSE_AGGREGATES
                    | pg_sys::PVC_RECURSE_WINDOWFUNCS
                    | pg_sys::PVC_RECURSE_PLACEHOLDERS) as i32;
                let vars = PgList::<pg_sys::Var>::from_pg(pg_sys::pull_var_clause(copy, flags));
                for v in vars.iter_ptr() {
                    if (*v).varno as pg_sys::Index == relid {
                        (*v).varno = 1;
                        (*v).varnosyn = 1;
                    }
                }
                let name = pg_sys::get_rel_name(table);
                let context = pg_sys::deparse_context_for(name, table);
                let p = pg_sys::deparse_expression(copy, context, false, false);
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        })
        .catch_others(|_| "(a condition)".to_string())
        .execute()
    }
}

/// A `text` constant.
///
/// # Safety
/// `node` is null or a valid node.
unsafe fn const_text(node: *mut pg_sys::Node) -> Option<String> {
    // SAFETY: checked to be a Const before the cast.
    unsafe {
        let node = strip(node);
        if !is_a(node, pg_sys::NodeTag::T_Const) {
            return None;
        }
        let c = node as *mut pg_sys::Const;
        if !is_text((*c).consttype) {
            return None;
        }
        String::from_datum((*c).constvalue, (*c).constisnull)
    }
}

/// A `text[]` constant without NULLs.
///
/// # Safety
/// `node` is null or a valid node.
unsafe fn const_text_array(node: *mut pg_sys::Node) -> Option<Vec<String>> {
    // SAFETY: checked to be a Const of type text[] before reading it as one.
    unsafe {
        let node = strip(node);
        if !is_a(node, pg_sys::NodeTag::T_Const) {
            return None;
        }
        let c = node as *mut pg_sys::Const;
        if (*c).consttype != pg_sys::TEXTARRAYOID {
            return None;
        }
        let items = Vec::<Option<String>>::from_datum((*c).constvalue, (*c).constisnull)?;
        items.into_iter().collect()
    }
}

/// A `numeric`'s text as an integer, or as the whole numbers around it (exactly: no float).
fn numeric(n: &str) -> Option<Lit> {
    if let Ok(i) = n.parse::<i64>() {
        return Some(Lit::Int(i));
    }
    let (whole, frac) = n.split_once('.')?;
    let whole: i64 = whole.parse().ok()?;
    if frac.bytes().all(|b| b == b'0') {
        return Some(Lit::Int(whole));
    }
    // -2.5 lies between -3 and -2; "-0.5" parses its whole part as 0.
    let negative = n.starts_with('-');
    let floor = if negative {
        whole.checked_sub(1)?
    } else {
        whole
    };
    Some(Lit::Fraction { floor })
}

/// A datum of type `typoid` as search sees it (`Lit::Other` for types it has no use for).
///
/// # Safety
/// `datum` is a valid datum of type `typoid` (or `isnull`), alive for this call.
pub unsafe fn datum_lit(datum: pg_sys::Datum, isnull: bool, typoid: pg_sys::Oid) -> Lit {
    if isnull {
        return Lit::Null;
    }
    // SAFETY: per the contract, each arm reads the datum as its own type.
    unsafe {
        let one = |d: pg_sys::Datum, t: pg_sys::Oid| -> Option<Lit> { scalar(d, t) };
        let list = |items: Option<Vec<Option<Lit>>>| -> Lit {
            match items {
                Some(items) => {
                    Lit::List(items.into_iter().map(|i| i.unwrap_or(Lit::Null)).collect())
                }
                None => Lit::Other,
            }
        };
        match typoid {
            t if t == pg_sys::TEXTARRAYOID || t == pg_sys::VARCHARARRAYOID => list(
                Vec::<Option<String>>::from_datum(datum, false)
                    .map(|v| v.into_iter().map(|s| s.map(Lit::Text)).collect()),
            ),
            t if t == pg_sys::INT8ARRAYOID => list(
                Vec::<Option<i64>>::from_datum(datum, false)
                    .map(|v| v.into_iter().map(|i| i.map(Lit::Int)).collect()),
            ),
            t if t == pg_sys::INT4ARRAYOID => {
                list(Vec::<Option<i32>>::from_datum(datum, false).map(|v| {
                    v.into_iter()
                        .map(|i| i.map(|i| Lit::Int(i.into())))
                        .collect()
                }))
            }
            t if t == pg_sys::BOOLARRAYOID => list(
                Vec::<Option<bool>>::from_datum(datum, false)
                    .map(|v| v.into_iter().map(|b| b.map(Lit::Bool)).collect()),
            ),
            t if t == pg_sys::TIMESTAMPTZARRAYOID => list(
                Vec::<Option<TimestampWithTimeZone>>::from_datum(datum, false).map(|v| {
                    v.into_iter()
                        .map(|t| {
                            t.map(|t| {
                                if t.is_finite() {
                                    Lit::Time(i64::from(t))
                                } else {
                                    Lit::Other
                                }
                            })
                        })
                        .collect()
                }),
            ),
            t => one(datum, t).unwrap_or(Lit::Other),
        }
    }
}

/// # Safety
/// As `datum_lit`, not null.
unsafe fn scalar(datum: pg_sys::Datum, t: pg_sys::Oid) -> Option<Lit> {
    // SAFETY: per the contract, each arm reads the datum as its own type.
    unsafe {
        Some(match t {
            t if is_text(t) => Lit::Text(String::from_datum(datum, false)?),
            t if t == pg_sys::BOOLOID => Lit::Bool(bool::from_datum(datum, false)?),
            t if t == pg_sys::INT2OID => Lit::Int(i16::from_datum(datum, false)?.into()),
            t if t == pg_sys::INT4OID => Lit::Int(i32::from_datum(datum, false)?.into()),
            t if t == pg_sys::INT8OID => Lit::Int(i64::from_datum(datum, false)?),
            t if t == pg_sys::FLOAT4OID => Lit::Float(f32::from_datum(datum, false)?.into()),
            t if t == pg_sys::FLOAT8OID => Lit::Float(f64::from_datum(datum, false)?),
            t if t == pg_sys::NUMERICOID => {
                numeric(&AnyNumeric::from_datum(datum, false)?.to_string())?
            }
            t if t == pg_sys::TIMESTAMPTZOID => {
                let ts = TimestampWithTimeZone::from_datum(datum, false)?;
                if !ts.is_finite() {
                    return None;
                }
                Lit::Time(i64::from(ts))
            }
            // pgrx panics on jsonb serde_json cannot read (a number beyond f64): not usable.
            t if t == pg_sys::JSONBOID => Lit::Json(
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    JsonB::from_datum(datum, false)
                }))
                .ok()??
                .0,
            ),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numerics_stay_exact() {
        assert_eq!(numeric("5"), Some(Lit::Int(5)));
        assert_eq!(numeric("5.000"), Some(Lit::Int(5)));
        assert_eq!(
            numeric("2.9999999999999999999"),
            Some(Lit::Fraction { floor: 2 })
        );
        assert_eq!(numeric("-2.5"), Some(Lit::Fraction { floor: -3 }));
        assert_eq!(numeric("-0.5"), Some(Lit::Fraction { floor: -1 }));
        assert_eq!(numeric("99999999999999999999"), None);
        assert_eq!(numeric("NaN"), None);
    }
}
