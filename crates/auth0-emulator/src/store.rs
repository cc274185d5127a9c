//! The tenant's data: users (as the JSON objects Auth0 returns) and connections.

use crate::lucene::{self, Query};
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

/// The connection of a user's first identity (`None` for a user without identities).
pub fn first_connection(doc: &Map<String, Value>) -> Option<&str> {
    doc.get("identities")?.get(0)?.get("connection")?.as_str()
}

/// One user, kept as the object `GET /api/v2/users/{id}` returns, plus the keys we look up by.
#[derive(Debug, Clone)]
pub struct StoredUser {
    pub user_id: String,
    pub created_ms: i64,
    pub doc: Map<String, Value>,
    /// Auth0 keeps a password hash it never returns: true when the user was imported with one
    /// and has not logged in since, the only case an upsert may replace it (a user imported
    /// without one has a random hash; seeded users have used theirs).
    pub hash_replaceable: bool,
}

impl StoredUser {
    pub fn new(doc: Map<String, Value>) -> Self {
        let user_id = doc
            .get("user_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let created_ms = doc
            .get("created_at")
            .and_then(Value::as_str)
            .and_then(crate::time::parse_instant_ms)
            .unwrap_or(0);
        StoredUser {
            user_id,
            created_ms,
            doc,
            hash_replaceable: false,
        }
    }

    pub fn email(&self) -> Option<&str> {
        self.doc.get("email").and_then(Value::as_str)
    }

    /// The user with only the requested top-level fields (`fields` + `include_fields`).
    pub fn project(&self, fields: &Option<Vec<String>>, include: bool) -> Value {
        match fields {
            None => Value::Object(self.doc.clone()),
            Some(list) => Value::Object(
                self.doc
                    .iter()
                    .filter(|(k, _)| list.iter().any(|f| f == *k) == include)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Connection {
    pub id: String,
    pub name: String,
    pub strategy: String,
    pub enabled_clients: Vec<String>,
}

impl Connection {
    pub fn is_database(&self) -> bool {
        self.strategy == "auth0"
    }

    /// The connection as `GET /api/v2/connections` returns it (recorded key order).
    pub fn to_json(&self) -> Value {
        let options = if self.is_database() {
            json!({"mfa": {"active": true, "return_enroll_settings": true}, "passwordPolicy": "good",
                   "strategy_version": 2, "brute_force_protection": true})
        } else {
            json!({})
        };
        json!({
            "id": self.id,
            "options": options,
            "strategy": self.strategy,
            "name": self.name,
            "is_domain_connection": false,
            "realms": [self.name],
            "enabled_clients": self.enabled_clients,
        })
    }
}

/// Users in creation order with an index by `user_id`. Shared snapshots (`Arc`) keep searches
/// and export files cheap to produce while imports keep writing.
#[derive(Debug, Default, Clone)]
pub struct UserStore {
    users: Vec<Arc<StoredUser>>,
    by_id: HashMap<String, usize>,
    /// Lower-cased e-mail -> positions of the users with it.
    by_email: HashMap<String, Vec<usize>>,
}

/// A sort request: `field:1` or `field:-1`.
#[derive(Debug, Clone)]
pub struct SortSpec {
    pub field: String,
    pub descending: bool,
}

impl UserStore {
    pub fn from_users(users: Vec<StoredUser>) -> Self {
        let mut s = UserStore::default();
        for u in users {
            s.upsert(u);
        }
        s
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    pub fn all(&self) -> &[Arc<StoredUser>] {
        &self.users
    }

    pub fn get(&self, user_id: &str) -> Option<&Arc<StoredUser>> {
        self.by_id.get(user_id).map(|&i| &self.users[i])
    }

    fn with_email_ci(&self, email: &str) -> impl Iterator<Item = &Arc<StoredUser>> {
        self.by_email
            .get(&email.to_lowercase())
            .into_iter()
            .flatten()
            .map(|&i| &self.users[i])
    }

    /// Exact (case-sensitive) e-mail lookup, as `GET /api/v2/users-by-email` documents.
    pub fn by_email(&self, email: &str) -> Vec<&Arc<StoredUser>> {
        self.with_email_ci(email)
            .filter(|u| u.email() == Some(email))
            .collect()
    }

    /// A user whose e-mail equals `email` ignoring case (how imports find an existing user).
    pub fn find_by_email_ci(&self, email: &str) -> Option<&Arc<StoredUser>> {
        self.with_email_ci(email).next()
    }

    pub fn upsert(&mut self, user: StoredUser) {
        let i = match self.by_id.get(&user.user_id) {
            Some(&i) => {
                self.unindex_email(i);
                self.users[i] = Arc::new(user);
                i
            }
            None => {
                self.by_id.insert(user.user_id.clone(), self.users.len());
                self.users.push(Arc::new(user));
                self.users.len() - 1
            }
        };
        if let Some(e) = self.users[i].email() {
            self.by_email.entry(e.to_lowercase()).or_default().push(i);
        }
    }

    fn unindex_email(&mut self, i: usize) {
        if let Some(e) = self.users[i].email().map(str::to_lowercase) {
            if let Some(list) = self.by_email.get_mut(&e) {
                list.retain(|&x| x != i);
                if list.is_empty() {
                    self.by_email.remove(&e);
                }
            }
        }
    }

    /// Removes a user (rare: positions after it shift, so the indexes are rebuilt).
    pub fn remove(&mut self, user_id: &str) -> Option<Arc<StoredUser>> {
        let i = *self.by_id.get(user_id)?;
        let removed = self.users.remove(i);
        let rest = std::mem::take(&mut self.users);
        *self = UserStore::default();
        for u in rest {
            self.upsert(Arc::unwrap_or_clone(u));
        }
        Some(removed)
    }

    /// Every user matching `query`, sorted as asked. Without a sort, Auth0's "primary order" is
    /// deterministic; ours is creation order.
    pub fn search(&self, query: Option<&Query>, sort: Option<&SortSpec>) -> Vec<Arc<StoredUser>> {
        let mut hits: Vec<Arc<StoredUser>> = self
            .users
            .iter()
            .filter(|u| query.is_none_or(|q| lucene::matches(q, &u.doc)))
            .cloned()
            .collect();
        if let Some(sort) = sort {
            hits.sort_by(|a, b| compare_users(a, b, sort));
        }
        hits
    }
}

/// Sort order: users without the field come last in both directions (as Elasticsearch does);
/// ties are broken by `user_id` so that pages never overlap.
fn compare_users(a: &StoredUser, b: &StoredUser, sort: &SortSpec) -> Ordering {
    let va = a.doc.get(&sort.field);
    let vb = b.doc.get(&sort.field);
    let primary = match (va, vb) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => return Ordering::Greater,
        (Some(_), None) => return Ordering::Less,
        (Some(x), Some(y)) => {
            let o = compare_values(x, y);
            if sort.descending {
                o.reverse()
            } else {
                o
            }
        }
    };
    primary.then_with(|| a.user_id.cmp(&b.user_id))
}

fn compare_values(x: &Value, y: &Value) -> Ordering {
    match (x, y) {
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&b.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        (Value::String(a), Value::String(b)) => a.cmp(b),
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        _ => x.to_string().cmp(&y.to_string()),
    }
}
