//! Digest overviews under a real `spin up` (issue 19, `digest_overview = "llm"`): the
//! ingest component asks the model through the host's `spin:llm` interface, and the host's
//! `remote_http` engine sends the call to a fixture service on 127.0.0.1 ([`ModelServer`]).
//! The service's answer becomes the overview; a service that is slow, broken or down leaves
//! every digest built, without an overview, and is asked once per round.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::checks::Checks;
use crate::client::Request;
use crate::harness::{Postgres, Spin, SpinOptions};
use crate::model_server::{MODEL_TOKEN, ModelServer};

/// `digest_overview_timeout_ms` the components are started with.
const CALL_BOUND: Duration = Duration::from_millis(1500);
/// How long the slow service takes to answer (longer than [`CALL_BOUND`]).
const SLOW: Duration = Duration::from_secs(4);
/// Digest readers (each round builds this many digests).
const READERS: usize = 3;

/// `spin up` whose ingest component writes overviews with the model service at `url`.
pub fn options(url: String) -> SpinOptions {
    SpinOptions {
        variables: vec![
            ("digest_overview".into(), "llm".into()),
            (
                "digest_overview_timeout_ms".into(),
                CALL_BOUND.as_millis().to_string(),
            ),
        ],
        llm_compute: Some((url, MODEL_TOKEN.to_owned())),
        ..SpinOptions::default()
    }
}

/// `READERS` readers, daily at 07:00 UTC, standard length, following two sources since
/// 2025-01-01.
pub fn seed(pg: &Postgres) {
    pg.psql(
        "INSERT INTO content_sources (kind, identifier, feed_url) VALUES
           ('subreddit', 'e2emodel', 'https://www.reddit.com/r/e2emodel/.rss'),
           ('blog', 'https://model.example/', 'https://model.example/feed.xml')",
    );
    for n in 0..READERS {
        pg.psql(&format!(
            "INSERT INTO users (email, name, timezone) VALUES ('model{n}@example.org', 'M', 'UTC')"
        ));
        pg.psql(&format!(
            "INSERT INTO user_preferences (user_id, update_frequency, summary_length)
             SELECT id, 'daily', 'standard' FROM users WHERE email = 'model{n}@example.org'"
        ));
        pg.psql(&format!(
            "INSERT INTO user_subscriptions (user_id, source_id, created_at)
             SELECT u.id, s.id, '2025-01-01T00:00:00Z' FROM users u, content_sources s
             WHERE u.email = 'model{n}@example.org'
               AND s.identifier IN ('e2emodel', 'https://model.example/')"
        ));
    }
}

/// Items of both sources published on 2026-03-`day` at 09:00 UTC, titled `E2E {day} ...`.
fn items(pg: &Postgres, day: u32) {
    pg.psql(&format!(
        "INSERT INTO content_items (source_id, external_id, title, url, summary, published_at)
         SELECT s.id, s.identifier || '-{day}', 'E2E {day} ' || s.kind || ' headline',
                'https://model.example/' || s.kind || '/{day}', 'Summary of day {day}.',
                '2026-03-{day:02}T09:00:00Z'
         FROM content_sources s WHERE s.identifier IN ('e2emodel', 'https://model.example/')"
    ));
}

/// A digest round at 2026-03-`day` 08:00 UTC (the digests closing that day at 07:00), and
/// how long it took to answer.
fn round(spin: &Spin, day: u32) -> (Value, Duration) {
    let started = Instant::now();
    let response = spin.send(&Request::new(
        "POST",
        &format!("/internal/digests?as_of=2026-03-{day:02}T08%3A00%3A00Z"),
    ));
    let took = started.elapsed();
    assert_eq!(response.status, 200, "{}", response.text());
    (response.json(), took)
}

/// `(built, overviews, overview_failed, overview_skipped)` of a round's answer.
fn counts(body: &Value) -> (u64, u64, u64, u64) {
    let n = |name: &str| body[name].as_u64().unwrap_or(u64::MAX);
    (
        n("built"),
        n("overviews"),
        n("overview_failed"),
        n("overview_skipped"),
    )
}

/// The digests closing on 2026-03-`day`: `status overview-or-dash`, one per reader.
fn digests_of(pg: &Postgres, day: u32) -> String {
    pg.psql(&format!(
        "SELECT string_agg(d.status || ' ' || COALESCE(d.overview, '-'), ' | ' ORDER BY u.email)
         FROM digests d JOIN users u ON u.id = d.user_id
         WHERE d.period_end = '2026-03-{day:02}T07:00:00Z'"
    ))
}

