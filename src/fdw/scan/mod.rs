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
    /// Requests made before the chosen source took over (counts, the first page).
    setup_requests: u32,
}

/// How a scan ran, for EXPLAIN ANALYZE.
pub struct Report {
    pub strategy: String,
    pub requests: u32,
}

impl Scan {
    /// Makes the first request(s) and settles on a strategy.
    pub fn start(client: &Client, plan: &Plan, strategy: Strategy) -> Result<Scan> {
        let fields = plan.fields.as_deref();
        match &plan.access {
            Access::UserId(id) => {
                let found = block_on(client.get_user(id, fields))??;
                Ok(Scan {
                    source: Source::Buffer(found.into_iter().collect()),
                    setup_requests: 1,
                })
            }
            Access::Email(email) => {
                let found = block_on(client.users_by_email(email, fields))??;
                Ok(Scan {
                    source: Source::Buffer(found.into()),
                    setup_requests: 1,
                })
            }
            Access::Search if strategy == Strategy::Export => {
                choose::choose(strategy, 0, plan.limit, None, plan.q_text.is_some())
                    .map_err(refused)?;
                Self::export(client, plan, 0)
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
                let mut requests = 1;
                let needs_size = strategy == Strategy::Auto
                    && total >= auth0_api::users::SEARCH_CAP
                    && plan.limit.is_none_or(|l| l > auth0_api::users::SEARCH_CAP)
                    && plan.q_text.is_none();
                let export_size = if !needs_size {
                    None
                } else if plan.conditions.is_empty() {
                    Some(total)
                } else {
                    requests += 1;
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
                    Choice::Pages => Ok(Scan {
                        source: Source::Pages {
                            cursor,
                            buffer: first.into(),
                        },
                        setup_requests: requests,
                    }),
                    Choice::Windows => {
                        // Windows read in created_at order; a LIMIT under another order cannot
                        // be served by them, so it is left to Postgres.
                        let descending = plan.sort.as_deref() == Some("created_at:-1");
                        let ordered = plan.sort.is_none()
                            || plan
                                .sort
                                .as_deref()
                                .is_some_and(|s| s.starts_with("created_at:"));
                        let limit = if ordered { plan.limit } else { None };
                        Ok(Scan {
                            source: Source::Windows(Windows::new(
                                plan.query(),
                                descending,
                                plan.fields.clone(),
                                limit,
                            )),
                            setup_requests: requests,
                        })
                    }
                    Choice::Export => Self::export(client, plan, requests),
                }
            }
        }
    }

    fn export(client: &Client, plan: &Plan, requests: u32) -> Result<Scan> {
        let source = match ExportStream::start(
            client,
            plan.connection.as_deref(),
            plan.fields.as_deref(),
        )? {
            Some(s) => Source::Export(s),
            None => Source::Buffer(VecDeque::new()),
        };
        Ok(Scan {
            source,
            setup_requests: requests,
        })
    }

    /// The next user.
    pub fn next(&mut self, client: &Client) -> Result<Option<User>> {
        match &mut self.source {
            Source::Buffer(b) => Ok(b.pop_front()),
            Source::Pages { cursor, buffer } => loop {
                if let Some(u) = buffer.pop_front() {
                    return Ok(Some(u));
                }
                if cursor.is_done() {
                    return Ok(None);
                }
                self.setup_requests += 1;
                match block_on(cursor.next_page(client))?? {
                    Some(page) => buffer.extend(page),
                    None => return Ok(None),
                }
            },
            Source::Windows(w) => w.next(client),
            Source::Export(e) => e.next(client),
        }
    }

    pub fn report(&self) -> Report {
        let (strategy, more) = match &self.source {
            Source::Buffer(_) => ("lookup".to_string(), 0),
            Source::Pages { .. } => ("search".to_string(), 0),
            Source::Windows(w) => (
                format!("search in {} created_at window(s)", w.windows),
                w.requests,
            ),
            Source::Export(e) => (format!("export job {}", e.job_id), e.requests),
        };
        Report {
            strategy,
            requests: self.setup_requests + more,
        }
    }
}

fn refused(r: choose::Refusal) -> crate::error::Error {
    crate::error::Error::invalid(pgrx::PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED, r.0)
        .with_hint("Remove the q condition, or use strategy 'auto' or 'search'.")
}
