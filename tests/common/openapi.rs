//! Checks responses against the OpenAPI document (`GET /api/v1/openapi.json`), so the
//! document cannot drift from what the api component answers.
//!
//! [`Document::check`] takes one exchange as the client saw it (method, path as sent,
//! status, headers, body) and requires:
//! - a path under the server URL (`/api/v1`) that matches a path template, and a documented
//!   method (HEAD is GET's operation, answered without a body); a request outside the
//!   document may only get an error (4xx/5xx) with a problem body;
//! - the status to be one of the operation's replies, or an error answered by `default`;
//! - the `Content-Type` to be one the reply documents (none and no body when it documents
//!   no content), and the body to be JSON valid against the reply's schema (JSON Schema
//!   2020-12, formats asserted, `$ref`s resolved in the whole document);
//! - every header the reply documents as `required` to be there, valid against its schema;
//! - a problem's `status` to be the response's.
//!
//! Shared by the native API tests (`tests/common/api.rs`) and the end-to-end tests
//! (`tests/e2e/client.rs`, with the document the running server serves).

use std::collections::HashMap;
use std::sync::LazyLock;

use boon::{Compiler, Draft, SchemaIndex, Schemas};
use serde_json::Value;

/// Where the document is registered for the validator (never fetched).
const BASE: &str = "http://keemu.invalid/api/v1/openapi.json";

/// An OpenAPI document with every schema of `components.schemas` compiled.
pub struct Document {
    doc: Value,
    prefix: String,
    schemas: Schemas,
    compiled: HashMap<String, SchemaIndex>,
}

/// The document this source builds (`keemu::http::api::openapi::document()`).
pub fn library() -> &'static Document {
    static DOCUMENT: LazyLock<Document> = LazyLock::new(|| {
        let doc = keemu::http::api::openapi::document().expect("the OpenAPI document builds");
        Document::new(doc).unwrap_or_else(|e| panic!("the OpenAPI document: {e}"))
    });
    &DOCUMENT
}

/// One path segment of a template: literal or `{parameter}`.
fn segment_matches(template: &str, given: &str) -> bool {
    if template.starts_with('{') && template.ends_with('}') {
        !given.is_empty()
    } else {
        template == given
    }
}

fn template_matches(template: &str, path: &str) -> bool {
    let template: Vec<&str> = template.split('/').collect();
    let given: Vec<&str> = path.split('/').collect();
    template.len() == given.len()
        && template
            .iter()
            .zip(&given)
            .all(|(t, g)| segment_matches(t, g))
}

/// The body, shortened for a message.
fn shown(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if text.chars().count() > 600 {
        format!("{}...", text.chars().take(600).collect::<String>())
    } else {
        text.into_owned()
    }
}

/// A header value against its (small, inline) schema: `type` string or integer, and
/// `pattern`.
fn check_header(name: &str, value: &str, schema: &Value) -> Result<(), String> {
    let instance = match schema["type"].as_str() {
        Some("integer") => value
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("{name}: {value:?} is not an integer"))?,
        _ => Value::from(value),
    };
    let mut compiler = Compiler::new();
    compiler.set_default_draft(Draft::V2020_12);
    let mut schemas = Schemas::new();
    let loc = "http://keemu.invalid/header.json";
    let schema_error = |e: boon::CompileError| format!("{name}: schema: {e}");
    compiler
        .add_resource(loc, schema.clone())
        .map_err(schema_error)?;
    let index = compiler.compile(loc, &mut schemas).map_err(schema_error)?;
    schemas
        .validate(&instance, index)
        .map_err(|e| format!("{name}: {value:?} is not valid: {e}"))
}

impl Document {
    /// Compiles every schema of `components.schemas` of `doc`.
    pub fn new(doc: Value) -> Result<Document, String> {
        if doc["openapi"]
            .as_str()
            .is_none_or(|v| !v.starts_with("3.1."))
        {
            return Err(format!("not OpenAPI 3.1: openapi = {}", doc["openapi"]));
        }
        let prefix = doc["servers"][0]["url"]
            .as_str()
            .unwrap_or("")
            .trim_end_matches('/')
            .to_owned();
        let names: Vec<String> = doc["components"]["schemas"]
            .as_object()
            .ok_or("no components.schemas")?
            .keys()
            .cloned()
            .collect();
        let mut compiler = Compiler::new();
        compiler.set_default_draft(Draft::V2020_12);
        compiler.enable_format_assertions();
        compiler
            .add_resource(BASE, doc.clone())
            .map_err(|e| format!("{e}"))?;
        let mut schemas = Schemas::new();
        let mut compiled = HashMap::new();
        for name in names {
            let index = compiler
                .compile(&format!("{BASE}#/components/schemas/{name}"), &mut schemas)
                .map_err(|e| format!("schema {name}: {e:#}"))?;
            compiled.insert(name, index);
        }
        Ok(Document {
            doc,
            prefix,
            schemas,
            compiled,
        })
    }