fn all_built_without_overview() -> String {
    ["built -"; READERS].join(" | ")
}

/// The checks against a running model service (`spin` was started with [`options`] naming
/// `model`).
pub fn checks(spin: &Spin, pg: &Postgres, model: &ModelServer, checks: &mut Checks) {
    checks.run(
        "overview: the model service's answer becomes each digest's overview, asked through the host with the items' titles",
        || {
            items(pg, 10);
            model.set_answer("  Two headlines today:\na subreddit and a blog.\u{7}  ");
            let (body, _) = round(spin, 11);
            assert_eq!(counts(&body), (READERS as u64, READERS as u64, 0, 0), "{body}");
            assert_eq!(
                digests_of(pg, 11),
                ["built Two headlines today: a subreddit and a blog."; READERS].join(" | ")
            );
            let received = model.take_received();
            assert_eq!(received.len(), READERS, "{received:?}");
            for request in &received {
                assert_eq!(request.path, "/infer");
                assert_eq!(request.authorization, format!("bearer {MODEL_TOKEN}"));
                assert_eq!(request.body["model"], "llama2-chat", "{:?}", request.body);
                assert_eq!(request.body["options"]["maxTokens"], 320);
                let prompt = request.body["prompt"].as_str().unwrap_or_default();
                for title in ["E2E 10 subreddit headline", "E2E 10 blog headline"] {
                    assert!(prompt.contains(title), "{title} in {prompt}");
                }
                assert!(prompt.contains("Summary of day 10."), "{prompt}");
            }
        },
    );
    checks.run(
        "overview: a service slower than the bound is asked once; every digest is built without one, the round waits one call",
        || {
            items(pg, 11);
            model.set_delay(SLOW);
            let (body, took) = round(spin, 12);
            model.set_delay(Duration::ZERO);
            assert_eq!(
                counts(&body),
                (READERS as u64, 0, 1, READERS as u64 - 1),
                "{body}"
            );
            assert_eq!(digests_of(pg, 12), all_built_without_overview());
            assert_eq!(model.take_received().len(), 1);
            // The host cannot cancel the call: the round waits for that one answer (which it
            // drops), never for one per digest.
            assert!(took < SLOW + Duration::from_secs(3), "{took:?}");
            assert_eq!(
                pg.psql(
                    "SELECT count(*) FROM digest_schedules \
                     WHERE lease_until IS NOT NULL OR due_at <= '2026-03-12T08:00:00Z'"
                ),
                "0",
                "every schedule moved"
            );
        },
    );
    checks.run(
        "overview: a service answering 500 with a body that is not the protocol's leaves every digest built without one",
        || {
            items(pg, 12);
            model.set_broken(true);
            let (body, _) = round(spin, 13);
            model.set_broken(false);
            assert_eq!(
                counts(&body),
                (READERS as u64, 0, 1, READERS as u64 - 1),
                "{body}"
            );
            assert_eq!(digests_of(pg, 13), all_built_without_overview());
            assert_eq!(model.take_received().len(), 1);
        },
    );
    checks.run(
        "overview: a day without items asks the model nothing",
        || {
            let (body, _) = round(spin, 14);
            assert_eq!(body["skipped"], READERS, "{body}");
            assert_eq!(counts(&body), (0, 0, 0, 0), "{body}");
            assert!(model.take_received().is_empty());
        },
    );
    checks.run(
        "overview: the logs carry neither the model's token nor the prompt",
        || {
            let logs = spin.all_component_logs();
            for secret in [MODEL_TOKEN, "E2E 10", "Two headlines"] {
                let line = logs.lines().find(|l| l.contains(secret));
                assert!(line.is_none(), "{secret:?} in a log line: {line:?}");
            }
        },
    );
}

/// A port on 127.0.0.1 nobody listens on.
pub fn closed_port_url() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    format!("http://127.0.0.1:{port}")
}

/// The checks against a service that is down (`spin` was started with [`options`] naming
/// a closed port).
pub fn down_checks(spin: &Spin, pg: &Postgres, checks: &mut Checks) {
    checks.run(
        "overview: a service that is down leaves every digest built without one, at once",
        || {
            items(pg, 14);
            let (body, took) = round(spin, 15);
            assert_eq!(
                counts(&body),
                (READERS as u64, 0, 1, READERS as u64 - 1),
                "{body}"
            );
            assert_eq!(digests_of(pg, 15), all_built_without_overview());
            assert!(took < Duration::from_secs(3), "{took:?}");
        },
    );
}
