//! Spin component `mail`: `POST /internal/deliveries`, one delivery round (the digests built
//! and due, sent through the mail API). Thin glue over `keemu::http::mail`. It holds the
//! mail API's token and may reach only that API (spin.toml).

use std::cell::OnceCell;
use std::rc::Rc;

use keemu::http::Request;
use keemu::http::mail::{self, MailConfig, MailVariables};
use keemu_spin_glue::{SpinOutbound, database, once_per_instance, serve, variable};
use spin_sdk::http::IntoResponse;
use spin_sdk::http_service;

thread_local! {
    /// The component's settings, read from Spin variables by the instance's first request.
    static CONFIG: OnceCell<Rc<MailConfig>> = const { OnceCell::new() };
}

async fn variables() -> MailVariables {
    MailVariables {
        api_token: variable("api_token").await,
        mail_api_url: variable("mail_api_url").await,
        mail_api_token: variable("mail_api_token").await,
        mail_from: variable("mail_from").await,
        mail_timeout_ms: variable("mail_timeout_ms").await,
        link_key: variable("link_key").await,
        public_base_url: variable("public_base_url").await,
    }
}

#[http_service]
async fn handle(request: spin_sdk::http::Request) -> impl IntoResponse {
    serve(request, async |request: Request, _now| {
        let config = once_per_instance(&CONFIG, async || {
            MailConfig::from_variables(&variables().await)
        })
        .await;
        let db = database().await;
        mail::handle(&request, &config, &db, &SpinOutbound).await
    })
    .await
}
