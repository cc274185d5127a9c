//! The `auth0` foreign data wrapper: `auth0.users` as a foreign table.
//!
//! The plan is decided at planning time (`get_rel_size`, where the framework creates the
//! instance) and finished at `begin_scan`, when parameter values are known.

mod at_start;
mod clauses;
pub mod columns;
mod entry_points;
mod estimate;
pub mod filter;
pub mod lucene;
pub mod pushdown;
mod quals;
mod row;
mod scan;
mod supabase_wrappers_0_1_28;

use crate::error::{Error, Result};
use crate::options::{self, Strategy};
use crate::server::Server;
use at_start::AtStart;
use estimate::Estimate;
use filter::Lit;
use pgrx::pg_sys;
use pgrx::PgSqlErrorCode;
use pushdown::{Access, Plan, Planning};
use row::OutColumn;
use scan::Scan;
use std::collections::HashMap;
use supabase_wrappers::prelude::*;

pub use supabase_wrappers_0_1_28::plan_owned_state::install_abort_callbacks;
pub use supabase_wrappers_0_1_28::quiet_warnings::install_log_filter;
use supabase_wrappers_0_1_28::{explain, param_paths, plan_owned_state, query_shape, row_context};

pub struct Auth0Fdw {
    server: Server,
    /// The query's shape and the table's clauses, read at planning.
    planning: Planning,
    /// The clauses' values computed at scan start, compiled at begin.
    at_start: Option<AtStart>,
    /// The row estimate given to the planner, and where it came from.
    estimate: Option<Estimate>,
    /// A parameterised scan's lookup clause (`email = <outer value>`), read from the plan at
    /// begin (see supabase_wrappers_0_1_28/param_paths.rs).
    lookup: Option<pushdown::Clause>,
    /// Requests of the earlier runs of this scan (a rescan per outer row of a join).
    earlier_requests: u64,
    explain_id: Option<u64>,
    state: ScanState,
    out: Vec<OutColumn>,
    strategy: Strategy,
    /// `export_max_age_seconds`: how old a kept export job may be to be read again.
    export_max_age: Option<std::time::Duration>,
    /// The framework's per-scan memory context for row values, reset before each row.
    row_context: Option<pg_sys::MemoryContext>,
}

/// Where the instance is between `begin_scan` and `end_scan`.
enum ScanState {
    /// Planned, not begun (or ended).
    Idle,
    /// Begun: the remote scan starts at the first `iter_scan`.
    Begun(ScanRequest),
    /// Reading: the plan, finished with the parameter values, and its scan.
    Running {
        request: ScanRequest,
        plan: Box<Plan>,
        scan: Box<Scan>,
    },
}

/// The inputs of a scan, kept from `begin_scan` to the first row (and for a rescan).
///
/// Parameters of InitPlans attached to this scan (`WHERE user_id = (SELECT ...)`) are not
/// evaluated yet when `BeginForeignScan` runs (Postgres sets them up after it): the clauses'
/// values are computed at the first row (`at_start.rs`).
struct ScanRequest {
    columns: Vec<Column>,
    sorts: Vec<Sort>,
    limit: Option<Limit>,
}

impl Auth0Fdw {
    /// The remote plan for the clauses with `values` for their `AtStart` operands.
    fn make_plan(
        &self,
        values: &[Lit],
        columns: &[Column],
        sorts: &[Sort],
        limit: &Option<Limit>,
    ) -> Plan {
        let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
        let with_lookup: Vec<pushdown::Clause>;
        let clauses = match &self.lookup {
            None => &self.planning.clauses,
            Some(l) => {
                with_lookup = self.planning.clauses.iter().chain([l]).cloned().collect();
                &with_lookup
            }
        };
        pushdown::plan(
            clauses,
            values,
            &names,
            &quals::sort_keys(sorts),
            quals::limit(limit),
            &self.planning.shape,
        )
    }

