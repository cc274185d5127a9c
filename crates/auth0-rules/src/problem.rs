//! The one shape every rule reports a problem in.

/// One problem with one record: where (Auth0 style, `custom_password_hash.hash.value`,
/// `mfa_factors[0].totp`; empty for the record itself), Auth0's error code, and a message in
/// Auth0's wording (secrets never echoed, long values cut).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub code: &'static str,
    pub message: String,
}
