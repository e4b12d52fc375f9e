//! What people paste to follow a source, parsed into a [`SourceInput`] (which
//! `resolve` turns into the canonical [`super::Source`]).
//!
//! Accepted forms (scheme optional, any case in scheme and host, `www.`/`m.` hosts, trailing
//! paths, queries and fragments ignored where they do not name the source):
//!
//! | pasted | parsed as | needs a fetch |
//! |---|---|---|
//! | `youtube.com/channel/UC…` (`UC` + 22 characters) | [`SourceInput::YoutubeChannel`] | no |
//! | `youtube.com/feeds/videos.xml?channel_id=UC…` | [`SourceInput::YoutubeChannel`] | no |
//! | `youtube.com/@handle`, `/c/name`, `/user/name` | [`SourceInput::YoutubePage`] | the channel page (its id) |
//! | `reddit.com/r/name` (`www.`, `old.`, `new.`, `np.`, `m.`, `i.`; trailing paths; `.rss`) | [`SourceInput::Subreddit`] | no |
//! | `r/name`, `/r/name` | [`SourceInput::Subreddit`] | no |
//! | any other `http`/`https` URL | [`SourceInput::Web`]: a blog's page or its feed | the page (its feed) |
//!
//! Errors are [`DomainError`]s on the field `url`: constant messages that never repeat the
//! input.

use url::Url;

use super::identity::{SubredditName, YoutubeChannelId, subreddit_site_url, youtube_feed_url};
use super::web_url::{MAX_URL_CHARS, NOT_A_URL, TOO_LONG, WebUrl, url_error};
use crate::domain::{DomainError, longer_than};

const EMPTY: &str = "must not be empty";
const NOT_A_CHANNEL: &str = "is a YouTube address but not a channel's: use youtube.com/channel/UC..., \
     youtube.com/@handle or the channel's feed URL";
const BAD_HANDLE: &str = "has an invalid YouTube handle";
const NOT_A_SUBREDDIT: &str =
    "is a Reddit address but not a subreddit's: use reddit.com/r/name or r/name";

/// What a pasted URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceInput {
    /// A YouTube channel, by id (from its channel URL or its feed URL).
    YoutubeChannel(YoutubeChannelId),
    /// A YouTube page that names a channel without its id (`/@handle`, `/c/name`,
    /// `/user/name`): `path` is that page's path (percent-encoded, starting with `/`), to be
    /// fetched from YouTube's origin and read for the channel id.
    YoutubePage { path: String },
    /// A subreddit.
    Subreddit(SubredditName),
    /// Any other web URL: a blog's page (its feed is found through
    /// `<link rel="alternate">`) or the feed itself.
    Web(WebUrl),
}

impl SourceInput {
    /// Parses what someone pasted (see the module documentation).
    ///
    /// # Errors
    ///
    /// A [`DomainError`] on `url` that says what is wrong, never repeating the input.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(url_error(EMPTY));
        }
        if longer_than(input, MAX_URL_CHARS) {
            return Err(url_error(TOO_LONG));
        }
        if let Some(name) = shorthand_subreddit(input) {
            return SubredditName::parse(name).map(SourceInput::Subreddit);
        }
        let url = if input.contains("://") {
            Url::parse(input)
        } else {
            // Pasted without a scheme ("youtube.com/@x", "example.com/blog").
            Url::parse(&format!("https://{input}"))
        }
        .map_err(|_| url_error(NOT_A_URL))?;
        let url = WebUrl::from_url(url)?;
        let host = url.url().host_str().unwrap_or_default();
        if let Some(prefix) = host.strip_suffix("youtube.com")
            && matches!(prefix, "" | "www." | "m." | "music.")
        {
            return youtube(url.url());
        }
        if let Some(prefix) = host.strip_suffix("reddit.com")
            && matches!(prefix, "" | "www." | "old." | "new." | "np." | "m." | "i.")
        {
            return reddit(url.url());
        }
        Ok(SourceInput::Web(url))
    }

    /// A canonical text for this input: parsing it gives this input back.
    #[must_use]
    pub fn canonical_text(&self) -> String {
        match self {
            SourceInput::YoutubeChannel(id) => youtube_feed_url(id),
            SourceInput::YoutubePage { path } => format!("https://www.youtube.com{path}"),
            SourceInput::Subreddit(name) => subreddit_site_url(name),
            SourceInput::Web(url) => url.as_str().to_owned(),
        }
    }
}

/// `r/name` or `/r/name` (optionally with a trailing `/`): the name.
fn shorthand_subreddit(input: &str) -> Option<&str> {
    let rest = input
        .strip_prefix('/')
        .unwrap_or(input)
        .strip_prefix("r/")?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    (!rest.contains(['/', '.', ':', '?', '#'])).then_some(rest)
}

