//! The outbound HTTP transport through Spin's `wasi:http` client (`spin_sdk::http`), bounded
//! in time and in body size: the core's [`keemu::outbound::Outbound`], which
//! `keemu::outbound::client` builds every request on. The destination must be in the
//! component's `allowed_outbound_hosts` (otherwise [`OutboundError::Denied`]).
//!
//! The request and its timer are host futures created and awaited inside
//! [`SpinOutbound::fetch`](Outbound::fetch), by the request's own task; nothing is kept
//! across requests.

use std::pin::pin;

use futures_util::future::{Either, select};
use http_body_util::BodyExt;
use keemu::outbound::{FetchRequest, Fetched, Outbound, OutboundError};
use spin_sdk::wasip3::http::types::ErrorCode;

/// Outbound HTTP for the core ([`keemu::outbound::Outbound`]): one `GET` or `POST`, its whole response
/// (any status) within the request's timeout, and a body of at most its `max_bytes`
/// (reading stops at the first byte beyond: [`OutboundError::TooLarge`]).
pub struct SpinOutbound;

impl Outbound for SpinOutbound {
    async fn fetch(&self, request: &FetchRequest<'_>) -> Result<Fetched, OutboundError> {
        let work = pin!(send(request));
        let timer = pin!(spin_sdk::time::sleep(request.timeout));
        match select(work, timer).await {
            Either::Left((result, _)) => result,
            Either::Right(_) => Err(OutboundError::Timeout),
        }
    }
}

async fn send(request: &FetchRequest<'_>) -> Result<Fetched, OutboundError> {
    let method = match request.body {
        Some(_) => http::Method::POST,
        None => http::Method::GET,
    };
    let mut builder = http::Request::builder().method(method).uri(request.url);
    for (name, value) in &request.headers {
        builder = builder.header(*name, value.as_str());
    }
    let sent = match request.body {
        Some(body) => {
            let body = spin_sdk::http::FullBody::new(bytes::Bytes::copy_from_slice(body));
            let outgoing = builder.body(body).map_err(|_| OutboundError::InvalidUrl)?;
            spin_sdk::http::send(outgoing).await
        }
        None => {
            let outgoing = builder
                .body(spin_sdk::http::EmptyBody::new())
                .map_err(|_| OutboundError::InvalidUrl)?;
            spin_sdk::http::send(outgoing).await
        }
    };
    let response = sent.map_err(|error| match error {
        ErrorCode::HttpRequestUriInvalid => OutboundError::InvalidUrl,
        // Not in allowed_outbound_hosts, or every address of the host is in the runtime
        // config's `[outbound_networking] block_networks`.
        ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited => OutboundError::Denied,
        _ => OutboundError::Failed,
    })?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            value
                .to_str()
                .ok()
                .map(|v| (name.as_str().to_owned(), v.to_owned()))
        })
        .collect();
    let mut body = response.into_body();
    let mut buffer = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| OutboundError::Failed)?;
        if let Ok(data) = frame.into_data() {
            if data.len() > request.max_bytes - buffer.len() {
                return Err(OutboundError::TooLarge);
            }
            buffer.extend_from_slice(&data);
        }
    }
    Ok(Fetched {
        status,
        headers,
        body: buffer,
    })
}
