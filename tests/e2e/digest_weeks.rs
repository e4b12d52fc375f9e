//! Issue 19's "Done when" under a real `spin up`: three readers with different frequencies,
//! lengths and time zones follow overlapping sources served by the fixture feed server;
//! ingestion runs; `POST /internal/digests` walked through four weeks of `as_of` instants
//! (Paris springs forward on 2026-03-29, Sydney falls back on 2026-04-05) builds exactly the
//! expected digests; two rounds at once build each period once; `POST
//! /internal/deliveries` sends one message per built digest of the readers with e-mail on to
//! the fixture mail API, none to the reader with e-mail off.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use serde_json::Value;

use crate::checks::Checks;
use crate::client::Request;
use crate::feed_server::{Answer, FeedServer};
use crate::harness::{Postgres, Spin, SpinOptions};
use crate::mail_server::{self, MailServer};

/// The first and last instants of the walk.
const WALK_FROM: &str = "2026-03-16T00:00:00Z";
const WALK_DAYS: i64 = 28;
/// Hours between two rounds of the walk.
const STEP_HOURS: i64 = 6;

/// `spin up` fetching feeds from `feeds` and sending mail to `mail`.
pub fn options(feeds: &FeedServer, mail: &MailServer) -> SpinOptions {
    SpinOptions {
        runtime_config: None,
        variables: vec![
            ("outbound_allow_loopback".into(), "true".into()),
            ("fetch_extra_origin".into(), feeds.origin()),
            ("ingest_fetch_timeout_ms".into(), "2000".into()),
            ("mail_api_url".into(), mail.url()),
            ("mail_api_origin".into(), mail.origin()),
            ("mail_api_token".into(), mail_server::TOKEN.into()),
            ("mail_from".into(), "KeeMU <digests@keemu.example>".into()),
        ],
        ..SpinOptions::default()
    }
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("instant")
        .with_timezone(&Utc)
}

/// An RSS feed of `items`: (guid, title, url, published).
fn rss(title: &str, items: &[(String, String, String, DateTime<Utc>)]) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>{title}</title>\
         <link>https://{title}.example/</link><description>d</description>"
    );
    for (guid, title, url, at) in items {
        out.push_str(&format!(
            "<item><guid>{guid}</guid><title>{title}</title><link>{url}</link>\
             <description>About {title}. A second sentence.</description>\
             <pubDate>{}</pubDate></item>",
            at.to_rfc2822()
        ));
    }
    out.push_str("</channel></rss>");
    out
}

/// Three feeds from 2026-03-01 to 2026-04-13: `prolific` every 3 hours, `quiet` every other
/// day at 12:00 UTC, `shared` daily at 09:00 UTC (every fourth one under the URL of
/// `prolific`'s item of the same instant).
fn serve_feeds(feeds: &FeedServer) {
    let start = utc("2026-03-01T00:00:00Z");
    let end = utc("2026-04-13T00:00:00Z");
    let (mut prolific, mut quiet, mut shared) = (Vec::new(), Vec::new(), Vec::new());
    let mut at = start;
    while at < end {
        let n = (at - start).num_hours();
        prolific.push((
            format!("p{n}"),
            format!("Prolific {n}"),
            format!("https://prolific.example/{n}"),
            at,
        ));
        at += Duration::hours(3);
    }
    for day in 0..43 {
        let noon = start + Duration::days(day) + Duration::hours(12);
        if day % 2 == 0 {
            quiet.push((
                format!("q{day}"),
                format!("Quiet {day}"),
                format!("https://quiet.example/{day}"),
                noon,
            ));
        }
        let nine = start + Duration::days(day) + Duration::hours(9);
        let url = if day % 4 == 0 {
            format!("https://prolific.example/{}", (nine - start).num_hours())
        } else {
            format!("https://shared.example/{day}")
        };
        shared.push((format!("s{day}"), format!("Shared {day}"), url, nine));
    }
    for (path, title, items) in [
        ("/dw/prolific.xml", "prolific", prolific),
        ("/dw/quiet.xml", "quiet", quiet),
        ("/dw/shared.xml", "shared", shared),
    ] {
        feeds.add(path, Answer::ok("application/rss+xml", &rss(title, &items)));
    }
}

