//! The extension in real databases: beside Supabase `wrappers`' Auth0 wrapper, when the name
//! `auth0` is taken, and upgraded in place from 0.1.0 (`ALTER EXTENSION auth0_io UPDATE`) with
//! servers, user mappings, foreign tables and ledger entries of the old version.
//! (Installing into a schema off the search_path is `readme.rs`: the README's examples run there.)

mod common;

use common::{fast_tenant, wait_completed, Db};

/// What Supabase `wrappers` 0.6.2 creates (functions named by its `#[wrappers_fdw]` macro, one
/// triple per wrapper, and its stats table, type and helpers): none may be ours.
const WRAPPERS_FDWS: &[&str] = &[
    "airtable_fdw",
    "auth0_fdw",
    "big_query_fdw",
    "click_house_fdw",
    "cognito_fdw",
    "duckdb_fdw",
    "dynamo_db_fdw",
    "firebase_fdw",
    "iceberg_fdw",
    "logflare_fdw",
    "mongodb_fdw",
    "mssql_fdw",
    "mysql_fdw",
    "redis_fdw",
    "s3_fdw",
    "s3_vectors_fdw",
    "stripe_fdw",
    "wasm_fdw",
    "hello_world_fdw",
    "notion_fdw",
];
const WRAPPERS_OTHERS: &[&str] = &[
    "wrappers_fdw_stats",
    "s3vec",
    "s3vec_in",
    "s3vec_out",
    "s3vec_knn",
    "s3vec_distance",
    "metadata_filter",
    "embd",
    "embd_knn",
    "embd_distance",
];

/// Every object of the extension, described with what matters to its users (signatures,
/// volatility, privileges, bodies, view definitions, comments), one per line, sorted.
fn members(db: &mut Db) -> String {
    db.one(
        "SELECT string_agg(d, E'\\n' ORDER BY d) FROM (
           SELECT CASE
             WHEN d.classid = 'pg_catalog.pg_proc'::regclass THEN format(
               'function %s(%s) returns %s strict=%s volatile=%s parallel=%s secdef=%s acl=%s src=%s comment=%s',
               p.proname, pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
               p.proisstrict, p.provolatile, p.proparallel, p.prosecdef, p.proacl, p.prosrc,
               obj_description(p.oid, 'pg_proc'))
             WHEN d.classid = 'pg_catalog.pg_class'::regclass THEN format('%s acl=%s def=%s comment=%s',
               pg_describe_object(d.classid, d.objid, 0), c.relacl, pg_get_viewdef(c.oid),
               obj_description(c.oid, 'pg_class'))
             WHEN d.classid = 'pg_catalog.pg_foreign_data_wrapper'::regclass THEN format(
               'foreign-data wrapper %s handler %s validator %s comment=%s', w.fdwname,
               w.fdwhandler::regproc, w.fdwvalidator::regproc,
               obj_description(w.oid, 'pg_foreign_data_wrapper'))
             ELSE pg_describe_object(d.classid, d.objid, 0) END AS d
           FROM pg_depend d
           LEFT JOIN pg_proc p ON d.classid = 'pg_catalog.pg_proc'::regclass AND p.oid = d.objid
           LEFT JOIN pg_class c ON d.classid = 'pg_catalog.pg_class'::regclass AND c.oid = d.objid
           LEFT JOIN pg_foreign_data_wrapper w
             ON d.classid = 'pg_catalog.pg_foreign_data_wrapper'::regclass AND w.oid = d.objid
          WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.deptype = 'e'
            AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'auth0_io')) m",
    )
}

/// Creates, in `public`, the SQL objects `CREATE EXTENSION wrappers` makes for its Auth0
/// wrapper (C functions of the same signatures; postgres_fdw's code stands in for wrappers'
/// library), its stats table, and the wrapper Supabase's docs tell users to create.
fn create_supabase_wrappers_objects(db: &mut Db) {
    db.exec(
        "CREATE FUNCTION public.auth0_fdw_handler() RETURNS fdw_handler STRICT
           LANGUAGE c AS '$libdir/postgres_fdw', 'postgres_fdw_handler';
         CREATE FUNCTION public.auth0_fdw_validator(options text[], catalog oid) RETURNS void
           LANGUAGE c AS '$libdir/postgres_fdw', 'postgres_fdw_validator';
         CREATE FUNCTION public.auth0_fdw_meta()
           RETURNS TABLE (name text, version text, author text, website text) STRICT
           LANGUAGE sql AS $$ SELECT 'Auth0Fdw', '0.6.2', 'Supabase', 'https://github.com/supabase/wrappers' $$;
         CREATE TABLE public.wrappers_fdw_stats (fdw_name text PRIMARY KEY, create_times bigint,
           rows_in bigint, rows_out bigint, bytes_in bigint, bytes_out bigint, metadata jsonb,
           created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now());
         CREATE FOREIGN DATA WRAPPER auth0_wrapper HANDLER auth0_fdw_handler VALIDATOR auth0_fdw_validator;",
    );
}

