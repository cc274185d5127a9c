//! Users: by id, by e-mail, and search pages (with a cursor that knows Auth0's 1000-result cap).

use crate::error::{Error, Result};
use crate::paths;
use crate::transport::{Client, Request};
use serde_json::{Map, Value};

/// A user as Auth0 returns it (unset fields are absent).
pub type User = Map<String, Value>;

/// Every field of a user object (an export job lists the fields it returns, so a whole user is
/// asked for by naming them all).
pub const ALL_FIELDS: &[&str] = &[
    "user_id",
    "email",
    "email_verified",
    "username",
    "phone_number",
    "phone_verified",
    "name",
    "nickname",
    "given_name",
    "family_name",
    "picture",
    "identities",
    "created_at",
    "updated_at",
    "last_login",
    "last_password_reset",
    "last_ip",
    "logins_count",
    "blocked",
    "multifactor",
    "multifactor_last_modified",
    "app_metadata",
    "user_metadata",
];

/// Auth0 pages through at most the first 1000 results of a search.
pub const SEARCH_CAP: u64 = 1000;
pub const MAX_PER_PAGE: u32 = 100;

/// A search's order: one field, ascending or descending (`sort=field:1` / `field:-1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    pub field: String,
    pub descending: bool,
}

impl Sort {
    pub fn new(field: impl Into<String>, descending: bool) -> Self {
        Sort {
            field: field.into(),
            descending,
        }
    }
}

/// As Auth0's `sort` parameter: `created_at:-1`.
impl std::fmt::Display for Sort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.field, if self.descending { -1 } else { 1 })
    }
}

/// One `GET /api/v2/users` request.
#[derive(Debug, Clone, Default)]
pub struct SearchParams {
    /// Lucene query (search engine v3); `None` lists every user.
    pub q: Option<String>,
    pub sort: Option<Sort>,
    pub page: u32,
    pub per_page: u32,
    /// Top-level fields to return (`None`: all).
    pub fields: Option<Vec<String>>,
}

/// A page with totals (`include_totals=true`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct UsersPage {
    #[serde(default)]
    pub start: u64,
    #[serde(default)]
    pub limit: u64,
    #[serde(default)]
    pub length: u64,
    #[serde(default)]
    pub total: u64,
    pub users: Vec<User>,
}

fn fields_query(req: Request, fields: Option<&[String]>) -> Request {
    match fields {
        Some(f) if !f.is_empty() => req
            .query("fields", f.join(","))
            .query("include_fields", "true"),
        _ => req,
    }
}

fn decode<T: serde::de::DeserializeOwned>(body: &[u8], endpoint: &str) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::Decode {
        endpoint: endpoint.into(),
        detail: e.to_string(),
    })
}

