//! Digest rounds against a real PostgreSQL (the host-like native adapter): who is claimed,
//! which periods are built, what goes in (fair across sources, one URL once, paused sources
//! left out), and that rounds at once build each period once.

mod common;

use chrono::{DateTime, NaiveTime, Utc, Weekday};
use common::{Instance, TestDatabase};
use keemu::digests::round::{self, RoundReport, RoundSettings};

const SETTINGS: RoundSettings = RoundSettings {
    local_time: match NaiveTime::from_hms_opt(7, 0, 0) {
        Some(t) => t,
        None => NaiveTime::MIN,
    },
    weekday: Weekday::Mon,
    limit: 100,
    lease_seconds: 600,
};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test instant")
        .with_timezone(&Utc)
}

struct Env {
    _db: TestDatabase,
    instance: Instance,
    client: tokio_postgres::Client,
}

impl Env {
    async fn new() -> Env {
        let db = TestDatabase::create().await;
        let instance = Instance::new(db.connector());
        let client = db.client().await;
        Env {
            _db: db,
            instance,
            client,
        }
    }

    async fn sql(&self, statement: &str) {
        self.client.batch_execute(statement).await.expect(statement);
    }

    async fn one(&self, query: &str) -> String {
        let row = self.client.query_one(query, &[]).await.expect(query);
        row.get::<_, Option<String>>(0).unwrap_or_default()
    }

    async fn round(&self, as_of: &str) -> RoundReport {
        round::run(&self.instance.request_db(), utc(as_of), &SETTINGS)
            .await
            .expect("round")
    }
}

/// Three sources a user follows since 2026-03-01 (UTC, daily, standard), with items.
async fn daily_reader(env: &Env) {
    env.sql(
        "INSERT INTO users (email, name, timezone) VALUES ('reader@example.org', 'Reader', 'UTC');
         INSERT INTO user_preferences (user_id, update_frequency, summary_length)
           SELECT id, 'daily', 'concise' FROM users WHERE email = 'reader@example.org';
         INSERT INTO content_sources (kind, identifier, feed_url) VALUES
           ('subreddit', 'busy', 'https://www.reddit.com/r/busy/.rss'),
           ('blog', 'https://quiet.example/', 'https://quiet.example/feed.xml'),
           ('blog', 'https://paused.example/', 'https://paused.example/feed.xml');
         INSERT INTO user_subscriptions (user_id, source_id, is_active, created_at)
           SELECT u.id, s.id, s.identifier <> 'https://paused.example/',
                  '2026-03-01T00:00:00Z'
           FROM users u, content_sources s WHERE u.email = 'reader@example.org';
         -- In the period (2026-03-10 07:00, 2026-03-11 07:00]: busy, 10 items (08:00 to
         -- 17:00); quiet, 1 item and a copy of busy 9's URL; paused, 1 item. Before it: one
         -- item of busy, at 06:00.
         INSERT INTO content_items (source_id, external_id, title, url, published_at)
           SELECT s.id, 'b' || n, 'Busy ' || n, 'https://busy.example/' || n,
                  '2026-03-10T07:00:00Z'::timestamptz + n * interval '1 hour'
           FROM content_sources s, generate_series(1, 10) n WHERE s.identifier = 'busy';
         INSERT INTO content_items (source_id, external_id, title, url, published_at)
           SELECT s.id, 'q1', 'Quiet one', 'https://quiet.example/1', '2026-03-10T09:30:00Z'
           FROM content_sources s WHERE s.identifier = 'https://quiet.example/';
         INSERT INTO content_items (source_id, external_id, title, url, published_at)
           SELECT s.id, 'q2', 'Quiet copy of busy 9', 'https://busy.example/9',
                  '2026-03-10T08:00:00Z'
           FROM content_sources s WHERE s.identifier = 'https://quiet.example/';
         INSERT INTO content_items (source_id, external_id, title, url, published_at)
           SELECT s.id, 'p1', 'Paused one', 'https://paused.example/1', '2026-03-10T12:00:00Z'
           FROM content_sources s WHERE s.identifier = 'https://paused.example/';
         INSERT INTO content_items (source_id, external_id, title, url, published_at)
           SELECT s.id, 'b0', 'Busy before', 'https://busy.example/0', '2026-03-10T06:00:00Z'
           FROM content_sources s WHERE s.identifier = 'busy';",
    )
    .await;
}

