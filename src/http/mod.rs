//! HTTP handling, independent of the host.
//!
//! The components convert Spin's request into [`Request`] (body read up to
//! [`MAX_BODY_BYTES`] + 1 bytes) and send back the [`Response`] these handlers return.
//!
//! - [`error`]: [`ApiError`], the one place where errors become HTTP responses
//!   (`application/problem+json`, RFC 9457).
//! - [`health`]: the health component's routes.
//! - [`api`]: the api component's routes (`/api/v1/...`).
//! - [`ingest`]: the ingest component's routes (`POST /internal/ingest`,
//!   `POST /internal/maintenance`); the ingestion itself is [`crate::ingest`].
//! - [`mail`]: the mail component's route (`POST /internal/deliveries`): digests sent by
//!   e-mail ([`crate::digests::deliver`]).
//! - [`config`]: the Spin variables the components share (`api_token`,
//!   `outbound_allow_loopback`, `youtube_origin`).
//! - [`bearer`]: the operator token check (`Authorization: Bearer`, constant time).
//! - [`json`]: request bodies (content type, size, UTF-8, JSON object).
//! - [`served`]: timing and the `request_completed` log line.

pub mod api;
pub mod bearer;
pub mod config;
pub mod error;
pub mod health;
pub mod ingest;
pub mod json;
pub mod mail;
pub mod served;

pub use error::{ApiError, FieldError};

/// A request as the handlers see it: the body is already read (at most
/// `MAX_BODY_BYTES + 1` bytes; a longer body is answered with 413).
pub type Request = http::Request<bytes::Bytes>;

/// A response: status, headers and a complete body.
pub type Response = http::Response<Vec<u8>>;

/// The largest request body accepted (64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Builds a response with a JSON body.
pub fn json_response(status: http::StatusCode, body: &serde_json::Value) -> Response {
    json_bytes_response(status, body.to_string().into_bytes())
}

/// Serialises `body` straight to the response's bytes (no intermediate JSON value).
pub fn serialized_response<T: serde::Serialize + ?Sized>(
    status: http::StatusCode,
    body: &T,
) -> Result<Response, ApiError> {
    let bytes = serde_json::to_vec(body).map_err(|_| ApiError::Internal)?;
    Ok(json_bytes_response(status, bytes))
}

/// A response whose body is already-serialised JSON.
fn json_bytes_response(status: http::StatusCode, body: Vec<u8>) -> Response {
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// A response with no body.
pub fn empty_response(status: http::StatusCode) -> Response {
    let mut response = http::Response::new(Vec::new());
    *response.status_mut() = status;
    response
}

/// The answer to a HEAD request from the answer GET would get (RFC 9110 §9.3.2): the same
/// status and headers, `Content-Length` of the body GET would send, and no body. An empty
/// body (204, 304) gets no `Content-Length`.
pub fn head_response(mut response: Response) -> Response {
    let length = response.body().len();
    if length > 0 {
        response.headers_mut().insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(length),
        );
        response.body_mut().clear();
    }
    response
}
