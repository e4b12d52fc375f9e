//! Reading fetched pages: whether a response is a feed (by content type, else by its root
//! element), and what an HTML page says about itself (title, canonical URL, YouTube channel
//! metadata, `<base href>`, `<link rel="alternate">` feed links), read with html5gum's WHATWG
//! tokenizer. No network here: [`super::resolve`] fetches, this reads.

use html5gum::{DefaultEmitter, Token, Tokenizer};

use crate::outbound::Fetched;
use crate::sources::YoutubeChannelId;
use crate::sources::clean_title;

/// Whether a response is a feed: by its content type, else by how its body starts.
pub(super) fn is_feed(response: &Fetched) -> bool {
    let media = response
        .header("content-type")
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if media == "text/html" || media == "application/xhtml+xml" {
        return false;
    }
    let xml_type = media.ends_with("/xml") || media.ends_with("+xml");
    let root = root_element(&response.body);
    let feed_root = matches!(root.as_deref(), Some("rss" | "feed" | "rdf:rdf"));
    feed_root || (xml_type && media != "application/xml" && media != "text/xml")
}

/// The name of the first element of an XML document (lower case), skipping a byte-order
/// mark, whitespace, the XML declaration, processing instructions, comments and a doctype.
fn root_element(body: &[u8]) -> Option<String> {
    let mut rest = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    loop {
        let start = rest.iter().position(|b| !b.is_ascii_whitespace())?;
        rest = &rest[start..];
        if rest.starts_with(b"<?") {
            rest = &rest[find(rest, b"?>")? + 2..];
        } else if rest.starts_with(b"<!--") {
            rest = &rest[find(rest, b"-->")? + 3..];
        } else if rest.starts_with(b"<!") {
            rest = &rest[find(rest, b">")? + 1..];
        } else if let Some(after) = rest.strip_prefix(b"<") {
            let end = after
                .iter()
                .position(|b| b.is_ascii_whitespace() || matches!(b, b'>' | b'/'))
                .unwrap_or(after.len());
            return std::str::from_utf8(&after[..end])
                .ok()
                .map(str::to_ascii_lowercase);
        } else {
            return None;
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// What an HTML page says about itself, read with a WHATWG tokenizer.
#[derive(Debug, Default)]
pub(super) struct HtmlPage {
    title: Option<String>,
    og_title: Option<String>,
    canonical: Option<String>,
    og_url: Option<String>,
    meta_channel_id: Option<String>,
    /// `<base href>`, against which relative links resolve.
    pub(super) base: Option<String>,
    /// `href`s of `<link rel="alternate">` to RSS or Atom feeds, in document order.
    pub(super) feed_links: Vec<String>,
}

impl HtmlPage {
    pub(super) fn scan(body: &[u8]) -> HtmlPage {
        let mut emitter = DefaultEmitter::default();
        // Script, style and title contents are raw text, not markup.
        emitter.naively_switch_states(true);
        let mut page = HtmlPage::default();
        let mut in_title = false;
        let mut title = String::new();
        for token in Tokenizer::new_with_emitter(body, emitter).flatten() {
            match token {
                Token::StartTag(tag) => {
                    let attr = |name: &str| {
                        tag.attributes
                            .get(name.as_bytes())
                            .map(|v| String::from_utf8_lossy(&v.value).into_owned())
                    };
                    match tag.name.as_slice() {
                        b"title" if page.title.is_none() => in_title = true,
                        b"base" if page.base.is_none() => page.base = attr("href"),
                        b"link" => {
                            let rel = attr("rel").unwrap_or_default().to_ascii_lowercase();
                            let rels: Vec<&str> = rel.split_ascii_whitespace().collect();
                            let href = attr("href").filter(|h| !h.trim().is_empty());
                            if rels.contains(&"canonical") && page.canonical.is_none() {
                                page.canonical = href.clone();
                            }
                            let kind = attr("type").unwrap_or_default().to_ascii_lowercase();
                            let kind = kind.split(';').next().unwrap_or("").trim().to_owned();
                            if rels.contains(&"alternate")
                                && matches!(
                                    kind.as_str(),
                                    "application/rss+xml" | "application/atom+xml"
                                )
                                && let Some(href) = href
                            {
                                page.feed_links.push(href);
                            }
                        }
                        b"meta" => {
                            let content = attr("content");
                            let itemprop = attr("itemprop").unwrap_or_default();
                            let property = attr("property").unwrap_or_default();
                            if matches!(itemprop.as_str(), "channelId" | "identifier")
                                && page.meta_channel_id.is_none()
                            {
                                page.meta_channel_id = content;
                            } else if property == "og:url" && page.og_url.is_none() {
                                page.og_url = content;
                            } else if property == "og:title" && page.og_title.is_none() {
                                page.og_title = content;
                            }
                        }
                        _ => {}
                    }
                }
                Token::String(text) if in_title => {
                    title.push_str(&String::from_utf8_lossy(&text.value));
                }
                Token::EndTag(tag) if in_title && tag.name.as_slice() == b"title" => {
                    in_title = false;
                    page.title = clean_title(std::mem::take(&mut title));
                }
                _ => {}
            }
        }
        page
    }

    /// The channel id from the page's own metadata.
    pub(super) fn channel_id(&self) -> Option<YoutubeChannelId> {
        let from_url = |url: &Option<String>| {
            url.as_deref()
                .and_then(|u| u.split("/channel/").nth(1))
                .and_then(|rest| rest.split(['/', '?', '#']).next())
                .and_then(|id| YoutubeChannelId::parse(id).ok())
        };
        from_url(&self.canonical)
            .or_else(|| {
                self.meta_channel_id
                    .as_deref()
                    .and_then(|id| YoutubeChannelId::parse(id.trim()).ok())
            })
            .or_else(|| from_url(&self.og_url))
    }

    /// The channel's name: `og:title`, else the page title without " - YouTube".
    pub(super) fn youtube_title(&self) -> Option<String> {
        self.og_title.clone().or_else(|| {
            self.title
                .as_deref()
                .map(|t| t.strip_suffix(" - YouTube").unwrap_or(t).to_owned())
        })
    }
}

/// `"externalId":"UC..."`, else `"channelId":"UC..."`, in the page's embedded data.
pub(super) fn channel_id_in_data(body: &[u8]) -> Option<YoutubeChannelId> {
    for key in [&b"\"externalId\":\""[..], &b"\"channelId\":\""[..]] {
        let mut rest = body;
        while let Some(at) = find(rest, key) {
            rest = &rest[at + key.len()..];
            let candidate = rest.get(..24).and_then(|b| std::str::from_utf8(b).ok());
            if let Some(id) = candidate.and_then(|c| YoutubeChannelId::parse(c).ok())
                && rest.get(24) == Some(&b'"')
            {
                return Some(id);
            }
        }
    }
    None
}
