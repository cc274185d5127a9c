//! A small client for the parts of the Auth0 Management API that auth0_io uses.
//!
//! No Postgres in here: the extension drives it from a current-thread runtime, tests drive it
//! against the emulator. What it takes care of:
//! - client-credentials tokens, cached and refreshed once on a 401 (or a static token);
//! - one request path for everything (`transport`): a timeout on every attempt, 429 waits until
//!   `x-ratelimit-reset` (bounded), jittered retries of 5xx and dropped connections (bounded);
//! - Auth0 error bodies decoded into [`Error`], with no secret ever in a message;
//! - users (by id, by e-mail, search pages), connections, jobs, export files read as streams;
//! - import files: validation against the bulk-import schema and splitting to Auth0's size.

mod config;
mod error;
mod observer;
mod token;
mod transport;

pub mod connections;
pub mod export;
pub mod import;
pub mod jobs;
pub mod paths;
pub mod users;

pub use config::{ClientConfig, Credentials, Secret};
pub use error::{Error, Result};
pub use observer::{Event, NoopObserver, Observer};
pub use transport::Client;
