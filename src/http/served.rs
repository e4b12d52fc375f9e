//! Timing and the `request_completed` log line, around any handler.

use std::time::Instant;

use serde_json::json;

use super::{Request, Response};
use crate::observability::log;

/// Runs `handler` and logs `request_completed` with method, path (never the query string,
/// which may hold personal data such as an email filter), status and duration.
pub async fn served(request: Request, handler: impl AsyncFnOnce(Request) -> Response) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let response = handler(request).await;
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    log::info(
        "request_completed",
        json!({
            "method": method,
            "path": path,
            "status": response.status().as_u16(),
            "duration_ms": (duration_ms * 100.0).round() / 100.0,
        }),
    );
    response
}
