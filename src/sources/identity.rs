//! The canonical [`Source`] a subscription points at, and the identifiers it is built from
//! ([`YoutubeChannelId`], [`SubredditName`], a blog's feed [`WebUrl`]), so the same source
//! pasted two ways is one row of `content_sources`:
//!
//! | kind | identifier | feed URL |
//! |---|---|---|
//! | `youtube_channel` | the channel id `UC…` | `https://www.youtube.com/feeds/videos.xml?channel_id=UC…` |
//! | `subreddit` | the name in lower case | `https://www.reddit.com/r/<name>/.rss` |
//! | `blog` | the canonical feed URL ([`WebUrl`]) | the same URL |

use super::kind::SourceKind;
use super::web_url::{WebUrl, url_error};
use crate::domain::DomainError;

pub(super) const BAD_CHANNEL_ID: &str =
    "has an invalid YouTube channel id (UC followed by 22 letters, digits, - or _)";
pub(super) const BAD_SUBREDDIT: &str =
    "has an invalid subreddit name (2 to 21 letters, digits or underscores)";

/// A YouTube channel id: `UC` followed by 22 characters of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct YoutubeChannelId(String);

impl YoutubeChannelId {
    /// Parses a channel id (exact case).
    ///
    /// # Errors
    ///
    /// A [`DomainError`] on `url` if it is not `UC` + 22 characters of `[A-Za-z0-9_-]`.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let valid = input.len() == 24
            && input.starts_with("UC")
            && input[2..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(YoutubeChannelId(input.to_owned()))
        } else {
            Err(url_error(BAD_CHANNEL_ID))
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A subreddit's name, in lower case: 2 to 21 ASCII letters, digits or underscores.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubredditName(String);

impl SubredditName {
    /// Parses a name (any case; stored in lower case).
    ///
    /// # Errors
    ///
    /// A [`DomainError`] on `url` if it is not 2 to 21 letters, digits or underscores.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let valid = (2..=21).contains(&input.len())
            && input
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if valid {
            Ok(SubredditName(input.to_ascii_lowercase()))
        } else {
            Err(url_error(BAD_SUBREDDIT))
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The canonical source a subscription points at: the row of `content_sources` to upsert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub kind: SourceKind,
    /// Unique per kind: channel id, lower-case subreddit name, or canonical feed URL.
    pub identifier: String,
    pub feed_url: String,
    pub site_url: Option<String>,
    /// A title found while resolving (a page's), if any; ingestion may fill it later.
    pub title: Option<String>,
}

/// The longest title stored, in characters.
pub const MAX_TITLE_CHARS: usize = 300;

impl Source {
    /// A YouTube channel.
    #[must_use]
    pub fn youtube(id: &YoutubeChannelId, title: Option<String>) -> Source {
        Source {
            kind: SourceKind::YoutubeChannel,
            identifier: id.as_str().to_owned(),
            feed_url: youtube_feed_url(id),
            site_url: Some(format!("https://www.youtube.com/channel/{}", id.as_str())),
            title: title.and_then(clean_title),
        }
    }

    /// A subreddit.
    #[must_use]
    pub fn subreddit(name: &SubredditName) -> Source {
        Source {
            kind: SourceKind::Subreddit,
            identifier: name.as_str().to_owned(),
            feed_url: format!("https://www.reddit.com/r/{}/.rss", name.as_str()),
            site_url: Some(subreddit_site_url(name)),
            title: None,
        }
    }

    /// A blog, by its feed's canonical URL; `site` is the page it was found on, if any.
    #[must_use]
    pub fn blog(feed: &WebUrl, site: Option<&WebUrl>, title: Option<String>) -> Source {
        Source {
            kind: SourceKind::Blog,
            identifier: feed.as_str().to_owned(),
            feed_url: feed.as_str().to_owned(),
            site_url: site.map(|s| s.as_str().to_owned()),
            title: title.and_then(clean_title),
        }
    }
}

/// A title with its whitespace collapsed and control characters dropped, at most
/// [`MAX_TITLE_CHARS`] characters; `None` when nothing is left.
#[must_use]
pub fn clean_title(title: String) -> Option<String> {
    let cleaned: String = title
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_TITLE_CHARS)
        .collect();
    let cleaned = cleaned.trim().to_owned();
    (!cleaned.is_empty()).then_some(cleaned)
}

pub(super) fn youtube_feed_url(id: &YoutubeChannelId) -> String {
    format!(
        "https://www.youtube.com/feeds/videos.xml?channel_id={}",
        id.as_str()
    )
}

pub(super) fn subreddit_site_url(name: &SubredditName) -> String {
    format!("https://www.reddit.com/r/{}/", name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "UCBa659QWEk1AI4Tg--mrJ2A";

    #[test]
    fn sources_are_canonical() {
        let id = YoutubeChannelId::parse(ID).unwrap();
        let source = Source::youtube(&id, Some("  A \n channel ".into()));
        assert_eq!(source.kind, SourceKind::YoutubeChannel);
        assert_eq!(source.identifier, ID);
        assert_eq!(
            source.feed_url,
            format!("https://www.youtube.com/feeds/videos.xml?channel_id={ID}")
        );
        assert_eq!(source.title.as_deref(), Some("A channel"));
        let name = SubredditName::parse("Rust").unwrap();
        let source = Source::subreddit(&name);
        assert_eq!(source.identifier, "rust");
        assert_eq!(source.feed_url, "https://www.reddit.com/r/rust/.rss");
        let feed = WebUrl::parse("HTTPS://Blog.Example/feed#x").unwrap();
        let source = Source::blog(&feed, None, Some("   ".into()));
        assert_eq!(source.identifier, "https://blog.example/feed");
        assert_eq!(source.feed_url, source.identifier);
        assert_eq!(source.title, None);
        assert_eq!(
            clean_title("é".repeat(400)).map(|t| t.chars().count()),
            Some(300)
        );
    }
}