/// The non-empty path segments of a URL.
fn segments(url: &Url) -> Vec<&str> {
    url.path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).collect())
        .unwrap_or_default()
}

fn youtube(url: &Url) -> Result<SourceInput, DomainError> {
    let segments = segments(url);
    match segments.as_slice() {
        ["channel", id, ..] => YoutubeChannelId::parse(id).map(SourceInput::YoutubeChannel),
        ["feeds", "videos.xml"] => {
            let query = |name: &str| {
                url.query_pairs()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.into_owned())
            };
            if let Some(id) = query("channel_id") {
                YoutubeChannelId::parse(&id).map(SourceInput::YoutubeChannel)
            } else if let Some(user) = query("user") {
                legacy_name(&user).map(|name| page("user", &name))
            } else {
                Err(url_error(NOT_A_CHANNEL))
            }
        }
        [first, ..] if first.starts_with('@') => {
            let handle = percent_decode(&first[1..]).ok_or(url_error(BAD_HANDLE))?;
            valid_handle(&handle)?;
            let mut page =
                Url::parse("https://www.youtube.com/").map_err(|_| url_error(NOT_A_URL))?;
            page.path_segments_mut()
                .map_err(|_| url_error(NOT_A_URL))?
                .push(&format!("@{handle}"));
            Ok(SourceInput::YoutubePage {
                path: page.path().to_owned(),
            })
        }
        [kind @ ("c" | "user"), name, ..] => {
            let name = percent_decode(name).ok_or(url_error(NOT_A_CHANNEL))?;
            legacy_name(&name).map(|name| page(kind, &name))
        }
        _ => Err(url_error(NOT_A_CHANNEL)),
    }
}

/// `/c/name` or `/user/name` as a page path (percent-encoded).
fn page(kind: &str, name: &str) -> SourceInput {
    let mut path = String::from("/");
    path.push_str(kind);
    path.push('/');
    path.extend(url::form_urlencoded::byte_serialize(name.as_bytes()));
    SourceInput::YoutubePage { path }
}

/// A legacy custom or user name: 1 to 100 letters, digits, `-`, `_` or `.`.
fn legacy_name(name: &str) -> Result<String, DomainError> {
    let valid = !name.is_empty()
        && !longer_than(name, 100)
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(name.to_owned())
    } else {
        Err(url_error(NOT_A_CHANNEL))
    }
}

/// A handle (without `@`): 3 to 30 letters (any script), digits, `-`, `_` or `.`.
fn valid_handle(handle: &str) -> Result<(), DomainError> {
    let count = handle.chars().count();
    let valid = (3..=30).contains(&count)
        && handle
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(url_error(BAD_HANDLE))
    }
}

fn percent_decode(segment: &str) -> Option<String> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