/// The objects in `public` named like wrappers' Auth0 functions: (name, oid, body, member of
/// an extension?).
fn wrappers_functions(db: &mut Db) -> Vec<(String, u32, String, bool)> {
    db.rows(
        "SELECT p.proname::text, p.oid::int4, p.prosrc,
                EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                          AND d.objid = p.oid AND d.deptype = 'e')
           FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
            AND p.proname LIKE 'auth0\\_fdw\\_%' ORDER BY 1",
    )
    .iter()
    .map(|r| (r.get(0), r.get::<_, i32>(1) as u32, r.get(2), r.get(3)))
    .collect()
}

#[test]
fn installs_beside_supabase_wrappers_and_works() {
    let emu = fast_tenant(120);
    let mut db = Db::empty("beside_wrappers");
    create_supabase_wrappers_objects(&mut db);
    let before = wrappers_functions(&mut db);
    assert_eq!(before.len(), 3);

    db.exec("CREATE EXTENSION auth0_io");

    // wrappers' functions are untouched: same OIDs, same code, not taken over by auth0_io.
    assert_eq!(wrappers_functions(&mut db), before);
    assert_eq!(
        db.one::<String>(
            "SELECT fdwhandler::regproc::text FROM pg_foreign_data_wrapper WHERE fdwname = 'auth0_wrapper'"
        ),
        "auth0_fdw_handler"
    );
    // No object of ours has a name wrappers uses.
    let ours: Vec<String> = db
        .rows(
            "SELECT coalesce(p.proname, c.relname, t.typname)::text FROM pg_depend d
               LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
               LEFT JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
               LEFT JOIN pg_type t ON d.classid = 'pg_type'::regclass AND t.oid = d.objid
              WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'auth0_io')
                AND d.deptype = 'e' AND coalesce(p.proname, c.relname, t.typname) IS NOT NULL",
        )
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(ours.len() >= 12, "{ours:?}");
    for name in &ours {
        let clash = WRAPPERS_OTHERS.contains(&name.as_str())
            || WRAPPERS_FDWS.iter().any(|f| {
                ["_handler", "_validator", "_meta"]
                    .iter()
                    .any(|s| *name == format!("{f}{s}"))
            });
        assert!(!clash, "{name} is a name Supabase wrappers uses");
    }

    // And ours works.
    db.attach(&emu);
    assert_eq!(db.one::<i64>("SELECT count(*) FROM auth0.users"), 120);
    assert_eq!(
        db.one::<String>(
            "SELECT fdwhandler::regproc::text FROM pg_foreign_data_wrapper WHERE fdwname = 'auth0'"
        ),
        "auth0_io_fdw_handler"
    );
}

#[test]
fn when_the_name_auth0_is_taken_the_extension_installs_and_a_wrapper_of_another_name_works() {
    let emu = fast_tenant(30);
    let mut db = Db::empty("auth0_taken");
    db.exec("CREATE FOREIGN DATA WRAPPER auth0");
    db.exec("CREATE EXTENSION auth0_io");
    // The existing wrapper is not ours and was left alone.
    assert!(db
        .one::<bool>("SELECT fdwhandler = 0 FROM pg_foreign_data_wrapper WHERE fdwname = 'auth0'"));
    db.exec(&format!(
        "CREATE FOREIGN DATA WRAPPER auth0_io HANDLER auth0_io_fdw_handler VALIDATOR auth0_io_fdw_validator;
         CREATE SERVER tenant FOREIGN DATA WRAPPER auth0_io OPTIONS (api_url '{url}');
         CREATE USER MAPPING FOR CURRENT_USER SERVER tenant
           OPTIONS (client_id '{id}', client_secret '{secret}');
         CREATE SCHEMA auth0;
         IMPORT FOREIGN SCHEMA auth0 FROM SERVER tenant INTO auth0;",
        url = emu.url(),
        id = auth0_emulator::state::DEFAULT_CLIENT_ID,
        secret = auth0_emulator::state::DEFAULT_CLIENT_SECRET,
    ));
    assert_eq!(db.one::<i64>("SELECT count(*) FROM auth0.users"), 30);
    // The functions that find "the auth0 server" find servers of this wrapper too.
    let id: String = db.one(
        "SELECT auth0_import('Username-Password-Authentication', '[{\"email\": \"renamed@example.com\"}]')",
    );
    assert_eq!(wait_completed(&mut db, &id), (1, 1, 0, 0));
    assert_eq!(
        db.one::<i64>("SELECT count(*) FROM auth0.users WHERE email = 'renamed@example.com'"),
        1
    );
}

