-- Export helpers: the original extension's default CSV, and turning exported users back into
-- an import batch (the round trip export -> change -> re-import).

-- Creates <schema>.users_default_export: the original User Import / Export Extension's 11
-- default fields, with its exact column names, from <schema>.users. Booleans read `true` /
-- `false` (never blank) and timestamps are Auth0's ISO-8601 UTC with milliseconds.
CREATE FUNCTION auth0_create_default_export_view(schema_name name DEFAULT 'auth0')
RETURNS regclass LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format($v$
    CREATE OR REPLACE VIEW %1$I.users_default_export AS
    SELECT user_id                 AS "Id",
           given_name              AS "Given Name",
           family_name             AS "Family Name",
           nickname                AS "Nickname",
           name                    AS "Name",
           email                   AS "Email",
           email_verified::text    AS "Email Verified",
           picture                 AS "Picture",
           connection              AS "Connection",
           to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "Created At",
           to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "Updated At"
      FROM %1$I.users$v$, schema_name);
  RETURN format('%I.users_default_export', schema_name)::regclass;
END $$;
COMMENT ON FUNCTION auth0_create_default_export_view(name) IS
  'Creates <schema>.users_default_export with the original extension''s 11 default export columns';

-- One exported user (the raw column of auth0.users) as a bulk-import record: only the fields
-- the import accepts, and user_id without its "auth0|" prefix (Auth0 adds it again; keeping it
-- would make "auth0|auth0|..."). Users of other providers get no user_id (Auth0 makes one).
CREATE FUNCTION auth0_user_to_import(raw jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(jsonb_object_agg(key, value), '{}'::jsonb)
    FROM jsonb_each(jsonb_build_object(
           'email', raw->'email',
           'email_verified', raw->'email_verified',
           'user_id', CASE WHEN raw->>'user_id' LIKE 'auth0|%' THEN to_jsonb(substr(raw->>'user_id', 7)) END,
           'username', raw->'username',
           'given_name', raw->'given_name',
           'family_name', raw->'family_name',
           'name', raw->'name',
           'nickname', raw->'nickname',
           'picture', raw->'picture',
           'blocked', raw->'blocked',
           'phone_number', raw->'phone_number',
           'phone_verified', raw->'phone_verified',
           'app_metadata', raw->'app_metadata',
           'user_metadata', raw->'user_metadata'))
   WHERE value IS NOT NULL AND value <> 'null'::jsonb
$$;
COMMENT ON FUNCTION auth0_user_to_import(jsonb) IS
  'An exported user (raw) as a bulk-import record: importable fields only, user_id without auth0|';
