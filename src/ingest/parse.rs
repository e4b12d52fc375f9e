//! RSS 2.0 and Atom (YouTube's and Reddit's feeds are Atom) into the rows ingestion stores,
//! with the `feed-rs` crate. Every value is bounded to its column's constraint here, and
//! cleaned of what PostgreSQL `text` refuses (`U+0000`), so a feed cannot make the store
//! statement fail; an item that is left without an id once cleaned is dropped alone.

use chrono::{DateTime, Utc};
use feed_rs::model::{Entry, Feed, Link, Text};
use url::Url;

use super::text::{html_to_text, plain, storable, truncated};

/// Longest item title kept (characters; the column's bound).
pub const MAX_TITLE_CHARS: usize = 500;
/// Longest summary kept (characters; the column's bound).
pub const MAX_SUMMARY_CHARS: usize = 2000;
/// Longest author kept (characters; the column's bound).
pub const MAX_AUTHOR_CHARS: usize = 200;
/// Longest source title kept (characters; the column's bound).
pub const MAX_SOURCE_TITLE_CHARS: usize = 300;
/// Longest URL or external id kept (characters; longer ones are dropped, not cut).
pub const MAX_URL_CHARS: usize = 2048;
/// Most items taken from one feed (feeds list the newest first).
pub const MAX_ITEMS: usize = 500;

/// A parsed feed: what the source row may learn, and its items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedFeed {
    pub title: Option<String>,
    pub site_url: Option<String>,
    pub items: Vec<FeedItem>,
}

/// One item, every field within its column's bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedItem {
    /// The entry's id (Atom `id`, RSS `guid`), else its link.
    pub external_id: String,
    /// Trimmed, whitespace collapsed, 1 to 500 characters; the link when the entry has no
    /// title.
    pub title: String,
    /// An absolute `http`/`https` link.
    pub url: Option<String>,
    pub author: Option<String>,
    /// `published`, else `updated`; `None`: the time it is stored.
    pub published_at: Option<DateTime<Utc>>,
    /// Plain text (HTML stripped), at most 2000 characters.
    pub summary: Option<String>,
}

/// Why a body is not a feed. Carries no part of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not RSS, Atom (or JSON Feed), or malformed.
    #[error("the body is not a valid RSS or Atom feed")]
    NotAFeed,
}

/// Parses `body`, fetched from `feed_url` (relative links are resolved against it).
pub fn parse_feed(body: &[u8], feed_url: &str) -> Result<ParsedFeed, ParseError> {
    let feed = match parser().parse(body) {
        Ok(feed) => feed,
        // feed-rs 3 refuses a whole feed over one empty Media RSS text element, which
        // YouTube sends for a video without a description: retry without those.
        Err(_) => match without_empty_media_text(body) {
            Some(cleaned) => parser()
                .parse(&cleaned[..])
                .map_err(|_| ParseError::NotAFeed)?,
            None => return Err(ParseError::NotAFeed),
        },
    };
    let base = Url::parse(feed_url).ok();
    Ok(convert(feed, base.as_ref()))
}

/// A parser for one document: feed-rs's parser keeps Media RSS state that a failed parse
/// leaves behind (a second `parse` on it then panics), so none is reused.
fn parser() -> feed_rs::parser::Parser {
    feed_rs::parser::Builder::new()
        // No made-up ids: an entry without an id falls back to its link, here, or is skipped.
        .id_generator(|_links, _title, _uri| String::new())
        .sanitize_content(false)
        .build()
}

/// Empty `media:description`/`media:title` elements, which feed-rs refuses.
const EMPTY_MEDIA_TEXT: &[&[u8]] = &[
    b"<media:description></media:description>",
    b"<media:description/>",
    b"<media:description />",
    b"<media:title></media:title>",
    b"<media:title/>",
    b"<media:title />",
];

/// `body` without [`EMPTY_MEDIA_TEXT`] elements, if it had any.
fn without_empty_media_text(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    let mut removed = false;
    while i < body.len() {
        if body[i] == b'<'
            && let Some(pattern) = EMPTY_MEDIA_TEXT.iter().find(|p| body[i..].starts_with(p))
        {
            i += pattern.len();
            removed = true;
            continue;
        }
        out.push(body[i]);
        i += 1;
    }
    removed.then_some(out)
}

