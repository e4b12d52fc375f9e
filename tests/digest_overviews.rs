//! Digest overviews (issue 19, `digest_overview = "llm"`) against a real PostgreSQL, with a
//! fake model: an answer is cleaned and stored; a model that fails, refuses, answers empty
//! or answers late leaves the digests built without an overview, stops being asked for the
//! rest of the round, and never holds a digest up; the prompt carries the items' titles and
//! excerpts, bounded.

mod common;

use std::cell::RefCell;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveTime, Utc, Weekday};
use common::{Instance, TestDatabase};
use keemu::digests::overview::{
    MAX_OVERVIEW_CHARS, MAX_PROMPT_CHARS, OverviewError, OverviewSettings, Overviewer,
};
use keemu::digests::round::{self, RoundReport, RoundSettings};
use keemu::http::ingest::{IngestConfig, IngestVariables};
use keemu::outbound::{FetchRequest, Fetched, Outbound, OutboundError};

const SETTINGS: RoundSettings = RoundSettings {
    local_time: match NaiveTime::from_hms_opt(7, 0, 0) {
        Some(t) => t,
        None => NaiveTime::MIN,
    },
    weekday: Weekday::Mon,
    limit: 100,
    lease_seconds: 600,
};

/// The round at which the readers' daily digests (closing 2026-03-11 07:00 UTC) are due.
const AS_OF: &str = "2026-03-11T08:00:00Z";

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test instant")
        .with_timezone(&Utc)
}

/// A model answering `answers` in turn (the last one again when they run out), each after
/// `delay`, recording the prompts.
struct FakeModel {
    answers: Vec<Result<String, OverviewError>>,
    delay: Duration,
    prompts: RefCell<Vec<String>>,
}

impl FakeModel {
    fn new(answers: Vec<Result<String, OverviewError>>) -> FakeModel {
        FakeModel {
            answers,
            delay: Duration::ZERO,
            prompts: RefCell::new(Vec::new()),
        }
    }

    fn asked(&self) -> usize {
        self.prompts.borrow().len()
    }
}

impl Overviewer for FakeModel {
    async fn overview(&self, prompt: &str) -> Result<String, OverviewError> {
        let n = {
            let mut prompts = self.prompts.borrow_mut();
            prompts.push(prompt.to_owned());
            prompts.len() - 1
        };
        tokio::time::sleep(self.delay).await;
        self.answers[n.min(self.answers.len() - 1)].clone()
    }
}

struct Env {
    _db: TestDatabase,
    instance: Instance,
    client: tokio_postgres::Client,
}

impl Env {
    /// `readers` users (`reader0@example.org`, ...) reading daily, standard length, who follow
    /// two sources since 2026-03-01 with items in the period (2026-03-10 07:00, 2026-03-11
    /// 07:00], the second source's summary long.
    async fn new(readers: usize) -> Env {
        let db = TestDatabase::create().await;
        let instance = Instance::new(db.connector());
        let client = db.client().await;
        let env = Env {
            _db: db,
            instance,
            client,
        };
        env.sql(
            "INSERT INTO content_sources (kind, identifier, feed_url) VALUES
               ('subreddit', 'rust', 'https://www.reddit.com/r/rust/.rss'),
               ('blog', 'https://long.example/', 'https://long.example/feed.xml');
             INSERT INTO content_items (source_id, external_id, title, url, summary, published_at)
               SELECT s.id, 'r' || n, 'Rust news ' || n, 'https://rust.example/' || n,
                      'What happened in Rust, part ' || n || '.',
                      '2026-03-10T07:00:00Z'::timestamptz + n * interval '1 hour'
               FROM content_sources s, generate_series(1, 3) n WHERE s.identifier = 'rust';
             INSERT INTO content_items (source_id, external_id, title, url, summary, published_at)
               SELECT s.id, 'l1', 'A long read', 'https://long.example/1',
                      repeat('Many words here. ', 110), '2026-03-10T09:30:00Z'
               FROM content_sources s WHERE s.identifier = 'https://long.example/';",
        )
        .await;
        for n in 0..readers {
            env.sql(&format!(
                "INSERT INTO users (email, name, timezone)
                   VALUES ('reader{n}@example.org', 'Reader', 'UTC');
                 INSERT INTO user_preferences (user_id, update_frequency, summary_length)
                   SELECT id, 'daily', 'detailed' FROM users
                   WHERE email = 'reader{n}@example.org';
                 INSERT INTO user_subscriptions (user_id, source_id, created_at)
                   SELECT u.id, s.id, '2026-03-01T00:00:00Z'
                   FROM users u, content_sources s WHERE u.email = 'reader{n}@example.org';"
            ))
            .await;
        }
        env
    }

