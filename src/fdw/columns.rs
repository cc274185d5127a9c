//! The columns of `auth0.users`: where each one comes from in a user object, and what Auth0's
//! search can do with it (which decides what is pushed down).

/// Where a column's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A top-level field of the user object.
    Field(&'static str),
    /// `identities[0].connection`.
    Connection,
    /// The whole user object.
    Raw,
    /// The `q` pseudo-column: reads back as the search query it was given.
    Query,
}

/// What Auth0's search (v3) can evaluate on the column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Search {
    /// Not searchable (or not reliably): always filtered by Postgres.
    No,
    /// Text compared case-insensitively by Auth0 (email, name, ...): only `=`, `IN`, prefix.
    TextCaseInsensitive,
    /// Text compared exactly: also `<>`.
    Text,
    Bool,
    Number,
    Time,
    /// `identities.connection`.
    Connection,
}

/// Can `ORDER BY` be sent to Auth0 for this column (only to serve a pushed LIMIT)?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    No,
    /// Always present, so Auth0's placement of missing values never matters.
    Always,
    /// May be missing: only when Postgres also puts NULLs last.
    NullsLast,
}

#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    pub name: &'static str,
    pub sql_type: &'static str,
    pub source: Source,
    pub search: Search,
    pub sort: Sort,
}

const fn col(name: &'static str, sql_type: &'static str, search: Search, sort: Sort) -> ColumnSpec {
    ColumnSpec {
        name,
        sql_type,
        source: Source::Field(name),
        search,
        sort,
    }
}

/// The columns `IMPORT FOREIGN SCHEMA` creates, in order (the README's `auth0.users` table).
///
/// Text sorts are never pushed: Auth0's order is not the column's collation order, so a pushed
/// `ORDER BY name LIMIT 10` could return the wrong ten.
pub const USERS: &[ColumnSpec] = &[
    col("user_id", "text", Search::Text, Sort::No),
    col("email", "text", Search::TextCaseInsensitive, Sort::No),
    col("email_verified", "boolean", Search::Bool, Sort::No),
    col("username", "text", Search::Text, Sort::No),
    col("phone_number", "text", Search::Text, Sort::No),
    col("phone_verified", "boolean", Search::Bool, Sort::No),
    col("name", "text", Search::TextCaseInsensitive, Sort::No),
    col("nickname", "text", Search::TextCaseInsensitive, Sort::No),
    col("given_name", "text", Search::TextCaseInsensitive, Sort::No),
    col("family_name", "text", Search::TextCaseInsensitive, Sort::No),
    col("picture", "text", Search::No, Sort::No),
    ColumnSpec {
        name: "connection",
        sql_type: "text",
        source: Source::Connection,
        search: Search::Connection,
        sort: Sort::No,
    },
    col("created_at", "timestamptz", Search::Time, Sort::Always),
    col("updated_at", "timestamptz", Search::Time, Sort::Always),
    col("last_login", "timestamptz", Search::Time, Sort::NullsLast),
    col("last_password_reset", "timestamptz", Search::No, Sort::No),
    col("last_ip", "text", Search::Text, Sort::No),
    col("logins_count", "bigint", Search::Number, Sort::NullsLast),
    col("blocked", "boolean", Search::Bool, Sort::No),
    col("multifactor", "jsonb", Search::No, Sort::No),
    col("identities", "jsonb", Search::No, Sort::No),
    col("app_metadata", "jsonb", Search::No, Sort::No),
    col("user_metadata", "jsonb", Search::No, Sort::No),
    ColumnSpec {
        name: "raw",
        sql_type: "jsonb",
        source: Source::Raw,
        search: Search::No,
        sort: Sort::No,
    },
    ColumnSpec {
        name: "q",
        sql_type: "text",
        source: Source::Query,
        search: Search::No,
        sort: Sort::No,
    },
];

/// The spec of a column by name. A column that is not one of ours (a table declared by hand)
/// reads the top-level field of the same name and is filtered by Postgres only.
pub fn spec(name: &str) -> ColumnSpec {
    USERS
        .iter()
        .find(|c| c.name == name)
        .copied()
        .unwrap_or(ColumnSpec {
            name: "",
            sql_type: "",
            source: Source::Field(""),
            search: Search::No,
            sort: Sort::No,
        })
}

/// The top-level Auth0 field a column reads (for `fields=`); `None` for `q`, `Some("*")` for all.
pub fn auth0_field(name: &str) -> Option<&str> {
    match spec(name).source {
        Source::Field("") => Some(name),
        Source::Field(f) => Some(f),
        Source::Connection => Some("identities"),
        Source::Raw => Some("*"),
        Source::Query => None,
    }
}

/// Quotes an identifier for SQL.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// `CREATE FOREIGN TABLE` for the users table.
pub fn create_users_table(schema: &str, server: &str) -> String {
    let cols: Vec<String> = USERS
        .iter()
        .map(|c| format!("  {} {}", quote_ident(c.name), c.sql_type))
        .collect();
    format!(
        "CREATE FOREIGN TABLE {}.users (\n{}\n) SERVER {} OPTIONS (object 'users', rowid_column 'user_id')",
        quote_ident(schema),
        cols.join(",\n"),
        quote_ident(server)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_quotes_names() {
        let sql = create_users_table("we\"ird", "my server");
        assert!(sql.starts_with("CREATE FOREIGN TABLE \"we\"\"ird\".users ("));
        assert!(sql.contains("SERVER \"my server\""));
        assert!(sql.contains("\"created_at\" timestamptz"));
        let (columns, options) = sql.split_once(") SERVER").unwrap();
        assert_eq!(columns.matches(',').count(), USERS.len() - 1);
        assert!(
            options.ends_with("OPTIONS (object 'users', rowid_column 'user_id')"),
            "{options}"
        );
    }

    #[test]
    fn fields_for_columns() {
        assert_eq!(auth0_field("connection"), Some("identities"));
        assert_eq!(auth0_field("raw"), Some("*"));
        assert_eq!(auth0_field("q"), None);
        assert_eq!(auth0_field("organization_id"), Some("organization_id"));
    }
}
