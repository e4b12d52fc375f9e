//! Spin component `health`: `/health` and `/health/...`. Thin glue over
//! `keemu::http::health`.

use keemu::http::health::{self, HealthInfo};
use keemu::http::served::served;
use keemu::http::{ApiError, Request};
use keemu_spin_glue::{database, into_spin_response, read_request, variable};
use spin_sdk::http::IntoResponse;
use spin_sdk::http_service;

#[http_service]
async fn handle(request: spin_sdk::http::Request) -> impl IntoResponse {
    let Some(request) = read_request(request).await else {
        return into_spin_response(
            ApiError::BadRequest("the request could not be read").into_response(),
        );
    };
    let response = served(request, async |request: Request| {
        let info = HealthInfo {
            app_name: variable("app_name").await.unwrap_or_else(|| "KeeMU".into()),
            environment: variable("environment")
                .await
                .unwrap_or_else(|| "development".into()),
        };
        let db = database().await;
        health::handle(&request, &info, &db).await
    })
    .await;
    into_spin_response(response)
}
