//! A bulk-import record against Auth0's published schema and the rules it enforces beyond it
//! (`schema/`), checked by the `jsonschema` crate; its errors become [`Problem`]s with the codes
//! and wording Auth0's import errors use (z-schema's: `INVALID_TYPE`, `OBJECT_REQUIRED`,
//! `FORMAT`, `PATTERN`, ..., and "Object didn't pass validation for format email: ...").

use crate::Problem;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{Draft, ValidationError, Validator};
use serde_json::Value;
use std::sync::OnceLock;

/// Auth0's published schema of one bulk-import record, verbatim.
pub const PUBLISHED: &str = include_str!("../schema/bulk-user-import-schema.json");
/// What Auth0 enforces beyond [`PUBLISHED`], as schema rules, each with its source.
pub const ENFORCED: &str = include_str!("../schema/enforced-beyond-published.schema.json");

/// Values echoed in messages are cut to this many characters.
const ECHO_MAX: usize = 80;

/// The compiled schemas. The `expect`s can only fire on a bug in the two files compiled into
/// this crate (no input reaches them); every test of this crate compiles them first.
fn validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| {
        let published: Value =
            serde_json::from_str(PUBLISHED).expect("the published schema is JSON");
        let enforced: Value = serde_json::from_str(ENFORCED).expect("the enforced schema is JSON");
        let mut enforced_body = enforced;
        if let Value::Object(m) = &mut enforced_body {
            m.remove("$schema");
        }
        let root = serde_json::json!({ "allOf": [published, enforced_body] });
        jsonschema::options()
            .with_draft(Draft::Draft7)
            .should_validate_formats(true)
            .with_format("email", crate::is_email)
            .build(&root)
            .expect("the bundled schemas compile")
    })
}

/// Is `path` (Auth0 style, `custom_password_hash.hash.value`) a field whose value must never be
/// echoed: password hashes and everything under `custom_password_hash`, MFA secrets.
pub fn is_secret_path(path: &str) -> bool {
    path == "password_hash"
        || path == "password"
        || path.starts_with("custom_password_hash")
        || (path.starts_with("mfa_factors") && path.ends_with(".secret"))
}

