-- The wrapper itself. The handler and validator functions are created by the extension
-- (generated from src/fdw), in the extension's schema, which is on the search_path here.
CREATE FOREIGN DATA WRAPPER auth0 HANDLER auth0_fdw_handler VALIDATOR auth0_fdw_validator;
COMMENT ON FOREIGN DATA WRAPPER auth0 IS
  'Auth0 Management API: IMPORT FOREIGN SCHEMA auth0 FROM SERVER <server> INTO <schema> creates <schema>.users';

-- The ledger of imports (a journal outside transactions: see src/import/ledger.rs). Each role
-- sees its own imports and those of the roles it belongs to; superusers see all.
CREATE VIEW auth0_imports AS SELECT * FROM auth0_import_ledger();
CREATE VIEW auth0_import_jobs AS SELECT * FROM auth0_import_ledger_jobs();
COMMENT ON VIEW auth0_imports IS 'Imports made with auth0_import: who, when, how many users, which Auth0 jobs, the final summary';
COMMENT ON VIEW auth0_import_jobs IS 'The Auth0 jobs of each import and the input positions each one holds';
GRANT SELECT ON auth0_imports, auth0_import_jobs TO PUBLIC;

-- Importing creates users: only roles granted it may (GRANT EXECUTE ON FUNCTION auth0_import TO ...).
REVOKE EXECUTE ON FUNCTION auth0_import(text, jsonb, boolean, name, boolean, text, boolean) FROM PUBLIC;
