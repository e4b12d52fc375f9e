//! Timing and the `request_completed` log line, around any handler.

use std::time::Instant;

use super::{Request, Response};
use crate::observability::log;

/// Runs `handler` and logs `request_completed` with method, path (never the query string,
/// which may hold personal data such as an email filter), status and duration.
pub async fn served(request: Request, handler: impl AsyncFnOnce(Request) -> Response) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = handler(request).await;
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    log::request_completed(
        method.as_str(),
        &path,
        response.status().as_u16(),
        duration_ms,
    );
    response
}
