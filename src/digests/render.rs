//! A digest as its reader gets it: the e-mail's subject, its HTML part (which is also the
//! page in the browser), its plain-text part, and the Atom feed of a user's digests.
//!
//! Pure functions, no I/O. Everything a digest shows (titles, excerpts, source names, URLs)
//! comes from strangers' feeds, so:
//! - every piece of it is escaped with quick-xml's `escape` (`<`, `>`, `&`, `'`, `"`: the
//!   five characters that end text or an attribute value in HTML and in XML; the crate is
//!   already in the tree for feed parsing, and one escaper serves HTML and Atom alike), after
//!   dropping the characters XML 1.0 forbids and HTML calls parse errors (C0/C1 controls
//!   other than tab and line breaks, U+FFFE, U+FFFF);
//! - a URL becomes a link only if the `url` crate parses it as an absolute `http`/`https`
//!   URL with a host; the link is its normalised form (percent-encoded), so no `javascript:`,
//!   `data:`, relative or protocol-relative URL is ever a link, and such URLs are dropped
//!   (not shown) in every part;
//! - our output carries no script, no event handler attribute and no image.

use std::borrow::Cow;
use std::fmt::Write as _;

use chrono::{DateTime, Datelike, TimeZone as _, Timelike, Utc};
use chrono_tz::Tz;
use url::Url;

use crate::domain::UpdateFrequency;
use crate::models::digest::{DigestItemView, DigestView};

/// The signed links a digest shows in its footer; `None` hides a link (links disabled, or the
/// page itself, which needs no "view in your browser").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestLinks {
    /// The digest's page in the browser.
    pub page: Option<String>,
    /// One-click unsubscribe.
    pub unsubscribe: Option<String>,
    /// The Atom feed of the user's digests.
    pub feed: Option<String>,
}

/// The frequency as an adjective: "Your weekly KeeMU digest".
fn frequency_word(frequency: UpdateFrequency) -> &'static str {
    match frequency {
        UpdateFrequency::Daily => "daily",
        UpdateFrequency::Every3Days => "3-day",
        UpdateFrequency::Weekly => "weekly",
        UpdateFrequency::Every2Weeks => "fortnightly",
        UpdateFrequency::Monthly => "monthly",
    }
}

fn heading(digest: &DigestView) -> String {
    format!(
        "Your {} KeeMU digest",
        frequency_word(digest.update_frequency)
    )
}

fn count(n: usize) -> String {
    match n {
        1 => "1 new item".to_owned(),
        n => format!("{n} new items"),
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn month(m: u32) -> &'static str {
    MONTHS
        .get(m.saturating_sub(1) as usize)
        .copied()
        .unwrap_or("")
}

/// The local days a period covers, as "1–7 Dec 2026", "28 Nov – 5 Dec 2026",
/// "29 Dec 2026 – 4 Jan 2027" or "7 Dec 2026". The period runs after `start` up to `end`; an
/// end at local midnight belongs to the day before.
pub fn period(start: DateTime<Utc>, end: DateTime<Utc>, zone: Tz) -> String {
    let first = zone.from_utc_datetime(&start.naive_utc()).date_naive();
    let end_local = zone.from_utc_datetime(&end.naive_utc());
    let mut last = end_local.date_naive();
    if end_local.num_seconds_from_midnight() == 0
        && end_local.nanosecond() == 0
        && let Some(before) = last.pred_opt()
    {
        last = before.max(first);
    }
    let last = last.max(first);
    let (d1, m1, y1) = (first.day(), month(first.month()), first.year());
    let (d2, m2, y2) = (last.day(), month(last.month()), last.year());
    if first == last {
        format!("{d2} {m2} {y2}")
    } else if (y1, first.month()) == (y2, last.month()) {
        format!("{d1}\u{2013}{d2} {m2} {y2}")
    } else if y1 == y2 {
        format!("{d1} {m1} \u{2013} {d2} {m2} {y2}")
    } else {
        format!("{d1} {m1} {y1} \u{2013} {d2} {m2} {y2}")
    }
}

fn digest_period(digest: &DigestView, zone: Tz) -> String {
    period(
        digest.period_start.as_datetime(),
        digest.period_end.as_datetime(),
        zone,
    )
}

/// The e-mail's subject: frequency, item count and period in the user's zone, e.g.
/// "Your weekly KeeMU digest: 12 new items, 1–7 Dec 2026". Nothing from a feed is in it.
pub fn subject(digest: &DigestView, zone: Tz) -> String {
    format!(
        "{}: {}, {}",
        heading(digest),
        count(digest.items.len()),
        digest_period(digest, zone)
    )
}

/// Whether XML 1.0 allows `c` and HTML does not call it a parse error (control characters
/// other than tab, line feed and carriage return, and the noncharacters U+FFFE/U+FFFF, are
/// dropped).
fn allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || !(c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}')
}