    /// The planner's row estimate (see `estimate.rs`). `plan` was made with the values known at
    /// planning; the counted query leaves out the clauses that need values from scan start.
    fn estimate(&self, plan: &Plan, columns: &[Column], remote: bool) -> Estimate {
        use estimate::Source;
        match (&plan.access, plan.limit) {
            (Access::Nothing, _) => {
                return Estimate {
                    rows: 0,
                    source: Source::Lookup,
                }
            }
            (Access::UserId(_) | Access::Email(_), _) => {
                return Estimate {
                    rows: 1,
                    source: Source::Lookup,
                }
            }
            (Access::Search, Some(l)) => {
                return Estimate {
                    rows: l,
                    source: Source::Limit,
                }
            }
            (Access::Search, None) => {}
        }
        let unknown = vec![Lit::Other; self.planning.at_start_sql.len()];
        let query = self.make_plan(&unknown, columns, &[], &None).query();
        let server = self.server.oid.to_u32();
        if let Some((rows, age)) = estimate::cached(server, &query) {
            return Estimate {
                rows,
                source: Source::Count { age, cached: true },
            };
        }
        if remote && self.planning.shape.joined {
            let params = auth0_api::users::SearchParams {
                q: query.clone(),
                per_page: 1,
                fields: Some(vec!["user_id".into()]),
                ..Default::default()
            };
            // A failed count is not the query's failure: the scan reports what is wrong.
            let counted = self
                .server
                .client()
                .ok()
                .and_then(|c| crate::runtime::block_on(c.search_users(&params)).ok())
                .and_then(|r| r.ok());
            if let Some(page) = counted {
                estimate::remember(server, query, page.total);
                return Estimate {
                    rows: page.total,
                    source: Source::Count {
                        age: std::time::Duration::ZERO,
                        cached: false,
                    },
                };
            }
        }
        Estimate {
            rows: if plan.conditions.is_empty() {
                estimate::GUESS_ALL
            } else {
                estimate::GUESS_FILTERED
            },
            source: Source::Guess {
                remote_off: !remote,
            },
        }
    }

    /// Plans with the values known now and makes the first request(s).
    fn start(&self, request: ScanRequest) -> Result<ScanState> {
        let values = self
            .at_start
            .as_ref()
            .map(AtStart::values)
            .unwrap_or_default();
        let plan = self.make_plan(&values, &request.columns, &request.sorts, &request.limit);
        if plan.q_conflict {
            return Err(Error::invalid(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                "a query can compare the q column with one Auth0 query only",
            )
            .with_detail(
                "The q column reads back as its query, so two different ones cannot both equal it.",
            )
            .with_hint("Combine them into one: q = 'first AND second'."));
        }
        let reuse = scan::Reuse {
            tenant: self.server.tenant_key(),
            max_age: self.export_max_age,
        };
        let scan = Scan::start(self.server.client()?, &plan, self.strategy, reuse)?;
        // (A lookup's fallback search differs per outer row: not worth remembering.)
        if let (Some(total), None) = (scan.total(), &self.lookup) {
            estimate::remember(self.server.oid.to_u32(), plan.query(), total);
        }
        if let Some(id) = self.explain_id {
            explain::set(id, self.explain_lines(&plan, Some(&scan), false));
        }
        Ok(ScanState::Running {
            request,
            plan: Box::new(plan),
            scan: Box::new(scan),
        })
    }
}

