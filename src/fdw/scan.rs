//! Executing a remote plan: point lookups, or search pages read one at a time.

use super::pushdown::{Access, Plan};
use crate::error::{Error, Result};
use crate::runtime::block_on;
use auth0_api::users::{SearchCursor, User, SEARCH_CAP};
use auth0_api::Client;
use std::collections::VecDeque;

/// A running scan: buffered users and, for searches, the cursor for the next pages.
pub struct Scan {
    buffer: VecDeque<User>,
    cursor: Option<SearchCursor>,
    /// API requests made by this scan (for EXPLAIN ANALYZE).
    pub requests: u32,
}

impl Scan {
    /// Makes the first request(s).
    pub fn start(client: &Client, plan: &Plan) -> Result<Scan> {
        let fields = plan.fields.as_deref();
        let mut scan = Scan {
            buffer: VecDeque::new(),
            cursor: None,
            requests: 0,
        };
        match &plan.access {
            Access::UserId(id) => {
                scan.requests += 1;
                if let Some(u) = block_on(client.get_user(id, fields))?? {
                    scan.buffer.push_back(u);
                }
            }
            Access::Email(email) => {
                scan.requests += 1;
                scan.buffer
                    .extend(block_on(client.users_by_email(email, fields))??);
            }
            Access::Search => {
                let cursor = SearchCursor::new(
                    plan.query(),
                    plan.sort.clone(),
                    plan.fields.clone(),
                    plan.limit,
                );
                scan.cursor = Some(cursor);
                scan.fetch_page(client)?;
                let total = scan
                    .cursor
                    .as_ref()
                    .and_then(SearchCursor::total)
                    .unwrap_or(0);
                if total >= SEARCH_CAP && plan.limit.is_none_or(|l| l > SEARCH_CAP) {
                    return Err(Error::Incomplete {
                        message: format!("this query matches {total} Auth0 users, more than Auth0's search can return"),
                        detail: format!(
                            "Auth0's user search pages through at most the first {SEARCH_CAP} results; auth0_io never returns a truncated result. Search query: {}",
                            plan.query().unwrap_or_else(|| "(all users)".into())
                        ),
                        hint: "Narrow the query (WHERE on created_at, connection, email, ...) or add ORDER BY created_at with a LIMIT of at most 1000.".into(),
                    });
                }
            }
        }
        Ok(scan)
    }

    fn fetch_page(&mut self, client: &Client) -> Result<bool> {
        let Some(cursor) = self.cursor.as_mut() else {
            return Ok(false);
        };
        if cursor.is_done() {
            return Ok(false);
        }
        self.requests += 1;
        match block_on(cursor.next_page(client))?? {
            Some(users) => {
                self.buffer.extend(users);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The next user, fetching pages as needed.
    pub fn next(&mut self, client: &Client) -> Result<Option<User>> {
        loop {
            if let Some(u) = self.buffer.pop_front() {
                return Ok(Some(u));
            }
            if !self.fetch_page(client)? {
                return Ok(None);
            }
        }
    }
}
