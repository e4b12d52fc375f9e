//! Request bodies: size, content type, UTF-8, JSON object — in that order.

use http::header;
use serde_json::{Map, Value};

use super::{ApiError, MAX_BODY_BYTES, Request};

/// The media types accepted for a JSON body (`application/json`, `application/merge-patch+json`
/// or any other `+json` type), with an optional `charset=utf-8`.
fn is_json_content_type(value: &str) -> bool {
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let json = media == "application/json"
        || (media.starts_with("application/") && media.ends_with("+json"));
    json && parts.all(|param| {
        let (name, val) = param.split_once('=').unwrap_or((param, ""));
        !name.trim().eq_ignore_ascii_case("charset")
            || val.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
    })
}

/// Whether the request declares a body larger than allowed, or carries one.
pub fn too_large(request: &Request) -> bool {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|len| len > MAX_BODY_BYTES as u64);
    declared || request.body().len() > MAX_BODY_BYTES
}

/// The body as a JSON object.
///
/// 413 when over [`MAX_BODY_BYTES`], 415 when `Content-Type` is not JSON, 400 when the body
/// is not UTF-8, not JSON, or not an object.
pub fn object(request: &Request) -> Result<Map<String, Value>, ApiError> {
    if too_large(request) {
        return Err(ApiError::PayloadTooLarge);
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !content_type.is_some_and(is_json_content_type) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let text = std::str::from_utf8(request.body())
        .map_err(|_| ApiError::BadRequest("the request body is not valid UTF-8"))?;
    let value: Value = serde_json::from_str(text)
        .map_err(|_| ApiError::BadRequest("the request body is not valid JSON"))?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::BadRequest(
            "the request body must be a JSON object",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(content_type: Option<&str>, body: &[u8]) -> Request {
        let mut builder = http::Request::builder().method("POST").uri("/x");
        if let Some(ct) = content_type {
            builder = builder.header(header::CONTENT_TYPE, ct);
        }
        builder.body(bytes::Bytes::copy_from_slice(body)).unwrap()
    }

    #[test]
    fn content_types() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("Application/JSON; charset=UTF-8"));
        assert!(is_json_content_type("application/merge-patch+json"));
        assert!(!is_json_content_type("application/json; charset=latin1"));
        assert!(!is_json_content_type("text/plain"));
        assert!(!is_json_content_type("multipart/form-data"));
    }

    #[test]
    fn errors_in_order() {
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(
            object(&request(Some("text/plain"), &big)),
            Err(ApiError::PayloadTooLarge)
        );
        assert_eq!(
            object(&request(None, b"{}")),
            Err(ApiError::UnsupportedMediaType)
        );
        assert_eq!(
            object(&request(Some("text/plain"), b"{}")),
            Err(ApiError::UnsupportedMediaType)
        );
        assert!(
            matches!(object(&request(Some("application/json"), b"\xff{}")), Err(ApiError::BadRequest(m)) if m.contains("UTF-8"))
        );
        assert!(
            matches!(object(&request(Some("application/json"), b"{")), Err(ApiError::BadRequest(m)) if m.contains("not valid JSON"))
        );
        assert!(
            matches!(object(&request(Some("application/json"), b"[1]")), Err(ApiError::BadRequest(m)) if m.contains("object"))
        );
        assert_eq!(
            object(&request(Some("application/json"), b"{\"a\":1}")).map(|m| m.len()),
            Ok(1)
        );
        let exact = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_BODY_BYTES - 8));
        assert_eq!(exact.len(), MAX_BODY_BYTES);
        assert!(object(&request(Some("application/json"), exact.as_bytes())).is_ok());
    }
}