/// The readers: (email, zone, frequency, length, email on, feeds followed (paused ones with
/// a `-`)).
type Reader = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
);

const READERS: [Reader; 3] = [
    (
        "paris@example.org",
        "Europe/Paris",
        "daily",
        "concise",
        true,
        &["prolific", "quiet", "shared"],
    ),
    (
        "sydney@example.org",
        "Australia/Sydney",
        "every_3_days",
        "standard",
        false,
        &["quiet", "shared"],
    ),
    (
        "newyork@example.org",
        "America/New_York",
        "weekly",
        "detailed",
        true,
        &["prolific", "shared", "-quiet"],
    ),
];

fn setup(pg: &Postgres, feeds: &FeedServer) {
    for name in ["prolific", "quiet", "shared"] {
        pg.psql(&format!(
            "INSERT INTO content_sources (kind, identifier, feed_url) VALUES \
             ('blog', 'https://{name}.example/', '{}')",
            feeds.url(&format!("/dw/{name}.xml"))
        ));
    }
    for (email, zone, frequency, length, mail, follows) in READERS {
        pg.psql(&format!(
            "INSERT INTO users (email, name, timezone, email_verified_at) \
             VALUES ('{email}', 'Reader', '{zone}', now()); \
             INSERT INTO user_preferences (user_id, update_frequency, summary_length, \
               email_notifications_enabled) \
             SELECT id, '{frequency}', '{length}', {mail} FROM users WHERE email = '{email}'"
        ));
        for follow in follows {
            let (name, active) = match follow.strip_prefix('-') {
                Some(name) => (name, false),
                None => (*follow, true),
            };
            pg.psql(&format!(
                "INSERT INTO user_subscriptions (user_id, source_id, is_active, created_at) \
                 SELECT u.id, s.id, {active}, '2026-03-01T00:00:00Z' FROM users u, \
                 content_sources s WHERE u.email = '{email}' \
                 AND s.identifier = 'https://{name}.example/'"
            ));
        }
    }
}

fn post(spin: &Spin, path: &str) -> Value {
    let response = spin.send(&Request::new("POST", path));
    assert_eq!(response.status, 200, "{path}: {}", response.text());
    response.json()
}

fn digests_round(spin: &Spin, as_of: DateTime<Utc>) -> Value {
    let as_of = as_of.to_rfc3339().replace('+', "%2B");
    post(spin, &format!("/internal/digests?as_of={as_of}"))
}

