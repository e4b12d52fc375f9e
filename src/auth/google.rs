//! Google sign-in (placeholder until the verifier lands).

/// Where Google ID tokens are checked: the OAuth client id (`aud`) and the JWKS URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleConfig {
    pub client_id: String,
    pub jwks_url: String,
}
