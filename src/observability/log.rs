//! JSON-lines logging on stderr.
//!
//! Each line is one event: `{"ts":"...","level":"info","event":"request_completed",...}`.
//! Callers pass only what is safe to log: never a secret, a connection string, a request
//! body or a field of a user (ids are fine).

use chrono::{SecondsFormat, Utc};
use serde_json::{Map, Value};

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
    line.insert(
        "ts".into(),
        Value::String(Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)),
    );
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

/// Writes one event to stderr.
pub fn emit(level: Level, event: &str, fields: Value) {
    eprintln!("{}", format_event(level, event, fields));
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
}
