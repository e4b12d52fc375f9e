//! Spin component `health`: `/health` and `/health/...`. Thin glue over
//! `keemu::http::health`.

use keemu::http::Request;
use keemu::http::health::{self, HealthInfo};
use keemu_spin_glue::{database, serve, variable};
use spin_sdk::http::IntoResponse;
use spin_sdk::http_service;

#[http_service]
async fn handle(request: spin_sdk::http::Request) -> impl IntoResponse {
    serve(request, async |request: Request| {
        let info = HealthInfo {
            app_name: variable("app_name").await.unwrap_or_else(|| "KeeMU".into()),
            environment: variable("environment")
                .await
                .unwrap_or_else(|| "development".into()),
        };
        let db = database().await;
        health::handle(&request, &info, &db).await
    })
    .await
}
