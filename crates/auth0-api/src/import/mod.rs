//! Bulk import files: validation before anything is sent, and splitting into Auth0-sized files.

mod split;
mod validate;

pub use split::{split, Chunk, Splitter, MAX_FILE_BYTES, MAX_REQUEST_BYTES};
pub use validate::{
    is_email, serialized_len, validate, validate_record, Problem, Validator, FORBIDDEN_APP_METADATA,
};
