-- The wrapper itself, named auth0 unless a wrapper of that name exists already (wrapper names are
-- database-wide, not per schema): then the extension still installs, and says how to make a
-- wrapper of another name with the same handler. Every object is schema-qualified with the
-- extension's schema, so nothing here depends on the search_path of whoever installs it.
DO $do$
BEGIN
  IF EXISTS (SELECT FROM pg_catalog.pg_foreign_data_wrapper WHERE fdwname = 'auth0') THEN
    RAISE WARNING 'a foreign data wrapper named "auth0" exists already: auth0_io did not create its own'
      USING HINT = 'Create it under another name: CREATE FOREIGN DATA WRAPPER auth0_io HANDLER '
                   || '@extschema@.auth0_io_fdw_handler VALIDATOR @extschema@.auth0_io_fdw_validator;';
  ELSE
    CREATE FOREIGN DATA WRAPPER auth0
      HANDLER @extschema@.auth0_io_fdw_handler VALIDATOR @extschema@.auth0_io_fdw_validator;
    COMMENT ON FOREIGN DATA WRAPPER auth0 IS
      'Auth0 Management API: IMPORT FOREIGN SCHEMA auth0 FROM SERVER <server> INTO <schema> creates <schema>.users';
  END IF;
END
$do$;

-- The ledger of imports (a journal outside transactions: see src/import/ledger.rs). Each role
-- sees its own imports and those of the roles it belongs to; superusers see all.
CREATE VIEW @extschema@.auth0_imports AS SELECT * FROM @extschema@.auth0_import_ledger();
CREATE VIEW @extschema@.auth0_import_jobs AS SELECT * FROM @extschema@.auth0_import_ledger_jobs();
COMMENT ON VIEW @extschema@.auth0_imports IS 'Imports made with auth0_import: who, when, how many users, which Auth0 jobs, the final summary';
COMMENT ON VIEW @extschema@.auth0_import_jobs IS 'The Auth0 jobs of each import and the input positions each one holds';
GRANT SELECT ON @extschema@.auth0_imports, @extschema@.auth0_import_jobs TO PUBLIC;

-- Importing creates users: only roles granted it may (GRANT EXECUTE ON FUNCTION auth0_import TO
-- ...; the same for auth0_import_resume, which sends the rest of an interrupted import).
REVOKE EXECUTE ON FUNCTION @extschema@.auth0_import(text, jsonb, boolean, name, boolean, text, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION @extschema@.auth0_import_resume(text) FROM PUBLIC;
-- Deleting the ledgers of dropped databases touches every database's: superusers only.
REVOKE EXECUTE ON FUNCTION @extschema@.auth0_import_purge_dropped_databases() FROM PUBLIC;