/// `$PGDATA/pg_auth0_io/<database oid>.journal`: the test database's journal as 0.1.0 kept it.
fn journal_path(db: &mut Db) -> std::path::PathBuf {
    let dir: String = db.one("SHOW data_directory");
    let oid: i32 = db.one("SELECT oid::int4 FROM pg_database WHERE datname = current_database()");
    std::path::Path::new(&dir)
        .join("pg_auth0_io")
        .join(format!("{oid}.journal"))
}

#[test]
fn upgrades_from_0_1_0_in_place_and_equals_a_fresh_install() {
    let emu = fast_tenant(150);
    let mut db = Db::empty("upgrade");
    db.exec("CREATE EXTENSION auth0_io VERSION '0.1.0'");
    assert_eq!(
        db.one::<String>(
            "SELECT fdwhandler::regproc::text FROM pg_foreign_data_wrapper WHERE fdwname = 'auth0'"
        ),
        "auth0_fdw_handler"
    );
    // A database of 0.1.0: server, mapping, foreign table, a grant, an import in the ledger.
    db.attach(&emu);
    let importer = format!("upgrade_importer_{}", std::process::id());
    db.exec(&format!(
        "CREATE ROLE {importer} NOLOGIN;
         GRANT EXECUTE ON FUNCTION auth0_import(text, jsonb, boolean, name, boolean, text, boolean)
           TO {importer}"
    ));
    // The new library serves the old catalog (same C symbols) before the update, too.
    assert_eq!(db.one::<i64>("SELECT count(*) FROM auth0.users"), 150);
    let before: String = db.one(
        "SELECT auth0_import('Username-Password-Authentication',
                             '[{\"email\": \"old1@example.com\"}, {\"email\": \"old2@example.com\"}]')",
    );
    assert_eq!(wait_completed(&mut db, &before), (2, 2, 0, 0));
    // Journal lines as 0.1.0 wrote them (format 1, no "v"), in 0.1.0's one journal per database,
    // owned by the server's user as the server would have written it.
    {
        use std::os::unix::fs::MetadataExt;
        let path = journal_path(&mut db);
        let owner = std::fs::metadata(path.parent().unwrap()).unwrap();
        std::fs::write(&path, include_str!("fixtures/journal-format-1.journal"))
            .expect("the test runs as root");
        std::os::unix::fs::chown(&path, Some(owner.uid()), Some(owner.gid())).unwrap();
    }

    db.exec("ALTER EXTENSION auth0_io UPDATE");

    assert_eq!(
        db.one::<String>("SELECT extversion FROM pg_extension WHERE extname = 'auth0_io'"),
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(
        db.one::<Option<String>>("SELECT to_regproc('auth0_fdw_handler')::text"),
        None
    );
    // Everything of the old database still works.
    assert_eq!(db.one::<i64>("SELECT count(*) FROM auth0.users"), 152);
    assert_eq!(
        db.one::<i64>("SELECT count(*) FROM auth0.users WHERE email = 'old2@example.com'"),
        1
    );
    assert_eq!(wait_completed(&mut db, &before), (2, 2, 0, 0));
    let ledger: Vec<(String, Option<String>, i32)> = db
        .rows("SELECT import_id, status, total FROM auth0_imports ORDER BY created_at")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(ledger.len(), 3, "{ledger:?}");
    assert!(ledger.contains(&(
        "imp_uhfin2kyomllga79kvs7".into(),
        Some("completed".into()),
        1
    )));
    let old_errors: Vec<(i32, String, String)> = db
        .rows("SELECT input_index, code, path FROM auth0_job_errors('imp_8sw1gr0ssyick7o7a5an')")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(old_errors, vec![(0, "FORMAT".into(), "email".into())]);
    let import_fn = "auth0_import(text, jsonb, boolean, name, boolean, text, boolean)";
    assert!(db.one::<bool>(&format!(
        "SELECT has_function_privilege('{importer}', '{import_fn}', 'EXECUTE')"
    )));
    db.exec(&format!(
        "REVOKE ALL ON FUNCTION {import_fn} FROM {importer}; DROP ROLE {importer}"
    ));
    // New imports after the update.
    let after: String = db.one(
        "SELECT auth0_import('Username-Password-Authentication', '[{\"email\": \"new1@example.com\"}]')",
    );
    assert_eq!(wait_completed(&mut db, &after), (1, 1, 0, 0));

    // The upgraded extension is the one a fresh install makes, object for object.
    let upgraded = members(&mut db);
    let mut fresh = Db::new("fresh_install");
    assert_eq!(upgraded, members(&mut fresh));
}