#[tokio::test]
async fn a_daily_digest_is_fair_across_sources_and_built_once() {
    let env = Env::new().await;
    daily_reader(&env).await;
    // 2026-03-11 08:00 UTC: the digest closing 2026-03-11 07:00 is due (first: one day).
    let report = env.round("2026-03-11T08:00:00Z").await;
    assert_eq!(
        (report.claimed, report.built, report.skipped, report.existed),
        (1, 1, 0, 0),
        "{report:?}"
    );
    assert_eq!(
        env.one(
            "SELECT status || ' ' || item_count || ' ' || (period_start AT TIME ZONE 'UTC')
                 || ' ' || (period_end AT TIME ZONE 'UTC')
             FROM digests"
        )
        .await,
        "built 5 2026-03-10 07:00:00 2026-03-11 07:00:00"
    );
    // Concise: 5 items, round-robin: busy's newest, quiet's newest, then busy's next ones;
    // the paused source never; busy 9's URL once.
    assert_eq!(
        env.one(
            "SELECT string_agg(ci.title, ' | ' ORDER BY di.position) FROM digest_items di
             JOIN content_items ci ON ci.id = di.content_item_id"
        )
        .await,
        "Busy 10 | Quiet one | Busy 9 | Busy 8 | Busy 7"
    );
    // Concise is titles only.
    assert_eq!(
        env.one("SELECT count(*)::text FROM digest_items WHERE excerpt IS NOT NULL")
            .await,
        "0"
    );
    // The same round again, and a round later that day: nothing new.
    let again = env.round("2026-03-11T08:00:00Z").await;
    assert_eq!((again.claimed, again.built), (0, 0), "{again:?}");
    let later = env.round("2026-03-11T20:00:00Z").await;
    assert_eq!((later.claimed, later.built), (0, 0), "{later:?}");
    // The next day: a digest from where the last ended; nothing was published: skipped.
    let next = env.round("2026-03-12T07:00:00Z").await;
    assert_eq!((next.built, next.skipped), (0, 1), "{next:?}");
    assert_eq!(
        env.one(
            "SELECT string_agg(status || ' ' || (period_start AT TIME ZONE 'UTC'), ', '
                 ORDER BY period_end)
             FROM digests"
        )
        .await,
        "built 2026-03-10 07:00:00, skipped 2026-03-11 07:00:00"
    );
}

#[tokio::test]
async fn two_rounds_at_once_build_each_period_once() {
    let env = Env::new().await;
    daily_reader(&env).await;
    let (db_a, db_b) = (env.instance.request_db(), env.instance.request_db());
    let (a, b) = tokio::join!(
        round::run(&db_a, utc("2026-03-11T08:00:00Z"), &SETTINGS),
        round::run(&db_b, utc("2026-03-11T08:00:00Z"), &SETTINGS),
    );
    let (a, b) = (a.expect("round a"), b.expect("round b"));
    assert_eq!(a.built + b.built, 1, "{a:?} {b:?}");
    assert_eq!(env.one("SELECT count(*)::text FROM digests").await, "1");
}

#[tokio::test]
async fn a_user_who_follows_nothing_is_rescheduled_not_built() {
    let env = Env::new().await;
    env.sql("INSERT INTO users (email, name) VALUES ('idle@example.org', 'Idle')")
        .await;
    let report = env.round("2026-03-11T08:00:00Z").await;
    assert_eq!((report.claimed, report.not_due), (1, 1), "{report:?}");
    assert_eq!(env.one("SELECT count(*)::text FROM digests").await, "0");
    // Weekly (the default) on Mondays at 07:00 UTC: 2026-03-16.
    assert_eq!(
        env.one("SELECT (due_at AT TIME ZONE 'UTC')::text FROM digest_schedules")
            .await,
        "2026-03-16 07:00:00"
    );
    let report = env.round("2026-03-12T08:00:00Z").await;
    assert_eq!(report.claimed, 0, "not due before its time: {report:?}");
}