    async fn sql(&self, statement: &str) {
        self.client.batch_execute(statement).await.expect(statement);
    }

    async fn one(&self, query: &str) -> String {
        let row = self.client.query_one(query, &[]).await.expect(query);
        row.get::<_, Option<String>>(0).unwrap_or_default()
    }

    async fn round(&self, bounds: &OverviewSettings, model: &FakeModel) -> RoundReport {
        round::run_with(
            &self.instance.request_db(),
            utc(AS_OF),
            &SETTINGS,
            bounds,
            model,
        )
        .await
        .expect("round")
    }

    /// Each digest's status and overview (or `-`), in the readers' order.
    async fn digests(&self) -> String {
        self.one(
            "SELECT string_agg(d.status || ' ' || COALESCE(d.overview, '-'), ' | '
                 ORDER BY u.email)
             FROM digests d JOIN users u ON u.id = d.user_id",
        )
        .await
    }

    /// Every reader's schedule moved past this round (nothing left leased or due).
    async fn all_moved(&self) -> String {
        self.one(
            "SELECT string_agg(DISTINCT (due_at AT TIME ZONE 'UTC')::text
                 || ' ' || (lease_until IS NULL)::text, ',')
             FROM digest_schedules",
        )
        .await
    }
}

fn bounds(call_ms: u64) -> OverviewSettings {
    OverviewSettings {
        call_bound: Duration::from_millis(call_ms),
        round_budget: Duration::from_secs(60),
    }
}

#[tokio::test]
async fn the_models_answer_is_cleaned_and_stored_and_the_prompt_has_the_titles() {
    let env = Env::new(1).await;
    let model = FakeModel::new(vec![Ok(
        "  Rust had a busy day;\n\u{7}a long read too.  ".to_owned()
    )]);
    let report = env.round(&bounds(5_000), &model).await;
    assert_eq!(
        (report.built, report.overviews, report.overview_failed),
        (1, 1, 0),
        "{report:?}"
    );
    assert_eq!(
        env.digests().await,
        "built Rust had a busy day; a long read too."
    );
    let prompts = model.prompts.borrow();
    assert_eq!(prompts.len(), 1);
    let prompt = &prompts[0];
    for title in ["Rust news 1", "Rust news 2", "Rust news 3", "A long read"] {
        assert!(prompt.contains(title), "{title} in {prompt}");
    }
    assert!(
        prompt.contains("What happened in Rust, part 3."),
        "{prompt}"
    );
    // The long summary is cut (detailed: 800 characters in the digest, less in the prompt).
    assert!(prompt.chars().count() <= MAX_PROMPT_CHARS);
    assert!(prompt.chars().count() < 3000, "{}", prompt.chars().count());
}

