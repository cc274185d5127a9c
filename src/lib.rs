//! auth0_io