impl Client {
    /// `GET /api/v2/users/{id}`; `None` when the user does not exist (or the id cannot be one).
    pub async fn get_user(&self, id: &str, fields: Option<&[String]>) -> Result<Option<User>> {
        let Some(seg) = paths::segment(id) else {
            return Ok(None);
        };
        let endpoint = "GET /api/v2/users/{id}";
        let req = fields_query(
            Request::get(format!("/api/v2/users/{seg}"), endpoint),
            fields,
        );
        match self.send(&req).await {
            Ok(a) => decode(&a.body, endpoint).map(Some),
            Err(Error::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `PATCH /api/v2/users/{id}` with `changes`, an object of root attributes (Auth0's rules:
    /// metadata is merged at its first level and a key set to `null` is removed; other
    /// attributes are replaced). Returns the user after the change, or `None` when it does not
    /// exist. Setting values twice gives the same user, so the request is retried like a read.
    /// Errors: Auth0's 400 for attributes it does not take (`Error::Api` with its message).
    pub async fn update_user(&self, id: &str, changes: &serde_json::Value) -> Result<Option<User>> {
        let Some(seg) = paths::segment(id) else {
            return Ok(None);
        };
        let endpoint = "PATCH /api/v2/users/{id}";
        let req = Request {
            method: reqwest::Method::PATCH,
            path: format!("/api/v2/users/{seg}"),
            endpoint: endpoint.into(),
            query: vec![],
            body: crate::transport::Body::Json(changes.clone()),
            idempotent: true,
        };
        match self.send(&req).await {
            Ok(a) => decode(&a.body, endpoint).map(Some),
            Err(Error::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `DELETE /api/v2/users/{id}`. Auth0 answers 204 whether or not the user existed (as
    /// recorded), so this cannot tell; an id that cannot be a user's sends nothing.
    pub async fn delete_user(&self, id: &str) -> Result<()> {
        let Some(seg) = paths::segment(id) else {
            return Ok(());
        };
        let req = Request {
            method: reqwest::Method::DELETE,
            path: format!("/api/v2/users/{seg}"),
            endpoint: "DELETE /api/v2/users/{id}".into(),
            query: vec![],
            body: crate::transport::Body::Empty,
            idempotent: true,
        };
        self.send(&req).await.map(|_| ())
    }

    /// `GET /api/v2/users-by-email` (exact, case-sensitive match; always an array).
    pub async fn users_by_email(
        &self,
        email: &str,
        fields: Option<&[String]>,
    ) -> Result<Vec<User>> {
        let endpoint = "GET /api/v2/users-by-email";
        let req = fields_query(
            Request::get("/api/v2/users-by-email".into(), endpoint).query("email", email),
            fields,
        );
        let a = self.send(&req).await?;
        decode(&a.body, endpoint)
    }

    /// One search page with totals.
    pub async fn search_users(&self, p: &SearchParams) -> Result<UsersPage> {
        let endpoint = "GET /api/v2/users";
        let mut req = Request::get("/api/v2/users".into(), endpoint)
            .query("page", p.page.to_string())
            .query("per_page", p.per_page.min(MAX_PER_PAGE).to_string())
            .query("include_totals", "true")
            .query("search_engine", "v3");
        if let Some(q) = &p.q {
            req = req.query("q", q.clone());
        }
        if let Some(s) = &p.sort {
            req = req.query("sort", s.to_string());
        }
        let req = fields_query(req, p.fields.as_deref());
        let a = self.send(&req).await?;
        decode(&a.body, endpoint)
    }
}

/// The page size for a search that may return at most `max_results` users: 100 (Auth0's
/// largest), or fewer when fewer are wanted, at least 1. 100 divides Auth0's 1000-result window
/// evenly, so the last page allowed ends exactly at the cap.
///
/// Written as one `clamp`: the equivalent `c = m.min(1000); if c < 100 { c.max(1) } else { 100 }`
/// is miscompiled by this toolchain's LLVM (rustc 1.95, LLVM 22.1; InstCombine folds it into
/// `clamp(m, 1, 1000)` at every opt-level above 0), which made every release-build search read a
/// single page of 100. `tests::per_page_at_every_edge` runs in release in `scripts/test`.
pub fn per_page_for(max_results: Option<u64>) -> u32 {
    let cap = max_results.map_or(SEARCH_CAP, |m| m.min(SEARCH_CAP));
    cap.clamp(1, MAX_PER_PAGE as u64) as u32
}

/// Walks the pages of one search, stopping at the end of the results, at `max_results`, or at
/// Auth0's cap (the caller checks [`SearchCursor::total`] to know whether the cap cut it short).
#[derive(Debug, Clone)]
pub struct SearchCursor {
    params: SearchParams,
    /// Stop after this many users (a pushed-down LIMIT); `None`: as many as Auth0 allows.
    max_results: Option<u64>,
    fetched: u64,
    total: Option<u64>,
    done: bool,
}

impl SearchCursor {
    pub fn new(
        q: Option<String>,
        sort: Option<Sort>,
        fields: Option<Vec<String>>,
        max_results: Option<u64>,
    ) -> Self {
        let per_page = per_page_for(max_results);
        SearchCursor {
            params: SearchParams {
                q,
                sort,
                page: 0,
                per_page,
                fields,
            },
            max_results,
            fetched: 0,
            total: None,
            done: max_results == Some(0),
        }
    }

    /// Auth0's total for the query, known after the first page.
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    pub fn params(&self) -> &SearchParams {
        &self.params
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The next page of users, or `None` when there is nothing more to fetch.
    pub async fn next_page(&mut self, client: &Client) -> Result<Option<Vec<User>>> {
        if self.done {
            return Ok(None);
        }
        let page = client.search_users(&self.params).await?;
        self.total = Some(page.total);
        let got = page.users.len() as u64;
        self.fetched += got;
        self.params.page += 1;
        let limit = self.max_results.unwrap_or(u64::MAX).min(SEARCH_CAP);
        let next_end = (self.params.page as u64 + 1) * self.params.per_page as u64;
        if got < self.params.per_page as u64
            || self.fetched >= page.total
            || self.fetched >= limit
            || next_end > SEARCH_CAP
        {
            self.done = true;
        }
        let mut users = page.users;
        if let Some(max) = self.max_results {
            let excess = self.fetched.saturating_sub(max);
            users.truncate(users.len().saturating_sub(excess as usize));
        }
        Ok(Some(users))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hint::black_box;

    /// Inputs go through `black_box` so the optimiser cannot fold them: this is the check that
    /// the release build computes what the source says.
    #[test]
    fn per_page_at_every_edge() {
        let cases = [
            (None, 100),
            (Some(0), 1),
            (Some(1), 1),
            (Some(2), 2),
            (Some(99), 99),
            (Some(100), 100),
            (Some(101), 100),
            (Some(999), 100),
            (Some(1000), 100),
            (Some(1001), 100),
            (Some(u64::MAX), 100),
        ];
        for (max, want) in cases {
            assert_eq!(per_page_for(black_box(max)), want, "max_results {max:?}");
            let c = SearchCursor::new(None, None, None, black_box(max));
            assert_eq!(c.params().per_page, want, "cursor, max_results {max:?}");
            assert_eq!(c.is_done(), max == Some(0));
        }
    }
}
