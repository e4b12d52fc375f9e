//! The bearer check every component's operator routes share: `Authorization: Bearer
//! <token>`, compared in constant time. Who a caller of the api is (operator, user, nobody)
//! is [`super::api::bearer`].

use http::HeaderMap;
use http::header::AUTHORIZATION;
use subtle::ConstantTimeEq;

use super::ApiError;

/// The bearer token of the request, if it has one.
pub fn presented(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
}

/// Accepts the request only if it carries `Bearer <expected>`. An empty `expected` (no
/// token configured) refuses everything. `expected` is used as given: the caller passes the
/// trimmed, long-enough token from [`super::config::operator_token`].
pub fn require_bearer(headers: &HeaderMap, expected: &str) -> Result<(), ApiError> {
    match presented(headers) {
        Some(token)
            if !expected.is_empty() && bool::from(token.as_bytes().ct_eq(expected.as_bytes())) =>
        {
            Ok(())
        }
        _ => Err(ApiError::Unauthorized),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn bearer_token() {
        assert!(require_bearer(&with("Bearer s3cret"), "s3cret").is_ok());
        assert!(require_bearer(&with("bearer s3cret"), "s3cret").is_ok());
        assert!(require_bearer(&with("Bearer s3cre"), "s3cret").is_err());
        assert!(require_bearer(&with("Bearer s3cret2"), "s3cret").is_err());
        assert!(require_bearer(&with("Basic s3cret"), "s3cret").is_err());
        assert!(require_bearer(&HeaderMap::new(), "s3cret").is_err());
        assert!(require_bearer(&with("Bearer "), "").is_err());
    }
}
