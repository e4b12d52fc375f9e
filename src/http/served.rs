//! The request's time, and the `request_completed` log line, around any handler.

use chrono::{DateTime, Utc};

use super::{Request, Response};
use crate::observability::log;

/// Runs `handler` with the time the request arrived (UTC), and logs `request_completed` with
/// method, path (never the query string, which may hold personal data such as an email
/// filter), status and duration.
///
/// The clock is read twice per request, at the start and at the end, and the duration is
/// their difference (never negative). Under Spin every clock reading is a host call (in
/// Spin 4.0.2 each one a host task of the runtime), so the wall clock serves for both the
/// handler's `now` and the duration instead of adding a monotonic clock's two readings: a
/// step of the system clock during a request can misstate that one line's duration.
pub async fn served(
    request: Request,
    handler: impl AsyncFnOnce(Request, DateTime<Utc>) -> Response,
) -> Response {
    // Counted in flight until the end: its line, and those of the instance's requests that
    // end meanwhile, are written together when the last of them ends (`log::InFlight`).
    let _in_flight = log::request_started();
    let started = Utc::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = handler(request, started).await;
    let finished = Utc::now();
    let duration_ms = (finished - started)
        .num_microseconds()
        .map_or(0.0, |us| us.max(0) as f64 / 1000.0);
    log::request_completed(
        finished,
        method.as_str(),
        &path,
        response.status().as_u16(),
        duration_ms,
    );
    response
}