impl Auth0Fdw {
    /// What EXPLAIN shows for a plan (and, after execution, how the scan ran).
    /// Before the scan starts (`planned`), values computed at scan start show as `$n` in the query
    /// and are listed.
    fn explain_lines(
        &self,
        plan: &Plan,
        scan: Option<&Scan>,
        planned: bool,
    ) -> Vec<(String, String)> {
        let strategy_option = self.strategy;
        let at_start_sql: &[String] = if planned {
            &self.planning.at_start_sql
        } else {
            &[]
        };
        let mut lines = Vec::new();
        let (strategy, request) = match (&plan.access, strategy_option) {
        (Access::Nothing, _) => ("none: a clause compares with NULL".to_string(), "(no request)"),
        (Access::UserId(_), _) => ("lookup by user_id".to_string(), "GET /api/v2/users/{id}"),
        (Access::Email(_), _) => ("lookup by email".to_string(), "GET /api/v2/users-by-email"),
        (Access::Search, Strategy::Export) => (
            format!(
                "export job (forced), {}",
                plan.connection.as_ref().map(|c| format!("connection {c}")).unwrap_or_else(|| "all connections".into())
            ),
            "POST /api/v2/jobs/users-exports, then its gzip NDJSON file",
        ),
        (Access::Search, Strategy::Search) => (
            "search; created_at windows of at most 1000 when 1000 or more match (forced)".to_string(),
            "GET /api/v2/users (search_engine=v3, per_page=100)",
        ),
        (Access::Search, Strategy::Auto) => (
            "search; when 1000 or more match: created_at windows or an export job, whichever is cheaper".to_string(),
            "GET /api/v2/users (search_engine=v3, per_page=100)",
        ),
    };
        lines.push(("Auth0 Strategy".into(), strategy));
        lines.push(("Auth0 Request".into(), request.to_string()));
        if plan.access == Access::Search {
            lines.push((
                "Auth0 Query".into(),
                plan.query().unwrap_or_else(|| "(all users)".into()),
            ));
            if !at_start_sql.is_empty() {
                let values: Vec<String> = at_start_sql
                    .iter()
                    .enumerate()
                    .map(|(i, sql)| format!("${} = {sql}", i + 1))
                    .collect();
                lines.push(("Auth0 Values At Start".into(), values.join(", ")));
            }
            if let Some(s) = &plan.sort {
                lines.push(("Auth0 Sort".into(), s.to_string()));
            }
            if let Some(l) = plan.limit {
                lines.push(("Auth0 Limit".into(), l.to_string()));
            }
            if let (Some(age), Strategy::Auto | Strategy::Export) =
                (self.export_max_age, strategy_option)
            {
                lines.push((
                    "Auth0 Export Reuse".into(),
                    format!(
                        "an export job would read a completed one of this session again, up to {} s old",
                        age.as_secs()
                    ),
                ));
            }
        }
        if let Some(e) = &self.estimate {
            lines.push(("Auth0 Estimate".into(), e.describe()));
        }
        if !plan.local.is_empty() {
            lines.push(("Auth0 Not Pushed".into(), plan.local.join(", ")));
        }
        lines.push((
            "Auth0 Fields".into(),
            plan.fields
                .as_ref()
                .map(|f| f.join(", "))
                .unwrap_or_else(|| "(whole users)".into()),
        ));
        if let Some(s) = scan {
            let r = s.report();
            lines.push(("Auth0 Ran".into(), r.strategy));
            lines.push((
                "Auth0 Requests".into(),
                (self.earlier_requests + r.requests).to_string(),
            ));
        }
        lines
    }
}

impl ForeignDataWrapper<Error> for Auth0Fdw {
    fn new(server: ForeignServer) -> Result<Self> {
        let strategy = options::strategy(&server.options, &HashMap::new())?;
        Ok(Auth0Fdw {
            server: Server::open(server.server_oid)?,
            planning: Planning::default(),
            at_start: None,
            estimate: None,
            lookup: None,
            earlier_requests: 0,
            explain_id: None,
            state: ScanState::Idle,
            out: Vec::new(),
            strategy,
            export_max_age: None,
            row_context: None,
        })
    }