#[tokio::test]
async fn a_long_answer_is_cut_and_an_empty_one_is_no_overview() {
    let env = Env::new(2).await;
    let model = FakeModel::new(vec![
        Ok("   \n ".to_owned()),
        Ok("Word and more words. ".repeat(200)),
    ]);
    let report = env.round(&bounds(5_000), &model).await;
    // An empty answer is a failed call, not a model down: the next digest is asked.
    assert_eq!(
        (
            report.built,
            report.overviews,
            report.overview_failed,
            report.overview_skipped
        ),
        (2, 1, 1, 0),
        "{report:?}"
    );
    assert_eq!(model.asked(), 2);
    let long = env
        .one("SELECT overview FROM digests WHERE overview IS NOT NULL")
        .await;
    assert!(long.chars().count() <= MAX_OVERVIEW_CHARS, "{}", long.len());
    assert!(long.ends_with("words."), "{long}");
    assert_eq!(
        env.one("SELECT count(*)::text FROM digests WHERE overview IS NULL")
            .await,
        "1"
    );
}

#[tokio::test]
async fn a_failing_model_leaves_every_digest_built_and_is_asked_once() {
    let env = Env::new(3).await;
    let model = FakeModel::new(vec![Err(OverviewError::Failed)]);
    let report = env.round(&bounds(5_000), &model).await;
    assert_eq!(
        (
            report.claimed,
            report.built,
            report.failed,
            report.overviews,
            report.overview_failed,
            report.overview_skipped
        ),
        (3, 3, 0, 0, 1, 2),
        "{report:?}"
    );
    assert_eq!(model.asked(), 1, "not asked again in the round");
    assert_eq!(env.digests().await, "built - | built - | built -");
    assert_eq!(env.all_moved().await, "2026-03-12 07:00:00 true");
    // The next round asks again.
    env.sql("UPDATE digest_schedules SET due_at = NULL; DELETE FROM digests")
        .await;
    let model = FakeModel::new(vec![Ok("Back.".to_owned())]);
    let report = env.round(&bounds(5_000), &model).await;
    assert_eq!((report.built, report.overviews), (3, 3), "{report:?}");
}

#[tokio::test]
async fn a_slow_model_is_asked_once_its_late_answer_dropped_and_nothing_waits() {
    let env = Env::new(3).await;
    let mut model = FakeModel::new(vec![Ok("Too late.".to_owned())]);
    model.delay = Duration::from_millis(400);
    let started = Instant::now();
    let report = env.round(&bounds(100), &model).await;
    let took = started.elapsed();
    assert_eq!(
        (
            report.built,
            report.overviews,
            report.overview_failed,
            report.overview_skipped
        ),
        (3, 0, 1, 2),
        "{report:?}"
    );
    assert_eq!(model.asked(), 1);
    // One slow call, not three.
    assert!(took < Duration::from_millis(1100), "{took:?}");
    assert_eq!(env.digests().await, "built - | built - | built -");
    assert_eq!(env.all_moved().await, "2026-03-12 07:00:00 true");
}

#[tokio::test]
async fn no_call_starts_once_the_rounds_budget_is_spent() {
    let env = Env::new(3).await;
    let mut model = FakeModel::new(vec![Ok("In time.".to_owned())]);
    model.delay = Duration::from_millis(150);
    let bounds = OverviewSettings {
        call_bound: Duration::from_secs(5),
        round_budget: Duration::from_millis(200),
    };
    let report = env.round(&bounds, &model).await;
    assert_eq!(
        (report.built, report.overviews, report.overview_skipped),
        (3, 2, 1),
        "{report:?}"
    );
    assert_eq!(model.asked(), 2);
}

#[tokio::test]
async fn without_a_model_nothing_is_asked_and_a_skipped_digest_never_is() {
    let env = Env::new(1).await;
    let report = round::run(&env.instance.request_db(), utc(AS_OF), &SETTINGS)
        .await
        .expect("round");
    assert_eq!(
        (report.built, report.overviews, report.overview_skipped),
        (1, 0, 0),
        "{report:?}"
    );
    assert_eq!(env.digests().await, "built -");
    // The next day has no item: skipped, and the model is not asked.
    let model = FakeModel::new(vec![Ok("Nothing.".to_owned())]);
    let report = round::run_with(
        &env.instance.request_db(),
        utc("2026-03-12T08:00:00Z"),
        &SETTINGS,
        &bounds(5_000),
        &model,
    )
    .await
    .expect("round");
    assert_eq!((report.skipped, report.overviews), (1, 0), "{report:?}");
    assert_eq!(model.asked(), 0);
}

