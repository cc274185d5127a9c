-- auth0_io 0.1.0 -> 0.2.0 (ALTER EXTENSION auth0_io UPDATE).
--
-- The wrapper's handler, validator and meta functions get names of their own: 0.1.0 used
-- auth0_fdw_handler / auth0_fdw_validator / auth0_fdw_meta, the names of Supabase wrappers'
-- Auth0 wrapper. The C symbols are unchanged (see src/fdw/entry_points.rs), so the 0.2.0 library
-- serves both the old and the new functions. Servers, user mappings, foreign tables and the
-- ledger are untouched (the journal's old lines stay readable: src/import/ledger.rs).

CREATE FUNCTION @extschema@.auth0_io_fdw_handler() RETURNS fdw_handler
STRICT
LANGUAGE c
AS 'MODULE_PATHNAME', 'auth0_fdw_handler_wrapper';

CREATE FUNCTION @extschema@.auth0_io_fdw_validator("options" text[], "catalog" oid) RETURNS void
LANGUAGE c
AS 'MODULE_PATHNAME', 'auth0_fdw_validator_wrapper';

CREATE FUNCTION @extschema@.auth0_io_fdw_meta() RETURNS TABLE (
  "name" text, "version" text, "author" text, "website" text)
STRICT
LANGUAGE c
AS 'MODULE_PATHNAME', 'auth0_fdw_meta_wrapper';

-- Every wrapper that uses the old handler (the extension's own `auth0`, and any a user made
-- with it) moves to the new functions. The validator is the same code, so existing options stay
-- valid.
DO $do$
DECLARE
  w name;
BEGIN
  FOR w IN SELECT fdwname FROM pg_catalog.pg_foreign_data_wrapper
            WHERE fdwhandler = '@extschema@.auth0_fdw_handler()'::pg_catalog.regprocedure
  LOOP
    EXECUTE pg_catalog.format(
      'ALTER FOREIGN DATA WRAPPER %I HANDLER @extschema@.auth0_io_fdw_handler '
      'VALIDATOR @extschema@.auth0_io_fdw_validator', w);
  END LOOP;
END
$do$;

DROP FUNCTION @extschema@.auth0_fdw_handler();
DROP FUNCTION @extschema@.auth0_fdw_validator(text[], oid);
DROP FUNCTION @extschema@.auth0_fdw_meta();

-- Finishing interrupted imports and finding the users of files whose answer was lost.
CREATE FUNCTION @extschema@.auth0_import_resume(import_id text) RETURNS text
VOLATILE STRICT LANGUAGE c AS 'MODULE_PATHNAME', 'auth0_import_resume_wrapper';
REVOKE EXECUTE ON FUNCTION @extschema@.auth0_import_resume(text) FROM PUBLIC;

-- Purging the ledger (old imports; what DROP DATABASE leaves behind).
CREATE FUNCTION @extschema@.auth0_import_purge(older_than interval DEFAULT '30 days') RETURNS int
VOLATILE STRICT LANGUAGE c AS 'MODULE_PATHNAME', 'auth0_import_purge_wrapper';
CREATE FUNCTION @extschema@.auth0_import_purge_dropped_databases() RETURNS int
VOLATILE LANGUAGE c AS 'MODULE_PATHNAME', 'auth0_import_purge_dropped_databases_wrapper';
REVOKE EXECUTE ON FUNCTION @extschema@.auth0_import_purge_dropped_databases() FROM PUBLIC;