    /// The document as JSON.
    pub fn json(&self) -> &Value {
        &self.doc
    }

    /// Follows a local `$ref` (`#/...`) if `value` is one.
    fn resolve<'a>(&'a self, value: &'a Value) -> Result<&'a Value, String> {
        match value.get("$ref").and_then(Value::as_str) {
            Some(target) => {
                let pointer = target
                    .strip_prefix('#')
                    .ok_or_else(|| format!("{target} is not a local reference"))?;
                self.doc
                    .pointer(pointer)
                    .ok_or_else(|| format!("{target} does not resolve"))
            }
            None => Ok(value),
        }
    }

    /// The path template matching `path` (relative to the server URL); a template with
    /// fewer parameters wins.
    fn template(&self, path: &str) -> Option<&str> {
        let paths = self.doc["paths"].as_object()?;
        paths
            .keys()
            .filter(|template| template_matches(template, path))
            .min_by_key(|template| template.matches('{').count())
            .map(String::as_str)
    }

    /// Checks one response to `method path` (the path as sent, with its query); `headers`
    /// are its header fields (name in any case, value).
    pub fn check(
        &self,
        method: &str,
        path: &str,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), String> {
        let what = format!("{method} {path} -> {status}");
        self.check_inner(method, path, status, headers, body)
            .map_err(|e| {
                format!(
                    "the response does not match the OpenAPI document: {what}: {e}\n  headers: {headers:?}\n  body: {}",
                    shown(body)
                )
            })
    }

    fn check_inner(
        &self,
        method: &str,
        path: &str,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), String> {
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        };
        let content_type = header("content-type");
        let head = method.eq_ignore_ascii_case("HEAD");
        if head && !body.is_empty() {
            return Err("a HEAD answer has a body".into());
        }
        let path = path.split(['?', '#']).next().unwrap_or("");
        let operation = path
            .strip_prefix(&self.prefix)
            .and_then(|relative| self.template(relative))
            .and_then(|template| {
                let method = if head {
                    "get"
                } else {
                    &*method.to_ascii_lowercase()
                };
                let operation = &self.doc["paths"][template][method];
                operation.is_object().then_some(operation)
            });
        let response = match operation {
            Some(operation) => {
                let id = operation["operationId"].as_str().unwrap_or("?");
                let responses = &operation["responses"];
                match responses.get(status.to_string()) {
                    Some(response) => response,
                    None if status >= 400 => responses.get("default").ok_or_else(|| {
                        format!("{id} documents no status {status} and no default")
                    })?,
                    None => return Err(format!("{id} documents no status {status}")),
                }
            }
            // Not in the document: only an error is a right answer.
            None if status >= 400 => &self.doc["components"]["responses"]["Problem"],
            None => {
                return Err(format!(
                    "{method} {path} is not in the document, yet answered {status}"
                ));
            }
        };
        let response = self.resolve(response)?;
        if let Some(documented) = response.get("headers").and_then(Value::as_object) {
            for (name, object) in documented {
                let object = self.resolve(object)?;
                if object["required"] != true {
                    continue;
                }
                let value = header(name).ok_or_else(|| format!("no {name} header"))?;
                check_header(name, value, &object["schema"])?;
            }
        }
        let Some(content) = response.get("content").and_then(Value::as_object) else {
            if body.is_empty() {
                return Ok(());
            }
            return Err("the reply is documented without content, yet has a body".into());
        };
        let media = content_type
            .map(|ct| {
                ct.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .ok_or("no Content-Type")?;
        let Some(media_object) = content.get(&media) else {
            let documented: Vec<&String> = content.keys().collect();
            return Err(format!(
                "Content-Type {media} is not documented ({documented:?})"
            ));
        };
        if head {
            return Ok(());
        }
        let target = media_object["schema"]["$ref"]
            .as_str()
            .ok_or("the media type's schema is not a $ref")?;
        let name = target
            .strip_prefix("#/components/schemas/")
            .ok_or_else(|| format!("{target} is not a component schema"))?;
        let index = *self
            .compiled
            .get(name)
            .ok_or_else(|| format!("{target} does not resolve"))?;
        let value: Value =
            serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
        self.schemas
            .validate(&value, index)
            .map_err(|e| format!("body is not a valid {name}:\n{e:#}"))?;
        if media == "application/problem+json" && value["status"] != status {
            return Err(format!(
                "the problem's status {} is not the response's",
                value["status"]
            ));
        }
        Ok(())
    }

    /// [`Document::check`] on a response of the api handler; panics with the mismatch.
    pub fn assert_response(&self, method: &str, path: &str, response: &keemu::http::Response) {
        let headers: Vec<(&str, &str)> = response
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
            .collect();
        if let Err(message) = self.check(
            method,
            path,
            response.status().as_u16(),
            &headers,
            response.body(),
        ) {
            panic!("{message}");
        }
    }
}
