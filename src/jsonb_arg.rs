//! `jsonb` arguments read as text and parsed here, not through pgrx's `JsonB`.
//!
//! pgrx 0.16's `JsonB` conversion `expect`s serde_json to read whatever Postgres holds, and
//! serde_json refuses valid jsonb: numbers beyond a double (`1e1000`) and nesting deeper than
//! 128 levels. The panic became XX000 with a Rust backtrace (build paths) in the DETAIL. Here
//! the same text is parsed with the path of the offending value tracked, and refused with 22023
//! naming the record and the path.

use crate::error::{Error, Result};
use pgrx::callconv::{Arg, ArgAbi};
use pgrx::nullable::Nullable;
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, Returns, ReturnsError, SqlMapping, SqlTranslatable,
};
use pgrx::{pg_sys, FromDatum, PgSqlErrorCode};
use serde_json::Value;

/// A `jsonb` argument, as the text `jsonb_out` writes.
pub struct JsonbText(pub String);

impl FromDatum for JsonbText {
    /// # Safety
    /// `datum` must be a jsonb datum (or `is_null` true), as pgrx passes for an argument
    /// declared `jsonb` (see `SqlTranslatable` below).
    // SAFETY: an unsafe trait method by pgrx's signature; its body documents each unsafe call.
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _: pg_sys::Oid,
    ) -> Option<JsonbText> {
        if is_null {
            return None;
        }
        // SAFETY: the caller (pgrx's argument handling) passes a non-null datum of this
        // argument's declared type, jsonb.
        Some(JsonbText(unsafe { text_of(datum) }))
    }
}

/// The text `jsonb_out` writes for a jsonb datum, in UTF-8.
///
/// # Safety
/// `datum` must be a non-null jsonb datum.
pub unsafe fn text_of(datum: pg_sys::Datum) -> String {
    // SAFETY: a jsonb varlena (contract above) that `pg_detoast_datum_packed` makes readable
    // and `jsonb_out` prints as a palloc'd NUL-terminated string in the database encoding;
    // `pg_server_to_any` returns it, or a palloc'd UTF-8 copy, NUL-terminated (it raises an
    // ERROR for an unconvertible character). Both are freed once copied.
    unsafe {
        let detoasted = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
        let out = pg_sys::OidOutputFunctionCall(
            pg_sys::Oid::from(pg_sys::F_JSONB_OUT),
            pg_sys::Datum::from(detoasted),
        );
        // In the database's encoding: convert to UTF-8 (a no-op in a UTF-8 database).
        let len = std::ffi::CStr::from_ptr(out).to_bytes().len();
        let utf8 = pg_sys::pg_server_to_any(out, len as i32, pg_sys::pg_enc::PG_UTF8 as i32);
        let text = std::ffi::CStr::from_ptr(utf8)
            .to_string_lossy()
            .into_owned();
        if utf8 != out {
            pg_sys::pfree(utf8.cast());
        }
        pg_sys::pfree(out.cast());
        text
    }
}

// SAFETY: as pgrx's own `argue_from_datum!` does for `JsonB`: the argument is unboxed with
// `from_polymorphic_datum` above, which reads exactly the datum pgrx hands over.
unsafe impl<'fcx> ArgAbi<'fcx> for JsonbText {
    /// # Safety
    /// `arg` must be this function's jsonb argument (pgrx's generated wrapper guarantees it).
    // SAFETY: an unsafe trait method by pgrx's signature; the one call inside is documented.
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        // SAFETY: see the impl: a jsonb argument datum.
        unsafe { arg.unbox_arg_using_from_datum() }
            .unwrap_or_else(|| panic!("argument {index} must not be null"))
    }

    /// # Safety
    /// `arg` must be this function's jsonb argument (pgrx's generated wrapper guarantees it).
    // SAFETY: an unsafe trait method by pgrx's signature; the one call inside is documented.
    unsafe fn unbox_nullable_arg(arg: Arg<'_, 'fcx>) -> Nullable<Self> {
        // SAFETY: see the impl: a jsonb argument datum.
        unsafe { arg.unbox_arg_using_from_datum() }.into()
    }
}

// SAFETY: the SQL type of this argument is `jsonb`, which `from_polymorphic_datum` reads.
unsafe impl SqlTranslatable for JsonbText {
    fn argument_sql() -> std::result::Result<SqlMapping, ArgumentError> {
        Ok(SqlMapping::literal("jsonb"))
    }
    fn return_sql() -> std::result::Result<Returns, ReturnsError> {
        Ok(Returns::One(SqlMapping::literal("jsonb")))
    }
}

/// At most this many characters of a path are shown.
const PATH_SHOWN: usize = 120;

impl JsonbText {
    /// The value, or 22023 naming where (`input_index 0, path user_metadata.n`) and why.
    pub fn parse(&self, argument: &str) -> Result<Value> {
        let mut de = serde_json::Deserializer::from_str(&self.0);
        serde_path_to_error::deserialize::<_, Value>(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let (index, inner) = split_index(&path);
            let mut at = match (index, inner) {
                (Some(i), "") => format!("input_index {i}"),
                (Some(i), p) => format!("input_index {i}, path {p}"),
                (None, p) => format!("path {p}"),
            };
            if at.chars().count() > PATH_SHOWN {
                at = format!("{}...", at.chars().take(PATH_SHOWN).collect::<String>());
            }
            let why = e.inner().to_string();
            let why = why.split(" at line ").next().unwrap_or(&why).to_string();
            Error::invalid(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("{argument} holds a value auth0_io cannot read at {at}: {why}"),
            )
            .with_hint("Numbers must fit a double precision (Auth0 stores JSON numbers as such), and objects and arrays nest at most 128 levels.")
        })
    }
}

/// `[3].user_metadata.n` -> (Some(3), "user_metadata.n").
fn split_index(path: &str) -> (Option<usize>, &str) {
    let Some(rest) = path.strip_prefix('[') else {
        return (None, path);
    };
    let Some((n, tail)) = rest.split_once(']') else {
        return (None, path);
    };
    (n.parse().ok(), tail.strip_prefix('.').unwrap_or(tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_the_record_and_the_field() {
        assert_eq!(
            split_index("[3].user_metadata.n"),
            (Some(3), "user_metadata.n")
        );
        assert_eq!(split_index("[0]"), (Some(0), ""));
        assert_eq!(split_index("a.b"), (None, "a.b"));
    }
}
