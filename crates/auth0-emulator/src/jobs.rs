//! Bulk jobs: users-imports and users-exports, their lifecycle, errors and export files.

use crate::state::Emulator;
use axum::Router;
use std::collections::HashMap;

/// Every job of the tenant, by id.
#[derive(Default)]
pub struct Jobs {
    pub by_id: HashMap<String, ()>,
}

pub fn routes() -> Router<Emulator> {
    Router::new()
}