fn convert(feed: Feed, base: Option<&Url>) -> ParsedFeed {
    let title = feed
        .title
        .as_ref()
        .map(|t| text(t, MAX_SOURCE_TITLE_CHARS))
        .filter(|t| !t.is_empty());
    let site_url = alternate_link(&feed.links, base);
    let mut seen = std::collections::HashSet::new();
    let items = feed
        .entries
        .iter()
        .filter_map(|entry| item(entry, base))
        .filter(|item| seen.insert(item.external_id.clone()))
        .take(MAX_ITEMS)
        .collect();
    ParsedFeed {
        title,
        site_url,
        items,
    }
}

fn item(entry: &Entry, base: Option<&Url>) -> Option<FeedItem> {
    let url = alternate_link(&entry.links, base);
    let id = storable(&entry.id);
    let id = id.trim();
    let external_id = if id.is_empty() {
        url.clone()?
    } else {
        id.to_owned()
    };
    if external_id.chars().nth(MAX_URL_CHARS).is_some() {
        return None;
    }
    let title = entry
        .title
        .as_ref()
        .map(|t| text(t, MAX_TITLE_CHARS))
        .filter(|t| !t.is_empty())
        .or_else(|| url.as_deref().map(|u| truncated(u, MAX_TITLE_CHARS)))?;
    let author = entry
        .authors
        .iter()
        .filter_map(|p| p.name.as_deref())
        .map(|name| plain(name, MAX_AUTHOR_CHARS))
        .find(|name| !name.is_empty());
    let summary = entry
        .summary
        .as_ref()
        .map(|t| text(t, MAX_SUMMARY_CHARS))
        .filter(|s| !s.is_empty())
        .or_else(|| {
            entry
                .content
                .as_ref()
                .and_then(|c| c.body.as_deref())
                .map(|body| html_to_text(body, MAX_SUMMARY_CHARS))
                .filter(|s| !s.is_empty())
        })
        .or_else(|| {
            // YouTube: the description is in <media:group><media:description>.
            entry
                .media
                .iter()
                .filter_map(|m| m.description.as_ref())
                .map(|t| text(t, MAX_SUMMARY_CHARS))
                .find(|s| !s.is_empty())
        });
    Some(FeedItem {
        external_id,
        title,
        url,
        author,
        published_at: entry.published.or(entry.updated),
        summary,
    })
}

/// A `Text` as plain text: HTML stripped when it is HTML.
fn text(value: &Text, max_chars: usize) -> String {
    if value.content_type.to_string().contains("html") {
        html_to_text(&value.content, max_chars)
    } else {
        plain(&value.content, max_chars)
    }
}

