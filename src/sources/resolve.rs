//! What people paste ([`SourceInput`]), resolved to the canonical [`Source`] to follow.
//!
//! - A YouTube channel id or a subreddit needs no network call.
//! - A YouTube page (`/@handle`, `/c/name`, `/user/name`) is fetched from YouTube's origin
//!   ([`ResolveSettings::youtube_origin`]) and read for the channel's id: the
//!   `<link rel="canonical" href=".../channel/UC...">`, else `<meta itemprop="channelId"
//!   content="UC...">` (or `identifier`), else `<meta property="og:url">`, else the page data's
//!   `"externalId":"UC..."` or `"channelId":"UC..."`.
//! - A web URL is fetched: a response that is a feed (an XML, RSS or Atom content type, or a
//!   body that starts with `<rss`, `<feed` or `<rdf:RDF`) is the blog's feed; an HTML page
//!   is read for `<link rel="alternate" type="application/rss+xml|application/atom+xml"
//!   href=...>` (relative `href` resolved against the page, or its `<base href>`), the first
//!   one is fetched and must be a feed. A blog's identifier is the feed's canonical URL
//!   after redirects, so a page and its feed pasted separately are one source. A blog's
//!   title and site URL come from that feed itself (its `title` and alternate `link`),
//!   never from the page: anyone can write a page that names someone else's feed, and the
//!   source is shared by everyone who follows it (issue 22). Ingestion refreshes both from
//!   the feed at every successful fetch.
//!
//! Every fetch goes through [`client::get`]: the URL and each redirect's target are
//! checked before they are sent (no private networks), at most [`MAX_REDIRECTS`] redirects,
//! [`TIMEOUT`] for all hops of one fetch, and bodies of at most [`MAX_PAGE_BYTES`]
//! ([`MAX_YOUTUBE_PAGE_BYTES`] for YouTube's larger pages).
//!
//! Every failure is a [`ResolveError`], which the API answers with 422 and a message on the
//! field `url`: from the user's side they all mean "no feed could be found at this address"
//! (our own outages, such as the database, are 503 elsewhere).

use std::time::Duration;

use url::Url;

use super::page::{HtmlPage, channel_id_in_data, is_feed};
use crate::domain::DomainError;
use crate::ingest::parse::parse_feed;
use crate::outbound::client::{self, FetchLimits, Landed};
use crate::outbound::{NetPolicy, Outbound, OutboundError, Refusal, policy};
use crate::sources::{Source, SourceInput, WebUrl};

/// All hops of one fetch together.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// Redirects followed per fetch.
pub const MAX_REDIRECTS: usize = 5;
/// The largest page or feed read while resolving.
pub const MAX_PAGE_BYTES: usize = 1024 * 1024;
/// The largest YouTube channel page read (they run to several hundred KB).
pub const MAX_YOUTUBE_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Where resolution fetches from, and what it may reach.
#[derive(Debug, Clone)]
pub struct ResolveSettings {
    pub policy: NetPolicy,
    /// YouTube's origin (`https://www.youtube.com`); a local fixture server in tests.
    pub youtube_origin: Url,
}

impl Default for ResolveSettings {
    fn default() -> Self {
        ResolveSettings {
            policy: NetPolicy::default(),
            youtube_origin: youtube_origin(),
        }
    }
}

/// `https://www.youtube.com/`.
#[must_use]
pub fn youtube_origin() -> Url {
    Url::parse("https://www.youtube.com/").unwrap_or_else(|_| unreachable!("a valid URL"))
}

/// Why no source could be found. Carries no URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveError {
    /// The input itself is invalid.
    Invalid(DomainError),
    /// The URL (or a redirect's target) may not be fetched.
    Refused(Refusal),
    /// No response in time, or none at all.
    Unreachable,
    /// The host refused to fetch it: an address in a blocked network (the runtime config's
    /// `block_networks`, e.g. a public name that resolves to a private address), or an origin
    /// outside `allowed_outbound_hosts` (a port other than 80/443). The host's two refusals
    /// arrive as one [`OutboundError::Denied`], so the message names both.
    NotAllowed,
    /// The page or feed is larger than allowed.
    TooLarge,
    /// Too many redirects, or a broken one.
    BadRedirects,
    /// The final response was not a success (the status is logged, not shown).
    Status(u16),
    /// A YouTube page without a channel id.
    NoChannelId,
    /// A web page without a feed link.
    NoFeed,
    /// The feed link (or the URL given as a feed) is not a feed.
    NotAFeed,
}

