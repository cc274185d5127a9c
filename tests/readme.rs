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

#[test]
fn every_readme_example_runs() {
    let url = std::env::var("AUTH0_IO_TEST_EMULATOR_URL")
        .expect("AUTH0_IO_TEST_EMULATOR_URL is not set: run the tests through scripts/test");
    let blocks = readme_sql_blocks();
    assert!(!blocks.is_empty());
    let mut db = Db::empty("readme");
    let mut ran = 0;
    for block in &blocks {
        for stmt in statements(block) {
            let sql = stmt
                .replace("domain 'acme.eu.auth0.com'", &format!("api_url '{url}'"))
                .replace(
                    "client_id '...', client_secret '...'",
                    "client_id 'emulator-client', client_secret 'emulator-secret'",
                )
                .replace(
                    "'ada@example.com'",
                    "(SELECT email FROM auth0.users ORDER BY created_at LIMIT 1)",
                );
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
