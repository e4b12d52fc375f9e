//! Spin component `api`: `/api/v1/...`. Thin glue over `keemu::http::api`.

use keemu::http::Request;
use keemu::http::api::{self, ApiConfig, Variables};
use std::cell::OnceCell;
use std::rc::Rc;

use keemu_spin_glue::{SpinOutbound, database, once_per_instance, serve, variable};
use spin_sdk::http::IntoResponse;
use spin_sdk::http_service;

thread_local! {
    /// The component's settings, read from Spin variables by the instance's first request.
    static CONFIG: OnceCell<Rc<ApiConfig>> = const { OnceCell::new() };
}

async fn variables() -> Variables {
    Variables {
        api_token: variable("api_token").await,
        auth_keys: variable("auth_keys").await,
        auth_signing_kid: variable("auth_signing_kid").await,
        auth_issuer: variable("auth_issuer").await,
        auth_audience: variable("auth_audience").await,
        google_client_id: variable("google_client_id").await,
        google_jwks_url: variable("google_jwks_url").await,
        outbound_allow_loopback: variable("outbound_allow_loopback").await,
        youtube_origin: variable("youtube_origin").await,
        hash_budget: variable("hash_budget").await,
        link_key: variable("link_key").await,
        public_base_url: variable("public_base_url").await,
    }
}

#[http_service]
async fn handle(request: spin_sdk::http::Request) -> impl IntoResponse {
    serve(request, async |request: Request, now| {
        let config = once_per_instance(&CONFIG, async || {
            ApiConfig::from_variables(&variables().await)
        })
        .await;
        let db = database().await;
        api::handle(&request, &config, &db, &SpinOutbound, now).await
    })
    .await
}