impl ResolveError {
    /// What the client is told on the field `url`.
    #[must_use]
    pub fn message(self) -> &'static str {
        match self {
            ResolveError::Invalid(error) => error.message(),
            ResolveError::Refused(refusal) => refusal.message(),
            ResolveError::Unreachable => "could not be reached (no answer in time)",
            ResolveError::NotAllowed => {
                "points to an address this service may not fetch (a private or reserved \
                 network, or a port other than 80 and 443)"
            }
            ResolveError::TooLarge => "is larger than this service reads",
            ResolveError::BadRedirects => "redirects too many times, or to an invalid address",
            ResolveError::Status(404 | 410) => "was not found (HTTP 404 or 410)",
            ResolveError::Status(_) => "answered with an error instead of a page",
            ResolveError::NoChannelId => "is a YouTube page without a channel",
            ResolveError::NoFeed => "has no RSS or Atom feed (no <link rel=\"alternate\"> to one)",
            ResolveError::NotAFeed => "does not lead to an RSS or Atom feed",
        }
    }

    /// A stable name for logs.
    #[must_use]
    pub fn kind(self) -> &'static str {
        match self {
            ResolveError::Invalid(_) => "invalid",
            ResolveError::Refused(refusal) => refusal.as_str(),
            ResolveError::Unreachable => "unreachable",
            ResolveError::NotAllowed => "not_allowed",
            ResolveError::TooLarge => "too_large",
            ResolveError::BadRedirects => "bad_redirects",
            ResolveError::Status(_) => "status",
            ResolveError::NoChannelId => "no_channel_id",
            ResolveError::NoFeed => "no_feed",
            ResolveError::NotAFeed => "not_a_feed",
        }
    }
}

impl From<OutboundError> for ResolveError {
    fn from(error: OutboundError) -> Self {
        match error {
            OutboundError::Refused(refusal) => ResolveError::Refused(refusal),
            OutboundError::TooManyRedirects | OutboundError::BadRedirect => {
                ResolveError::BadRedirects
            }
            OutboundError::TooLarge => ResolveError::TooLarge,
            OutboundError::Denied => ResolveError::NotAllowed,
            OutboundError::InvalidUrl => ResolveError::Refused(Refusal::InvalidUrl),
            OutboundError::Failed | OutboundError::Timeout => ResolveError::Unreachable,
            OutboundError::Status(status) => ResolveError::Status(status),
        }
    }
}

/// Checks, without any network call, that resolving `input` would not fetch a refused URL
/// (the first URL only; redirects are checked as they come).
///
/// # Errors
///
/// [`ResolveError::Refused`] with the reason.
pub fn precheck(input: &SourceInput, settings: &ResolveSettings) -> Result<(), ResolveError> {
    if let SourceInput::Web(url) = input {
        policy::check(url.url(), settings.policy).map_err(ResolveError::Refused)?;
    }
    Ok(())
}

/// Resolves `input` to its canonical source, fetching what it needs through `outbound`.
///
/// # Errors
///
/// A [`ResolveError`] saying why no source was found.
pub async fn resolve(
    input: &SourceInput,
    settings: &ResolveSettings,
    outbound: &impl Outbound,
) -> Result<Source, ResolveError> {
    match input {
        SourceInput::YoutubeChannel(id) => Ok(Source::youtube(id, None)),
        SourceInput::Subreddit(name) => Ok(Source::subreddit(name)),
        SourceInput::YoutubePage { path } => {
            let url = settings
                .youtube_origin
                .join(path)
                .map_err(|_| ResolveError::Refused(Refusal::InvalidUrl))?;
            let landed = get(outbound, settings, url, MAX_YOUTUBE_PAGE_BYTES).await?;
            let page = HtmlPage::scan(&landed.response.body);
            let id = page
                .channel_id()
                .or_else(|| channel_id_in_data(&landed.response.body))
                .ok_or(ResolveError::NoChannelId)?;
            Ok(Source::youtube(&id, page.youtube_title()))
        }
        SourceInput::Web(url) => {
            let landed = get(outbound, settings, url.url().clone(), MAX_PAGE_BYTES).await?;
            if is_feed(&landed.response) {
                return blog(landed);
            }
            let page = HtmlPage::scan(&landed.response.body);
            let base = page
                .base
                .as_deref()
                .and_then(|b| landed.url.join(b).ok())
                .unwrap_or_else(|| landed.url.clone());
            let href = page.feed_links.first().ok_or(ResolveError::NoFeed)?;
            let feed_url = base.join(href.trim()).map_err(|_| ResolveError::NotAFeed)?;
            let feed = get(outbound, settings, feed_url, MAX_PAGE_BYTES).await?;
            if !is_feed(&feed.response) {
                return Err(ResolveError::NotAFeed);
            }
            // The page only led to the feed: nothing of it (title, URL) is kept.
            blog(feed)
        }
    }
}

