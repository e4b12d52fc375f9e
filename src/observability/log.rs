//! JSON-lines logging on stderr.
//!
//! Each line is one event: `{"ts":"...","level":"info","event":"request_completed",...}`.
//! Callers pass only what is safe to log: never a secret, a connection string, a request
//! body or a field of a user (ids are fine).
//!
//! The `request_completed` lines of requests that end while others of the same instance are
//! in flight are written together ([`super::batch`]); every other line at once.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::{Mutex, Once, PoisonError};

use super::batch::Batch;

/// Severity of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// Formats one event as a JSON line (without the newline). `fields` should be an object;
/// anything else is logged under `"fields"`.
pub fn format_event(level: Level, event: &str, fields: Value) -> String {
    let mut line = Map::new();
    line.insert("ts".into(), Value::String(now()));
    line.insert("level".into(), Value::String(level.as_str().into()));
    line.insert("event".into(), Value::String(event.into()));
    match fields {
        Value::Object(map) => {
            for (key, value) in map {
                if !line.contains_key(&key) {
                    line.insert(key, value);
                }
            }
        }
        Value::Null => {}
        other => {
            line.insert("fields".into(), other);
        }
    }
    Value::Object(line).to_string()
}

fn now() -> String {
    timestamp(Utc::now())
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Writes one event to stderr, after any request lines waiting in the batch.
pub fn emit(level: Level, event: &str, fields: Value) {
    let mut line = format_event(level, event, fields);
    line.push('\n');
    let out = with_batch(|batch| batch.with_line(&line));
    write_out(out);
}

/// Requests in flight on this instance, and the `request_completed` lines waiting for one
/// write ([`batch`](super::batch) gives the rule). One per instance: under Spin a component
/// instance is one thread; natively the count spans the process's threads.
static BATCH: Mutex<Batch> = Mutex::new(Batch::new());

fn with_batch<R>(f: impl FnOnce(&mut Batch) -> R) -> R {
    // A panic while the lock was held cannot leave the batch inconsistent (each change is
    // one push or take), so a poisoned lock is used as it is.
    let mut batch = BATCH.lock().unwrap_or_else(PoisonError::into_inner);
    f(&mut batch)
}

fn write_out(out: Option<String>) {
    if let Some(lines) = out {
        write_stderr(lines.as_bytes());
    }
}

/// A request in flight, from [`request_started`] until dropped: while any is, the
/// `request_completed` lines of the requests that end wait, and the last one out writes
/// them (also when it is dropped without finishing, e.g. a cancelled request).
#[must_use = "the request counts as in flight until this is dropped"]
pub struct InFlight(());

/// Counts a request as in flight (see [`InFlight`]).
pub fn request_started() -> InFlight {
    with_batch(Batch::enter);
    write_lines_on_panic();
    InFlight(())
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let out = with_batch(Batch::leave);
        write_out(out);
    }
}

/// A panic (a bug; under Spin it ends the instance) first writes the lines still waiting,
/// so the requests that did finish keep their lines. Installed once per process.
fn write_lines_on_panic() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Ok(mut batch) = BATCH.try_lock() {
                let out = batch.take();
                drop(batch);
                write_out(out);
            }
            previous(info);
        }));
    });
}

#[cfg(not(target_arch = "wasm32"))]
fn write_stderr(bytes: &[u8]) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(bytes);
}

/// Under Spin: one host call per line on a stderr stream the instance keeps. `std`'s stderr
/// goes through wasi-libc, which costs several host calls per write; measured under Spin
/// 4.0.2, keeping the stream took the GET user's CPU per request from 1.32 to 1.23 times the
/// floor's (`make bench`; docs/decisions/2026-11-29-first-measurements.md).
#[cfg(target_arch = "wasm32")]
fn write_stderr(bytes: &[u8]) {
    use std::cell::RefCell;
    use wasip2::io::streams::OutputStream;
    thread_local! {
        static STDERR: RefCell<Option<OutputStream>> = const { RefCell::new(None) };
    }
    STDERR.with(|slot| {
        let mut slot = slot.borrow_mut();
        let stream = slot.get_or_insert_with(wasip2::cli::stderr::get_stderr);
        // `blocking-write-and-flush` takes at most 4096 bytes a call.
        for chunk in bytes.chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                // A broken stream is dropped; the next line asks for a fresh one.
                *slot = None;
                return;
            }
        }
    });
}

/// The `request_completed` line, the one written for every request.
#[derive(Serialize)]
struct RequestCompleted<'a> {
    ts: String,
    level: &'static str,
    event: &'static str,
    method: &'a str,
    path: &'a str,
    /// The path's length in characters, only when `path` was cut.
    #[serde(skip_serializing_if = "Option::is_none")]
    path_chars: Option<usize>,
    status: u16,
    duration_ms: f64,
}

/// The most characters of a request path a `request_completed` line carries. A path is
/// whatever the client sent (a 60,000-character one would add 60 KB to the log); routes of
/// this API are far shorter.
pub const LOGGED_PATH_CHARS: usize = 256;

