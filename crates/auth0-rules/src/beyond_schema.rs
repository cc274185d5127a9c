//! Rules Auth0 applies to bulk-import records that no JSON Schema can say.

use crate::Problem;
use serde_json::Value;

/// Keys Auth0 refuses in `app_metadata`: they would shadow its own attributes (its per-user
/// error: "Forbidden attribute in appUser: <key>"). Source: Auth0's metadata field-name rules
/// and bulk-import documentation.
pub const FORBIDDEN_APP_METADATA: &[&str] = &[
    "__tenant",
    "_id",
    "blocked",
    "clientID",
    "created_at",
    "email_verified",
    "email",
    "globalClientID",
    "global_client_id",
    "identities",
    "lastIP",
    "lastLogin",
    "loginsCount",
    "metadata",
    "multifactor_last_modified",
    "multifactor",
    "updated_at",
    "user_id",
];

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Metadata keys: no `.` or `$` anywhere in the tree (Auth0 cannot store them).
fn metadata_keys(path: &str, v: &Value, out: &mut Vec<Problem>) {
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                let p = join(path, k);
                if k.contains('.') || k.contains('$') {
                    out.push(Problem {
                        path: p.clone(),
                        code: "INVALID_KEY",
                        message: format!("metadata key '{k}' must not contain '.' or '$'"),
                    });
                }
                metadata_keys(&p, child, out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                metadata_keys(&format!("{path}[{i}]"), item, out);
            }
        }
        _ => {}
    }
}

/// The problems of one record that the schemas cannot express: forbidden `app_metadata` keys,
/// `.`/`$` in metadata keys, and an scrypt `cost` that is not a power of two.
pub fn beyond_schema_problems(record: &Value) -> Vec<Problem> {
    let mut out = Vec::new();
    for k in ["app_metadata", "user_metadata"] {
        if let Some(m @ Value::Object(_)) = record.get(k) {
            metadata_keys(k, m, &mut out);
        }
    }
    if let Some(Value::Object(m)) = record.get("app_metadata") {
        for key in m
            .keys()
            .filter(|key| FORBIDDEN_APP_METADATA.contains(&key.as_str()))
        {
            out.push(Problem {
                path: format!("app_metadata.{key}"),
                code: "FORBIDDEN_KEY",
                message: format!("Forbidden attribute in appUser: {key} (reserved by Auth0)"),
            });
        }
    }
    // "CPU/memory cost parameter ... Must be a power of two greater than one" (published
    // description; `minimum: 2` is in the enforced schema). 32.0 is the integer 32.
    if let Some(cost) = record
        .get("custom_password_hash")
        .and_then(|h| h.get("cost"))
        .and_then(Value::as_f64)
    {
        let power_of_two = cost >= 2.0
            && cost.fract() == 0.0
            && cost <= 2f64.powi(62)
            && (cost as u64).is_power_of_two();
        if cost >= 2.0 && !power_of_two {
            out.push(Problem {
                path: "custom_password_hash.cost".into(),
                code: "MINIMUM",
                message: format!("cost must be a power of two greater than one, not {cost}"),
            });
        }
    }
    out
}
