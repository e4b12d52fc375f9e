//! Spin component `api`: `/api/v1/...`. Thin glue over `keemu::http::api`.

use keemu::http::Request;
use keemu::http::api::{self, ApiConfig};
use keemu_spin_glue::{database, serve, variable};
use spin_sdk::http::IntoResponse;
use spin_sdk::http_service;

#[http_service]
async fn handle(request: spin_sdk::http::Request) -> impl IntoResponse {
    serve(request, async |request: Request| {
        let config = ApiConfig::new(&variable("api_token").await.unwrap_or_default());
        let db = database().await;
        let today = chrono::Utc::now().date_naive();
        api::handle(&request, &config, &db, today).await
    })
    .await
}
