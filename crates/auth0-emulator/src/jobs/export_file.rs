//! The file a users-exports job produces: gzip of NDJSON (one object per line) or of CSV
//! (Auth0's bulk-export documentation: strings quoted and prefixed with `'` against CSV
//! injection, dates as they are).
//!
//! The csv crate writes the CSV: quotes where needed (`,`, `"`, line breaks), doubles quotes,
//! ends lines with `\n`, writes a row of one empty field as `""`. Its quoting is per writer, not
//! per field, so "strings quoted" comes from the `'` prefix: `'` is the writer's comment
//! character, and a field containing the comment character is always quoted (so a reader that
//! skips `'` comment lines still reads every row). Booleans, numbers, dates, missing values and
//! header names stay bare unless they contain `,`, `"`, `'` or a line break.

use crate::store::StoredUser;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Map, Value};
use std::borrow::Cow;
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

/// The character Auth0 puts before every string of a CSV export against CSV injection.
const INJECTION_PREFIX: u8 = b'\'';

/// A cell's text, before the csv writer quotes it: strings (dates excepted) and JSON objects or
/// arrays get the `'` prefix, which makes the writer quote them.
fn csv_cell(v: Option<&Value>, is_date: bool) -> Cow<'_, str> {
    match v {
        None | Some(Value::Null) => Cow::Borrowed(""),
        Some(Value::String(s)) if is_date => Cow::Borrowed(s),
        Some(Value::String(s)) => Cow::Owned(format!("'{s}")),
        Some(Value::Bool(b)) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Some(Value::Number(n)) => Cow::Owned(n.to_string()),
        Some(other) => Cow::Owned(format!("'{other}")),
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
            let mut out = csv::WriterBuilder::new()
                .comment(Some(INJECTION_PREFIX))
                .from_writer(&mut gz);
            out.write_record(fields.iter().map(Field::key))?;
            for u in users {
                let row: Vec<Cow<str>> = fields
                    .iter()
                    .map(|f| {
                        let is_date = matches!(
                            f.name.as_str(),
                            "created_at" | "updated_at" | "last_login" | "last_password_reset"
                        );
                        csv_cell(lookup(&u.doc, &f.name), is_date)
                    })
                    .collect();
                out.write_record(row.iter().map(|c| c.as_bytes()))?;
            }
            out.flush()?;
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
        assert_eq!(lines.len(), 2);
        assert!(out.ends_with('\n'));
    }

    fn field(name: &str, export_as: Option<&str>) -> Field {
        Field {
            name: name.into(),
            export_as: export_as.map(Into::into),
        }
    }

    fn awkward_user() -> Arc<StoredUser> {
        Arc::new(StoredUser::new(
            json!({"user_id": "auth0|2", "name": "Doe, \"JD\"\nJr.", "nickname": "it's",
                   "logins_count": -3, "created_at": "2020-01-01T00:00:00.000Z",
                   "app_metadata": {"plan": "gold", "tags": ["a", "b"]}, "email_verified": true})
            .as_object()
            .cloned()
            .unwrap(),
        ))
    }

    fn awkward_fields() -> Option<Vec<Field>> {
        Some(vec![
            field("user_id", None),
            field("name", None),
            field("nickname", Some("nick,name")),
            field("logins_count", None),
            field("created_at", None),
            field("app_metadata", None),
            field("email_verified", None),
            field("last_login", None),
        ])
    }

    #[test]
    fn csv_quotes_delimiters_quotes_and_line_breaks() {
        let out = gunzip(&build(&[awkward_user()], ExportFormat::Csv, &awkward_fields()).unwrap());
        assert_eq!(
            out,
            concat!(
                // A header name with a comma is quoted (it was written bare, splitting the column).
                "user_id,name,\"nick,name\",logins_count,created_at,app_metadata,email_verified,last_login\n",
                "\"'auth0|2\",\"'Doe, \"\"JD\"\"\nJr.\",\"'it's\",-3,2020-01-01T00:00:00.000Z,",
                "\"'{\"\"plan\"\":\"\"gold\"\",\"\"tags\"\":[\"\"a\"\",\"\"b\"\"]}\",true,\n"
            )
        );
    }

    #[test]
    fn csv_reads_back_with_a_csv_reader() {
        let users = [user(), awkward_user()];
        let out = gunzip(&build(&users, ExportFormat::Csv, &awkward_fields()).unwrap());
        // Also with `'` as the comment character: no line starts with a bare `'`.
        for comment in [None, Some(INJECTION_PREFIX)] {
            let mut r = csv::ReaderBuilder::new()
                .comment(comment)
                .from_reader(out.as_bytes());
            let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
            assert_eq!(header[2], "nick,name");
            let rows: Vec<Vec<String>> = r
                .records()
                .map(|rec| rec.unwrap().iter().map(String::from).collect())
                .collect();
            assert_eq!(
                rows,
                [
                    [
                        "'auth0|1",
                        "'Say \"hi\"",
                        "",
                        "0",
                        "2020-01-01T00:00:00.000Z"
                    ]
                    .into_iter()
                    .chain(["'{\"plan\":\"gold\"}", "false", ""])
                    .collect::<Vec<_>>(),
                    ["'auth0|2", "'Doe, \"JD\"\nJr.", "'it's", "-3"]
                        .into_iter()
                        .chain([
                            "2020-01-01T00:00:00.000Z",
                            "'{\"plan\":\"gold\",\"tags\":[\"a\",\"b\"]}"
                        ])
                        .chain(["true", ""])
                        .collect::<Vec<_>>(),
                ]
            );
        }
    }

    #[test]
    fn csv_with_one_field_keeps_empty_rows() {
        let fields = Some(vec![field("given_name", None)]);
        let out = gunzip(&build(&[user(), user()], ExportFormat::Csv, &fields).unwrap());
        // A lone empty field is written `""` (the csv crate's rule; it was an empty line, which
        // CSV readers skip, losing the row).
        assert_eq!(out, "given_name\n\"\"\n\"\"\n");
    }
}