/// A blog source from its fetched feed: the feed's canonical URL, and the title and site
/// URL the feed gives itself (none if the body does not parse, which ingestion will then
/// record as a failure).
fn blog(feed: Landed) -> Result<Source, ResolveError> {
    let url = canonical(feed.url)?;
    let parsed = parse_feed(&feed.response.body, url.as_str()).ok();
    let site = parsed
        .as_ref()
        .and_then(|f| f.site_url.as_deref())
        .and_then(|s| Url::parse(s).ok())
        .and_then(|s| WebUrl::from_url(s).ok());
    let title = parsed.and_then(|f| f.title);
    Ok(Source::blog(&url, site.as_ref(), title))
}

fn canonical(url: Url) -> Result<WebUrl, ResolveError> {
    WebUrl::from_url(url).map_err(ResolveError::Invalid)
}

/// A guarded `GET` whose final answer must be a success.
async fn get(
    outbound: &impl Outbound,
    settings: &ResolveSettings,
    url: Url,
    max_bytes: usize,
) -> Result<Landed, ResolveError> {
    let limits = FetchLimits {
        timeout: TIMEOUT,
        max_bytes,
        max_redirects: MAX_REDIRECTS,
    };
    let headers = [(
        "accept",
        "text/html, application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"
            .to_owned(),
    )];
    let landed = client::get(outbound, settings.policy, url, &headers, limits).await?;
    let status = landed.response.status;
    if !(200..300).contains(&status) {
        return Err(ResolveError::Status(status));
    }
    Ok(landed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::{FetchRequest, Fetched};
    use crate::sources::SourceKind;
    use std::cell::RefCell;

    const ID: &str = "UCBa659QWEk1AI4Tg--mrJ2A";

    /// Serves pages by URL; any other URL is a test failure (404 would hide it).
    struct Pages {
        pages: Vec<(String, u16, &'static str, String)>,
        fetched: RefCell<Vec<String>>,
    }

    impl Pages {
        fn new() -> Pages {
            Pages {
                pages: Vec::new(),
                fetched: RefCell::new(Vec::new()),
            }
        }

        fn page(mut self, url: &str, status: u16, content_type: &'static str, body: &str) -> Self {
            self.pages
                .push((url.to_owned(), status, content_type, body.to_owned()));
            self
        }
    }

    impl Outbound for Pages {
        async fn fetch(&self, request: &FetchRequest<'_>) -> Result<Fetched, OutboundError> {
            self.fetched.borrow_mut().push(request.url.to_owned());
            let (_, status, content_type, body) = self
                .pages
                .iter()
                .find(|(url, ..)| url == request.url)
                .unwrap_or_else(|| panic!("unexpected fetch of {}", request.url));
            let mut headers = vec![("content-type".to_owned(), (*content_type).to_owned())];
            if (300..400).contains(status) {
                headers.push(("location".to_owned(), body.clone()));
            }
            if body.len() > request.max_bytes {
                return Err(OutboundError::TooLarge);
            }
            Ok(Fetched {
                status: *status,
                headers,
                body: body.clone().into_bytes(),
            })
        }
    }

    fn run<T>(future: impl Future<Output = T>) -> T {
        futures_util::FutureExt::now_or_never(future).expect("ready")
    }

    fn resolve_str(input: &str, pages: &Pages) -> Result<Source, ResolveError> {
        let input = SourceInput::parse(input).map_err(ResolveError::Invalid)?;
        run(resolve(&input, &ResolveSettings::default(), pages))
    }

    const RSS: &str = "<?xml version=\"1.0\"?>\n<!-- c --><rss version=\"2.0\"><channel><title>B</title></channel></rss>";
    const ATOM: &str =
        "\u{feff}<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>A</title></feed>";

    #[test]
    fn youtube_ids_and_subreddits_need_no_fetch() {
        let pages = Pages::new();
        let source = resolve_str(&format!("youtube.com/channel/{ID}"), &pages).unwrap();
        assert_eq!(source.kind, SourceKind::YoutubeChannel);
        assert_eq!(source.identifier, ID);
        let source = resolve_str("r/Rust", &pages).unwrap();
        assert_eq!(source.identifier, "rust");
        assert!(pages.fetched.borrow().is_empty());
    }

    #[test]
    fn handles_are_read_from_the_channel_page() {
        let canonical = format!(
            "<html><head><title>Some Channel - YouTube</title>\
             <link rel=\"canonical\" href=\"https://www.youtube.com/channel/{ID}\">\
             </head><body><script>var x = \"<link rel=canonical href=/channel/UCxxxxxxxxxxxxxxxxxxxxxx>\";</script></body></html>"
        );
        let pages = Pages::new().page(
            "https://www.youtube.com/@some",
            200,
            "text/html",
            &canonical,
        );
        let source = resolve_str("youtube.com/@some", &pages).unwrap();
        assert_eq!(source.identifier, ID);
        assert_eq!(source.title.as_deref(), Some("Some Channel"));

        let meta = format!(
            "<meta itemprop=\"channelId\" content=\"{ID}\"><meta property=\"og:title\" content=\"OG\">"
        );
        let pages = Pages::new().page("https://www.youtube.com/c/Name", 200, "text/html", &meta);
        let source = resolve_str("youtube.com/c/Name", &pages).unwrap();
        assert_eq!(
            (source.identifier.as_str(), source.title.as_deref()),
            (ID, Some("OG"))
        );

        let data = format!(
            "<script>var ytInitialData = {{\"metadata\":{{\"externalId\":\"{ID}\"}}}};</script>"
        );
        let pages = Pages::new().page("https://www.youtube.com/@data", 200, "text/html", &data);
        assert_eq!(
            resolve_str("youtube.com/@data", &pages).unwrap().identifier,
            ID
        );

        let pages = Pages::new().page(
            "https://www.youtube.com/@none",
            200,
            "text/html",
            "<p>nothing</p>",
        );
        assert_eq!(
            resolve_str("youtube.com/@none", &pages),
            Err(ResolveError::NoChannelId)
        );
        let pages = Pages::new().page("https://www.youtube.com/@gone", 404, "text/html", "");
        assert_eq!(
            resolve_str("youtube.com/@gone", &pages),
            Err(ResolveError::Status(404))
        );
    }

    #[test]
    fn a_feed_url_is_the_feed() {
        let pages = Pages::new()
            .page(
                "https://blog.example/feed",
                301,
                "text/plain",
                "https://blog.example/feed.xml",
            )
            .page("https://blog.example/feed.xml", 200, "text/xml", RSS);
        let source = resolve_str("HTTPS://Blog.Example/feed#x", &pages).unwrap();
        assert_eq!(source.kind, SourceKind::Blog);
        assert_eq!(source.identifier, "https://blog.example/feed.xml");
        assert_eq!(source.site_url, None);
        // By content type alone, and by root element with a generic type.
        let pages = Pages::new().page(
            "https://a.example/atom",
            200,
            "application/atom+xml",
            "junk",
        );
        assert!(resolve_str("https://a.example/atom", &pages).is_ok());
        let pages = Pages::new().page("https://a.example/x", 200, "application/octet-stream", ATOM);
        assert!(resolve_str("https://a.example/x", &pages).is_ok());
    }

    #[test]
    fn a_blog_page_leads_to_its_first_feed() {
        let html = "<!doctype html><html><head><title>\n  My  Blog </title>\
            <link rel=\"stylesheet\" href=\"/s.css\">\
            <link rel=\"alternate\" type=\"text/html\" href=\"/other\">\
            <LINK REL=\"Alternate\" TYPE=\"application/rss+xml\" HREF=\"feed.xml\">\
            <link rel=\"alternate\" type=\"application/atom+xml\" href=\"/atom.xml\">\
            </head></html>";
        let pages = Pages::new()
            .page(
                "https://blog.example/posts/",
                200,
                "text/html; charset=utf-8",
                html,
            )
            .page(
                "https://blog.example/posts/feed.xml",
                200,
                "application/rss+xml",
                RSS,
            );
        let source = resolve_str("blog.example/posts/", &pages).unwrap();
        assert_eq!(source.identifier, "https://blog.example/posts/feed.xml");
        // Title and site from the feed (its title "B", no link), not from the page.
        assert_eq!(source.site_url, None);
        assert_eq!(source.title.as_deref(), Some("B"));
        // The same blog pasted as its feed is the same source.
        let direct = resolve_str("https://blog.example/posts/feed.xml", &pages).unwrap();
        assert_eq!(direct.identifier, source.identifier);

        // <base href> decides where a relative href points.
        let html = "<base href=\"https://cdn.example/b/\"><link rel=alternate type=application/atom+xml href=a.xml>";
        let pages = Pages::new()
            .page("https://site.example/", 200, "text/html", html)
            .page("https://cdn.example/b/a.xml", 200, "text/xml", ATOM);
        assert_eq!(
            resolve_str("site.example", &pages).unwrap().identifier,
            "https://cdn.example/b/a.xml"
        );
    }

    /// Issue 22: a page anyone can write names someone else's feed; the source (shared by
    /// everyone who follows that feed) takes its title and site from the feed, not the page.
    #[test]
    fn a_page_naming_someone_elses_feed_lends_it_nothing() {
        let evil = "<title>Evil</title>\
            <link rel=alternate type=application/rss+xml href=https://victim.example/feed.xml>";
        let feed = "<rss version=\"2.0\"><channel><title>Victim blog</title>\
            <link>https://victim.example/</link></channel></rss>";
        let pages = Pages::new()
            .page("https://evil.example/", 200, "text/html", evil)
            .page(
                "https://victim.example/feed.xml",
                200,
                "application/rss+xml",
                feed,
            );
        let source = resolve_str("https://evil.example/", &pages).unwrap();
        assert_eq!(source.identifier, "https://victim.example/feed.xml");
        assert_eq!(source.title.as_deref(), Some("Victim blog"));
        assert_eq!(source.site_url.as_deref(), Some("https://victim.example/"));
        // The feed pasted directly gives the same.
        let direct = resolve_str("https://victim.example/feed.xml", &pages).unwrap();
        assert_eq!(direct, source);
    }

    #[test]
    fn pages_without_feeds_and_bad_feeds_are_refused() {
        let pages = Pages::new().page(
            "https://plain.example/",
            200,
            "text/html",
            "<title>x</title>",
        );
        assert_eq!(
            resolve_str("plain.example", &pages),
            Err(ResolveError::NoFeed)
        );
        let html = "<link rel=alternate type=application/rss+xml href=/feed>";
        let pages = Pages::new()
            .page("https://p.example/", 200, "text/html", html)
            .page(
                "https://p.example/feed",
                200,
                "text/html",
                "<html>not a feed</html>",
            );
        assert_eq!(
            resolve_str("p.example", &pages),
            Err(ResolveError::NotAFeed)
        );
        let pages = Pages::new().page("https://p.example/", 500, "text/html", "");
        assert_eq!(
            resolve_str("p.example", &pages),
            Err(ResolveError::Status(500))
        );
        let big = "x".repeat(MAX_PAGE_BYTES + 1);
        let pages = Pages::new().page("https://p.example/", 200, "text/html", &big);
        assert_eq!(
            resolve_str("p.example", &pages),
            Err(ResolveError::TooLarge)
        );
    }

    /// The host refuses blocked networks (a public name resolving to a private address) and
    /// origins outside `allowed_outbound_hosts` alike; the message used to blame the port
    /// alone ("only ports 80 and 443 are allowed"), also for a private address.
    #[test]
    fn a_host_refusal_says_the_address_is_not_fetched() {
        struct Denies;
        impl Outbound for Denies {
            async fn fetch(&self, _: &FetchRequest<'_>) -> Result<Fetched, OutboundError> {
                Err(OutboundError::Denied)
            }
        }
        let input = SourceInput::parse("https://rebinds-to-private.example/").unwrap();
        let error = run(resolve(&input, &ResolveSettings::default(), &Denies)).unwrap_err();
        assert_eq!(error, ResolveError::NotAllowed);
        assert!(error.message().contains("private"), "{}", error.message());
        assert!(
            !error.message().contains("only ports"),
            "{}",
            error.message()
        );
    }

    #[test]
    fn feed_links_to_private_networks_are_refused_unsent() {
        let html = "<link rel=alternate type=application/rss+xml href=http://169.254.169.254/feed>";
        let pages = Pages::new().page("https://evil.example/", 200, "text/html", html);
        assert_eq!(
            resolve_str("evil.example", &pages),
            Err(ResolveError::Refused(Refusal::PrivateAddress))
        );
        assert_eq!(pages.fetched.borrow().len(), 1);
        let input = SourceInput::parse("http://10.0.0.1/feed").unwrap();
        assert_eq!(
            precheck(&input, &ResolveSettings::default()),
            Err(ResolveError::Refused(Refusal::PrivateAddress))
        );
        let pages = Pages::new();
        assert_eq!(
            resolve_str("http://localhost:8080/feed", &pages),
            Err(ResolveError::Refused(Refusal::LocalName))
        );
        assert!(pages.fetched.borrow().is_empty());
    }
}