/// What ends a path that was cut.
pub const CUT_MARK: &str = "…";

/// `path` cut to [`LOGGED_PATH_CHARS`] characters (on a character boundary) followed by
/// [`CUT_MARK`], and its length in characters; `path` itself and `None` when short enough.
fn logged_path(path: &str) -> (&str, Option<usize>) {
    match path.char_indices().nth(LOGGED_PATH_CHARS) {
        None => (path, None),
        Some((end, _)) => (&path[..end], Some(path.chars().count())),
    }
}

/// Formats the `request_completed` event at `at`: the same shape as [`format_event`] gives,
/// built without an intermediate JSON value (it is on every request's path).
pub fn format_request_completed(
    at: DateTime<Utc>,
    method: &str,
    path: &str,
    status: u16,
    duration_ms: f64,
) -> String {
    let (kept, path_chars) = logged_path(path);
    let cut;
    let path = match path_chars {
        None => kept,
        Some(_) => {
            cut = format!("{kept}{CUT_MARK}");
            cut.as_str()
        }
    };
    let line = RequestCompleted {
        ts: timestamp(at),
        level: Level::Info.as_str(),
        event: "request_completed",
        method,
        path,
        path_chars,
        status,
        duration_ms: (duration_ms * 100.0).round() / 100.0,
    };
    serde_json::to_string(&line).unwrap_or_default()
}

/// Logs `request_completed` (info) at `at` (the request's end, which the caller has just
/// read): method, path (never the query string; cut to [`LOGGED_PATH_CHARS`] characters,
/// then `path_chars` gives its whole length), status and duration in milliseconds, rounded
/// to 0.01. Called while the request is [`InFlight`], the line waits for the last
/// request in flight to end (or for the batch to fill or age, see [`super::batch`]).
pub fn request_completed(
    at: DateTime<Utc>,
    method: &str,
    path: &str,
    status: u16,
    duration_ms: f64,
) {
    let mut line = format_request_completed(at, method, path, status, duration_ms);
    line.push('\n');
    let out = with_batch(|batch| batch.request_line(&line, at));
    write_out(out);
}

/// An `info` event.
pub fn info(event: &str, fields: Value) {
    emit(Level::Info, event, fields);
}

/// A `warn` event.
pub fn warn(event: &str, fields: Value) {
    emit(Level::Warn, event, fields);
}

/// An `error` event.
pub fn error(event: &str, fields: Value) {
    emit(Level::Error, event, fields);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_json_object_per_line_with_event_name() {
        let line = format_event(
            Level::Info,
            "request_completed",
            json!({"method": "GET", "path": "/health", "status": 200, "duration_ms": 3, "event": "spoofed"}),
        );
        assert!(!line.contains('\n'));
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["event"], "request_completed");
        assert_eq!(parsed["level"], "info");
        assert_eq!(parsed["status"], 200);
        assert!(parsed["ts"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn request_completed_is_one_json_line_with_escaped_path() {
        let at = DateTime::parse_from_rfc3339("2026-11-29T05:00:00.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let line = format_request_completed(at, "GET", "/api/v1/users/\"x\"\n", 200, 1.23456);
        assert!(!line.contains('\n'));
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["event"], "request_completed");
        assert_eq!(parsed["level"], "info");
        assert_eq!(parsed["method"], "GET");
        assert_eq!(parsed["path"], "/api/v1/users/\"x\"\n");
        assert_eq!(parsed["status"], 200);
        assert_eq!(parsed["duration_ms"], 1.23);
        assert_eq!(
            parsed["ts"], "2026-11-29T05:00:00.123Z",
            "the time it was given"
        );
    }

    #[test]
    fn a_long_path_is_cut_on_a_character_boundary() {
        let at = DateTime::parse_from_rfc3339("2026-11-29T05:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        // 60,000 characters, multi-byte ones where the cut falls.
        let path = format!("/api/v1/users/{}", "é".repeat(60_000 - 14));
        let line = format_request_completed(at, "GET", &path, 404, 1.0);
        assert!(line.len() < 1_000, "{} bytes", line.len());
        let parsed: Value = serde_json::from_str(&line).unwrap();
        let logged = parsed["path"].as_str().unwrap();
        assert_eq!(logged.chars().count(), LOGGED_PATH_CHARS + 1);
        assert!(logged.ends_with(CUT_MARK), "{logged}");
        assert!(path.starts_with(logged.trim_end_matches(CUT_MARK)));
        assert_eq!(parsed["path_chars"], 60_000);
        assert_eq!(parsed["status"], 404);

        // A path of exactly the limit is kept whole, without `path_chars`.
        let path = "x".repeat(LOGGED_PATH_CHARS);
        let parsed: Value =
            serde_json::from_str(&format_request_completed(at, "GET", &path, 200, 1.0)).unwrap();
        assert_eq!(parsed["path"], path.as_str());
        assert!(parsed.get("path_chars").is_none(), "{parsed}");
    }
}
