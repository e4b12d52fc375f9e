//! `GET /api/v1/openapi.json` (placeholder until the document lands).

use crate::http::{ApiError, Request, Response};

/// Serves the OpenAPI document.
pub fn serve(_request: &Request) -> Result<Response, ApiError> {
    Err(ApiError::NotFound("no such route"))
}