#[tokio::test]
async fn one_users_failure_is_counted_and_the_round_goes_on() {
    let env = Env::new().await;
    daily_reader(&env).await;
    env.sql(
        "INSERT INTO users (email, name, timezone) VALUES ('broken@example.org', 'Broken', 'UTC');
         INSERT INTO user_preferences (user_id, update_frequency, summary_length)
           SELECT id, 'daily', 'concise' FROM users WHERE email = 'broken@example.org';
         INSERT INTO user_subscriptions (user_id, source_id, created_at)
           SELECT u.id, s.id, '2026-03-01T00:00:00Z'
           FROM users u, content_sources s WHERE u.email = 'broken@example.org';
         -- This user's digest cannot be written (an error of the statement, not of the
         -- database's availability).
         CREATE FUNCTION refuse_broken() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.user_id = (SELECT id FROM users WHERE email = 'broken@example.org') THEN
                 RAISE EXCEPTION 'refused for the test';
             END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER refuse_broken BEFORE INSERT ON digests
             FOR EACH ROW EXECUTE FUNCTION refuse_broken();",
    )
    .await;
    let report = env.round("2026-03-11T08:00:00Z").await;
    assert_eq!(
        (report.claimed, report.built, report.failed),
        (2, 1, 1),
        "{report:?}"
    );
    assert_eq!(
        env.one("SELECT string_agg(u.email, ',') FROM digests d JOIN users u ON u.id = d.user_id")
            .await,
        "reader@example.org"
    );
    // The failed user stays leased: the next round does not claim them again at once.
    let again = env.round("2026-03-11T08:00:00Z").await;
    assert_eq!(again.claimed, 0, "{again:?}");
}

#[tokio::test]
async fn a_change_of_frequency_applies_at_the_next_round() {
    let env = Env::new().await;
    daily_reader(&env).await;
    env.sql("UPDATE user_preferences SET update_frequency = 'weekly'")
        .await;
    // Wednesday 2026-03-11: the weekly digest (Mondays) closed on 2026-03-09, before the
    // items; built, and the next is due on Monday 2026-03-16.
    env.round("2026-03-11T08:00:00Z").await;
    assert_eq!(
        env.one("SELECT (due_at AT TIME ZONE 'UTC')::text FROM digest_schedules")
            .await,
        "2026-03-16 07:00:00"
    );
    assert_eq!(env.round("2026-03-12T08:00:00Z").await.claimed, 0);
    // Daily now: the schedule is computed again at the next round, which builds the digest
    // closing 2026-03-12 07:00 from where the weekly one ended.
    env.sql("UPDATE user_preferences SET update_frequency = 'daily'")
        .await;
    let report = env.round("2026-03-12T08:00:00Z").await;
    assert_eq!(report.claimed, 1, "{report:?}");
    assert_eq!(
        env.one(
            "SELECT string_agg(update_frequency || ' ' || (period_start AT TIME ZONE 'UTC')
                 || ' ' || (period_end AT TIME ZONE 'UTC'), ', ' ORDER BY period_end)
             FROM digests"
        )
        .await,
        "weekly 2026-03-02 07:00:00 2026-03-09 07:00:00, \
         daily 2026-03-09 07:00:00 2026-03-12 07:00:00"
    );
    // A time zone change resets it too; a PATCH that changes neither does not.
    env.sql("UPDATE users SET name = 'Reader again'").await;
    assert_eq!(
        env.one("SELECT count(due_at)::text FROM digest_schedules")
            .await,
        "1"
    );
    env.sql("UPDATE users SET timezone = 'Asia/Tokyo'").await;
    assert_eq!(
        env.one("SELECT count(due_at)::text FROM digest_schedules")
            .await,
        "0"
    );
}