#[tokio::test]
async fn a_digest_a_sender_holds_or_sent_keeps_no_late_overview() {
    let env = Env::new(3).await;
    // Delivery ran between the build and the answer: reader0's digest was sent, reader1's
    // is being sent (one attempt counted), reader2's was not touched.
    let model = FakeModel::new(vec![Ok("Late.".to_owned())]);
    env.sql(
        "CREATE FUNCTION deliver_at_once() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             UPDATE digests SET status = 'sent', sent_at = now()
             WHERE id = NEW.id
               AND NEW.user_id = (SELECT id FROM users WHERE email = 'reader0@example.org');
             UPDATE digests SET delivery_attempts = 1
             WHERE id = NEW.id
               AND NEW.user_id = (SELECT id FROM users WHERE email = 'reader1@example.org');
             RETURN NULL;
         END $$;
         CREATE TRIGGER deliver_at_once AFTER INSERT ON digests
             FOR EACH ROW EXECUTE FUNCTION deliver_at_once();",
    )
    .await;
    let report = env.round(&bounds(5_000), &model).await;
    assert_eq!(
        (report.built, report.overviews, report.overview_failed),
        (3, 1, 2),
        "{report:?}"
    );
    assert_eq!(env.digests().await, "sent - | built - | built Late.");
}

/// No feed is fetched by a digest round.
struct NoFetch;

impl Outbound for NoFetch {
    async fn fetch(&self, _request: &FetchRequest<'_>) -> Result<Fetched, OutboundError> {
        Err(OutboundError::Denied)
    }
}

/// `POST /internal/digests` at [`AS_OF`] with `digest_overview` (and a 1 s call bound):
/// status and body.
async fn route(env: &Env, overview: &str, model: &FakeModel) -> (u16, serde_json::Value) {
    let config = IngestConfig::from_variables(&IngestVariables {
        api_token: Some(common::api::TOKEN.into()),
        digest_overview: Some(overview.into()),
        digest_overview_timeout_ms: Some("1000".into()),
        ..IngestVariables::default()
    });
    let request = http::Request::builder()
        .method("POST")
        .uri("/internal/digests?as_of=2026-03-11T08%3A00%3A00Z")
        .header("authorization", format!("Bearer {}", common::api::TOKEN))
        .body(bytes::Bytes::new())
        .expect("request");
    let db = env.instance.request_db();
    let response = keemu::http::ingest::handle(&request, &config, &db, &NoFetch, model).await;
    let body = serde_json::from_slice(response.body()).unwrap_or(serde_json::Value::Null);
    (response.status().as_u16(), body)
}

#[tokio::test]
async fn the_route_asks_the_model_only_when_digest_overview_is_llm() {
    let env = Env::new(1).await;
    let model = FakeModel::new(vec![Ok("From the route.".to_owned())]);
    // Not a mode: 503 (not configured), nothing claimed or asked.
    let (status, body) = route(&env, "gpt", &model).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(model.asked(), 0);
    assert_eq!(env.one("SELECT count(*)::text FROM digests").await, "0");
    // `none`: built, the model not asked.
    let (status, body) = route(&env, "none", &model).await;
    assert_eq!(
        (status, &body["built"], &body["overviews"]),
        (200, &1.into(), &0.into()),
        "{body}"
    );
    assert_eq!(model.asked(), 0);
    // `llm`: the next period's digest gets the model's overview.
    env.sql(
        "UPDATE digest_schedules SET due_at = NULL;
         DELETE FROM digests",
    )
    .await;
    let (status, body) = route(&env, "llm", &model).await;
    assert_eq!(
        (
            status,
            &body["built"],
            &body["overviews"],
            &body["overview_failed"]
        ),
        (200, &1.into(), &1.into(), &0.into()),
        "{body}"
    );
    assert_eq!(env.digests().await, "built From the route.");
}