/// A JSON pointer into `record` as Auth0 writes paths: `mfa_factors[0].totp.secret`.
fn auth0_path(record: &Value, pointer: &str) -> String {
    let mut out = String::new();
    let mut at = Some(record);
    for raw in pointer.split('/').skip(1) {
        let seg = raw.replace("~1", "/").replace("~0", "~");
        match at {
            Some(Value::Array(items)) => {
                let i: Option<usize> = seg.parse().ok();
                out.push_str(&format!("[{seg}]"));
                at = i.and_then(|i| items.get(i));
            }
            other => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&seg);
                at = other.and_then(|v| v.get(&seg));
            }
        }
    }
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A value as a message shows it: JSON, cut to [`ECHO_MAX`] characters, or masked.
fn echo(path: &str, v: &Value) -> String {
    if is_secret_path(path) {
        return "*****".into();
    }
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > ECHO_MAX {
        format!("{}...", s.chars().take(ECHO_MAX).collect::<String>())
    } else {
        s
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn count(v: &Value) -> usize {
    match v {
        Value::String(s) => s.chars().count(),
        Value::Array(a) => a.len(),
        Value::Object(o) => o.len(),
        _ => 0,
    }
}

/// One library error as Auth0-style problems (an error about several properties gives one each).
fn problems_of(record: &Value, e: &ValidationError<'_>, out: &mut Vec<Problem>) {
    let path = auth0_path(record, e.instance_path().as_str());
    let v: &Value = e.instance();
    let mut add = |path: String, code: &'static str, message: String| {
        out.push(Problem {
            path,
            code,
            message,
        })
    };
    match e.kind() {
        ValidationErrorKind::Type { kind } => {
            let want = match kind {
                TypeKind::Single(t) => t.to_string(),
                TypeKind::Multiple(set) => set
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            add(
                path,
                "INVALID_TYPE",
                format!("Expected type {want} but found type {}", type_name(v)),
            )
        }
        ValidationErrorKind::Required { property } => {
            let p = property.as_str().unwrap_or_default();
            add(
                join(&path, p),
                "OBJECT_REQUIRED",
                format!("Missing required property: {p}"),
            )
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            for k in unexpected {
                add(
                    join(&path, k),
                    "OBJECT_ADDITIONAL_PROPERTIES",
                    format!("Additional properties not allowed: {k}"),
                );
            }
        }
        ValidationErrorKind::Format { format } => {
            let m = format!(
                "Object didn't pass validation for format {format}: {}",
                echo(&path, v)
            );
            add(path, "FORMAT", m)
        }
        // Auth0's wording, value not echoed: "String does not match pattern ^\$2[ab]?...".
        ValidationErrorKind::Pattern { pattern } => add(
            path,
            "PATTERN",
            format!("String does not match pattern {pattern}"),
        ),
        ValidationErrorKind::Enum { options } => {
            let allowed: Vec<String> = match options.as_ref() {
                Value::Array(a) => a.iter().map(|o| echo("", o)).collect(),
                other => vec![echo("", other)],
            };
            let m = format!(
                "No enum match for: {} (expected one of: {})",
                echo(&path, v),
                allowed.join(", ")
            );
            add(path, "ENUM_MISMATCH", m)
        }
        ValidationErrorKind::Constant { expected_value } => {
            let m = format!(
                "No enum match for: {} (expected {})",
                echo(&path, v),
                echo("", expected_value)
            );
            add(path, "ENUM_MISMATCH", m)
        }
        ValidationErrorKind::MaxLength { limit } => {
            let m = format!("String is too long ({} chars), maximum {limit}", count(v));
            add(path, "MAX_LENGTH", m)
        }
        ValidationErrorKind::MinLength { limit } => {
            let m = format!("String is too short ({} chars), minimum {limit}", count(v));
            add(path, "MIN_LENGTH", m)
        }
        ValidationErrorKind::MinItems { limit } => {
            let m = format!("Array is too short ({}), minimum {limit}", count(v));
            add(path, "ARRAY_LENGTH_SHORT", m)
        }
        ValidationErrorKind::MaxItems { limit } => {
            let m = format!("Array is too long ({}), maximum {limit}", count(v));
            add(path, "ARRAY_LENGTH_LONG", m)
        }
        ValidationErrorKind::Minimum { limit } => {
            let m = format!("Value {} is less than minimum {limit}", echo(&path, v));
            add(path, "MINIMUM", m)
        }
        ValidationErrorKind::Maximum { limit } => {
            let m = format!("Value {} is greater than maximum {limit}", echo(&path, v));
            add(path, "MAXIMUM", m)
        }
        ValidationErrorKind::MaxProperties { limit } => {
            let m = format!(
                "Too many properties defined ({}), maximum {limit}",
                count(v)
            );
            add(path, "OBJECT_PROPERTIES_MAXIMUM", m)
        }
        ValidationErrorKind::MinProperties { limit } => {
            let m = format!("Too few properties defined ({}), minimum {limit}", count(v));
            add(path, "OBJECT_PROPERTIES_MINIMUM", m)
        }
        ValidationErrorKind::Not { schema } => {
            // The rules written as `not` carry a description of what they forbid.
            let why = schema
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("Data matches schema from 'not'");
            // Point at the property that must go (the last one `required` names).
            let at = schema
                .get("required")
                .and_then(Value::as_array)
                .and_then(|r| r.last())
                .and_then(Value::as_str)
                .map_or(path.clone(), |p| join(&path, p));
            add(at, "NOT_PASSED", why.to_string())
        }
        // Keywords the bundled schemas do not use.
        _ => add(path, "INVALID", "Value does not satisfy the schema".into()),
    }
}

/// Every schema problem of one record, in the order the library reports them.
pub fn schema_problems(record: &Value) -> Vec<Problem> {
    let mut out = Vec::new();
    for e in validator().iter_errors(record) {
        problems_of(record, &e, &mut out);
    }
    out
}
