//! The file a users-exports job produces: gzip of NDJSON (one object per line) or of CSV
//! (Auth0's bulk-export documentation: strings quoted and prefixed with `'` against CSV
//! injection, dates as they are).

use crate::store::StoredUser;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::sync::Arc;

/// The file format of a users-exports job (`format`: `json` is NDJSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Json,
    Csv,
}

/// One requested field: a path into the user (`email`, `identities[0].connection`,
/// `app_metadata.plan`) and the name it is exported as.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub export_as: Option<String>,
}

impl Field {
    pub fn to_json(&self) -> Value {
        match &self.export_as {
            Some(a) => json!({"name": self.name, "export_as": a}),
            None => json!({"name": self.name}),
        }
    }

    /// The key or column header: `export_as`, else the name as given (our choice; Auth0 does not
    /// document it).
    pub fn key(&self) -> &str {
        self.export_as.as_deref().unwrap_or(&self.name)
    }
}

/// The fields of a CSV export without `fields` (the original extension's defaults).
pub const DEFAULT_CSV_FIELDS: &[&str] = &[
    "user_id",
    "given_name",
    "family_name",
    "nickname",
    "name",
    "email",
    "email_verified",
    "picture",
    "identities[0].connection",
    "created_at",
    "updated_at",
];

/// The value at a path: dots separate keys, `[n]` indexes arrays.
pub fn lookup<'a>(user: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut current: Option<&Value> = None;
    for (i, seg) in path.split('.').enumerate() {
        let (key, index) = match seg.split_once('[') {
            Some((k, rest)) => (
                k,
                rest.strip_suffix(']').and_then(|n| n.parse::<usize>().ok()),
            ),
            None => (seg, None),
        };
        let v = if i == 0 {
            user.get(key)
        } else {
            current?.get(key)
        }?;
        current = Some(match index {
            Some(n) => v.get(n)?,
            None => v,
        });
    }
    current
}

fn csv_cell(v: Option<&Value>, is_date: bool) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) if is_date => s.clone(),
        Some(Value::String(s)) => format!("\"'{}\"", s.replace('"', "\"\"")),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => format!("\"'{}\"", other.to_string().replace('"', "\"\"")),
    }
}

/// Builds the gzip file for `users`.
pub fn build(
    users: &[Arc<StoredUser>],
    format: ExportFormat,
    fields: &Option<Vec<Field>>,
) -> std::io::Result<bytes::Bytes> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    match format {
        ExportFormat::Json => {
            for u in users {
                let line = match fields {
                    None => Value::Object(u.doc.clone()),
                    Some(fields) => {
                        let mut m = Map::new();
                        for f in fields {
                            if let Some(v) = lookup(&u.doc, &f.name) {
                                m.insert(f.key().to_string(), v.clone());
                            }
                        }
                        Value::Object(m)
                    }
                };
                serde_json::to_writer(&mut gz, &line)?;
                gz.write_all(b"\n")?;
            }
        }
        ExportFormat::Csv => {
            let defaults: Vec<Field>;
            let fields = match fields {
                Some(f) => f,
                None => {
                    defaults = DEFAULT_CSV_FIELDS
                        .iter()
                        .map(|n| Field {
                            name: n.to_string(),
                            export_as: None,
                        })
                        .collect();
                    &defaults
                }
            };
            let header: Vec<&str> = fields.iter().map(Field::key).collect();
            gz.write_all(header.join(",").as_bytes())?;
            gz.write_all(b"\n")?;
            for u in users {
                let row: Vec<String> = fields
                    .iter()
                    .map(|f| {
                        let is_date = matches!(
                            f.name.as_str(),
                            "created_at" | "updated_at" | "last_login" | "last_password_reset"
                        );
                        csv_cell(lookup(&u.doc, &f.name), is_date)
                    })
                    .collect();
                gz.write_all(row.join(",").as_bytes())?;
                gz.write_all(b"\n")?;
            }
        }
    }
    Ok(bytes::Bytes::from(gz.finish()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::io::Read;

    fn user() -> Arc<StoredUser> {
        Arc::new(StoredUser::new(
            json!({"user_id": "auth0|1", "email": "a@x.com", "email_verified": false, "name": "Say \"hi\"",
                   "identities": [{"connection": "db"}], "created_at": "2020-01-01T00:00:00.000Z",
                   "logins_count": 0, "app_metadata": {"plan": "gold"}})
            .as_object()
            .cloned()
            .unwrap(),
        ))
    }

    fn gunzip(b: &[u8]) -> String {
        let mut s = String::new();
        GzDecoder::new(b).read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn ndjson_with_fields() {
        let fields = Some(vec![
            Field {
                name: "user_id".into(),
                export_as: None,
            },
            Field {
                name: "identities[0].connection".into(),
                export_as: Some("connection".into()),
            },
            Field {
                name: "app_metadata.plan".into(),
                export_as: None,
            },
            Field {
                name: "last_login".into(),
                export_as: None,
            },
        ]);
        let out = gunzip(&build(&[user()], ExportFormat::Json, &fields).unwrap());
        assert_eq!(
            out,
            "{\"user_id\":\"auth0|1\",\"connection\":\"db\",\"app_metadata.plan\":\"gold\"}\n"
        );
    }

    #[test]
    fn csv_escapes_strings_not_dates() {
        let out = gunzip(&build(&[user()], ExportFormat::Csv, &None).unwrap());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], DEFAULT_CSV_FIELDS.join(","));
        assert_eq!(
            lines[1],
            "\"'auth0|1\",,,,\"'Say \"\"hi\"\"\",\"'a@x.com\",false,,\"'db\",2020-01-01T00:00:00.000Z,"
        );
    }
}
