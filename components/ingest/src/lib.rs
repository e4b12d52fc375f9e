//! Spin component `ingest`: `POST /internal/ingest`, one ingestion round (claim due
//! sources, fetch their feeds, store the items), `POST /internal/digests` (one digest round,
//! overviews by the `spin:llm` model when `digest_overview = "llm"`) and
//! `POST /internal/maintenance`. Thin glue over `keemu::http::ingest`.

use std::cell::OnceCell;
use std::rc::Rc;

use keemu::http::Request;
use keemu::http::ingest::{self as ingest, IngestConfig, IngestVariables};
use keemu_spin_glue::{SpinOutbound, SpinOverviewer, database, once_per_instance, serve, variable};
use spin_sdk::http::IntoResponse;
use spin_sdk::http_service;

thread_local! {
    /// The component's settings, read from Spin variables by the instance's first request.
    static CONFIG: OnceCell<Rc<IngestConfig>> = const { OnceCell::new() };
}

async fn variables() -> IngestVariables {
    IngestVariables {
        api_token: variable("api_token").await,
        outbound_allow_loopback: variable("outbound_allow_loopback").await,
        youtube_origin: variable("youtube_origin").await,
        reddit_origin: variable("reddit_origin").await,
        ingest_fetch_timeout_ms: variable("ingest_fetch_timeout_ms").await,
        ingest_round_budget_ms: variable("ingest_round_budget_ms").await,
        db_timeout_ms: variable("db_timeout_ms").await,
        digest_local_time: variable("digest_local_time").await,
        digest_weekday: variable("digest_weekday").await,
        digest_overview: variable("digest_overview").await,
        digest_overview_timeout_ms: variable("digest_overview_timeout_ms").await,
    }
}

#[http_service]
async fn handle(request: spin_sdk::http::Request) -> impl IntoResponse {
    serve(request, async |request: Request, _now| {
        let config = once_per_instance(&CONFIG, async || {
            IngestConfig::from_variables(&variables().await)
        })
        .await;
        let db = database().await;
        ingest::handle(&request, &config, &db, &SpinOutbound, &SpinOverviewer).await
    })
    .await
}