    fn get_rel_size(
        &mut self,
        _quals: &[Qual],
        columns: &[Column],
        sorts: &[Sort],
        limit: &Option<Limit>,
        options: &HashMap<String, String>,
    ) -> Result<(i64, i32)> {
        self.strategy = options::strategy(&self.server.options, options)?;
        self.export_max_age = options::export_max_age(&self.server.options, options)?;
        if let Some(planning) = query_shape::take() {
            self.planning = planning;
        }
        self.row_context = options
            .get("wrappers.ftable_oid")
            .and_then(|oid| row_context::find(oid));
        let later: Vec<Lit> = (0..self.planning.at_start_sql.len())
            .map(Lit::Later)
            .collect();
        let plan = self.make_plan(&later, columns, sorts, limit);
        let remote = options::use_remote_estimate(&self.server.options, options)?;
        let estimate = self.estimate(&plan, columns, remote);
        let rows = estimate.rows.min(i64::MAX as u64) as i64;
        self.estimate = Some(estimate);
        let id = explain::new_id();
        self.explain_id = Some(id);
        explain::set(id, self.explain_lines(&plan, None, true));
        Ok((rows, 600))
    }

    fn begin_scan(
        &mut self,
        _quals: &[Qual],
        columns: &[Column],
        sorts: &[Sort],
        limit: &Option<Limit>,
        options: &HashMap<String, String>,
    ) -> Result<()> {
        self.strategy = options::strategy(&self.server.options, options)?;
        self.export_max_age = options::export_max_age(&self.server.options, options)?;
        self.out = row::out_columns(columns)?;
        if let Some(node) = plan_owned_state::beginning() {
            // SAFETY: `node` is the scan node being begun right now (inside the framework's
            // BeginForeignScan, in the executor's per-query memory context), whose plan is
            // the ForeignScan our GetForeignPlan completed.
            self.at_start = unsafe { AtStart::compile(node) };
            // SAFETY: as above.
            self.lookup = unsafe { param_paths::lookup_columns(node) }.map(|column| {
                let n = self.planning.at_start_sql.len();
                pushdown::Clause {
                    sql: format!("{column} = (the outer row's value)"),
                    filter: filter::Filter::Compare {
                        target: filter::Target::Column(column),
                        op: filter::Op::Eq,
                        value: filter::Operand::AtStart(n),
                    },
                }
            });
            // An UPDATE or DELETE (also in a WITH) computes its writes from what its scan
            // reads: never from an export kept from earlier (export_max_age_seconds), which
            // may be out of date.
            // SAFETY: as above; the executor state and its planned statement are set for the
            // whole execution of the query.
            let writes = unsafe {
                let estate = (*node).ss.ps.state;
                !estate.is_null()
                    && !(*estate).es_plannedstmt.is_null()
                    && (matches!(
                        (*(*estate).es_plannedstmt).commandType,
                        pg_sys::CmdType::CMD_UPDATE | pg_sys::CmdType::CMD_DELETE
                    ) || (*(*estate).es_plannedstmt).hasModifyingCTE)
            };
            if writes {
                self.export_max_age = None;
            }
        }
        self.state = ScanState::Begun(ScanRequest {
            columns: columns.to_vec(),
            sorts: sorts.to_vec(),
            limit: limit.clone(),
        });
        Ok(())
    }

    fn iter_scan(&mut self, row: &mut Row) -> Result<Option<()>> {
        if let Some(ctx) = self.row_context {
            // `ctx` is the framework's context for this scan (`Wrappers_scan_<oid>`, found in
            // `get_rel_size`), deleted only with the state that owns `self`. After planning it
            // holds only the previous row's values (the plan's copy of `fdw_private` lives with
            // the plan, see supabase_wrappers_0_1_28/plan_owned_state.rs; qual parameters point into the plan tree).
            // SAFETY: `ctx` is alive; the slot was cleared before this call and a row is only
            // guaranteed until the next fetch, so nothing references that memory any more.
            unsafe { pg_sys::MemoryContextReset(ctx) };
        }
        if matches!(self.state, ScanState::Begun(_)) {
            if let ScanState::Begun(request) = std::mem::replace(&mut self.state, ScanState::Idle) {
                self.state = self.start(request)?;
            }
        }
        let client = self.server.client()?;
        let ScanState::Running { scan, .. } = &mut self.state else {
            return Ok(None);
        };
        let next = scan.next(client)?;
        let ScanState::Running { plan, scan, .. } = &self.state else {
            return Ok(None);
        };
        match next {
            Some(user) => {
                row::fill(row, user, &self.out, plan.q_text.as_deref())?;
                Ok(Some(()))
            }
            None => {
                if let Some(id) = self.explain_id {
                    explain::set(id, self.explain_lines(plan, Some(scan), false));
                }
                Ok(None)
            }
        }
    }

