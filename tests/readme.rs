//! Every SQL example of the README runs, against the standalone emulator `scripts/test` starts
//! (so the README cannot rot). Tenant-specific values are pointed at the emulator.

mod common;

use common::Db;

fn readme_sql_blocks() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```sql") => current = Some(String::new()),
            (Some(b), l) if l.starts_with("```") => {
                blocks.push(std::mem::take(b));
                current = None;
            }
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

/// Splits a block into statements (statements end with `;` at the end of a line; `--` comments
/// are dropped).
fn statements(block: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in block.lines() {
        let code = match line.find("--") {
            Some(i) if !line[..i].contains('\'') || line[..i].matches('\'').count() % 2 == 0 => {
                &line[..i]
            }
            _ => line,
        };
        cur.push_str(code);
        cur.push('\n');
        if code.trim_end().ends_with(';') {
            out.push(cur.trim().trim_end_matches(';').to_string());
            cur.clear();
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// The extension's functions and views the README calls by name.
const OURS: &[&str] = &[
    "auth0_io_fdw_handler",
    "auth0_io_fdw_validator",
    "auth0_create_default_export_view",
    "auth0_user_to_import",
    "auth0_validate_users",
    "auth0_import_jobs",
    "auth0_import_purge_dropped_databases",
    "auth0_import_purge",
    "auth0_import_resume",
    "auth0_imports",
    "auth0_import",
    "auth0_job_status",
    "auth0_job_errors",
];

/// `sql` with every name of ours qualified by `schema`.
fn qualified(sql: &str, schema: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    'scan: while !rest.is_empty() {
        let at_word_start = out
            .chars()
            .last()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '.'));
        if at_word_start {
            for name in OURS {
                let follows = rest[name.len().min(rest.len())..].chars().next();
                if rest.starts_with(name)
                    && follows.is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
                {
                    out.push_str(schema);
                    out.push('.');
                    out.push_str(name);
                    rest = &rest[name.len()..];
                    continue 'scan;
                }
            }
        }
        let c = rest.chars().next().unwrap();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[test]
fn qualifying_names_leaves_other_words_alone() {
    assert_eq!(
        qualified(
            "SELECT * FROM auth0_imports, auth0_import('x') -- auth0_importer x.auth0_import",
            "s"
        ),
        "SELECT * FROM s.auth0_imports, s.auth0_import('x') -- auth0_importer x.auth0_import"
    );
}

/// Runs every statement of the README's SQL blocks in `db`, pointed at the emulator. With
/// `schema`, the extension is created in that schema, which is left off the search_path, and
/// the README's calls are schema-qualified as a user of such a database writes them.
fn run_readme(db: &mut Db, schema: Option<&str>) {
    let url = std::env::var("AUTH0_IO_TEST_EMULATOR_URL")
        .expect("AUTH0_IO_TEST_EMULATOR_URL is not set: run the tests through scripts/test");
    let blocks = readme_sql_blocks();
    assert!(!blocks.is_empty());
    if let Some(s) = schema {
        db.exec(&format!(
            "CREATE SCHEMA {s}; CREATE EXTENSION auth0_io SCHEMA {s}; SET search_path = public"
        ));
    }
    let mut ran = 0;
    for block in &blocks {
        for stmt in statements(block) {
            let mut sql = stmt
                .replace("domain 'acme.eu.auth0.com'", &format!("api_url '{url}'"))
                .replace(
                    "client_id '...', client_secret '...'",
                    "client_id 'emulator-client', client_secret 'emulator-secret'",
                )
                .replace(
                    "'ada@example.com'",
                    "(SELECT email FROM auth0.users ORDER BY created_at LIMIT 1)",
                );
            if let Some(s) = schema {
                if sql.starts_with("CREATE EXTENSION auth0_io") {
                    continue; // created above, in its schema
                }
                sql = qualified(&sql, s);
            }
            if sql.to_uppercase().starts_with("COPY") && sql.to_uppercase().contains("TO STDOUT") {
                let mut out = String::new();
                use std::io::Read;
                db.client
                    .copy_out(&sql)
                    .unwrap_or_else(|e| panic!("{sql}\n-> {}", common::describe(&e)))
                    .read_to_string(&mut out)
                    .unwrap();
                assert!(out.lines().count() > 1, "{sql} exported nothing");
            } else {
                db.exec(&sql);
            }
            ran += 1;
        }
    }
    assert!(ran >= 8, "{ran} statements");
}

#[test]
fn every_readme_example_runs() {
    run_readme(&mut Db::empty("readme"), None);
}

#[test]
fn every_readme_example_runs_with_the_extension_in_a_schema_off_the_search_path() {
    let mut db = Db::empty("readme_schema");
    run_readme(&mut db, Some("auth0_io"));
    assert_eq!(
        db.one::<String>(
            "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'auth0_io'"
        ),
        "auth0_io"
    );
    assert_eq!(db.one::<String>("SHOW search_path"), "public");
}
