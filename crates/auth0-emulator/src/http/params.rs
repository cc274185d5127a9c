//! Query-string parsing with Auth0's validation messages.

use super::errors::query_validation;
use axum::response::Response;

/// The raw query string as ordered (name, value) pairs (repeated names kept).
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn parse(raw: Option<&str>) -> Self {
        Params(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .collect()
    }

    pub fn int(
        &self,
        name: &str,
        min: i64,
        max: Option<i64>,
        description: &str,
    ) -> Result<Option<i64>, Response> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        let v: i64 = raw.parse().map_err(|_| {
            query_validation(
                "Expected type integer but found type string",
                name,
                description,
            )
        })?;
        if v < min {
            return Err(query_validation(
                &format!("Value {v} is less than minimum {min}"),
                name,
                description,
            ));
        }
        if let Some(max) = max {
            if v > max {
                return Err(query_validation(
                    &format!("Value {v} is greater than maximum {max}"),
                    name,
                    description,
                ));
            }
        }
        Ok(Some(v))
    }

    pub fn bool(&self, name: &str, description: &str) -> Result<Option<bool>, Response> {
        match self.get(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(query_validation(
                "Expected type boolean but found type string",
                name,
                description,
            )),
        }
    }

    /// `fields` and `include_fields` as a projection.
    pub fn fields(&self) -> Result<(Option<Vec<String>>, bool), Response> {
        let include = self
            .bool(
                "include_fields",
                "Whether specified fields are to be included (true) or excluded (false).",
            )?
            .unwrap_or(true);
        let fields = self.get("fields").filter(|f| !f.is_empty()).map(|f| {
            f.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        });
        Ok((fields, include))
    }
}
