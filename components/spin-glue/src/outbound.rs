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
    let sent = match request.body {
        Some(body) => post(request, body).await?,
        None => {
            let mut builder = http::Request::get(request.url);
            for (name, value) in &request.headers {
                builder = builder.header(*name, value.as_str());
            }
            let outgoing = builder
                .body(spin_sdk::http::EmptyBody::new())
                .map_err(|_| OutboundError::InvalidUrl)?;
            spin_sdk::http::send(outgoing).await
        }
    };
    let response = sent.map_err(transport_error)?;
    read(response, request.max_bytes).await
}

/// The host's refusal or failure as the core's error.
fn transport_error(error: ErrorCode) -> OutboundError {
    match error {
        ErrorCode::HttpRequestUriInvalid => OutboundError::InvalidUrl,
        // Not in allowed_outbound_hosts, or every address of the host is in the runtime
        // config's `[outbound_networking] block_networks`.
        ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited => OutboundError::Denied,
        _ => OutboundError::Failed,
    }
}

/// A `POST` of `body`, the body written by this task while it waits for the answer.
///
/// `spin_sdk::http::send` writes a request's body from a task of its own
/// (`wit_bindgen::spawn`); measured under Spin 4.0.2, that task first ran only when another
/// event woke the instance (the database deadline watcher's timer): every `POST` waited
/// about `db_timeout_ms` (1 s in the e2e suite) before its body left. Writing the body in
/// the same future as the send (`join`) sends it at once.
async fn post(
    request: &FetchRequest<'_>,
    body: &[u8],
) -> Result<Result<spin_sdk::http::Response, ErrorCode>, OutboundError> {
    use spin_sdk::http::FromResponse as _;
    use spin_sdk::wasip3::http::types::{Fields, Request as WasiRequest};
    use spin_sdk::wasip3::http_compat::BodyWriter;

    let uri: http::Uri = request.url.parse().map_err(|_| OutboundError::InvalidUrl)?;
    let mut headers = http::HeaderMap::new();
    for (name, value) in &request.headers {
        let value = http::HeaderValue::from_str(value).map_err(|_| OutboundError::InvalidUrl)?;
        headers.append(*name, value);
    }
    let fields = Fields::try_from(headers).map_err(|_| OutboundError::InvalidUrl)?;
    let (writer, contents, trailers) = BodyWriter::new();
    let (outgoing, _) = WasiRequest::new(fields, Some(contents), trailers, None);
    let scheme = uri.scheme().map(Into::into);
    outgoing
        .set_method(&http::Method::POST.into())
        .and_then(|()| outgoing.set_scheme(scheme.as_ref()))
        .and_then(|()| outgoing.set_authority(uri.authority().map(|a| a.as_str())))
        .and_then(|()| outgoing.set_path_with_query(uri.path_and_query().map(|p| p.as_str())))
        .map_err(|()| OutboundError::InvalidUrl)?;
    let mut full = spin_sdk::http::FullBody::new(bytes::Bytes::copy_from_slice(body));
    let (response, _) = futures_util::future::join(
        spin_sdk::wasip3::http::client::send(outgoing),
        writer.send_http_body(&mut full),
    )
    .await;
    Ok(response.and_then(spin_sdk::http::Response::from_response))
}

/// The whole response, at most `max_bytes` of body.
async fn read(
    response: spin_sdk::http::Response,
    max_bytes: usize,
) -> Result<Fetched, OutboundError> {
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
            if data.len() > max_bytes - buffer.len() {
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
