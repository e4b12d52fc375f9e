//! A feed server on 127.0.0.1 for the ingestion tests: the recorded feeds of
//! tests/fixtures/feeds/ with `ETag`/`Last-Modified` and 304 answers to conditional requests,
//! plus a broken, an oversized, a slow and a redirecting endpoint, generated feeds for
//! the throughput measure, and hostile ones whose summary is a million `&`s or almost 5 MiB
//! of them (`/ampersands-1mib.xml`, `/ampersands-5mib.xml`: issue 22). Every request is counted by path, so the tests can tell that a
//! source was fetched exactly once, or that nothing was sent at all.
//!
//! For the subscribe-then-ingest flow ([`crate::flow`]) it also stands in for YouTube and
//! Reddit (`youtube_origin` / `reddit_origin` point at it): a channel page for `@keemu`,
//! the channel's feed at YouTube's feed path, a subreddit's feed at Reddit's, and a blog
//! page whose `<link rel="alternate">` names the RSS feed.
//!
//! Other tests add their own canned answers ([`FeedServer::add`], exact path with query,
//! taking precedence over the built-in routes) and read the paths requested in order
//! ([`FeedServer::requested`]), e.g. to show that a refused URL was never requested.
//!
//! One thread accepts; each connection gets a thread (the slow endpoint must not hold the
//! others up). Stopped on drop.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::feeds;
use crate::harness::repo;

/// How long `/slow.xml` waits before answering.
pub const SLOW: Duration = Duration::from_secs(4);
/// Items in each generated `/bench/N.xml` feed.
pub const BENCH_ITEMS: usize = 50;

/// One canned answer, for [`FeedServer::add`].
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn ok(content_type: &str, body: &str) -> Answer {
        Answer {
            status: 200,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn redirect(status: u16, location: &str) -> Answer {
        Answer {
            status,
            headers: vec![("Location".into(), location.into())],
            body: Vec::new(),
        }
    }
}

/// What the server records and the answers added to it.
#[derive(Default)]
struct State {
    counts: BTreeMap<String, usize>,
    requested: Vec<String>,
    answers: HashMap<String, Answer>,
}

pub struct FeedServer {
    pub port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FeedServer {
    pub fn start() -> FeedServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the feed server");
        let port = listener.local_addr().expect("address").port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let state = Arc::clone(&state);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = Arc::clone(&state);
                    std::thread::spawn(move || serve(stream, &state));
                }
            })
        };
        FeedServer {
            port,
            state,
            stop,
            thread: Some(thread),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers `path` (exact, query included) with `answer` from now on, before the
    /// built-in routes.
    pub fn add(&self, path: &str, answer: Answer) {
        self.lock().answers.insert(path.to_owned(), answer);
    }

    /// The paths requested so far (since [`FeedServer::forget_requests`]), in order.
    pub fn requested(&self) -> Vec<String> {
        self.lock().requested.clone()
    }

    /// Clears [`FeedServer::requested`] (not the counts).
    pub fn forget_requests(&self) {
        self.lock().requested.clear();
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `http://127.0.0.1:PORT`, for `allowed_outbound_hosts`.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Requests received for `path`.
    pub fn count(&self, path: &str) -> usize {
        self.lock().counts.get(path).copied().unwrap_or(0)
    }

    /// Requests received in all.
    pub fn total(&self) -> usize {
        self.lock().counts.values().sum()
    }

    /// Every path and its count.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        self.lock().counts.clone()
    }
}

impl Drop for FeedServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo().join("tests/fixtures/feeds").join(name))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// A generated RSS 2.0 feed of [`BENCH_ITEMS`] items, distinct per `n`.
pub fn bench_feed(n: &str) -> Vec<u8> {
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\"><channel>\
         <title>Bench feed {n}</title><link>https://bench.example/{n}/</link>\
         <description>generated</description>\n"
    );
    for i in 0..BENCH_ITEMS {
        xml.push_str(&format!(
            "<item><title>Bench item {n}-{i}: a title of ordinary length</title>\
             <link>https://bench.example/{n}/posts/{i}</link><guid>bench-{n}-{i}</guid>\
             <pubDate>Mon, 02 Jun 2025 {:02}:{:02}:00 +0000</pubDate>\
             <description>&lt;p&gt;Paragraph one of item {i}, with &lt;b&gt;some&lt;/b&gt; \
             markup &amp;amp; an entity.&lt;/p&gt;&lt;p&gt;And a second paragraph that \
             makes the summary a realistic length for a blog post teaser.&lt;/p&gt;\
             </description></item>\n",
            i / 60,
            i % 60
        ));
    }
    xml.push_str("</channel></rss>\n");
    xml.into_bytes()
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn reply(status: u16, body: Vec<u8>) -> Reply {
    Reply {
        status,
        headers: vec![("Content-Type".to_owned(), "application/xml".to_owned())],
        body,
    }
}

