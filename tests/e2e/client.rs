//! A small HTTP/1.1 client for loopback: one request per connection (`Connection: close`),
//! the answer read to the end and parsed into status, headers and body (chunked transfer
//! coding decoded, `Content-Length` checked). Written here rather than taken from a crate so
//! the tests control every byte sent (invalid UTF-8, missing or odd headers, oversized
//! bodies, repeated headers) and see every header received.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use crate::harness::TOKEN;
use crate::openapi::Document;

/// A request to send.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// A request with the right bearer token and no body.
    pub fn new(method: &str, path: &str) -> Request {
        Request {
            method: method.to_owned(),
            path: path.to_owned(),
            headers: vec![("Authorization".into(), format!("Bearer {TOKEN}"))],
            body: Vec::new(),
        }
    }

    pub fn get(path: &str) -> Request {
        Request::new("GET", path)
    }

    pub fn head(path: &str) -> Request {
        Request::new("HEAD", path)
    }

    /// A request whose body is `body` as `application/json`.
    pub fn json(method: &str, path: &str, body: &Value) -> Request {
        Request::new(method, path).body(Some("application/json"), body.to_string().into_bytes())
    }

    /// Sets the body and, if given, its `Content-Type`.
    pub fn body(mut self, content_type: Option<&str>, body: impl Into<Vec<u8>>) -> Request {
        self.headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case("content-type"));
        if let Some(ct) = content_type {
            self.headers.push(("Content-Type".into(), ct.into()));
        }
        self.body = body.into();
        self
    }

    /// Adds a header (a repeated name adds another field line).
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Replaces the `Authorization` header (`None` removes it).
    pub fn authorization(mut self, value: Option<&str>) -> Request {
        self.headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case("authorization"));
        if let Some(v) = value {
            self.headers.push(("Authorization".into(), v.into()));
        }
        self
    }

    fn encode(&self) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\n",
            self.method, self.path
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PATCH" | "PUT") {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        head.push_str("Connection: close\r\n\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// Sends the request to 127.0.0.1:`port` and reads the whole answer. An answer to a
    /// request under `/api/v1` is checked against the OpenAPI document the server serves
    /// (fetched once per server, see [`documented`]): a mismatch panics with what differs.
    pub fn send(&self, port: u16) -> Result<Response, String> {
        let response = self.send_unchecked(port)?;
        if self.path.starts_with(API_PREFIX) {
            let document = documented(port);
            if let Err(message) = document.check(
                &self.method,
                &self.path,
                response.status,
                &response.header_pairs(),
                &response.body,
            ) {
                // Also printed: a panic in a client thread loses its message.
                eprintln!("e2e: {message}");
                panic!("{message}");
            }
        }
        Ok(response)
    }

    /// Sends the request and reads the whole answer, unchecked.
    fn send_unchecked(&self, port: u16) -> Result<Response, String> {
        let mut stream =
            TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        // A server may answer (413) and close before reading a large body: a failed write
        // is not an error as long as an answer can be read.
        let written = stream.write_all(&self.encode());
        let mut raw = Vec::new();
        let read = stream.read_to_end(&mut raw);
        if raw.is_empty() {
            return Err(format!("no answer (write: {written:?}, read: {read:?})"));
        }
        Response::parse(&raw, self.method == "HEAD")
    }
}

const API_PREFIX: &str = "/api/v1/";

/// The OpenAPI document served by the server on `port`, fetched from
/// `GET /api/v1/openapi.json` without a token on first use. It must be the document this
/// source builds.
fn documented(port: u16) -> &'static Document {
    static DOCUMENTS: Mutex<Vec<(u16, &'static Document)>> = Mutex::new(Vec::new());
    let mut documents = DOCUMENTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, document)) = documents.iter().find(|(p, _)| *p == port) {
        return document;
    }
    let path = "/api/v1/openapi.json";
    let response = Request::get(path)
        .authorization(None)
        .send_unchecked(port)
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(response.status, 200, "GET {path}: {}", response.describe());
    let served = response.json();
    assert!(
        served == *crate::openapi::library().json(),
        "the served OpenAPI document is not the one this source builds"
    );
    let document = crate::openapi::Document::new(served)
        .unwrap_or_else(|e| panic!("the served OpenAPI document: {e}"));
    let document: &'static Document = Box::leak(Box::new(document));
    document
        .check(
            "GET",
            path,
            response.status,
            &response.header_pairs(),
            &response.body,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "e2e: {path} served {} paths; every answer under /api/v1 is checked against it",
        document.json()["paths"].as_object().map_or(0, |p| p.len())
    );
    documents.push((port, document));
    document
}

/// A parsed answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Field lines in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    fn parse(raw: &[u8], head_request: bool) -> Result<Response, String> {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or("no end of header section")?;
        let head = std::str::from_utf8(&raw[..split]).map_err(|_| "header section not UTF-8")?;
        let rest = &raw[split + 4..];
        let mut lines = head.split("\r\n");
        let status_line = lines.next().ok_or("no status line")?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        if !version.starts_with("HTTP/1.") {
            return Err(format!("bad status line {status_line:?}"));
        }
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        let mut headers = Vec::new();
        for line in lines {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| format!("bad header line {line:?}"))?;
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        let no_body = head_request || status == 204 || status == 304 || status < 200;
        let chunked = response
            .header("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
        response.body = if no_body {
            // Whatever follows would be a protocol error; keep it so tests can see it.
            rest.to_vec()
        } else if chunked {
            dechunk(rest)?
        } else if let Some(length) = response.header("content-length") {
            let length: usize = length.parse().map_err(|_| "bad Content-Length")?;
            if rest.len() < length {
                return Err(format!(
                    "body shorter ({}) than Content-Length {length}",
                    rest.len()
                ));
            }
            rest[..length].to_vec()
        } else {
            rest.to_vec()
        };
        Ok(response)
    }

    /// The first value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The header fields as (name, value) pairs.
    pub fn header_pairs(&self) -> Vec<(&str, &str)> {
        self.headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }

    /// A one-line description for assertion messages.
    pub fn describe(&self) -> String {
        let headers: Vec<String> = self
            .headers
            .iter()
            .filter(|(n, _)| n != "date")
            .map(|(n, v)| format!("{n}: {v}"))
            .collect();
        format!("{} [{}] {}", self.status, headers.join("; "), self.text())
    }
}

/// Decodes a chunked body (RFC 9112 section 7.1); trailers are ignored.
fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunk size line not terminated")?;
        let line = std::str::from_utf8(&data[..line_end]).map_err(|_| "chunk size not UTF-8")?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size =
            usize::from_str_radix(size_text, 16).map_err(|_| format!("bad chunk size {line:?}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if data.len() < size + 2 || &data[size..size + 2] != b"\r\n" {
            return Err("chunk shorter than its size".into());
        }
        body.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_chunked_and_fixed_length() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;x=y\r\n:1}\r\n0\r\n\r\n";
        let r = Response::parse(raw, false).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.json()["a"], 1);
        let raw = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nETag: \"x\"\r\n\r\n{}";
        let r = Response::parse(raw, false).unwrap();
        assert_eq!((r.status, r.text().as_str()), (201, "{}"));
        assert_eq!(r.header("etag"), Some("\"x\""));
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n";
        assert!(Response::parse(raw, true).unwrap().body.is_empty());
        assert!(Response::parse(raw, false).is_err());
        assert!(dechunk(b"5\r\nab\r\n0\r\n\r\n").is_err());
    }
}
