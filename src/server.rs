//! From a foreign server to a ready client: server options, the current role's user mapping,
//! and a per-backend cache of clients (so tokens and connections are reused across statements;
//! changing the options makes a new client).

use crate::error::{Error, Result};
use crate::options;
use auth0_api::Client;
use pgrx::{pg_sys, PgSqlErrorCode};
use std::cell::RefCell;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::ffi::CStr;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// An auth0 server as seen by the current role.
#[derive(Clone)]
pub struct Server {
    pub oid: pg_sys::Oid,
    pub name: String,
    pub options: HashMap<String, String>,
    /// `None` when the role has no user mapping (enough for IMPORT FOREIGN SCHEMA).
    client: Option<Client>,
    /// The role and a fingerprint of the tenant and the credentials (see `tenant_key`).
    role: u32,
    fingerprint: u64,
}

thread_local! {
    /// (server oid, role oid) -> (fingerprint of the options, client)
    static CLIENTS: RefCell<HashMap<(u32, u32), (u64, Client)>> = RefCell::new(HashMap::new());
}

/// Reads a `List` of `DefElem` options.
///
/// # Safety
/// `list` must be a valid options list (from the catalog).
pub unsafe fn options_of(list: *mut pg_sys::List) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    if list.is_null() {
        return Ok(out);
    }
    // SAFETY: `list` is a non-null options `List` of `DefElem` nodes (contract above), so each
    // of its `length` elements is a valid `DefElem` whose name is NUL-terminated;
    // `defGetString` raises an ERROR (not UB) for a value it cannot print.
    unsafe {
        for i in 0..(*list).length as usize {
            let def = (*(*list).elements.add(i)).ptr_value as *mut pg_sys::DefElem;
            let name = CStr::from_ptr((*def).defname)
                .to_string_lossy()
                .into_owned();
            let value = CStr::from_ptr(pg_sys::defGetString(def))
                .to_string_lossy()
                .into_owned();
            out.insert(name, value);
        }
    }
    Ok(out)
}

impl Server {
    /// The server by oid, with the current role's user mapping.
    pub fn open(oid: pg_sys::Oid) -> Result<Server> {
        // SAFETY: GetForeignServer errors (ERROR, not UB) for a missing oid; the result is palloc'd.
        let (name, server_opts) = unsafe {
            let fs = pg_sys::GetForeignServer(oid);
            let name = CStr::from_ptr((*fs).servername)
                .to_string_lossy()
                .into_owned();
            (name, options_of((*fs).options)?)
        };
        // SAFETY: GetUserId reads a backend global, valid once the backend has a user.
        let role = unsafe { pg_sys::GetUserId() };
        let Some(mapping) = user_mapping(oid)? else {
            return Ok(Server {
                oid,
                name,
                options: server_opts,
                client: None,
                role: role.to_u32(),
                fingerprint: 0,
            });
        };
        let fingerprint = {
            let mut h = DefaultHasher::new();
            let mut all: Vec<(&String, &String)> =
                server_opts.iter().chain(mapping.iter()).collect();
            all.sort();
            all.hash(&mut h);
            h.finish()
        };
        // Who the tenant and the credentials are, whatever the other options say (kept exports
        // survive a change of `export_max_age_seconds` or `strategy`).
        let tenant_fingerprint = {
            let mut h = DefaultHasher::new();
            let mut who: Vec<(&String, &String)> = server_opts
                .iter()
                .filter(|(k, _)| *k == "domain" || *k == "api_url")
                .chain(mapping.iter())
                .collect();
            who.sort();
            who.hash(&mut h);
            h.finish()
        };
        let key = (oid.to_u32(), role.to_u32());
        let cached = CLIENTS.with(|c| {
            c.borrow()
                .get(&key)
                .filter(|(f, _)| *f == fingerprint)
                .map(|(_, cl)| cl.clone())
        });
        let client = match cached {
            Some(c) => c,
            None => {
                let cfg = options::client_config(&server_opts, &mapping)?;
                let client = Client::with_observer(cfg, Arc::new(crate::runtime::NoticeObserver))?;
                CLIENTS.with(|c| c.borrow_mut().insert(key, (fingerprint, client.clone())));
                client
            }
        };
        Ok(Server {
            oid,
            name,
            options: server_opts,
            client: Some(client),
            role: role.to_u32(),
            fingerprint: tenant_fingerprint,
        })
    }

    /// Who may share per-backend state made with this server's client (kept exports): the
    /// server, the role, and a fingerprint of the tenant (`domain`/`api_url`) and of the user
    /// mapping's credentials.
    pub fn tenant_key(&self) -> crate::kept_exports::TenantKey {
        (self.oid.to_u32(), self.role, self.fingerprint)
    }

