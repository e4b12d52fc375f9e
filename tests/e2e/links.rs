//! Signed links under a real `spin up` (issue 19), after the flow's digests: a reader
//! follows a feed whose items carry script payloads in titles, summaries and links; the
//! ingestion stores them, a digest round builds their digest, and its page
//! (`/links/digest?token=`) is loaded in a REAL headless browser (Debian's `chromium`):
//! the titles are visible, no payload ran (the document's title, the body's attributes and
//! the DOM are what the server sent) and the console shows no error. Then one-click
//! unsubscribe (a forged token first) and the Atom feed, through the host's statements.
//!
//! The browser is `$KEEMU_CHROMIUM`, else `chromium` or `chromium-browser` on PATH; without
//! one the check fails, saying how to install it (`.ci/run` does).

use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use keemu::auth::link::{LinkKey, Purpose};

use crate::checks::Checks;
use crate::client::Request;
use crate::expect;
use crate::feed_server::{Answer, FeedServer};
use crate::harness::{Postgres, Spin, link_key};
use crate::sources::{register, subscribe};

const READER: &str = "links.reader@example.com";

/// Items whose every field a stranger wrote: `<script>` in a title and a summary, an
/// attribute break-out with an `onerror` handler, `javascript:` and `data:` links. Each
/// payload, if it ran, would leave a mark (`pwned-...`) in the document's title or the body.
fn hostile_feed(origin: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel>
<title>&lt;b onmouseover="document.title='pwned-source'"&gt;Hostile blog&lt;/b&gt;</title>
<link>{origin}/hostile/</link>
<description>Payloads</description>
<item>
  <title>&lt;script&gt;document.title='pwned-title'&lt;/script&gt;Script in a title</title>
  <link>https://hostile.example/one</link>
  <guid>hostile-1</guid>
  <pubDate>Tue, 10 Jun 2025 10:00:00 GMT</pubDate>
  <description>&lt;script&gt;document.body.className='pwned-summary'&lt;/script&gt;A summary with a script.</description>
</item>
<item>
  <title>"&gt;&lt;img src=x onerror="document.body.className='pwned-img'"&gt;Broken out of an attribute</title>
  <link>javascript:document.title='pwned-link'</link>
  <guid>hostile-2</guid>
  <pubDate>Wed, 11 Jun 2025 10:00:00 GMT</pubDate>
  <description>&lt;img src=x onerror="document.title='pwned-excerpt'"&gt;An image that errors.</description>
</item>
<item>
  <title>A data: link</title>
  <link>data:text/html,&lt;script&gt;document.title='pwned-data'&lt;/script&gt;</link>
  <guid>hostile-3</guid>
  <pubDate>Thu, 12 Jun 2025 10:00:00 GMT</pubDate>
</item>
</channel></rss>
"#
    )
}

fn key() -> LinkKey {
    LinkKey::parse(&link_key()).expect("the e2e link key")
}

/// The browser: `$KEEMU_CHROMIUM`, else `chromium` or `chromium-browser` on PATH.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("KEEMU_CHROMIUM") {
        return PathBuf::from(path);
    }
    for name in ["chromium", "chromium-browser"] {
        if let Some(dir) = std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .find(|dir| dir.join(name).is_file())
        {
            return dir.join(name);
        }
    }
    panic!(
        "no chromium for the browser check: install Debian's `chromium` (`apt-get install -y \
         chromium`; .ci/run does) or set KEEMU_CHROMIUM to a Chromium binary"
    );
}

/// What a headless Chromium made of `url`: the DOM after load (`--dump-dom`) and what it
/// logged (console messages included), within 30 s.
fn browse(url: &str) -> (String, String) {
    let profile = std::env::temp_dir().join(format!("keemu-e2e-chromium-{}", std::process::id()));
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--virtual-time-budget=2000")
        .arg("--dump-dom")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start chromium");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("chromium").is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(30) {
            // Its own process group: the browser's helpers go with it.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&profile);
            panic!("chromium did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().expect("chromium output");
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&output.stdout).into_owned();
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success() && dom.contains("</html>"),
        "chromium failed ({}):\n{log}",
        output.status
    );
    (dom, log)
}

/// `text` as the DOM serialiser writes a text node (`&`, `<`, `>`, no-break space).
fn serialised(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\u{a0}', "&nbsp;")
}