/// A recorded feed with validators: 304 when the request carries them.
fn validated(
    name: &str,
    etag: Option<&str>,
    last_modified: Option<&str>,
    request: &BTreeMap<String, String>,
) -> Reply {
    let mut headers = vec![("Content-Type".to_owned(), "application/atom+xml".to_owned())];
    let mut not_modified = false;
    if let Some(etag) = etag {
        headers.push(("ETag".to_owned(), etag.to_owned()));
        not_modified |= request.get("if-none-match").map(String::as_str) == Some(etag);
    }
    if let Some(lm) = last_modified {
        headers.push(("Last-Modified".to_owned(), lm.to_owned()));
        not_modified |= request.get("if-modified-since").map(String::as_str) == Some(lm);
    }
    if not_modified {
        return Reply {
            status: 304,
            headers,
            body: Vec::new(),
        };
    }
    Reply {
        status: 200,
        headers,
        body: fixture(name),
    }
}

/// The fixture channel (the id in tests/fixtures/feeds/youtube_channel.xml).
pub const CHANNEL: &str = "UCkEeMuFiXtUrEcHaNnEl001";

fn html(body: String) -> Reply {
    Reply {
        status: 200,
        headers: vec![(
            "Content-Type".to_owned(),
            "text/html; charset=utf-8".to_owned(),
        )],
        body: body.into_bytes(),
    }
}

fn route(path: &str, headers: &BTreeMap<String, String>) -> Reply {
    if path == format!("/feeds/videos.xml?channel_id={CHANNEL}") {
        return validated("youtube_channel.xml", Some("\"yt-1\""), None, headers);
    }
    match path {
        // YouTube's channel page for a handle: the channel id is in the canonical link.
        "/@keemu" => html(format!(
            "<!doctype html><html><head><title>KeeMU Fixture Channel - YouTube</title>\
             <link rel=\"canonical\" href=\"https://www.youtube.com/channel/{CHANNEL}\">\
             </head><body></body></html>"
        )),
        // Reddit's feed path (no validators, as /subreddit.xml).
        "/r/rust/.rss" => reply(200, fixture("subreddit.xml")),
        // A blog's page, its RSS feed named by a relative link.
        "/blog/" => html(
            "<!doctype html><html><head><title>Fixture blog</title>\
             <link rel=\"alternate\" type=\"application/rss+xml\" href=\"../blog_rss.xml\">\
             </head><body><p>Hello</p></body></html>"
                .to_owned(),
        ),
        "/youtube.xml" => validated("youtube_channel.xml", Some("\"yt-1\""), None, headers),
        // No validators: every fetch gets the whole feed again.
        "/subreddit.xml" => reply(200, fixture("subreddit.xml")),
        "/blog_rss.xml" => validated(
            "blog_rss.xml",
            None,
            Some("Mon, 02 Jun 2025 10:00:00 GMT"),
            headers,
        ),
        "/blog_atom.xml" => validated("blog_atom.xml", Some("W/\"atom-1\""), None, headers),
        "/broken.xml" => reply(200, fixture("broken.xml")),
        // Within the 1 MiB a subscription reads, and within the 5 MiB ingestion reads.
        "/ampersands-1mib.xml" => reply(200, feeds::ampersand_feed(1_000_000, 0).into_bytes()),
        "/ampersands-5mib.xml" => reply(
            200,
            feeds::ampersand_feed(5 * 1024 * 1024 - 4096, 3).into_bytes(),
        ),
        // Over the 5 MiB cap.
        "/oversized.xml" => reply(200, vec![b' '; 6 * 1024 * 1024]),
        "/slow.xml" => {
            std::thread::sleep(SLOW);
            reply(200, fixture("blog_rss.xml"))
        }
        // Two hops: a relative Location, then an absolute one.
        "/moved" => Reply {
            status: 301,
            headers: vec![("Location".to_owned(), "/moved-again".to_owned())],
            body: Vec::new(),
        },
        "/moved-again" => Reply {
            status: 308,
            headers: vec![("Location".to_owned(), "/blog_atom.xml".to_owned())],
            body: Vec::new(),
        },
        path => match path
            .strip_prefix("/bench/")
            .and_then(|p| p.strip_suffix(".xml"))
        {
            Some(n) => reply(200, bench_feed(n)),
            None => reply(404, b"not found".to_vec()),
        },
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut headers = BTreeMap::new();
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => break,
            Ok(_) if header.trim().is_empty() => break,
            Ok(_) => {
                if let Some((name, value)) = header.split_once(':') {
                    headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
                }
            }
        }
    }
    let added = {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        *state.counts.entry(path.clone()).or_default() += 1;
        state.requested.push(path.clone());
        state.answers.get(&path).cloned()
    };
    let reply = match added {
        Some(answer) => Reply {
            status: answer.status,
            headers: answer.headers,
            body: answer.body,
        },
        None => route(&path, &headers),
    };
    let mut head = format!("HTTP/1.1 {} X\r\n", reply.status);
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        reply.body.len()
    ));
    let mut stream = &stream;
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&reply.body);
    let _ = stream.flush();
}
