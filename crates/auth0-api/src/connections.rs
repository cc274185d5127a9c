//! Connections: listing and resolving a name (or `con_` id) to the connection.

use crate::error::{Error, Result};
use crate::paths;
use crate::transport::{Client, Request};

#[derive(Debug, Clone, serde::Deserialize)]
pub struct Connection {
    pub id: String,
    pub name: String,
    pub strategy: String,
    #[serde(default)]
    pub enabled_clients: Vec<String>,
}

impl Connection {
    /// Only database connections take bulk imports (`strategy` `auth0`).
    pub fn is_database(&self) -> bool {
        self.strategy == "auth0"
    }
}

#[derive(serde::Deserialize)]
struct Page {
    total: u64,
    connections: Vec<Connection>,
}

const FIELDS: &str = "id,name,strategy,enabled_clients";

impl Client {
    /// Every connection (optionally only those named `name`), following pages.
    pub async fn connections(&self, name: Option<&str>) -> Result<Vec<Connection>> {
        let endpoint = "GET /api/v2/connections";
        let mut out = Vec::new();
        let mut page = 0u32;
        loop {
            let mut req = Request::get("/api/v2/connections".into(), endpoint)
                .query("per_page", "100")
                .query("page", page.to_string())
                .query("include_totals", "true")
                .query("fields", FIELDS)
                .query("include_fields", "true");
            if let Some(n) = name {
                req = req.query("name", n);
            }
            let a = self.send(&req).await?;
            let p: Page = serde_json::from_slice(&a.body).map_err(|e| Error::Decode {
                endpoint: endpoint.into(),
                detail: e.to_string(),
            })?;
            let n = p.connections.len();
            out.extend(p.connections);
            page += 1;
            if n < 100 || out.len() as u64 >= p.total {
                return Ok(out);
            }
        }
    }

    /// Resolves a connection given by name or by `con_` id; `None` when there is no such one.
    pub async fn find_connection(&self, name_or_id: &str) -> Result<Option<Connection>> {
        if name_or_id.starts_with("con_") {
            let Some(seg) = paths::segment(name_or_id) else {
                return Ok(None);
            };
            let endpoint = "GET /api/v2/connections/{id}";
            let req = Request::get(format!("/api/v2/connections/{seg}"), endpoint)
                .query("fields", FIELDS)
                .query("include_fields", "true");
            return match self.send(&req).await {
                Ok(a) => serde_json::from_slice(&a.body)
                    .map(Some)
                    .map_err(|e| Error::Decode {
                        endpoint: endpoint.into(),
                        detail: e.to_string(),
                    }),
                Err(Error::Api { status: 404, .. }) => Ok(None),
                Err(e) => Err(e),
            };
        }
        Ok(self
            .connections(Some(name_or_id))
            .await?
            .into_iter()
            .find(|c| c.name == name_or_id))
    }
}
