//! The framework's quals, sorts and limit, read into the plain types `pushdown` plans with
//! (which keeps the planning logic free of Postgres and testable on its own).

use super::pushdown::{Cond, CondValue, Lit, SortKey};
use supabase_wrappers::prelude::{Cell, Limit, Qual, Sort, Value};

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

fn cond_value(q: &Qual, value: &Value) -> CondValue {
    match value {
        Value::Cell(Cell::String(s))
            if s == "null" && (q.operator == "is" || q.operator == "is not") =>
        {
            CondValue::Null
        }
        Value::Cell(c) => lit(c).map(CondValue::One).unwrap_or(CondValue::Other),
        Value::Array(items) => match items.iter().map(lit).collect::<Option<Vec<_>>>() {
            Some(l) if q.use_or => CondValue::Any(l),
            Some(l) => CondValue::All(l),
            None => CondValue::Other,
        },
    }
}

/// The restrictions with the current values of their parameters. A qual whose parameter has
/// no value (yet) is left out: Postgres still evaluates it, and since fewer restrictions than
/// the query has remain, no LIMIT is pushed.
pub fn conds(quals: &[Qual]) -> Vec<Cond> {
    quals
        .iter()
        .filter_map(|q| {
            let value = match &q.param {
                Some(p) => p.eval_value.lock().map(|v| v.clone()).unwrap_or(None)?,
                None => q.value.clone(),
            };
            Some(Cond {
                column: q.field.clone(),
                op: q.operator.clone(),
                value: cond_value(q, &value),
            })
        })
        .collect()
}

pub fn sort_keys(sorts: &[Sort]) -> Vec<SortKey> {
    sorts
        .iter()
        .map(|s| SortKey {
            column: s.field.clone(),
            descending: s.reversed,
            nulls_first: s.nulls_first,
            collated: s.collate.is_some(),
        })
        .collect()
}

pub fn limit(limit: &Option<Limit>) -> Option<(i64, i64)> {
    limit.as_ref().map(|l| (l.count, l.offset))
}