/// `text` without the characters [`allowed`] refuses.
fn clean(text: &str) -> Cow<'_, str> {
    if text.chars().all(allowed) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.chars().filter(|&c| allowed(c)).collect())
    }
}

/// `text` as HTML/XML text or attribute value: cleaned, then escaped.
fn esc(text: &str) -> String {
    quick_xml::escape::escape(clean(text)).into_owned()
}

/// `url` if it is an absolute `http`/`https` URL with a host, normalised (percent-encoded,
/// no whitespace or control characters left); `None` for anything else.
pub fn web_url(url: &str) -> Option<String> {
    let parsed = Url::parse(url.trim()).ok()?;
    (matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some())
        .then(|| parsed.as_str().to_owned())
}

/// An item's title, or a stand-in when the feed gave none.
fn title(item: &DigestItemView) -> Cow<'_, str> {
    let title = clean(item.title.trim());
    if title.trim().is_empty() {
        Cow::Borrowed("Untitled item")
    } else {
        title
    }
}

fn local_time(at: DateTime<Utc>, zone: Tz) -> String {
    let local = zone.from_utc_datetime(&at.naive_utc());
    format!(
        "{} {} {}, {:02}:{:02}",
        local.day(),
        month(local.month()),
        local.year(),
        local.hour(),
        local.minute()
    )
}

/// The items grouped by source, sources in the order their first item appears, items in
/// the digest's order.
fn by_source(items: &[DigestItemView]) -> Vec<(&str, Vec<&DigestItemView>)> {
    let mut groups: Vec<(i64, &str, Vec<&DigestItemView>)> = Vec::new();
    for item in items {
        match groups.iter_mut().find(|(id, _, _)| *id == item.source_id) {
            Some((_, _, list)) => list.push(item),
            None => groups.push((item.source_id, item.source_name.as_str(), vec![item])),
        }
    }
    groups
        .into_iter()
        .map(|(_, name, list)| (name, list))
        .collect()
}

const BODY_STYLE: &str = "margin:0;padding:0;background:#f6f6f4;color:#1a1a1a;\
font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;\
font-size:16px;line-height:1.5;";
const MAIN_STYLE: &str = "max-width:40rem;margin:0 auto;padding:16px;background:#ffffff;";
const H1_STYLE: &str = "font-size:1.5rem;line-height:1.25;margin:0 0 4px;";
const H2_STYLE: &str = "font-size:1.15rem;margin:24px 0 8px;padding-top:8px;\
border-top:1px solid #dddddd;";
const MUTED_STYLE: &str = "color:#555555;font-size:0.9rem;margin:0;";
const LIST_STYLE: &str = "list-style:none;margin:0;padding:0;";
const ITEM_STYLE: &str = "margin:0 0 16px;";
const LINK_STYLE: &str = "color:#0b57d0;text-decoration:underline;font-weight:600;\
word-break:break-word;";
const TITLE_STYLE: &str = "font-weight:600;word-break:break-word;";
const EXCERPT_STYLE: &str = "margin:4px 0 0;word-break:break-word;";
const FOOTER_STYLE: &str = "margin-top:32px;padding-top:12px;border-top:1px solid #dddddd;\
color:#555555;font-size:0.9rem;";
const FOOTER_LINK_STYLE: &str = "color:#0b57d0;";

