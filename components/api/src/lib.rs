//! Spin component `api`: `/api/v1/...`. Thin glue over `keemu::http::api`.

use keemu::http::api::{self, ApiConfig};
use keemu::http::served::served;
use keemu::http::{ApiError, Request};
use keemu_spin_glue::{database, into_spin_response, read_request, variable};
use spin_sdk::http::IntoResponse;
use spin_sdk::http_service;

#[http_service]
async fn handle(request: spin_sdk::http::Request) -> impl IntoResponse {
    let Some(request) = read_request(request).await else {
        return into_spin_response(
            ApiError::BadRequest("the request body could not be read").into_response(),
        );
    };
    let response = served(request, async |request: Request| {
        let config = ApiConfig {
            api_token: variable("api_token").await.unwrap_or_default(),
        };
        let db = database().await;
        let today = chrono::Utc::now().date_naive();
        api::handle(&request, &config, &db, today).await
    })
    .await;
    into_spin_response(response)
}
