//! Spin component `api`: `/api/v1/...`. Thin glue over `keemu::http::api`.

use keemu::http::Request;
use keemu::http::api::{self, ApiConfig};
use std::cell::OnceCell;
use std::rc::Rc;

use keemu_spin_glue::{database, once_per_instance, serve, variable};
use spin_sdk::http::IntoResponse;
use spin_sdk::http_service;

thread_local! {
    /// `api_token`, read by the instance's first request.
    static CONFIG: OnceCell<Rc<ApiConfig>> = const { OnceCell::new() };
}

#[http_service]
async fn handle(request: spin_sdk::http::Request) -> impl IntoResponse {
    serve(request, async |request: Request| {
        let config = once_per_instance(&CONFIG, async || {
            ApiConfig::new(&variable("api_token").await.unwrap_or_default())
        })
        .await;
        let db = database().await;
        let today = chrono::Utc::now().date_naive();
        api::handle(&request, &config, &db, today).await
    })
    .await
}