/// The items as HTML: one `h2` per source, its items in a list. Shared by the page and the
/// Atom entries' content.
fn items_html(out: &mut String, digest: &DigestView, zone: Tz, styled: bool) {
    let style = |s: &str| {
        if styled {
            format!(" style=\"{s}\"")
        } else {
            String::new()
        }
    };
    for (source, items) in by_source(&digest.items) {
        let source = clean(source.trim());
        let source = if source.trim().is_empty() {
            "Unnamed source".into()
        } else {
            source
        };
        let _ = writeln!(
            out,
            "<section>\n<h2{}>{}</h2>\n<ul{}>",
            style(H2_STYLE),
            esc(&source),
            style(LIST_STYLE)
        );
        for item in items {
            let _ = write!(out, "<li{}>", style(ITEM_STYLE));
            let title = esc(&title(item));
            match item.url.as_deref().and_then(web_url) {
                Some(url) => {
                    let _ = write!(
                        out,
                        "<a href=\"{}\" rel=\"noopener noreferrer\"{}>{title}</a>",
                        esc(&url),
                        style(LINK_STYLE)
                    );
                }
                None => {
                    let _ = write!(out, "<span{}>{title}</span>", style(TITLE_STYLE));
                }
            }
            let at = item.published_at.as_datetime();
            let _ = write!(
                out,
                "<br><time datetime=\"{}\"{}>{}</time>",
                esc(&item.published_at.to_rfc3339()),
                style(MUTED_STYLE),
                esc(&local_time(at, zone))
            );
            if let Some(excerpt) = item.excerpt.as_deref().map(str::trim)
                && !excerpt.is_empty()
            {
                let _ = write!(out, "<p{}>{}</p>", style(EXCERPT_STYLE), esc(excerpt));
            }
            out.push_str("</li>\n");
        }
        out.push_str("</ul>\n</section>\n");
    }
}

/// The digest as a whole HTML document: the e-mail's HTML part and the page in the browser.
/// Inline styles only (e-mail clients drop `<style>` sheets and links), one column readable
/// on a phone, no script, no image.
pub fn html(digest: &DigestView, zone: Tz, links: &DigestLinks) -> String {
    let mut out = String::with_capacity(4096 + digest.items.len() * 512);
    let subject = esc(&subject(digest, zone));
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta name=\"color-scheme\" content=\"light\">\n\
<meta name=\"referrer\" content=\"no-referrer\">\n\
<title>{subject}</title>\n</head>\n<body style=\"{BODY_STYLE}\">\n\
<main style=\"{MAIN_STYLE}\">\n<h1 style=\"{H1_STYLE}\">{}</h1>\n\
<p style=\"{MUTED_STYLE}\">{}, {}</p>\n",
        esc(&heading(digest)),
        esc(&count(digest.items.len())),
        esc(&digest_period(digest, zone)),
    );
    if let Some(overview) = digest.overview.as_deref().map(str::trim)
        && !overview.is_empty()
    {
        let _ = writeln!(out, "<p style=\"margin:16px 0 0;\">{}</p>", esc(overview));
    }
    if digest.items.is_empty() {
        out.push_str("<p style=\"margin:16px 0 0;\">Nothing new in this period.</p>\n");
    }
    items_html(&mut out, digest, zone, true);
    let _ = writeln!(out, "<footer style=\"{FOOTER_STYLE}\">");
    let footer_link = |out: &mut String, url: &Option<String>, text: &str| {
        if let Some(url) = url.as_deref().and_then(web_url) {
            let _ = writeln!(
                out,
                "<p style=\"margin:4px 0;\"><a href=\"{}\" style=\"{FOOTER_LINK_STYLE}\">{text}</a></p>",
                esc(&url)
            );
        }
    };
    footer_link(&mut out, &links.page, "View in your browser");
    footer_link(&mut out, &links.feed, "Follow your digests as an Atom feed");
    footer_link(
        &mut out,
        &links.unsubscribe,
        "Unsubscribe from digest e-mails",
    );
    out.push_str(
        "<p style=\"margin:4px 0;\">Sent by KeeMU because you follow these sources.</p>\n\
</footer>\n</main>\n</body>\n</html>\n",
    );
    out
}

