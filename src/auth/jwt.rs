//! The header checks that access tokens and Google's ID tokens share, before any key is used.

use jwt_compact::{UntrustedToken, ValidationError};

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

/// Why a token failed `jwt-compact`'s validation, in the terms both kinds of token report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    AlgorithmRefused,
    BadSignature,
    Expired,
    NotYetValid,
    MissingClaim,
    Malformed,
}

impl From<ValidationError> for Invalid {
    fn from(error: ValidationError) -> Invalid {
        match error {
            ValidationError::AlgorithmMismatch { .. } => Invalid::AlgorithmRefused,
            ValidationError::InvalidSignatureLen { .. }
            | ValidationError::MalformedSignature(_)
            | ValidationError::InvalidSignature => Invalid::BadSignature,
            ValidationError::Expired => Invalid::Expired,
            ValidationError::NotMature => Invalid::NotYetValid,
            ValidationError::NoClaim(_) => Invalid::MissingClaim,
            _ => Invalid::Malformed,
        }
    }
}
