//! Spin component `health`: `/health` and `/health/...`. Thin glue over
//! `keemu::http::health`.

use keemu::http::Request;
use keemu::http::health::{self, HealthInfo};
use std::cell::OnceCell;
use std::rc::Rc;

use keemu_spin_glue::{database, once_per_instance, serve, variable};
use spin_sdk::http::IntoResponse;
use spin_sdk::http_service;

thread_local! {
    /// `app_name` and `environment`, read by the instance's first request.
    static INFO: OnceCell<Rc<HealthInfo>> = const { OnceCell::new() };
}

#[http_service]
async fn handle(request: spin_sdk::http::Request) -> impl IntoResponse {
    serve(request, async |request: Request, _now| {
        let info = once_per_instance(&INFO, async || HealthInfo {
            app_name: variable("app_name").await.unwrap_or_else(|| "KeeMU".into()),
            environment: variable("environment")
                .await
                .unwrap_or_else(|| "development".into()),
        })
        .await;
        let db = database().await;
        health::handle(&request, &info, &db).await
    })
    .await
}