/// The digest as plain text: heading, period, overview, then each source and its items
/// (title, then its URL on the next line when it is a web URL, then the excerpt), then the
/// links.
pub fn text(digest: &DigestView, zone: Tz, links: &DigestLinks) -> String {
    let mut out = String::with_capacity(1024 + digest.items.len() * 256);
    let _ = writeln!(out, "{}", heading(digest));
    let _ = writeln!(
        out,
        "{}, {}",
        count(digest.items.len()),
        digest_period(digest, zone)
    );
    if let Some(overview) = digest.overview.as_deref().map(str::trim)
        && !overview.is_empty()
    {
        let _ = writeln!(out, "\n{}", clean(overview));
    }
    if digest.items.is_empty() {
        out.push_str("\nNothing new in this period.\n");
    }
    for (source, items) in by_source(&digest.items) {
        let source = clean(source.trim());
        let _ = writeln!(out, "\n== {} ==", one_line(&source));
        for item in items {
            let _ = writeln!(out, "\n* {}", one_line(&title(item)));
            if let Some(url) = item.url.as_deref().and_then(web_url) {
                let _ = writeln!(out, "  {url}");
            }
            let _ = writeln!(
                out,
                "  {}",
                local_time(item.published_at.as_datetime(), zone)
            );
            if let Some(excerpt) = item.excerpt.as_deref().map(str::trim)
                && !excerpt.is_empty()
            {
                let _ = writeln!(out, "  {}", clean(excerpt));
            }
        }
    }
    out.push_str("\n-- \n");
    let link = |out: &mut String, url: &Option<String>, text: &str| {
        if let Some(url) = url.as_deref().and_then(web_url) {
            let _ = writeln!(out, "{text}: {url}");
        }
    };
    link(&mut out, &links.page, "View in your browser");
    link(&mut out, &links.feed, "Atom feed of your digests");
    link(
        &mut out,
        &links.unsubscribe,
        "Unsubscribe from digest e-mails",
    );
    out.push_str("Sent by KeeMU because you follow these sources.\n");
    out
}