    /// The client for the current role; an error with a hint when it has no user mapping.
    pub fn client(&self) -> Result<&Client> {
        self.client.as_ref().ok_or_else(|| {
            Error::invalid(
                PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
                format!("no user mapping for the current role on auth0 server \"{}\"", self.name),
            )
            .with_hint(format!(
                "CREATE USER MAPPING FOR CURRENT_USER SERVER {} OPTIONS (client_id '...', client_secret '...');",
                crate::fdw::columns::quote_ident(&self.name)
            ))
        })
    }

    /// The one auth0 server when `name` is NULL, or the named one.
    pub fn find(name: Option<&str>) -> Result<Server> {
        let servers = auth0_servers()?;
        let oid = match name {
            Some(n) => servers.iter().find(|(_, sn)| sn == n).map(|(o, _)| *o).ok_or_else(|| {
                Error::invalid(PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT, format!("auth0 server \"{n}\" does not exist"))
                    .with_hint(list_hint(&servers))
            })?,
            None => match servers.as_slice() {
                [(oid, _)] => *oid,
                [] => {
                    return Err(Error::invalid(
                        PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
                        "there is no server of the foreign data wrapper auth0",
                    )
                    .with_hint("CREATE SERVER my_tenant FOREIGN DATA WRAPPER auth0 OPTIONS (domain 'tenant.eu.auth0.com');"))
                }
                _ => {
                    return Err(Error::invalid(
                        PgSqlErrorCode::ERRCODE_AMBIGUOUS_PARAMETER,
                        "more than one auth0 server exists; say which one",
                    )
                    .with_hint(list_hint(&servers)))
                }
            },
        };
        Server::open(oid)
    }
}

fn list_hint(servers: &[(pg_sys::Oid, String)]) -> String {
    let names: Vec<&str> = servers.iter().map(|(_, n)| n.as_str()).collect();
    if names.is_empty() {
        "No auth0 server exists yet.".into()
    } else {
        format!("Pass server => one of: {}.", names.join(", "))
    }
}

/// Every server of a wrapper whose handler is this library's (oid, name), by name: the wrapper
/// is `auth0` unless that name was taken when the extension was created (see
/// `sql/finalize.sql`), and its handler may still be 0.1.0's function (same C symbol) in a
/// database not yet updated. Catalogs are schema-qualified: the caller's search_path may lack
/// the extension's schema.
fn auth0_servers() -> Result<Vec<(pg_sys::Oid, String)>> {
    let rows = pgrx::Spi::connect(|client| {
        let mut out = Vec::new();
        let table = client.select(
            "SELECT s.oid, s.srvname::text FROM pg_catalog.pg_foreign_server s
               JOIN pg_catalog.pg_foreign_data_wrapper w ON w.oid = s.srvfdw
               JOIN pg_catalog.pg_proc h ON h.oid = w.fdwhandler
              WHERE h.probin = '$libdir/auth0_io' AND h.prosrc = 'auth0_fdw_handler_wrapper'
              ORDER BY 2",
            None,
            &[],
        )?;
        for row in table {
            let oid: Option<pg_sys::Oid> = row.get(1)?;
            let name: Option<String> = row.get(2)?;
            if let (Some(o), Some(n)) = (oid, name) {
                out.push((o, n));
            }
        }
        Ok::<_, pgrx::spi::Error>(out)
    });
    rows.map_err(|e| {
        Error::invalid(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            format!("cannot list auth0 servers: {e}"),
        )
    })
}

/// The current role's user mapping options for the server (or PUBLIC's); `None` without one.
fn user_mapping(server: pg_sys::Oid) -> Result<Option<HashMap<String, String>>> {
    // GetUserMapping raises a bare ERROR when there is none: check first to give a hint. The
    // catalog itself is not readable by ordinary roles, the syscache lookup has no such check.
    // SAFETY: GetUserId reads a backend global, valid once the backend has a user.
    let role = unsafe { pg_sys::GetUserId() };
    // SAFETY: a syscache lookup by two OIDs on the backend's thread; a found tuple is released
    // before the closure returns and nothing of it is kept.
    let exists = |user: pg_sys::Oid| unsafe {
        let tup = pg_sys::SearchSysCache2(
            pg_sys::SysCacheIdentifier::USERMAPPINGUSERSERVER as i32,
            pg_sys::Datum::from(user),
            pg_sys::Datum::from(server),
        );
        if tup.is_null() {
            false
        } else {
            pg_sys::ReleaseSysCache(tup);
            true
        }
    };
    if !exists(role) && !exists(pg_sys::InvalidOid) {
        return Ok(None);
    }
    // SAFETY: a mapping exists (checked above), so GetUserMapping returns a valid palloc'd struct.
    unsafe {
        let um = pg_sys::GetUserMapping(role, server);
        options_of((*um).options).map(Some)
    }
}
