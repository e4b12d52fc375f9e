//! Request bodies: size, content type, UTF-8, JSON object — in that order.
//!
//! A JSON object with the same key twice (at any depth) is refused: RFC 8259 leaves its
//! meaning open, and serde_json's `Value` silently keeps the last one, so a client (or a
//! proxy that checks the first one) and this API could read different requests.

use std::fmt;

use http::header;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::error::Category;
use serde_json::{Map, Number, Value};

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
    let value = parse_strict(text)?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::BadRequest(
            "the request body must be a JSON object",
        )),
    }
}

/// Parses JSON text into a [`Value`], refusing an object that has the same key twice.
fn parse_strict(text: &str) -> Result<Value, ApiError> {
    match serde_json::from_str::<Strict>(text) {
        Ok(Strict(value)) => Ok(value),
        // Building a `Value` has no data errors of its own: a data error is the duplicate key.
        Err(e) if e.classify() == Category::Data => Err(ApiError::BadRequest(
            "the request body has an object with a duplicate key",
        )),
        Err(_) => Err(ApiError::BadRequest("the request body is not valid JSON")),
    }
}

/// A JSON value whose objects have no duplicate keys.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                // Never the key itself: it is part of the submitted body.
                return Err(de::Error::custom("duplicate key"));
            }
            let Strict(value) = access.next_value()?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
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
        let dup = |body: &str| object(&request(Some("application/json"), body.as_bytes()));
        let duplicate = Err(ApiError::BadRequest(
            "the request body has an object with a duplicate key",
        ));
        assert_eq!(dup(r#"{"email":"a@x.io","email":"b@x.io"}"#), duplicate);
        assert_eq!(
            dup(r#"{"email":"a@x.io","em\u0061il":"b@x.io"}"#),
            duplicate
        );
        assert_eq!(dup(r#"{"a":{"b":1,"c":2,"b":3}}"#), duplicate);
        assert_eq!(dup(r#"{"a":[1,{"x":null,"x":null}]}"#), duplicate);
        assert_eq!(dup(r#"{"a":1,"b":2,"a":1}"#), duplicate);
        assert!(
            matches!(dup(r#"{"a":1,"b":}"#), Err(ApiError::BadRequest(m)) if m.contains("not valid JSON"))
        );
        let exact = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_BODY_BYTES - 8));
        assert_eq!(exact.len(), MAX_BODY_BYTES);
        assert!(object(&request(Some("application/json"), exact.as_bytes())).is_ok());
    }

    #[test]
    fn strict_parse_keeps_every_value_and_distinct_keys() {
        let text = r#"{"s":"x\u00e9","n":-1,"u":18446744073709551615,"f":1.5,"b":true,
            "z":null,"a":[1,[2,{}],{"k":"v"}],"o":{"a":{"a":1}},"A":0}"#;
        assert_eq!(
            parse_strict(text),
            Ok(serde_json::from_str::<Value>(text).unwrap())
        );
        // Same key in different objects, or differing by case, is not a duplicate.
        assert!(parse_strict(r#"[{"a":1},{"a":2}]"#).is_ok());
        assert!(parse_strict(r#"{"a":1,"A":2}"#).is_ok());
        assert!(parse_strict(&"[".repeat(200)).is_err());
    }
}
