//! Executing a remote plan (docs/architecture.md, "The data path of a scan"): point lookups, search pages, and — when a search
//! matches 1000 users or more — created_at windows or an export job, so that every matching user
//! is returned whatever the tenant's size. Results are the same whichever strategy runs:
//! Postgres rechecks every condition.

pub mod choose;
mod export;
mod windows;

use super::pushdown::{Access, Plan};
use crate::error::Result;
use crate::options::Strategy;
use crate::runtime::block_on;
use auth0_api::users::{SearchCursor, SearchParams, User};
use auth0_api::Client;
use choose::Choice;
use export::ExportStream;
pub use export::Reuse;
use std::collections::VecDeque;
use windows::Windows;

enum Source {
    Buffer(VecDeque<User>),
    Pages {
        cursor: SearchCursor,
        buffer: VecDeque<User>,
    },
    Windows(Windows),
    Export(ExportStream),
}

/// A running scan.
pub struct Scan {
    source: Source,
    /// HTTP requests this scan made (the client's count, read around each of its calls: other
    /// scans of the same backend may use the same client in between).
    requests: u64,
    /// Auth0's count of the users matching the search (`None` for lookups and forced exports).
    total: Option<u64>,
}

/// How a scan ran, for EXPLAIN ANALYZE.
pub struct Report {
    pub strategy: String,
    pub requests: u64,
}

impl Scan {
    /// Makes the first request(s) and settles on a strategy.
    pub fn start(client: &Client, plan: &Plan, strategy: Strategy, reuse: Reuse) -> Result<Scan> {
        let before = client.requests_sent();
        let mut total = None;
        let source = Self::open(client, plan, strategy, reuse, &mut total)?;
        Ok(Scan {
            source,
            requests: client.requests_sent() - before,
            total,
        })
    }

    /// Auth0's count of the users matching the search, when the scan searched.
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    fn open(
        client: &Client,
        plan: &Plan,
        strategy: Strategy,
        reuse: Reuse,
        total_out: &mut Option<u64>,
    ) -> Result<Source> {
        let fields = plan.fields.as_deref();
        match &plan.access {
            Access::Nothing => Ok(Source::Buffer(VecDeque::new())),
            Access::UserId(id) => {
                let found = block_on(client.get_user(id, fields))??;
                Ok(Source::Buffer(found.into_iter().collect()))
            }
            Access::Email(email) => {
                let found = block_on(client.users_by_email(email, fields))??;
                Ok(Source::Buffer(found.into()))
            }
            Access::Search if strategy == Strategy::Export => {
                choose::choose(strategy, 0, plan.limit, None, plan.q_text.is_some())
                    .map_err(refused)?;
                Self::export(client, plan, reuse)
            }
            Access::Search => {
                let mut cursor = SearchCursor::new(
                    plan.query(),
                    plan.sort.clone(),
                    plan.fields.clone(),
                    plan.limit,
                );
                let first = block_on(cursor.next_page(client))??.unwrap_or_default();
                let total = cursor.total().unwrap_or(0);
                *total_out = cursor.total();
                let needs_size = strategy == Strategy::Auto
                    && total >= auth0_api::users::SEARCH_CAP
                    && plan.limit.is_none_or(|l| l > auth0_api::users::SEARCH_CAP)
                    && plan.q_text.is_none();
                let export_size = if !needs_size {
                    None
                } else if plan.conditions.is_empty() {
                    Some(total)
                } else {
                    let q = plan
                        .connection
                        .as_ref()
                        .map(|c| format!("identities.connection:{}", super::lucene::phrase(c)));
                    let p = SearchParams {
                        q,
                        per_page: 1,
                        fields: Some(vec!["user_id".into()]),
                        ..Default::default()
                    };
                    Some(block_on(client.search_users(&p))??.total)
                };
                match choose::choose(
                    strategy,
                    total,
                    plan.limit,
                    export_size,
                    plan.q_text.is_some(),
                )
                .map_err(refused)?
                {
                    Choice::Pages => Ok(Source::Pages {
                        cursor,
                        buffer: first.into(),
                    }),
                    Choice::Windows => {
                        // Windows read in created_at order; a LIMIT under another order cannot
                        // be served by them, so it is left to Postgres.
                        let by_created = plan.sort.as_ref().filter(|s| s.field == "created_at");
                        let descending = by_created.is_some_and(|s| s.descending);
                        let ordered = plan.sort.is_none() || by_created.is_some();
                        let limit = if ordered { plan.limit } else { None };
                        Ok(Source::Windows(Windows::new(
                            plan.query(),
                            descending,
                            plan.fields.clone(),
                            limit,
                        )))
                    }
                    Choice::Export => Self::export(client, plan, reuse),
                }
            }
        }
    }

    fn export(client: &Client, plan: &Plan, reuse: Reuse) -> Result<Source> {
        let connection = plan.connection.as_deref();
        Ok(
            match ExportStream::start(client, connection, plan.fields.as_deref(), reuse)? {
                Some(s) => Source::Export(s),
                None => Source::Buffer(VecDeque::new()),
            },
        )
    }

    /// The next user.
    pub fn next(&mut self, client: &Client) -> Result<Option<User>> {
        let before = client.requests_sent();
        let next = self.source.next(client);
        self.requests += client.requests_sent() - before;
        next
    }

    pub fn report(&self) -> Report {
        let strategy = match &self.source {
            Source::Buffer(_) => "lookup".to_string(),
            Source::Pages { .. } => "search".to_string(),
            Source::Windows(w) => format!("search in {} created_at window(s)", w.windows),
            Source::Export(e) => match e.reused {
                None => format!("export job {}", e.job_id),
                Some(age) => format!(
                    "export job {} read again, requested {} s before this scan (export_max_age_seconds)",
                    e.job_id,
                    age.as_secs()
                ),
            },
        };
        Report {
            strategy,
            requests: self.requests,
        }
    }
}

impl Source {
    fn next(&mut self, client: &Client) -> Result<Option<User>> {
        match self {
            Source::Buffer(b) => Ok(b.pop_front()),
            Source::Pages { cursor, buffer } => loop {
                if let Some(u) = buffer.pop_front() {
                    return Ok(Some(u));
                }
                if cursor.is_done() {
                    return Ok(None);
                }
                match block_on(cursor.next_page(client))?? {
                    Some(page) => buffer.extend(page),
                    None => return Ok(None),
                }
            },
            Source::Windows(w) => w.next(client),
            Source::Export(e) => e.next(client),
        }
    }
}

fn refused(r: choose::Refusal) -> crate::error::Error {
    crate::error::Error::invalid(pgrx::PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED, r.0)
        .with_hint("Remove the q condition, or use strategy 'auto' or 'search'.")
}