/// A user's digests: (period start, period end, status, item count), oldest first.
fn periods(pg: &Postgres, email: &str) -> Vec<(DateTime<Utc>, DateTime<Utc>, String, u32)> {
    pg.psql(&format!(
        "SELECT to_char(d.period_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
         to_char(d.period_end AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
         d.status, d.item_count FROM digests d JOIN users u ON u.id = d.user_id \
         WHERE u.email = '{email}' ORDER BY d.period_end"
    ))
    .lines()
    .map(|line| {
        let f: Vec<&str> = line.split('|').collect();
        (
            utc(f[0]),
            utc(f[1]),
            f[2].to_owned(),
            f[3].parse().expect("count"),
        )
    })
    .collect()
}

/// The instants a schedule closes at between `from` and `to` (inclusive), by the calendar
/// of `zone`: 07:00 local on the days `closes` accepts.
fn closes(
    zone: chrono_tz::Tz,
    from: NaiveDate,
    to: NaiveDate,
    closes: impl Fn(NaiveDate) -> bool,
) -> Vec<DateTime<Utc>> {
    from.iter_days()
        .take_while(|d| *d <= to)
        .filter(|d| closes(*d))
        .map(|d| {
            zone.from_local_datetime(&d.and_time(NaiveTime::from_hms_opt(7, 0, 0).expect("07:00")))
                .single()
                .expect("07:00 exists every day")
                .with_timezone(&Utc)
        })
        .collect()
}

pub fn checks(
    spin: &Spin,
    pg: &Postgres,
    feeds: &FeedServer,
    mail: &MailServer,
    checks: &mut Checks,
) {
    serve_feeds(feeds);
    setup(pg, feeds);
    let walk_from = utc(WALK_FROM);
    let walk_to = walk_from + Duration::days(WALK_DAYS);

    checks.run("digest weeks: ingestion stores the three feeds", || {
        let body = post(spin, "/internal/ingest");
        assert_eq!(body["fetched"], 3, "{body}");
        assert_eq!(
            pg.psql("SELECT count(DISTINCT source_id) FROM content_items"),
            "3"
        );
    });

    checks.run(
        "digest weeks: four weeks of rounds (two of them at once) build each period once",
        || {
            let mut at = walk_from;
            let mut step = 0;
            while at <= walk_to {
                if step == 40 {
                    // Two rounds at once, at the same instant.
                    let (a, b) = std::thread::scope(|s| {
                        let a = s.spawn(|| digests_round(spin, at));
                        let b = s.spawn(|| digests_round(spin, at));
                        (a.join().expect("round a"), b.join().expect("round b"))
                    });
                    let made = |v: &Value| {
                        v["built"].as_u64().unwrap_or(0) + v["skipped"].as_u64().unwrap_or(0)
                    };
                    assert!(made(&a) + made(&b) >= 1, "a digest was due: {a} {b}");
                    assert_eq!(a["failed"], 0, "{a}");
                    assert_eq!(b["failed"], 0, "{b}");
                } else {
                    let body = digests_round(spin, at);
                    assert_eq!(body["failed"], 0, "{body}");
                }
                at += Duration::hours(STEP_HOURS);
                step += 1;
            }
            assert_eq!(
                pg.psql(
                    "SELECT count(*) FROM (SELECT user_id, period_end FROM digests \
                     GROUP BY 1, 2 HAVING count(*) > 1) d"
                ),
                "0"
            );
        },
    );

    checks.run(
        "digest weeks: Paris daily, 07:00 local every day through spring-forward",
        || {
            let got = periods(pg, "paris@example.org");
            let paris = chrono_tz::Europe::Paris;
            let expected = closes(
                paris,
                NaiveDate::from_ymd_opt(2026, 3, 15).expect("day"),
                NaiveDate::from_ymd_opt(2026, 4, 12).expect("day"),
                |_| true,
            );
            let ends: Vec<_> = got.iter().map(|p| p.1).collect();
            assert_eq!(ends, expected);
            for pair in got.windows(2) {
                assert_eq!(
                    pair[1].0, pair[0].1,
                    "each period starts where the last ended"
                );
            }
            // The day of the change is 23 hours long, the others 24.
            let short: Vec<_> = got
                .iter()
                .filter(|p| p.1 - p.0 != Duration::hours(24))
                .map(|p| (p.0, p.1 - p.0))
                .collect();
            assert_eq!(
                short,
                vec![(utc("2026-03-28T06:00:00Z"), Duration::hours(23))],
                "only the spring-forward day is short"
            );
        },
    );

    checks.run(
        "digest weeks: Sydney every three days, 07:00 local through fall-back",
        || {
            let got = periods(pg, "sydney@example.org");
            let sydney = chrono_tz::Australia::Sydney;
            let expected = closes(
                sydney,
                NaiveDate::from_ymd_opt(2026, 3, 14).expect("day"),
                NaiveDate::from_ymd_opt(2026, 4, 13).expect("day"),
                |d| (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() % 3 == 0,
            );
            let expected: Vec<_> = expected
                .into_iter()
                .filter(|end| *end >= walk_from - Duration::days(3) && *end <= walk_to)
                .collect();
            let ends: Vec<_> = got.iter().map(|p| p.1).collect();
            assert_eq!(ends, expected);
            let long: Vec<_> = got
                .windows(2)
                .filter(|w| w[1].1 - w[1].0 != Duration::hours(72))
                .map(|w| w[1].1 - w[1].0)
                .collect();
            assert_eq!(
                long,
                vec![Duration::hours(73)],
                "only the fall-back period is longer"
            );
        },
    );

    checks.run("digest weeks: New York weekly, Mondays 07:00 local", || {
        let got = periods(pg, "newyork@example.org");
        let ends: Vec<_> = got.iter().map(|p| p.1).collect();
        let expected: Vec<_> = ["03-09", "03-16", "03-23", "03-30", "04-06", "04-13"]
            .iter()
            .map(|d| utc(&format!("2026-{d}T11:00:00Z")))
            .filter(|end| *end <= walk_to)
            .collect();
        assert_eq!(ends, expected);
        // A first digest covers one week back: 07:00 EST, before the change of 2026-03-08.
        assert_eq!(got[0].0, utc("2026-03-02T12:00:00Z"));
    });

    checks.run(
        "digest weeks: each digest holds its period's items, fairly, each once, within its length",
        || {
            for (email, _, _, length, _, _) in READERS {
                let budget = match length {
                    "concise" => 5,
                    "standard" => 12,
                    _ => 30,
                };
                for (start, end, status, count) in periods(pg, email) {
                    let range = format!(
                        "ci.published_at > '{}' AND ci.published_at <= '{}'",
                        start.to_rfc3339(),
                        end.to_rfc3339()
                    );
                    let available: u32 = pg
                        .psql(&format!(
                            "SELECT count(DISTINCT ci.url) FROM content_items ci \
                             JOIN user_subscriptions us ON us.source_id = ci.source_id \
                             AND us.is_active JOIN users u ON u.id = us.user_id \
                             WHERE u.email = '{email}' AND {range}"
                        ))
                        .parse()
                        .expect("count");
                    assert_eq!(count, available.min(budget), "{email} {end}");
                    assert_eq!(status == "skipped", count == 0, "{email} {end} {status}");
                    let digest = format!(
                        "SELECT d.id FROM digests d JOIN users u ON u.id = d.user_id \
                         WHERE u.email = '{email}' AND d.period_end = '{}'",
                        end.to_rfc3339()
                    );
                    // In the period, from followed sources only, one URL once.
                    assert_eq!(
                        pg.psql(&format!(
                            "SELECT count(*) FILTER (WHERE NOT ({range})) || ' ' || \
                             (count(*) - count(DISTINCT ci.url)) || ' ' || \
                             count(*) FILTER (WHERE us.id IS NULL) \
                             FROM digest_items di JOIN content_items ci \
                             ON ci.id = di.content_item_id \
                             LEFT JOIN user_subscriptions us ON us.source_id = ci.source_id \
                             AND us.is_active AND us.user_id = \
                             (SELECT id FROM users WHERE email = '{email}') \
                             WHERE di.digest_id = ({digest})"
                        )),
                        "0 0 0",
                        "{email} {end}"
                    );
                    // Fair: the first positions come from every source that has items.
                    let sources: usize = pg
                        .psql(&format!(
                            "SELECT count(DISTINCT ci.source_id) FROM content_items ci \
                             JOIN user_subscriptions us ON us.source_id = ci.source_id \
                             AND us.is_active JOIN users u ON u.id = us.user_id \
                             WHERE u.email = '{email}' AND {range}"
                        ))
                        .parse()
                        .expect("count");
                    let first: usize = pg
                        .psql(&format!(
                            "SELECT count(DISTINCT ci.source_id) FROM digest_items di \
                             JOIN content_items ci ON ci.id = di.content_item_id \
                             WHERE di.digest_id = ({digest}) AND di.position <= {}",
                            sources.min(budget as usize)
                        ))
                        .parse()
                        .expect("count");
                    assert_eq!(first, sources.min(budget as usize), "{email} {end}");
                }
                // No item twice across a reader's digests.
                assert_eq!(
                    pg.psql(&format!(
                        "SELECT count(*) - count(DISTINCT di.content_item_id) FROM digest_items di \
                         JOIN digests d ON d.id = di.digest_id JOIN users u ON u.id = d.user_id \
                         WHERE u.email = '{email}'"
                    )),
                    "0",
                    "{email}"
                );
            }
        },
    );

    checks.run(
        "digest weeks: one message per built digest to readers with e-mail on, none to the other",
        || {
            let mut rounds = 0;
            loop {
                let body = post(spin, "/internal/deliveries");
                eprintln!("e2e: delivery round {rounds}: {body}");
                rounds += 1;
                assert_eq!(body["failed"], 0, "{body}");
                if body["claimed"] == 0 || rounds > 20 {
                    break;
                }
            }
            let expected: BTreeMap<String, u32> = pg
                .psql(
                    "SELECT u.email, count(*) FROM digests d JOIN users u ON u.id = d.user_id \
                     JOIN user_preferences p ON p.user_id = u.id \
                     WHERE d.status <> 'skipped' AND p.email_notifications_enabled \
                     GROUP BY 1 ORDER BY 1",
                )
                .lines()
                .map(|l| {
                    let (email, n) = l.split_once('|').expect("row");
                    (email.to_owned(), n.parse().expect("count"))
                })
                .collect();
            assert!(expected.len() == 2, "{expected:?}");
            let messages = mail.messages();
            let received = mail.received();
            assert_eq!(received.len(), messages.len(), "no request sent twice");
            let mut per_reader: BTreeMap<String, u32> = BTreeMap::new();
            let mut keys = BTreeSet::new();
            for message in &messages {
                let to = message.body["to"][0].as_str().unwrap_or_default().to_owned();
                *per_reader.entry(to).or_default() += 1;
                assert!(keys.insert(message.idempotency_key.clone()));
                for part in ["text", "html", "subject"] {
                    assert!(
                        message.body[part].as_str().is_some_and(|p| !p.is_empty()),
                        "{part} in {}",
                        message.body
                    );
                }
                assert_eq!(
                    message.body["headers"]["List-Unsubscribe-Post"],
                    "List-Unsubscribe=One-Click"
                );
                let prefix = format!("<http://127.0.0.1:{}/links/unsubscribe?token=", spin.port);
                assert!(
                    message.body["headers"]["List-Unsubscribe"]
                        .as_str()
                        .is_some_and(|h| h.starts_with(&prefix)),
                    "{}",
                    message.body["headers"]
                );
            }
            assert_eq!(per_reader, expected);
            assert_eq!(
                pg.psql(
                    "SELECT string_agg(DISTINCT d.status || ':' || COALESCE(d.last_error, '-'), ' ') \
                     FROM digests d JOIN users u ON u.id = d.user_id \
                     WHERE u.email = 'sydney@example.org' AND d.status <> 'skipped'"
                ),
                "built:email_off"
            );
            assert_eq!(
                pg.psql("SELECT count(*) FROM digests WHERE status = 'built' AND next_attempt_at IS NOT NULL"),
                "0",
                "nothing left to send"
            );
        },
    );

    checks.run(
        "digest weeks: one-click unsubscribe from the e-mail turns e-mail off; the next digest is built, not sent",
        || {
            assert_eq!(one_click(spin, mail, "newyork@example.org"), 200);
            assert_eq!(
                pg.psql(
                    "SELECT p.email_notifications_enabled FROM user_preferences p \
                     JOIN users u ON u.id = p.user_id WHERE u.email = 'newyork@example.org'"
                ),
                "f"
            );
            let before = mail.received().len();
            // New York's next Monday (and Paris's days up to it).
            digests_round(spin, utc("2026-04-13T12:00:00Z"));
            let body = post(spin, "/internal/deliveries");
            assert_eq!(body["not_wanted"], 1, "{body}");
            assert!(
                mail.received()[before..]
                    .iter()
                    .all(|m| m.body["to"][0] != "newyork@example.org"),
                "no mail to the reader who unsubscribed"
            );
            assert_eq!(
                pg.psql(
                    "SELECT d.status || ' ' || d.last_error FROM digests d \
                     JOIN users u ON u.id = d.user_id WHERE u.email = 'newyork@example.org' \
                     ORDER BY d.period_end DESC LIMIT 1"
                ),
                "built email_off"
            );
        },
    );

    checks.run("digest weeks: a failed send is retried later, not lost", || {
        // Paris's next digest (due at 05:00 UTC the next day; nobody else's is), its first
        // attempt answered 503.
        pg.psql(
            "INSERT INTO content_items (source_id, external_id, title, url, published_at) \
             SELECT id, 'late', 'A late post', 'https://quiet.example/late', \
             '2026-04-13T20:00:00Z' FROM content_sources WHERE identifier = 'https://quiet.example/'",
        );
        let built = digests_round(spin, utc("2026-04-14T06:00:00Z"));
        assert_eq!(built["built"], 1, "{built}");
        mail.fail_next(&[503]);
        let first = post(spin, "/internal/deliveries");
        assert_eq!((first["sent"].clone(), first["retrying"].clone()), (0.into(), 1.into()), "{first}");
        pg.psql("UPDATE digests SET next_attempt_at = now() WHERE next_attempt_at IS NOT NULL");
        let second = post(spin, "/internal/deliveries");
        assert_eq!(second["sent"], 1, "{second}");
        let received = mail.received();
        let last_two: Vec<_> = received.iter().rev().take(2).collect();
        assert_eq!(last_two[0].idempotency_key, last_two[1].idempotency_key);
        assert_eq!(last_two[0].body, last_two[1].body, "the same message again");
        assert_eq!(
            pg.psql("SELECT status || ' ' || delivery_attempts FROM digests ORDER BY id DESC LIMIT 1"),
            "sent 2"
        );
    });

    email_proof(spin, pg, mail, checks);
}

/// The whole e-mail address proof: a reader with an unverified address asks for one, the
/// delivery round mails it to the fixture mail API, the link from the message (POSTed, as
/// the page's button does) sets the address verified.
fn email_proof(spin: &Spin, pg: &Postgres, mail: &MailServer, checks: &mut Checks) {
    checks.run(
        "digest weeks: an e-mail address proof mailed by the round verifies the address",
        || {
            let email = "proof@example.org";
            let token = crate::sources::register(spin, email);
            let ask = Request::new("POST", "/api/v1/me/email/verification")
                .authorization(Some(&format!("Bearer {token}")));
            let asked = spin.send(&ask);
            assert_eq!(asked.status, 202, "{}", asked.text());
            assert_eq!(asked.json()["queued"], true, "{}", asked.text());
            let body = post(spin, "/internal/deliveries");
            assert_eq!(body["proofs_sent"], 1, "{body}");
            let message = mail
                .messages()
                .into_iter()
                .rev()
                .find(|m| m.body["to"][0] == email)
                .expect("the proof in the mail API");
            assert_eq!(
                message.idempotency_key.as_deref(),
                Some(format!("email-proof/{}", pg.psql("SELECT id FROM email_proofs")).as_str())
            );
            let text = message.body["text"].as_str().expect("text part");
            let path = text
                .split_whitespace()
                .find(|w| w.contains("/links/verify-email?token="))
                .and_then(|url| url.split_once("127.0.0.1:"))
                .and_then(|(_, rest)| rest.split_once('/'))
                .map(|(_, path)| format!("/{path}"))
                .expect("a link on the app");
            let verified = || {
                pg.psql(&format!(
                    "SELECT email_verified_at IS NOT NULL FROM users WHERE email = '{email}'"
                ))
            };
            let page = spin.send(&Request::new("GET", &path).authorization(None));
            assert_eq!(page.status, 200, "{}", page.text());
            assert_eq!(verified(), "f", "a GET changes nothing");
            let forged = path.replacen("token=", "token=1", 1);
            let refused = spin.send(&Request::new("POST", &forged).authorization(None));
            assert_eq!(refused.status, 404, "{}", refused.text());
            let done = spin.send(&Request::new("POST", &path).authorization(None));
            assert_eq!(done.status, 200, "{}", done.text());
            assert_eq!(verified(), "t");
            let again = spin.send(&ask);
            assert_eq!(
                (again.status, again.json()["verified"].clone()),
                (200, true.into())
            );
        },
    );
}

/// The one-click unsubscribe of the newest message to `email`: RFC 8058's POST to the URL
/// of its `List-Unsubscribe` header.
pub fn one_click(spin: &Spin, mail: &MailServer, email: &str) -> u16 {
    let message = mail
        .messages()
        .into_iter()
        .rev()
        .find(|m| m.body["to"][0] == email)
        .expect("a message to the reader");
    let header = message.body["headers"]["List-Unsubscribe"]
        .as_str()
        .expect("List-Unsubscribe")
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned();
    let path = header
        .split_once("127.0.0.1:")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(_, path)| format!("/{path}"))
        .expect("a URL on the app");
    let response = spin.send(&Request::new("POST", &path).authorization(None).body(
        Some("application/x-www-form-urlencoded"),
        "List-Unsubscribe=One-Click",
    ));
    response.status
}
