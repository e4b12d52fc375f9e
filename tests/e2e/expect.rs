//! Assertions on answers, with the whole answer in every failure message.

use serde_json::Value;

use crate::client::Response;

/// The status must be `status`.
pub fn status(response: &Response, status: u16) {
    assert_eq!(
        response.status,
        status,
        "expected {status}, got {}",
        response.describe()
    );
}

/// A JSON answer with this status.
pub fn json(response: &Response, code: u16) -> Value {
    status(response, code);
    assert_eq!(
        response.header("content-type"),
        Some("application/json"),
        "{}",
        response.describe()
    );
    response.json()
}

/// An `application/problem+json` answer (RFC 9457) with this status, never cached.
pub fn problem(response: &Response, code: u16) -> Value {
    status(response, code);
    assert_eq!(
        response.header("content-type"),
        Some("application/problem+json"),
        "{}",
        response.describe()
    );
    assert_eq!(
        response.header("cache-control"),
        Some("no-store"),
        "{}",
        response.describe()
    );
    let body = response.json();
    assert_eq!(body["status"], code, "{}", response.describe());
    assert_eq!(body["type"], "about:blank", "{}", response.describe());
    assert!(body["title"].is_string(), "{}", response.describe());
    assert!(body["detail"].is_string(), "{}", response.describe());
    body
}

/// A 422 problem whose `errors` name exactly these fields (in any order).
pub fn invalid_fields(response: &Response, fields: &[&str]) {
    let body = problem(response, 422);
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("422 without an errors list: {}", response.describe()));
    let mut named: Vec<&str> = errors
        .iter()
        .map(|e| {
            assert!(
                e["message"].as_str().is_some_and(|m| !m.is_empty()),
                "error without a message: {e}"
            );
            e["field"]
                .as_str()
                .unwrap_or_else(|| panic!("error without a field: {e}"))
        })
        .collect();
    named.sort_unstable();
    let mut expected = fields.to_vec();
    expected.sort_unstable();
    assert_eq!(named, expected, "{}", response.describe());
}

/// The methods of an `Allow` header.
pub fn allow(response: &Response) -> Vec<String> {
    let mut methods: Vec<String> = response
        .header_all("allow")
        .iter()
        .flat_map(|v| v.split(','))
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .collect();
    methods.sort();
    methods
}

/// A 405 whose `Allow` lists `methods`, and at most `HEAD` besides (HEAD on GET routes is
/// being added; [`allow_includes_head`] checks it).
pub fn method_not_allowed(response: &Response, methods: &[&str]) {
    problem(response, 405);
    let allowed = allow(response);
    let mut without_head: Vec<String> = allowed.iter().filter(|m| *m != "HEAD").cloned().collect();
    without_head.sort();
    let mut expected: Vec<String> = methods
        .iter()
        .filter(|m| **m != "HEAD")
        .map(|m| m.to_string())
        .collect();
    expected.sort();
    assert_eq!(without_head, expected, "{}", response.describe());
}

/// `Allow` names HEAD.
pub fn allow_includes_head(response: &Response) {
    assert!(
        allow(response).iter().any(|m| m == "HEAD"),
        "Allow without HEAD: {}",
        response.describe()
    );
}

/// RFC 3339 in UTC with exactly six fractional digits: `2026-11-28T22:52:18.123456Z`.
pub fn timestamp(value: &Value) -> chrono::DateTime<chrono::Utc> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("timestamp is not a string: {value}"));
    let shape_ok = text.len() == 27
        && text.as_bytes()[10] == b'T'
        && text.as_bytes()[19] == b'.'
        && text.ends_with('Z');
    assert!(shape_ok, "not RFC 3339 UTC with microseconds: {text:?}");
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("not RFC 3339 ({e}): {text:?}"))
        .with_timezone(&chrono::Utc)
}

/// A strong entity tag (`"..."`, no `W/`).
pub fn strong_etag(response: &Response) -> String {
    let tag = response
        .header("etag")
        .unwrap_or_else(|| panic!("no ETag: {}", response.describe()));
    assert!(
        tag.len() > 2 && tag.starts_with('"') && tag.ends_with('"'),
        "not a strong entity tag: {tag:?}"
    );
    tag.to_owned()
}

/// No body at all.
pub fn empty_body(response: &Response) {
    assert!(
        response.body.is_empty(),
        "expected no body: {}",
        response.describe()
    );
}
