//! From a user object to the cells of a row: unset fields are NULL, `false` and `0` stay values,
//! and a value that cannot fit its column is an error that names the column and the user.

use super::columns::{self, Source};
use crate::error::{Error, Result};
use auth0_api::users::User;
use pgrx::pg_sys::{self, Oid};
use pgrx::prelude::{Timestamp, TimestampWithTimeZone};
use pgrx::{AnyNumeric, JsonB, PgSqlErrorCode};
use serde_json::Value;
use supabase_wrappers::prelude::{Cell, Column, Row};

/// The SQL types a column may have, decided once per scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Bool,
    Int2,
    Int4,
    Int8,
    Float8,
    Numeric,
    Timestamptz,
    Timestamp,
    Jsonb,
    TextArray,
}

/// One output column: its name, where its value comes from, what type it must become.
#[derive(Debug, Clone)]
pub struct OutColumn {
    name: String,
    source: Source,
    kind: Kind,
    sql_type: &'static str,
}

fn kind_of(type_oid: Oid) -> Option<(Kind, &'static str)> {
    Some(match type_oid {
        pg_sys::TEXTOID | pg_sys::VARCHAROID | pg_sys::BPCHAROID => (Kind::Text, "text"),
        pg_sys::BOOLOID => (Kind::Bool, "boolean"),
        pg_sys::INT2OID => (Kind::Int2, "smallint"),
        pg_sys::INT4OID => (Kind::Int4, "integer"),
        pg_sys::INT8OID => (Kind::Int8, "bigint"),
        pg_sys::FLOAT8OID | pg_sys::FLOAT4OID => (Kind::Float8, "double precision"),
        pg_sys::NUMERICOID => (Kind::Numeric, "numeric"),
        pg_sys::TIMESTAMPTZOID => (Kind::Timestamptz, "timestamptz"),
        pg_sys::TIMESTAMPOID => (Kind::Timestamp, "timestamp"),
        pg_sys::JSONBOID => (Kind::Jsonb, "jsonb"),
        pg_sys::TEXTARRAYOID => (Kind::TextArray, "text[]"),
        _ => return None,
    })
}

/// The output columns of a scan; an unsupported column type is refused before any request.
pub fn out_columns(columns: &[Column]) -> Result<Vec<OutColumn>> {
    columns
        .iter()
        .map(|c| {
            let (kind, sql_type) = kind_of(c.type_oid).ok_or_else(|| {
                Error::invalid(
                    PgSqlErrorCode::ERRCODE_FDW_INVALID_DATA_TYPE,
                    format!("column \"{}\" has a type auth0_io cannot fill", c.name),
                )
                .with_hint("Use text, boolean, smallint, integer, bigint, double precision, numeric, timestamptz, timestamp, jsonb or text[].")
            })?;
            Ok(OutColumn { name: c.name.clone(), source: columns::spec(&c.name).source, kind, sql_type })
        })
        .collect()
}

fn field<'a>(user: &'a User, col: &OutColumn) -> Option<&'a Value> {
    match col.source {
        Source::Field("") => user.get(&col.name),
        Source::Field(f) => user.get(f),
        Source::Connection => user.get("identities")?.get(0)?.get("connection"),
        Source::Raw | Source::Query => None,
    }
}

/// Fills `row` from `user` (consumed: the `raw` column takes the object without a copy).
pub fn fill(row: &mut Row, user: User, cols: &[OutColumn], q_text: Option<&str>) -> Result<()> {
    let mut raw_at: Option<usize> = None;
    for (i, col) in cols.iter().enumerate() {
        let cell = match col.source {
            Source::Raw => {
                raw_at = Some(i);
                None
            }
            Source::Query => q_text.map(|q| Cell::String(q.to_string())),
            _ => match field(&user, col) {
                None | Some(Value::Null) => None,
                Some(v) => Some(convert(v, col).map_err(|detail| {
                    Error::Column {
                        column: col.name.clone(),
                        sql_type: col.sql_type.to_string(),
                        user_id: user
                            .get("user_id")
                            .and_then(Value::as_str)
                            .unwrap_or("(unknown)")
                            .to_string(),
                        detail,
                    }
                })?),
            },
        };
        row.push(&col.name, cell);
    }
    if let Some(i) = raw_at {
        let raw = if cols[i].kind == Kind::Text {
            Cell::String(Value::Object(user).to_string())
        } else {
            Cell::Json(JsonB(Value::Object(user)))
        };
        row.cells[i] = Some(raw);
    }
    Ok(())
}

fn convert(v: &Value, col: &OutColumn) -> std::result::Result<Cell, String> {
    let shown = || {
        let s = v.to_string();
        if s.len() > 80 {
            format!(
                "{}…",
                &s[..s.char_indices().nth(77).map(|(i, _)| i).unwrap_or(s.len())]
            )
        } else {
            s
        }
    };
    let int = |min: i64, max: i64| -> std::result::Result<i64, String> {
        v.as_i64()
            .filter(|i| (min..=max).contains(i))
            .ok_or_else(|| format!("{} is not an integer in range", shown()))
    };
    Ok(match col.kind {
        Kind::Text => match v {
            Value::String(s) => Cell::String(s.clone()),
            other => Cell::String(other.to_string()),
        },
        Kind::Bool => Cell::Bool(
            v.as_bool()
                .ok_or_else(|| format!("{} is not a boolean", shown()))?,
        ),
        Kind::Int2 => Cell::I16(int(i16::MIN as i64, i16::MAX as i64)? as i16),
        Kind::Int4 => Cell::I32(int(i32::MIN as i64, i32::MAX as i64)? as i32),
        Kind::Int8 => Cell::I64(int(i64::MIN, i64::MAX)?),
        Kind::Float8 => Cell::F64(
            v.as_f64()
                .ok_or_else(|| format!("{} is not a number", shown()))?,
        ),
        Kind::Numeric => {
            let n = v
                .as_f64()
                .ok_or_else(|| format!("{} is not a number", shown()))?;
            Cell::Numeric(AnyNumeric::try_from(n).map_err(|e| e.to_string())?)
        }
        Kind::Timestamptz | Kind::Timestamp => {
            let us = v
                .as_str()
                .and_then(crate::time::parse_iso_to_pg_micros)
                .ok_or_else(|| format!("{} is not an ISO-8601 timestamp", shown()))?;
            if col.kind == Kind::Timestamptz {
                Cell::Timestamptz(TimestampWithTimeZone::try_from(us).map_err(|e| e.to_string())?)
            } else {
                Cell::Timestamp(Timestamp::try_from(us).map_err(|e| e.to_string())?)
            }
        }
        Kind::Jsonb => Cell::Json(JsonB(v.clone())),
        Kind::TextArray => match v {
            Value::Array(items) => Cell::StringArray(
                items
                    .iter()
                    .map(|i| match i {
                        Value::Null => None,
                        Value::String(s) => Some(s.clone()),
                        other => Some(other.to_string()),
                    })
                    .collect(),
            ),
            _ => return Err(format!("{} is not an array", shown())),
        },
    })
}
