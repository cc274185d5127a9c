//! The HTTP surface: Auth0's routes behind the guard, and the control plane beside them.

// Handlers return `Result<_, Response>` so that a validation failure is simply the error
// response; the size of `Response` does not matter on these paths.
#![allow(clippy::result_large_err)]

mod connections;
mod control;
pub mod errors;
mod guard;
mod jobs;
mod oauth;
mod params;
mod users;

use crate::state::Emulator;
use axum::routing::{get, post};
use axum::Router;

/// The whole emulator as a router (no socket): tests can drive it with `oneshot`.
pub fn app(emu: Emulator) -> Router {
    let auth0 = Router::new()
        .route("/oauth/token", post(oauth::token))
        .route("/api/v2/users", get(users::list))
        .route(
            "/api/v2/users/{id}",
            get(users::get_one)
                .patch(users::patch_one)
                .delete(users::delete_one),
        )
        .route("/api/v2/users-by-email", get(users::by_email))
        .route("/api/v2/connections", get(connections::list))
        .route("/api/v2/connections/{id}", get(connections::get_one))
        .merge(jobs::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            emu.clone(),
            guard::guard,
        ));
    let control = Router::new()
        .route("/_emulator/health", get(control::health))
        .route("/_emulator/reset", post(control::reset))
        .route("/_emulator/users", post(control::load))
        .route(
            "/_emulator/faults",
            post(control::arm_faults).delete(control::clear_faults),
        )
        .route(
            "/_emulator/requests",
            get(control::requests).delete(control::clear_requests),
        )
        .route("/_emulator/clock", post(control::advance_clock))
        .route("/_emulator/tokens/expire", post(control::expire_tokens));
    auth0
        .merge(control)
        .fallback(users::not_found_route)
        .with_state(emu)
}