    fn re_scan(&mut self) -> Result<()> {
        // Same parameters (the framework restarts the scan itself when they change): read again.
        self.state = match std::mem::replace(&mut self.state, ScanState::Idle) {
            ScanState::Running { request, scan, .. } => {
                self.earlier_requests += scan.report().requests;
                ScanState::Begun(request)
            }
            ScanState::Begun(request) => ScanState::Begun(request),
            ScanState::Idle => ScanState::Idle,
        };
        Ok(())
    }

    fn end_scan(&mut self) -> Result<()> {
        self.state = ScanState::Idle;
        Ok(())
    }

    // Written rows never reach `insert`, `update` or `delete`: see
    // supabase_wrappers_0_1_28/insert_rows.rs and modify_rows.rs.

    fn import_foreign_schema(&mut self, stmt: ImportForeignSchemaStmt) -> Result<Vec<String>> {
        if stmt.remote_schema != "auth0" {
            return Err(Error::invalid(
                PgSqlErrorCode::ERRCODE_FDW_SCHEMA_NOT_FOUND,
                format!("remote schema \"{}\" does not exist", stmt.remote_schema),
            )
            .with_hint("Use IMPORT FOREIGN SCHEMA auth0 FROM SERVER <server> INTO <schema>."));
        }
        let wanted = match stmt.list_type {
            ImportSchemaType::FdwImportSchemaAll => true,
            ImportSchemaType::FdwImportSchemaLimitTo => {
                stmt.table_list.iter().any(|t| t == "users")
            }
            ImportSchemaType::FdwImportSchemaExcept => {
                !stmt.table_list.iter().any(|t| t == "users")
            }
        };
        Ok(if wanted {
            vec![columns::create_users_table(
                &stmt.local_schema,
                &self.server.name,
            )]
        } else {
            vec![]
        })
    }

    fn fdw_routine_hook(routine: &mut supabase_wrappers::FdwRoutine<pgrx::AllocatedByRust>) {
        supabase_wrappers_0_1_28::install(routine);
    }

    fn validator(options: Vec<Option<String>>, catalog: Option<pg_sys::Oid>) -> Result<()> {
        let opts = options::parse_list(&options);
        match catalog {
            Some(c) if c == FOREIGN_SERVER_RELATION_ID => options::validate_server(&opts),
            Some(c) if c == pg_sys::UserMappingRelationId => options::validate_user_mapping(&opts),
            Some(c) if c == FOREIGN_TABLE_RELATION_ID => options::validate_table(&opts),
            Some(c) if c == FOREIGN_DATA_WRAPPER_RELATION_ID => match opts.keys().next() {
                Some(name) => Err(Error::invalid(
                    PgSqlErrorCode::ERRCODE_FDW_INVALID_OPTION_NAME,
                    format!("invalid option \"{name}\" for the auth0 foreign data wrapper"),
                )
                .with_hint(
                    "Options go on the server (domain/api_url) and the user mapping (credentials).",
                )),
                None => Ok(()),
            },
            _ => match opts.keys().next() {
                Some(name) => Err(Error::invalid(
                    PgSqlErrorCode::ERRCODE_FDW_INVALID_OPTION_NAME,
                    format!("invalid option \"{name}\": auth0 columns take no options"),
                )),
                None => Ok(()),
            },
        }
    }
}
