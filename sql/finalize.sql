-- The wrapper itself. The handler and validator functions are created by the extension
-- (generated from src/fdw), in the extension's schema, which is on the search_path here.
CREATE FOREIGN DATA WRAPPER auth0 HANDLER auth0_fdw_handler VALIDATOR auth0_fdw_validator;
COMMENT ON FOREIGN DATA WRAPPER auth0 IS
  'Auth0 Management API: IMPORT FOREIGN SCHEMA auth0 FROM SERVER <server> INTO <schema> creates <schema>.users';
