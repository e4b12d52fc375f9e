//! The header checks that access tokens and Google's ID tokens share, before any key is used.

use jwt_compact::UntrustedToken;

/// Why a token's header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderRefusal {
    /// The header names another algorithm than the one expected.
    AlgorithmRefused,
    /// The header names no key (`kid`).
    MissingKeyId,
}

/// The key id (`kid`) of a token whose header names `algorithm`. Neither the signature nor
/// the claims are checked here.
pub fn key_id<'t>(
    token: &'t UntrustedToken<'_>,
    algorithm: &str,
) -> Result<&'t str, HeaderRefusal> {
    if token.algorithm() != algorithm {
        return Err(HeaderRefusal::AlgorithmRefused);
    }
    token
        .header()
        .key_id
        .as_deref()
        .ok_or(HeaderRefusal::MissingKeyId)
}