/// `text` on one line (line breaks and tabs become spaces).
fn one_line(text: &str) -> String {
    text.split(['\n', '\r', '\t'])
        .filter(|part| !part.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The Atom 1.0 feed of a user's digests, newest first as given: one entry per digest, its
/// alternate link the digest's page (`links_for`), its content the items as HTML. Ids are
/// stable: the feed's is `feed_url` (its token never expires and is the same for the same
/// key), each entry's a tag URI `tag:<host of feed_url>,2026:digest/<id>` (no token).
/// Entry titles name the period in UTC (the feed has no time zone).
pub fn atom(
    feed_url: &str,
    user_name: &str,
    digests: &[DigestView],
    links_for: impl Fn(&DigestView) -> Option<String>,
) -> String {
    let host = Url::parse(feed_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "keemu.invalid".to_owned());
    let updated = digests
        .iter()
        .map(|d| d.sent_at.unwrap_or(d.created_at))
        .max()
        .map_or_else(|| "1970-01-01T00:00:00Z".to_owned(), |t| t.to_rfc3339());
    let name = one_line(&clean(user_name));
    let name = if name.is_empty() {
        "you".to_owned()
    } else {
        name
    };
    let mut out = String::with_capacity(1024 + digests.len() * 2048);
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"en\">\n\
<id>{}</id>\n<title>KeeMU digests for {}</title>\n<updated>{updated}</updated>\n\
<link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>\n\
<author><name>KeeMU</name></author>\n<generator>KeeMU</generator>\n",
        esc(feed_url),
        esc(&name),
        esc(feed_url),
    );
    for digest in digests {
        let updated = digest.sent_at.unwrap_or(digest.created_at).to_rfc3339();
        let _ = write!(
            out,
            "<entry>\n<id>tag:{},2026:digest/{}</id>\n<title>{}</title>\n\
<published>{}</published>\n<updated>{updated}</updated>\n",
            esc(&host),
            digest.id,
            esc(&subject(digest, Tz::UTC)),
            digest.created_at.to_rfc3339(),
        );
        if let Some(page) = links_for(digest).as_deref().and_then(web_url) {
            let _ = writeln!(
                out,
                "<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>",
                esc(&page)
            );
        }
        let mut content = String::new();
        if let Some(overview) = digest.overview.as_deref().map(str::trim)
            && !overview.is_empty()
        {
            let _ = writeln!(content, "<p>{}</p>", esc(overview));
        }
        items_html(&mut content, digest, Tz::UTC, false);
        let _ = write!(
            out,
            "<content type=\"html\">{}</content>\n</entry>\n",
            esc(&content)
        );
    }
    out.push_str("</feed>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Timestamp;
    use crate::domain::{SummaryLength, UserId};

    fn at(s: &str) -> Timestamp {
        Timestamp::new(DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc))
    }

    fn item(
        position: i64,
        title: &str,
        url: Option<&str>,
        excerpt: Option<&str>,
    ) -> DigestItemView {
        DigestItemView {
            position,
            item_id: 100 + position,
            title: title.to_owned(),
            url: url.map(str::to_owned),
            excerpt: excerpt.map(str::to_owned),
            published_at: at("2026-12-03T14:05:00Z"),
            source_id: 1 + position % 2,
            source_kind: "blog".to_owned(),
            source_name: format!("Source {}", 1 + position % 2),
        }
    }

    fn digest(items: Vec<DigestItemView>) -> DigestView {
        DigestView {
            id: 9,
            user_id: UserId::new(5).unwrap(),
            period_start: at("2026-12-01T07:00:00Z"),
            period_end: at("2026-12-08T07:00:00Z"),
            update_frequency: UpdateFrequency::Weekly,
            summary_length: SummaryLength::Standard,
            status: "built".to_owned(),
            overview: None,
            sent_at: None,
            created_at: at("2026-12-08T07:00:01Z"),
            items,
        }
    }

    const PAYLOADS: [&str; 4] = [
        "<script>alert(1)</script>",
        "\"><img src=x onerror=alert(1)>",
        "'><svg onload=alert(1)>",
        "</title><script>document.title='pwned'</script>",
    ];

    fn hostile() -> DigestView {
        let mut items = Vec::new();
        for (i, payload) in PAYLOADS.iter().enumerate() {
            items.push(item(
                i as i64 + 1,
                payload,
                Some("https://example.com/a?b=1&c=\"2\""),
                Some(payload),
            ));
        }
        items.push(item(5, "JS link", Some("javascript:alert(1)"), None));
        items.push(item(
            6,
            "Data link",
            Some("data:text/html,<script>alert(1)</script>"),
            None,
        ));
        items.push(item(7, "Relative link", Some("/etc/passwd"), None));
        items.push(item(8, "Protocol-relative", Some("//evil.example/x"), None));
        items.push(item(9, "Spaced JS", Some("  JaVaScRiPt:alert(1)"), None));
        let mut d = digest(items);
        for it in &mut d.items {
            it.source_name = "<b onmouseover=alert(1)>Evil source</b>".to_owned();
        }
        d.overview = Some("<script>alert('overview')</script>".to_owned());
        d
    }

    fn no_markup_from_payloads(doc: &str) {
        let lower = doc.to_ascii_lowercase();
        assert!(!lower.contains("<script"), "{doc}");
        assert!(!lower.contains("<img"), "{doc}");
        assert!(!lower.contains("<svg"), "{doc}");
        assert!(!lower.contains("<b "), "{doc}");
        assert!(!lower.contains("javascript:"), "{doc}");
        assert!(!lower.contains("data:"), "{doc}");
        // No attribute named on... anywhere: every "on" handler would be preceded by a space
        // inside a tag; check every tag we emitted.
        for tag in doc.split('<').skip(1) {
            let tag = tag.split('>').next().unwrap_or("");
            assert!(
                !tag.to_ascii_lowercase().contains(" on"),
                "handler in <{tag}>"
            );
        }
    }

    #[test]
    fn html_escapes_script_payloads_and_drops_non_web_links() {
        let links = DigestLinks {
            page: Some("https://keemu.example/links/digest?token=9.1.x".into()),
            unsubscribe: Some("https://keemu.example/links/unsubscribe?token=5.1.y".into()),
            feed: Some("javascript:alert(1)".into()),
        };
        let doc = html(&hostile(), Tz::UTC, &links);
        no_markup_from_payloads(&doc);
        assert!(
            doc.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{doc}"
        );
        assert!(
            doc.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"),
            "{doc}"
        );
        // Web URLs are links, attribute-escaped.
        assert!(
            doc.contains("href=\"https://example.com/a?b=1&amp;c=%222%22\""),
            "{doc}"
        );
        // Non-web URLs are no links; their titles stay, as text.
        for title in [
            "JS link",
            "Data link",
            "Relative link",
            "Protocol-relative",
            "Spaced JS",
        ] {
            assert!(
                doc.contains(&format!("<span style=\"{TITLE_STYLE}\">{title}</span>")),
                "{title}"
            );
        }
        assert!(!doc.contains("/etc/passwd"));
        assert!(!doc.contains("evil.example"));
        assert_eq!(doc.matches("<a ").count(), 4 + 2, "{doc}");
        assert!(doc.contains(">View in your browser</a>"));
        assert!(doc.contains(">Unsubscribe from digest e-mails</a>"));
        assert!(!doc.contains("Atom feed"));
        assert!(doc.contains("&lt;script&gt;alert(&apos;overview&apos;)&lt;/script&gt;"));
    }

    #[test]
    fn html_is_a_whole_accessible_document() {
        let mut d = digest(vec![
            item(
                1,
                "First",
                Some("https://a.example/1"),
                Some("About the first."),
            ),
            item(2, "Second", Some("http://b.example/2"), None),
            item(3, "Third", None, None),
        ]);
        d.overview = Some("This week in short.".into());
        let doc = html(&d, chrono_tz::Europe::Paris, &DigestLinks::default());
        assert!(doc.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
        assert!(
            doc.contains(
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            )
        );
        assert_eq!(doc.matches("<h1").count(), 1);
        assert!(doc.contains(">Your weekly KeeMU digest</h1>"));
        assert!(doc.contains(">This week in short.</p>"));
        // Two sources, each an h2 and a list; the items in order within them.
        assert_eq!(doc.matches("<h2").count(), 2);
        assert_eq!(doc.matches("<ul").count(), 2);
        assert_eq!(doc.matches("<li").count(), 3);
        assert!(doc.find(">First</a>").unwrap() < doc.find(">Third</span>").unwrap());
        assert!(doc.contains("<time datetime=\"2026-12-03T14:05:00.000000Z\""));
        assert!(
            doc.contains(">3 Dec 2026, 15:05</time>"),
            "Paris local time"
        );
        assert!(!doc.contains("View in your browser"));
        assert!(!doc.contains("<img"));
        assert!(doc.trim_end().ends_with("</html>"));
    }

    #[test]
    fn text_has_each_title_and_web_url_and_no_hostile_url() {
        let d = hostile();
        let links = DigestLinks {
            page: Some("https://keemu.example/links/digest?token=t".into()),
            unsubscribe: Some("https://keemu.example/links/unsubscribe?token=u".into()),
            feed: None,
        };
        let out = text(&d, Tz::UTC, &links);
        for it in &d.items {
            assert!(
                out.contains(&format!("* {}", one_line(&it.title))),
                "{}",
                it.title
            );
        }
        assert_eq!(
            out.matches("  https://example.com/a?b=1&c=%222%22\n")
                .count(),
            4
        );
        let lower = out.to_ascii_lowercase();
        assert!(!lower.contains("javascript:"));
        assert!(!lower.contains("data:"));
        assert!(!out.contains("/etc/passwd"));
        assert!(out.contains("View in your browser: https://keemu.example/links/digest?token=t\n"));
        assert!(out.contains(
            "Unsubscribe from digest e-mails: https://keemu.example/links/unsubscribe?token=u\n"
        ));
        assert!(out.starts_with("Your weekly KeeMU digest\n9 new items, 1\u{2013}8 Dec 2026\n"));
    }

    #[test]
    fn text_lists_plain_items() {
        let d = digest(vec![
            item(
                1,
                "First\nline",
                Some("https://a.example/1"),
                Some("About\u{0}it."),
            ),
            item(2, "Second", Some("http://b.example/2"), None),
        ]);
        let out = text(&d, Tz::UTC, &DigestLinks::default());
        assert!(
            out.contains("* First line\n  https://a.example/1\n"),
            "{out}"
        );
        assert!(out.contains("* Second\n  http://b.example/2\n"), "{out}");
        assert!(out.contains("  Aboutit.\n"));
        assert!(!out.contains("View in your browser"));
    }

    #[test]
    fn subject_names_frequency_count_and_period_in_the_zone() {
        let mut d = digest(vec![item(1, "a", None, None); 12]);
        assert_eq!(
            subject(&d, Tz::UTC),
            "Your weekly KeeMU digest: 12 new items, 1\u{2013}8 Dec 2026"
        );
        // Closing at local midnight: the end day is the day before.
        d.period_start = at("2026-11-30T23:00:00Z");
        d.period_end = at("2026-12-07T23:00:00Z");
        assert_eq!(
            subject(&d, chrono_tz::Europe::Paris),
            "Your weekly KeeMU digest: 12 new items, 1\u{2013}7 Dec 2026"
        );
        assert_eq!(
            subject(&d, Tz::UTC),
            "Your weekly KeeMU digest: 12 new items, 30 Nov \u{2013} 7 Dec 2026"
        );
        d.items.truncate(1);
        d.update_frequency = UpdateFrequency::Daily;
        d.period_start = at("2026-12-07T05:00:00Z");
        d.period_end = at("2026-12-08T05:00:00Z");
        assert_eq!(
            subject(&d, chrono_tz::America::New_York),
            "Your daily KeeMU digest: 1 new item, 7 Dec 2026"
        );
        d.update_frequency = UpdateFrequency::Monthly;
        d.period_start = at("2026-12-01T07:00:00Z");
        d.period_end = at("2027-01-01T07:00:00Z");
        assert_eq!(
            subject(&d, Tz::UTC),
            "Your monthly KeeMU digest: 1 new item, 1 Dec 2026 \u{2013} 1 Jan 2027"
        );
        for f in UpdateFrequency::ALL {
            d.update_frequency = *f;
            assert!(!subject(&d, Tz::UTC).contains('\n'));
        }
    }

    #[test]
    fn atom_is_well_formed_with_stable_ids_and_escaped_content() {
        let mut first = hostile();
        first.sent_at = Some(at("2026-12-08T07:05:00Z"));
        let mut second = digest(vec![item(
            1,
            "Plain \u{1}title",
            Some("https://a.example/1"),
            None,
        )]);
        second.id = 8;
        let feed_url = "https://keemu.example/links/digests.atom?token=5.0.abc";
        let feed = atom(feed_url, "Ann <admin>", &[first, second], |d| {
            Some(format!(
                "https://keemu.example/links/digest?token={}.0.z&x=1",
                d.id
            ))
        });
        // Well-formed: quick-xml reads it to the end without error.
        let mut reader = quick_xml::Reader::from_str(&feed);
        let mut depth = 0i32;
        loop {
            match reader.read_event().unwrap() {
                quick_xml::events::Event::Eof => break,
                quick_xml::events::Event::Start(_) => depth += 1,
                quick_xml::events::Event::End(_) => depth -= 1,
                _ => {}
            }
        }
        assert_eq!(depth, 0);
        assert!(feed.contains("<title>KeeMU digests for Ann &lt;admin&gt;</title>"));
        assert!(feed.contains("<id>https://keemu.example/links/digests.atom?token=5.0.abc</id>"));
        assert!(feed.contains("<id>tag:keemu.example,2026:digest/9</id>"));
        assert!(feed.contains("<id>tag:keemu.example,2026:digest/8</id>"));
        assert!(feed.contains("<updated>2026-12-08T07:05:00.000000Z</updated>"));
        assert!(feed.contains(
            "<link rel=\"alternate\" type=\"text/html\" href=\"https://keemu.example/links/digest?token=9.0.z&amp;x=1\"/>"
        ));
        assert!(!feed.contains('\u{1}'));
        // The hostile content is escaped twice (HTML inside XML): no markup of its own.
        assert!(!feed.to_ascii_lowercase().contains("<script"));
        assert!(!feed.to_ascii_lowercase().contains("javascript:"));
        assert!(feed.contains("&amp;lt;script&amp;gt;"));
        assert_eq!(feed.matches("<entry>").count(), 2);
    }

    #[test]
    fn web_url_accepts_http_and_https_only() {
        assert_eq!(
            web_url("https://a.example/x y"),
            Some("https://a.example/x%20y".into())
        );
        assert_eq!(
            web_url(" http://a.example "),
            Some("http://a.example/".into())
        );
        for bad in [
            "javascript:alert(1)",
            "JAVASCRIPT:alert(1)",
            "java\tscript:alert(1)",
            "data:text/html,x",
            "vbscript:x",
            "/relative",
            "//host/x",
            "mailto:a@b.example",
            "file:///etc/passwd",
            "https:",
            "",
        ] {
            assert_eq!(web_url(bad), None, "{bad}");
        }
    }
}