/// The first `alternate` (or unqualified) link that is an absolute http(s) URL, resolved
/// against `base`.
fn alternate_link(links: &[Link], base: Option<&Url>) -> Option<String> {
    links
        .iter()
        .filter(|l| matches!(l.rel.as_deref(), None | Some("alternate")))
        .filter_map(|l| {
            let href = l.href.trim();
            match base {
                Some(base) => base.join(href).ok(),
                None => Url::parse(href).ok(),
            }
        })
        .find(|u| matches!(u.scheme(), "http" | "https"))
        // A parsed URL percent-encodes NUL or refuses it; cleaned all the same.
        .map(|u| storable(u.as_str()).into_owned())
        .filter(|u| u.chars().nth(MAX_URL_CHARS).is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSS: &str = r#"<?xml version="1.0"?>
<rss version="2.0"><channel><title>A &amp; B blog</title><link>https://blog.example/</link>
<item><title>First</title><link>https://blog.example/1</link><guid>g1</guid>
<description>&lt;p&gt;Hello &lt;b&gt;there&lt;/b&gt;&lt;/p&gt;</description>
<pubDate>Tue, 03 Jun 2025 09:39:21 GMT</pubDate></item>
<item><link>/2</link><description>no title</description></item>
<item><title>no id, no link</title></item>
<item><title>First again</title><guid>g1</guid></item>
</channel></rss>"#;

    #[test]
    fn rss_items_with_fallbacks() {
        let feed = parse_feed(RSS.as_bytes(), "https://blog.example/feed.xml").unwrap();
        assert_eq!(feed.title.as_deref(), Some("A & B blog"));
        assert_eq!(feed.site_url.as_deref(), Some("https://blog.example/"));
        assert_eq!(feed.items.len(), 2, "{:?}", feed.items);
        let first = &feed.items[0];
        assert_eq!(first.external_id, "g1");
        assert_eq!(first.title, "First");
        assert_eq!(first.summary.as_deref(), Some("Hello there"));
        assert_eq!(
            first.published_at.map(|t| t.to_rfc3339()),
            Some("2025-06-03T09:39:21+00:00".to_owned())
        );
        let second = &feed.items[1];
        assert_eq!(second.external_id, "https://blog.example/2");
        assert_eq!(second.title, "https://blog.example/2");
        assert_eq!(second.published_at, None);
    }

    #[test]
    fn an_empty_media_description_does_not_lose_the_feed() {
        let xml = r#"<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/">
<title>c</title><entry><id>yt:video:a</id><title>A</title>
<media:group><media:title>A</media:title><media:description></media:description></media:group>
</entry><entry><id>yt:video:b</id><title>B</title>
<media:group><media:title>B</media:title><media:content url="https://www.youtube.com/v/b?version=3" type="application/x-shockwave-flash" width="640" height="390"/><media:thumbnail url="https://i1.ytimg.com/vi/b/hqdefault.jpg" width="480" height="360"/>
<media:description>About B</media:description></media:group></entry></feed>"#;
        let feed = parse_feed(xml.as_bytes(), "https://www.youtube.com/feeds/videos.xml").unwrap();
        assert_eq!(feed.items.len(), 2);
        assert_eq!(feed.items[0].summary, None);
        assert_eq!(feed.items[1].summary.as_deref(), Some("About B"));
    }

    #[test]
    fn the_recorded_feeds_parse() {
        let fixtures = [
            ("youtube_channel.xml", 5, "KeeMU Fixture Channel"),
            ("subreddit.xml", 4, "The Rust Programming Language"),
            ("blog_rss.xml", 3, "Fixture Engineering Blog"),
            ("blog_atom.xml", 2, "Fixture Atom Journal"),
        ];
        for (name, items, title) in fixtures {
            let path = format!("{}/tests/fixtures/feeds/{name}", env!("CARGO_MANIFEST_DIR"));
            let body = std::fs::read(&path).unwrap();
            let feed = parse_feed(&body, "https://fixture.example/feed").unwrap();
            assert_eq!(feed.items.len(), items, "{name}");
            assert_eq!(feed.title.as_deref(), Some(title), "{name}");
            assert!(feed.items.iter().all(|i| i.url.is_some()), "{name}");
        }
        let broken = std::fs::read(format!(
            "{}/tests/fixtures/feeds/broken.xml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        assert_eq!(
            parse_feed(&broken, "https://fixture.example/feed"),
            Err(ParseError::NotAFeed)
        );
    }

    /// A panic would trap the component (`panic = "abort"`): cut and damaged feeds must
    /// give an error or a feed, never a panic.
    #[test]
    fn damaged_feeds_never_panic() {
        for name in [
            "youtube_channel.xml",
            "subreddit.xml",
            "blog_rss.xml",
            "blog_atom.xml",
        ] {
            let path = format!("{}/tests/fixtures/feeds/{name}", env!("CARGO_MANIFEST_DIR"));
            let body = std::fs::read(&path).unwrap();
            for cut in (0..body.len()).step_by(61) {
                let _ = parse_feed(&body[..cut], "https://fixture.example/feed");
                let mut damaged = body.clone();
                damaged[cut] = b"<>&\"/;\0x"[cut % 8];
                let _ = parse_feed(&damaged, "https://fixture.example/feed");
            }
        }
    }

    #[test]
    fn garbage_is_not_a_feed() {
        assert_eq!(
            parse_feed(b"<html><body>nope</body></html>", "https://x.example/"),
            Err(ParseError::NotAFeed)
        );
        assert_eq!(
            parse_feed(b"\x00\x01binary", "https://x.example/"),
            Err(ParseError::NotAFeed)
        );
    }

    #[test]
    fn long_titles_are_bounded() {
        let xml = format!(
            r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
<entry><id>e</id><title>  {}  </title><updated>2025-01-01T00:00:00Z</updated></entry></feed>"#,
            "long ".repeat(300)
        );
        let feed = parse_feed(xml.as_bytes(), "https://x.example/").unwrap();
        assert_eq!(feed.items[0].title.chars().count(), MAX_TITLE_CHARS);
        assert!(feed.items[0].title.starts_with("long long"));
    }
}
