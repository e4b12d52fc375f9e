//! The ingest component under a real `spin up`, fetching from the feed server on 127.0.0.1
//! ([`FeedServer`]): every kind of feed, two concurrent rounds, a second ingest, 304s, the
//! failing sources' back-off, the throughput, the private-network block (with the
//! repository's runtime-config.toml, whose `block_networks = ["private"]` covers loopback),
//! and feeds built to wedge a round (issue 22).

use std::time::Instant;

use serde_json::Value;

use crate::checks::Checks;
use crate::client::Request;
use crate::concurrency::all_at_once;
use crate::feed_server::{BENCH_ITEMS, FeedServer};
use crate::harness::{Postgres, Spin, SpinOptions, repo};

const ROUTE: &str = "/internal/ingest";

/// The options for a `spin up` whose ingest component may fetch from `feeds`:
/// `allow_loopback` for the URL check, and the runtime config (`None`: the harness's, which
/// blocks no network).
pub fn options(
    feeds: &FeedServer,
    allow_loopback: bool,
    runtime_config: Option<std::path::PathBuf>,
) -> SpinOptions {
    SpinOptions {
        runtime_config,
        variables: vec![
            ("outbound_allow_loopback".into(), allow_loopback.to_string()),
            ("ingest_fetch_timeout_ms".into(), "1000".into()),
            ("fetch_extra_origin".into(), feeds.origin()),
        ],
        ..SpinOptions::default()
    }
}