fn reddit(url: &Url) -> Result<SourceInput, DomainError> {
    let segments = segments(url);
    match segments.as_slice() {
        ["r", name, ..] => {
            let name = name.strip_suffix(".rss").unwrap_or(name);
            if name.contains('+') || name.contains("%2B") {
                // A multireddit ("a+b") is several sources.
                return Err(url_error(NOT_A_SUBREDDIT));
            }
            SubredditName::parse(name).map(SourceInput::Subreddit)
        }
        _ => Err(url_error(NOT_A_SUBREDDIT)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::Source;
    use crate::sources::identity::{BAD_CHANNEL_ID, BAD_SUBREDDIT};
    use crate::sources::web_url::{NOT_HTTP, USERINFO};
    use proptest::prelude::*;

    const ID: &str = "UCBa659QWEk1AI4Tg--mrJ2A";

    fn channel(input: &str) -> String {
        match SourceInput::parse(input) {
            Ok(SourceInput::YoutubeChannel(id)) => id.as_str().to_owned(),
            other => panic!("{input}: {other:?}"),
        }
    }

    fn subreddit(input: &str) -> String {
        match SourceInput::parse(input) {
            Ok(SourceInput::Subreddit(name)) => name.as_str().to_owned(),
            other => panic!("{input}: {other:?}"),
        }
    }

    fn youtube_page(input: &str) -> String {
        match SourceInput::parse(input) {
            Ok(SourceInput::YoutubePage { path }) => path,
            other => panic!("{input}: {other:?}"),
        }
    }

    fn web(input: &str) -> String {
        match SourceInput::parse(input) {
            Ok(SourceInput::Web(url)) => url.as_str().to_owned(),
            other => panic!("{input}: {other:?}"),
        }
    }

    fn message(input: &str) -> &'static str {
        match SourceInput::parse(input) {
            Err(e) => {
                assert_eq!(e.field(), "url");
                e.message()
            }
            Ok(other) => panic!("{input}: accepted as {other:?}"),
        }
    }

    #[test]
    fn youtube_channel_forms() {
        for input in [
            format!("https://www.youtube.com/channel/{ID}"),
            format!("http://youtube.com/channel/{ID}/videos"),
            format!("youtube.com/channel/{ID}"),
            format!("  HTTPS://M.YouTube.COM/channel/{ID}?view=0#top  "),
            format!("www.youtube.com/channel/{ID}/"),
            format!("https://www.youtube.com/feeds/videos.xml?channel_id={ID}"),
            format!("youtube.com/feeds/videos.xml?foo=1&channel_id={ID}"),
        ] {
            assert_eq!(channel(&input), ID, "{input}");
        }
        assert_eq!(
            message("youtube.com/channel/UCshort"),
            BAD_CHANNEL_ID,
            "too short"
        );
        assert_eq!(
            message(&format!("youtube.com/channel/{}", ID.to_lowercase())),
            BAD_CHANNEL_ID,
            "case matters"
        );
        assert_eq!(message("youtube.com/watch?v=abc"), NOT_A_CHANNEL);
        assert_eq!(message("youtube.com"), NOT_A_CHANNEL);
        assert_eq!(message("youtube.com/feeds/videos.xml"), NOT_A_CHANNEL);
    }

    #[test]
    fn youtube_pages_need_resolution() {
        assert_eq!(youtube_page("youtube.com/@Veritasium"), "/@Veritasium");
        assert_eq!(
            youtube_page("https://www.youtube.com/@veritasium/videos?x=1"),
            "/@veritasium"
        );
        assert_eq!(youtube_page("youtube.com/c/SomeName"), "/c/SomeName");
        assert_eq!(youtube_page("youtube.com/user/someone/"), "/user/someone");
        assert_eq!(
            youtube_page("youtube.com/feeds/videos.xml?user=someone"),
            "/user/someone"
        );
        // Handles in other scripts are percent-encoded in the page path.
        assert_eq!(youtube_page("youtube.com/@ñandú"), "/@%C3%B1and%C3%BA");
        assert_eq!(message("youtube.com/@ab"), BAD_HANDLE);
        assert_eq!(message("youtube.com/@a%20b%20c"), BAD_HANDLE);
    }

    #[test]
    fn subreddit_forms() {
        for input in [
            "r/Rust",
            "/r/rust",
            "r/rust/",
            "https://www.reddit.com/r/rust",
            "reddit.com/r/RUST/",
            "old.reddit.com/r/rust/top/?t=week",
            "np.reddit.com/r/rust/comments/abc/title/",
            "https://www.reddit.com/r/rust/.rss",
            "https://www.reddit.com/r/rust.rss",
            "http://new.reddit.com/r/rust#x",
        ] {
            assert_eq!(subreddit(input), "rust", "{input}");
        }
        assert_eq!(subreddit("r/de"), "de");
        assert_eq!(message("r/a"), BAD_SUBREDDIT);
        assert_eq!(message("r/this_name_is_far_too_long"), BAD_SUBREDDIT);
        assert_eq!(message("r/ru-st"), BAD_SUBREDDIT);
        assert_eq!(message("reddit.com/r/rust+golang"), NOT_A_SUBREDDIT);
        assert_eq!(message("reddit.com/user/someone"), NOT_A_SUBREDDIT);
        assert_eq!(message("reddit.com"), NOT_A_SUBREDDIT);
    }

    #[test]
    fn web_urls_are_canonical() {
        assert_eq!(
            web("HTTPS://Example.COM:443/Blog/?#frag"),
            "https://example.com/Blog/"
        );
        assert_eq!(web("example.com"), "https://example.com/");
        assert_eq!(
            web("http://example.com:80/a/../feed.xml"),
            "http://example.com/feed.xml"
        );
        assert_eq!(
            web("http://example.com:8080/f?b=2&a=1"),
            "http://example.com:8080/f?b=2&a=1"
        );
        assert_eq!(web("https://example.com./feed"), "https://example.com/feed");
        assert_eq!(
            web("https://bücher.example/"),
            "https://xn--bcher-kva.example/"
        );
        // A look-alike of YouTube or Reddit is just a web page.
        assert_eq!(web("notyoutube.com/@x"), "https://notyoutube.com/@x");
        assert_eq!(
            web("reddit.com.example.org/r/x"),
            "https://reddit.com.example.org/r/x"
        );
    }

    #[test]
    fn bad_inputs_say_why_without_the_input() {
        assert_eq!(message(""), EMPTY);
        assert_eq!(message("   "), EMPTY);
        assert_eq!(message("ftp://example.com/feed"), NOT_HTTP);
        assert_eq!(message("file:///etc/passwd"), NOT_HTTP);
        assert_eq!(message("https://user:pw@example.com/"), USERINFO);
        assert_eq!(message("https://"), NOT_A_URL);
        assert_eq!(message("http://exa mple.com/"), NOT_A_URL);
        assert_eq!(message(&"a".repeat(2049)), TOO_LONG);
        assert_eq!(
            message(&format!("https://example.com/{}", "a".repeat(2040))),
            TOO_LONG
        );
    }

    fn id_strategy() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_-]{22}".prop_map(|s| format!("UC{s}"))
    }

    fn scheme() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            Just(""),
            Just("http://"),
            Just("https://"),
            Just("HTTPS://")
        ]
    }

    fn tail() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            Just(""),
            Just("/"),
            Just("/videos"),
            Just("?a=1"),
            Just("#x"),
            Just("/featured?b=2#c")
        ]
    }

    proptest! {
        #[test]
        fn any_youtube_channel_form_gives_one_id(
            id in id_strategy(),
            scheme in scheme(),
            host in prop_oneof![Just("youtube.com"), Just("www.youtube.com"), Just("M.YOUTUBE.COM")],
            tail in tail(),
            feed in any::<bool>(),
        ) {
            let input = if feed {
                format!("{scheme}{host}/feeds/videos.xml?channel_id={id}")
            } else {
                format!("{scheme}{host}/channel/{id}{tail}")
            };
            prop_assert_eq!(channel(&input), id.clone());
            let parsed = SourceInput::parse(&input).unwrap();
            prop_assert_eq!(SourceInput::parse(&parsed.canonical_text()).unwrap(), parsed);
        }

        #[test]
        fn any_subreddit_form_gives_one_name(
            name in "[A-Za-z0-9_]{2,21}",
            scheme in scheme(),
            host in prop_oneof![Just("reddit.com"), Just("www.reddit.com"), Just("old.reddit.com"), Just("np.reddit.com")],
            tail in prop_oneof![Just(""), Just("/"), Just("/.rss"), Just(".rss"), Just("/top/?t=day"), Just("/comments/x/y/")],
            short in any::<bool>(),
        ) {
            let input = if short {
                format!("r/{name}")
            } else {
                format!("{scheme}{host}/r/{name}{tail}")
            };
            prop_assert_eq!(subreddit(&input), name.to_ascii_lowercase());
            let parsed = SourceInput::parse(&input).unwrap();
            prop_assert_eq!(SourceInput::parse(&parsed.canonical_text()).unwrap(), parsed);
        }

        #[test]
        fn web_canonicalisation_is_idempotent(
            scheme in prop_oneof![Just("http"), Just("https"), Just("HTTP"), Just("hTTps")],
            host in "[a-zA-Z][a-zA-Z0-9-]{0,10}(\\.[a-zA-Z][a-zA-Z0-9-]{0,10}){1,3}\\.?",
            port in prop_oneof![Just(String::new()), Just(":80".to_owned()), Just(":443".to_owned()), (1u16..65535).prop_map(|p| format!(":{p}"))],
            path in "(/[a-zA-Z0-9._~%!$&'()*+,;=:@-]{0,8}){0,4}",
            query in prop_oneof![Just(String::new()), Just("?".to_owned()), "\\?[a-z0-9=&%]{1,12}"],
            fragment in prop_oneof![Just(String::new()), "#[a-z0-9]{0,6}"],
        ) {
            let input = format!("{scheme}://{host}{port}{path}{query}{fragment}");
            let Ok(SourceInput::Web(first)) = SourceInput::parse(&input) else {
                // YouTube/Reddit look-alikes or invalid percent-escapes are other cases.
                return Ok(());
            };
            let text = first.as_str().to_owned();
            prop_assert!(!text.contains('#'));
            prop_assert!(!text.ends_with('?'));
            prop_assert_eq!(text.to_ascii_lowercase().starts_with("http"), true);
            prop_assert!(!text.contains(":80/") || text.starts_with("https"));
            prop_assert!(!text.contains(":443/") || text.starts_with("http:"));
            match SourceInput::parse(&text) {
                Ok(SourceInput::Web(second)) => prop_assert_eq!(&second, &first),
                other => prop_assert!(false, "{text} re-parsed as {other:?}"),
            }
            let feed = Source::blog(&first, None, None);
            let reparsed = WebUrl::parse(&feed.identifier).unwrap();
            prop_assert_eq!(reparsed.as_str(), feed.identifier.as_str());
        }
    }
}