pub fn checks(spin: &Spin, pg: &Postgres, feeds: &FeedServer, checks: &mut Checks) {
    let mut digest_id = 0i64;
    let mut user_id = 0i64;
    checks.run(
        "links: a hostile feed's items are ingested and built into a digest",
        || {
            feeds.add(
                "/hostile.xml",
                Answer::ok("application/rss+xml", &hostile_feed(&feeds.origin())),
            );
            let token = register(spin, READER);
            expect::json(&subscribe(spin, &token, &feeds.url("/hostile.xml")), 201);
            user_id = pg
                .psql(&format!("SELECT id FROM users WHERE email = '{READER}'"))
                .parse()
                .expect("user id");
            pg.psql(&format!(
                "UPDATE user_subscriptions SET created_at = '2025-01-01T00:00:00Z' \
                 WHERE user_id = {user_id}"
            ));
            let ingest = spin.send(&Request::new("POST", "/internal/ingest"));
            assert_eq!(ingest.status, 200, "{}", ingest.text());
            assert_eq!(
                pg.psql(&format!(
                    "SELECT count(*) FROM content_items ci JOIN user_subscriptions us \
                     ON us.source_id = ci.source_id WHERE us.user_id = {user_id}"
                )),
                "3",
                "{}",
                ingest.text()
            );
            let round = spin.send(&Request::new(
                "POST",
                "/internal/digests?as_of=2025-06-16T08%3A00%3A00Z",
            ));
            assert_eq!(round.status, 200, "{}", round.text());
            digest_id = pg
                .psql(&format!(
                    "SELECT id FROM digests WHERE user_id = {user_id} AND status <> 'skipped'"
                ))
                .parse()
                .unwrap_or_else(|e| panic!("one built digest: {e}: {}", round.text()));
            assert_eq!(
                pg.psql(&format!(
                    "SELECT count(*) FROM digest_items WHERE digest_id = {digest_id}"
                )),
                "3"
            );
        },
    );
    if digest_id == 0 {
        return;
    }
    let page_token = key().sign(
        Purpose::ViewDigest,
        digest_id,
        Some(Utc::now() + TimeDelta::days(1)),
    );
    let page_path = format!("/links/digest?token={page_token}");

    checks.run(
        "links: the digest page is HTML with a strict policy, and refuses a forged token",
        || {
            let response = spin.send(&Request::get(&page_path));
            assert_eq!(response.status, 200, "{}", response.text());
            assert_eq!(
                response.header("content-type"),
                Some("text/html; charset=utf-8")
            );
            let csp = response.header("content-security-policy").unwrap_or("");
            assert!(csp.starts_with("default-src 'none';"), "{csp}");
            assert!(!csp.contains("script-src"), "{csp}");
            assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
            assert_eq!(response.header("referrer-policy"), Some("no-referrer"));
            assert_eq!(response.header("cache-control"), Some("private, no-store"));
            let forged = LinkKey::parse(&base64_of([9u8; 32])).expect("key").sign(
                Purpose::ViewDigest,
                digest_id,
                None,
            );
            let refused = spin.send(&Request::get(&format!("/links/digest?token={forged}")));
            assert_eq!(refused.status, 404, "{}", refused.text());
            assert!(!refused.text().contains("Hostile"));
        },
    );

    checks.run(
        "links: headless Chromium shows the titles, runs no payload, logs no console error",
        || {
            let titles: Vec<String> = pg
                .psql(&format!(
                    "SELECT ci.title FROM digest_items di JOIN content_items ci \
                     ON ci.id = di.content_item_id WHERE di.digest_id = {digest_id} \
                     ORDER BY di.position"
                ))
                .lines()
                .map(str::to_owned)
                .collect();
            assert_eq!(titles.len(), 3, "{titles:?}");
            assert!(
                titles.iter().any(|t| t.contains("<script>")),
                "the ingestion kept a payload to defuse: {titles:?}"
            );
            let started = Instant::now();
            let (dom, log) = browse(&format!("http://127.0.0.1:{}{page_path}", spin.port));
            eprintln!("e2e: chromium took {:.1?}", started.elapsed());
            for title in &titles {
                assert!(
                    dom.contains(&serialised(title)),
                    "{title:?} is not visible in the DOM:\n{dom}"
                );
            }
            // Nothing ran: the document's title is the server's, the body has no class,
            // and the DOM has no element the payloads would have made.
            assert!(
                dom.contains(
                    "<title>Your weekly KeeMU digest: 3 new items, 9\u{2013}16 Jun 2025</title>"
                ),
                "{dom}"
            );
            assert!(!dom.contains("<title>pwned"), "{dom}");
            assert!(!dom.contains("<body class="), "{dom}");
            let lower = dom.to_ascii_lowercase();
            for element in ["<script", "<img", "<svg", "<iframe", "<b "] {
                assert!(!lower.contains(element), "{element} in the DOM:\n{dom}");
            }
            assert!(!lower.contains("href=\"javascript:"), "{dom}");
            assert!(!lower.contains("href=\"data:"), "{dom}");
            // The web link is a link; the others are text.
            assert!(
                dom.contains("href=\"https://hostile.example/one\""),
                "{dom}"
            );
            let console: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("CONSOLE") || l.contains("Refused to"))
                .collect();
            assert!(console.is_empty(), "console messages: {console:#?}");
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the browser check took {:.1?}",
                started.elapsed()
            );
        },
    );

    checks.run(
        "links: one-click unsubscribe: GET changes nothing, a forged POST neither, a POST does",
        || {
            let enabled = || {
                pg.psql(&format!(
                    "SELECT COALESCE((SELECT email_notifications_enabled::text FROM \
                     user_preferences WHERE user_id = {user_id}), 'none')"
                ))
            };
            let before = enabled();
            assert_eq!(before, "true");
            let token = key().sign(
                Purpose::Unsubscribe,
                user_id,
                Some(Utc::now() + TimeDelta::days(90)),
            );
            let path = format!("/links/unsubscribe?token={token}");
            let page = spin.send(&Request::get(&path));
            assert_eq!(page.status, 200, "{}", page.text());
            assert!(page.text().contains("<form method=\"post\">"));
            assert_eq!(enabled(), "true");
            let one_click = |path: &str| {
                spin.send(&Request::new("POST", path).body(
                    Some("application/x-www-form-urlencoded"),
                    "List-Unsubscribe=One-Click",
                ))
            };
            // Forged (another key), other purpose, expired: 404, nothing written.
            let forged = LinkKey::parse(&base64_of([9u8; 32])).expect("key").sign(
                Purpose::Unsubscribe,
                user_id,
                None,
            );
            let other = key().sign(Purpose::ViewDigest, user_id, None);
            let expired = key().sign(
                Purpose::Unsubscribe,
                user_id,
                Some(Utc::now() - TimeDelta::seconds(5)),
            );
            for bad in [forged, other, expired] {
                let r = one_click(&format!("/links/unsubscribe?token={bad}"));
                assert_eq!(r.status, 404, "{}", r.text());
            }
            assert_eq!(enabled(), "true");
            let done = one_click(&path);
            assert_eq!(done.status, 200, "{}", done.text());
            assert!(done.text().contains("You are unsubscribed"));
            assert_eq!(enabled(), "false");
        },
    );

    checks.run(
        "links: the Atom feed lists the digest with a link to its page",
        || {
            let token = key().sign(Purpose::DigestFeed, user_id, None);
            let response = spin.send(&Request::get(&format!("/links/digests.atom?token={token}")));
            assert_eq!(response.status, 200, "{}", response.text());
            assert_eq!(
                response.header("content-type"),
                Some("application/atom+xml; charset=utf-8")
            );
            let feed = response.text();
            assert_eq!(feed.matches("<entry>").count(), 1, "{feed}");
            assert!(
                feed.contains(&format!(":digest/{digest_id}</id>")),
                "{feed}"
            );
            assert!(
                feed.contains(&format!(
                    "href=\"http://127.0.0.1:{}/links/digest?token={digest_id}.",
                    spin.port
                )),
                "{feed}"
            );
            assert!(!feed.to_ascii_lowercase().contains("<script"), "{feed}");
        },
    );

    checks.run("links: no token or link key in the logs", || {
        let logs = spin.all_component_logs();
        for secret in [page_token.as_str(), "token=", &link_key()] {
            let line = logs.lines().find(|l| l.contains(secret));
            assert!(line.is_none(), "{secret:?} in a log line: {line:?}");
        }
    });
}

fn base64_of(bytes: [u8; 32]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