fn ingest(spin: &Spin, query: &str) -> Value {
    let response = spin.send(&Request::new("POST", &format!("{ROUTE}{query}")));
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

fn int(pg: &Postgres, sql: &str) -> i64 {
    pg.psql(sql)
        .parse()
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The account that follows the sources these checks add (only followed sources are
/// claimed); created on first use.
const FOLLOWER: &str = "ingest.follower@example.com";

/// `INSERT ... SELECT` of an active subscription of [`FOLLOWER`] to each id of the CTE `s`.
fn followed_by_the_follower() -> String {
    format!(
        "f AS (INSERT INTO user_subscriptions (user_id, source_id) \
         SELECT u.id, s.id FROM s, users AS u WHERE u.email = '{FOLLOWER}')"
    )
}

fn ensure_follower(pg: &Postgres) {
    pg.psql(&format!(
        "INSERT INTO users (email, name) VALUES ('{FOLLOWER}', 'Follower') ON CONFLICT DO NOTHING"
    ));
}

/// A source the follower follows.
fn add_source(pg: &Postgres, kind: &str, identifier: &str, url: &str) -> i64 {
    ensure_follower(pg);
    int(
        pg,
        &format!(
            "WITH s AS (INSERT INTO content_sources (kind, identifier, feed_url) \
             VALUES ('{kind}', '{identifier}', '{url}') RETURNING id), {} \
             SELECT id FROM s",
            followed_by_the_follower()
        ),
    )
}

fn n(body: &Value, key: &str) -> u64 {
    body[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} in {body}"))
}

/// The fixture sources, by name: (kind, identifier, path).
const SOURCES: &[(&str, &str, &str, &str)] = &[
    (
        "youtube",
        "youtube_channel",
        "UCkEeMuFiXtUrEcHaNnEl001",
        "/youtube.xml",
    ),
    ("reddit", "subreddit", "rust", "/subreddit.xml"),
    ("rss", "blog", "rss", "/blog_rss.xml"),
    ("atom", "blog", "atom", "/blog_atom.xml"),
    ("broken", "blog", "broken", "/broken.xml"),
    ("oversized", "blog", "oversized", "/oversized.xml"),
    ("slow", "blog", "slow", "/slow.xml"),
    ("moved", "blog", "moved", "/moved"),
];

pub fn checks(spin: &Spin, pg: &Postgres, feeds: &FeedServer, checks: &mut Checks) {
    checks.run("ingest: the operator's token, POST only", || {
        let no_token = spin.send(&Request::new("POST", ROUTE).authorization(None));
        assert_eq!(no_token.status, 401);
        let wrong = spin.send(
            &Request::new("POST", ROUTE).authorization(Some("Bearer wrong-token-0123456789")),
        );
        assert_eq!(wrong.status, 401);
        assert_eq!(spin.send(&Request::get(ROUTE)).status, 405);
        assert_eq!(spin.send(&Request::new("POST", "/internal/x")).status, 404);
        let nothing = ingest(spin, "");
        assert_eq!(n(&nothing, "claimed"), 0, "{nothing}");
        assert_eq!(feeds.total(), 0);
    });

    let mut ids = std::collections::BTreeMap::new();
    for (name, kind, identifier, path) in SOURCES {
        ids.insert(*name, add_source(pg, kind, identifier, &feeds.url(path)));
    }
    let items = |name: &str| {
        int(
            pg,
            &format!(
                "SELECT count(*) FROM content_items WHERE source_id = {}",
                ids[name]
            ),
        )
    };

    checks.run(
        "ingest: two concurrent rounds fetch each source once; every kind ingested",
        || {
            let answers = all_at_once(
                spin.port,
                vec![Request::new("POST", ROUTE), Request::new("POST", ROUTE)],
            );
            let bodies: Vec<Value> = answers
                .iter()
                .map(|r| {
                    assert_eq!(r.status, 200, "{}", r.text());
                    r.json()
                })
                .collect();
            let sum = |key: &str| bodies.iter().map(|b| n(b, key)).sum::<u64>();
            assert_eq!(sum("claimed"), 8, "{bodies:?}");
            assert_eq!(sum("fetched"), 5, "{bodies:?}");
            assert_eq!(sum("failed"), 3, "{bodies:?}");
            assert_eq!(sum("items_added"), 5 + 4 + 3 + 2 + 2, "{bodies:?}");
            let expected: std::collections::BTreeMap<String, usize> = [
                ("/youtube.xml", 1),
                ("/subreddit.xml", 1),
                ("/blog_rss.xml", 1),
                // The atom source, and the redirects' target.
                ("/blog_atom.xml", 2),
                ("/broken.xml", 1),
                ("/oversized.xml", 1),
                ("/slow.xml", 1),
                ("/moved", 1),
                ("/moved-again", 1),
            ]
            .into_iter()
            .map(|(p, c)| (p.to_owned(), c))
            .collect();
            assert_eq!(feeds.counts(), expected);
            for (name, count) in [
                ("youtube", 5),
                ("reddit", 4),
                ("rss", 3),
                ("atom", 2),
                ("moved", 2),
            ] {
                assert_eq!(items(name), count, "{name}");
            }
        },
    );

    checks.run(
        "ingest: the failing sources back off, the others wait for their interval",
        || {
            for (name, status) in [("broken", 200), ("oversized", 0), ("slow", 0)] {
                let row = pg.psql(&format!(
                    "SELECT consecutive_failures, last_status, \
                     next_fetch_at > now() + interval '9 minutes' \
                     FROM content_sources WHERE id = {}",
                    ids[name]
                ));
                assert_eq!(row, format!("1|{status}|t"), "{name}");
            }
            let healthy = pg.psql(
                "SELECT count(*) FROM content_sources WHERE consecutive_failures = 0 \
                 AND last_status = 200 AND next_fetch_at > now() + interval '29 minutes'",
            );
            assert_eq!(healthy, "5");
            let titled = pg.psql(&format!(
                "SELECT title FROM content_sources WHERE id = {}",
                ids["youtube"]
            ));
            assert_eq!(titled, "KeeMU Fixture Channel");
            // Not due: a round now claims nothing and sends nothing.
            let before = feeds.total();
            assert_eq!(n(&ingest(spin, ""), "claimed"), 0);
            assert_eq!(feeds.total(), before);
        },
    );

    checks.run(
        "ingest: a second ingest adds nothing; a 304 writes no item",
        || {
            let count = int(pg, "SELECT count(*) FROM content_items");
            let versions = pg.psql("SELECT sum(xmin::text::bigint) FROM content_items");
            pg.psql("UPDATE content_sources SET next_fetch_at = now()");
            let before = feeds.counts();
            let body = ingest(spin, "");
            assert_eq!(n(&body, "claimed"), 8, "{body}");
            // YouTube and the Atom blog (ETag), the RSS blog (Last-Modified), and the
            // moved source (ETag of the redirects' target) answer 304.
            assert_eq!(n(&body, "not_modified"), 4, "{body}");
            // The subreddit sends no validator: fetched and parsed again, nothing new.
            assert_eq!(n(&body, "fetched"), 1, "{body}");
            assert_eq!(n(&body, "failed"), 3, "{body}");
            assert_eq!(n(&body, "items_added"), 0, "{body}");
            assert_eq!(int(pg, "SELECT count(*) FROM content_items"), count);
            assert_eq!(
                pg.psql("SELECT sum(xmin::text::bigint) FROM content_items"),
                versions,
                "no item row was written"
            );
            assert_eq!(
                feeds.count("/youtube.xml"),
                before.get("/youtube.xml").copied().unwrap_or(0) + 1
            );
            let statuses = pg.psql(&format!(
                "SELECT last_status FROM content_sources WHERE id IN ({}, {}, {}) ORDER BY id",
                ids["youtube"], ids["rss"], ids["atom"]
            ));
            assert_eq!(statuses, "304\n304\n304");
            let broken = pg.psql(&format!(
                "SELECT consecutive_failures FROM content_sources WHERE id = {}",
                ids["broken"]
            ));
            assert_eq!(broken, "2");
        },
    );
}

/// Items per second under Spin: `sources` generated feeds of [`BENCH_ITEMS`] items,
/// ingested by `rounds` concurrent calls of `?limit=sources/rounds`.
pub fn throughput(spin: &Spin, pg: &Postgres, feeds: &FeedServer, sources: usize, rounds: usize) {
    pg.psql("UPDATE content_sources SET next_fetch_at = now() + interval '1 day'");
    let prefix = format!("b{sources}x{rounds}-");
    let values: Vec<String> = (0..sources)
        .map(|i| {
            let url = feeds.url(&format!("/bench/{prefix}{i}.xml"));
            format!("('blog', '{url}', '{url}')")
        })
        .collect();
    ensure_follower(pg);
    pg.psql(&format!(
        "WITH s AS (INSERT INTO content_sources (kind, identifier, feed_url) VALUES {} \
         RETURNING id), {} SELECT count(*) FROM s",
        values.join(", "),
        followed_by_the_follower()
    ));
    let items_before = int(pg, "SELECT count(*) FROM content_items");
    let limit = sources.div_ceil(rounds);
    let requests = (0..rounds)
        .map(|_| Request::new("POST", &format!("{ROUTE}?limit={limit}")))
        .collect();
    let started = Instant::now();
    let answers = all_at_once(spin.port, requests);
    let wall = started.elapsed();
    let mut added = 0;
    let mut server_ms = 0;
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.text());
        let body = answer.json();
        assert_eq!(n(&body, "failed"), 0, "{body}");
        added += n(&body, "items_added");
        server_ms = server_ms.max(n(&body, "duration_ms"));
    }
    let expected = (sources * BENCH_ITEMS) as u64;
    assert_eq!(added, expected);
    assert_eq!(
        int(pg, "SELECT count(*) FROM content_items") - items_before,
        expected as i64
    );
    let per_second = added as f64 / wall.as_secs_f64();
    eprintln!(
        "e2e: ingest throughput: {added} items from {sources} sources in {rounds} concurrent \
         round(s): {:.0} ms wall (slowest round {server_ms} ms in the component) = {per_second:.0} \
         items/s",
        wall.as_secs_f64() * 1000.0
    );
}

/// The private-network block, with the repository's runtime-config.toml (`block_networks =
/// ["private"]`, loopback included): nothing reaches the feed server, whether the URL check
/// lets loopback through (the host refuses) or not (the check refuses first).
pub fn blocked(pg: &Postgres, feeds: &FeedServer, checks: &mut Checks) {
    let production = repo().join("runtime-config.toml");
    let isolate = |path: &str| {
        pg.psql("UPDATE content_sources SET next_fetch_at = now() + interval '1 day'");
        add_source(pg, "blog", path, &feeds.url(path))
    };

    {
        let spin = Spin::start_with(pg, &options(feeds, true, Some(production.clone())));
        checks.run(
            "ingest blocked: runtime config block_networks refuses loopback in the host",
            || {
                let path = "/youtube.xml?blocked-by-host";
                isolate(path);
                let body = ingest(&spin, "");
                assert_eq!((n(&body, "claimed"), n(&body, "failed")), (1, 1), "{body}");
                assert_eq!(feeds.count(path), 0, "a request reached the feed server");
                let logs = spin.all_component_logs();
                assert!(
                    logs.lines().any(|l| l.contains("ingest_source_failed")
                        && l.contains("\"reason\":\"host_denied\"")),
                    "{logs}"
                );
            },
        );
    }
    {
        let spin = Spin::start_with(pg, &options(feeds, false, Some(production)));
        checks.run(
            "ingest blocked: the URL check refuses loopback and private literals first",
            || {
                let path = "/youtube.xml?blocked-by-check";
                isolate(path);
                add_source(pg, "blog", "ten", "http://10.0.0.1/feed.xml");
                add_source(
                    pg,
                    "blog",
                    "metadata",
                    "http://169.254.169.254/latest/meta-data/",
                );
                let before = feeds.total();
                let body = ingest(&spin, "");
                assert_eq!((n(&body, "claimed"), n(&body, "failed")), (3, 3), "{body}");
                assert_eq!(feeds.count(path), 0);
                assert_eq!(feeds.total(), before);
                let logs = spin.all_component_logs();
                let refused = logs
                    .lines()
                    .filter(|l| {
                        l.contains("ingest_source_failed")
                            && l.contains("\"reason\":\"url_refused\"")
                    })
                    .count();
                assert_eq!(refused, 3, "{logs}");
            },
        );
    }
}

/// `ingest_round_budget_ms` for [`hostile`]'s `spin up`.
const ROUND_BUDGET_MS: u64 = 20_000;
/// The parse budget (`IngestSettings::parse_budget`): a round lasts at most its budget plus
/// one parse budget.
const PARSE_BUDGET_MS: u64 = 2_000;

/// Issue 22 under Spin: a summary of a million `&`s (and one of almost 5 MiB) made a round
/// take 79 to 165 s, further rounds hang, and healthy sources in the same round fail. Here
/// the hostile feeds, a slow one and healthy ones in one round of a `spin up` with a 20 s
/// round budget: the round answers within its budget (plus the one parse that may straddle
/// it), the healthy sources are stored and recorded as fine, the slow one failed alone.
pub fn hostile(pg: &Postgres, feeds: &FeedServer, checks: &mut Checks) {
    let mut options = options(feeds, true, None);
    options
        .variables
        .push(("ingest_round_budget_ms".into(), ROUND_BUDGET_MS.to_string()));
    let spin = Spin::start_with(pg, &options);
    checks.run(
        "ingest hostile: a million ampersands do not wedge the round; the others are stored",
        || {
            pg.psql("UPDATE content_sources SET next_fetch_at = now() + interval '1 day'");
            let mut ids = std::collections::BTreeMap::new();
            for (name, path) in [
                ("amps1", "/ampersands-1mib.xml"),
                ("amps5", "/ampersands-5mib.xml"),
                ("rss", "/blog_rss.xml"),
                ("reddit", "/subreddit.xml"),
                ("atom", "/blog_atom.xml"),
                ("slow", "/slow.xml"),
            ] {
                // Identifiers of their own: sources beside the earlier checks' (same paths).
                ids.insert(
                    name,
                    add_source(pg, "blog", &format!("hostile-{name}"), &feeds.url(path)),
                );
            }
            let body = ingest(&spin, "");
            let duration = n(&body, "duration_ms");
            eprintln!("e2e: the hostile round: {body}");
            assert!(
                duration <= ROUND_BUDGET_MS + PARSE_BUDGET_MS,
                "the round took {duration} ms: {body}"
            );
            assert_eq!(n(&body, "claimed"), 6, "{body}");
            assert_eq!(n(&body, "deferred"), 0, "{body}");
            assert_eq!(n(&body, "failed"), 1, "only the slow one: {body}");
            assert_eq!(n(&body, "fetched"), 5, "{body}");
            for (name, count) in [
                ("rss", 3),
                ("reddit", 4),
                ("atom", 2),
                ("amps1", 1),
                ("amps5", 4),
            ] {
                let items = int(
                    pg,
                    &format!(
                        "SELECT count(*) FROM content_items WHERE source_id = {}",
                        ids[name]
                    ),
                );
                assert_eq!(items, count, "{name}");
                let state = pg.psql(&format!(
                    "SELECT consecutive_failures, last_status FROM content_sources WHERE id = {}",
                    ids[name]
                ));
                assert_eq!(state, "0|200", "{name}");
            }
            let summary = pg.psql(&format!(
                "SELECT summary FROM content_items WHERE source_id = {} AND external_id = 'amps'",
                ids["amps5"]
            ));
            assert_eq!(summary, format!("{}…", "&".repeat(1999)));
            let slow = pg.psql(&format!(
                "SELECT consecutive_failures, last_status FROM content_sources WHERE id = {}",
                ids["slow"]
            ));
            assert_eq!(slow, "1|0");
            // The component still answers at once.
            assert_eq!(spin.send(&Request::get(ROUTE)).status, 405);
            // The 5 MiB feed alone (fetched from loopback, parsed, stored): what one such
            // parse costs in the guest, for the budgets' arithmetic (printed, not asserted).
            pg.psql(&format!(
                "UPDATE content_sources SET next_fetch_at = now() WHERE id = {}",
                ids["amps5"]
            ));
            let alone = ingest(&spin, "");
            assert_eq!(
                (n(&alone, "claimed"), n(&alone, "fetched")),
                (1, 1),
                "{alone}"
            );
            eprintln!(
                "e2e: a round of the 5 MiB ampersand feed alone: {} ms",
                n(&alone, "duration_ms")
            );
        },
    );
}

/// Issue 22 under Spin: a round starts a source only while its budget fits in what is left
/// of the round's. `ingest_round_budget_ms=1` is raised to the smallest useful budget, one
/// statement and one source's (1 s + 1 s fetch + 2 s parse + 3 * 1 s statements = 7 s).
/// Nine slow sources, eight at a time: the first eight start and time out after 1 s (failed);
/// by then less than one source's budget (6 s) is left, so the ninth is deferred: its lease
/// given back (`sql::RELEASE`, an `int8[]` parameter), due again, no failure counted.
pub fn deferred(pg: &Postgres, feeds: &FeedServer, checks: &mut Checks) {
    let mut options = options(feeds, true, None);
    options
        .variables
        .push(("ingest_round_budget_ms".into(), "1".into()));
    let spin = Spin::start_with(pg, &options);
    checks.run(
        "ingest deferred: sources the round's budget cannot cover are left due, unfailed",
        || {
            pg.psql("UPDATE content_sources SET next_fetch_at = now() + interval '1 day'");
            let ids: Vec<i64> = (0..9)
                .map(|i| {
                    add_source(
                        pg,
                        "blog",
                        &format!("deferred-{i}"),
                        &feeds.url("/slow.xml"),
                    )
                })
                .collect();
            let body = ingest(&spin, "");
            eprintln!("e2e: the round with a spent budget: {body}");
            assert_eq!(
                (
                    n(&body, "claimed"),
                    n(&body, "failed"),
                    n(&body, "deferred")
                ),
                (9, 8, 1),
                "{body}"
            );
            let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
            let due = pg.psql(&format!(
                "SELECT count(*) FROM content_sources WHERE id IN ({list}) \
                 AND consecutive_failures = 0 AND last_status IS NULL AND next_fetch_at <= now()"
            ));
            assert_eq!(due, "1", "the deferred source is due again, unfailed");
            assert!(n(&body, "duration_ms") <= 7_000 + PARSE_BUDGET_MS, "{body}");
        },
    );
}
