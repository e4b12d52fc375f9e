//! Plain text from the bits of HTML feeds carry (summaries, some titles): tags dropped (and
//! the content of `script`, `style` and comments), character references decoded (the HTML5
//! named set, through quick-xml's table, and numeric ones), whitespace collapsed, and the
//! result cut to a number of characters.
//!
//! This is for display as plain text, not for rendering: the output is never HTML.

use quick_xml::escape::resolve_html5_entity;

/// `html` as plain text of at most `max_chars` characters (cut with `…`).
pub fn html_to_text(html: &str, max_chars: usize) -> String {
    let stripped = strip_tags(html);
    let decoded = decode_references(&stripped);
    bounded(&collapse_whitespace(&decoded), max_chars)
}

/// Plain text, whitespace collapsed and cut to `max_chars` characters (with `…`).
pub fn plain(text: &str, max_chars: usize) -> String {
    bounded(&collapse_whitespace(text), max_chars)
}

/// Text cut to at most `max_chars` characters; a cut text ends in `…` (counted).
pub fn bounded(text: &str, max_chars: usize) -> String {
    if text.chars().nth(max_chars).is_none() {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    out.truncate(out.trim_end().len());
    out.push('…');
    out
}

/// Text cut to at most `max_chars` characters, without a mark (identifiers, names).
pub fn truncated(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => text[..end].to_owned(),
        None => text.to_owned(),
    }
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Removes tags, comments, and the content of `script`/`style`; block-level tags become a
/// space so words on both sides stay apart.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let tag = &rest[start..];
        if let Some(comment) = tag.strip_prefix("<!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
            continue;
        }
        // `<` not followed by a tag name (`a < b`) is text.
        let starts_tag = tag[1..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '!' || c == '?');
        if !starts_tag {
            out.push('<');
            rest = &tag[1..];
            continue;
        }
        let Some(end) = tag.find('>') else {
            rest = "";
            break;
        };
        let name: String = tag[1..end]
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        rest = &tag[end + 1..];
        if (name == "script" || name == "style") && !tag[1..].starts_with('/') {
            let close = format!("</{name}");
            rest = find_ignore_ascii_case(rest, &close)
                .and_then(|at| rest[at..].find('>').map(|gt| &rest[at + gt + 1..]))
                .unwrap_or("");
        }
        if BLOCK_TAGS.contains(&name.as_str()) {
            out.push(' ');
        }
    }
    out.push_str(rest);
    out
}

/// Tags that separate words (the others, such as `b` or `a`, sit inside a word's run).
const BLOCK_TAGS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "img",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "td",
    "th",
    "tr",
    "ul",
    "script",
    "style",
];

fn find_ignore_ascii_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Decodes `&name;`, `&#123;` and `&#x1F600;`; anything unrecognised stays as it is.
fn decode_references(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let decoded = after
            .find(';')
            .filter(|semi| (1..=32).contains(semi))
            .and_then(|semi| reference(&after[..semi]).map(|value| (value, semi)));
        match decoded {
            Some((value, semi)) => {
                out.push_str(&value);
                rest = &after[semi + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn reference(name: &str) -> Option<String> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse::<u32>().ok()?,
        };
        let c = char::from_u32(code).filter(|c| *c != '\0')?;
        return Some(c.to_string());
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    resolve_html5_entity(name).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_go_entities_decode_whitespace_collapses() {
        let html = "<p>Hello&nbsp;<b>world</b> &amp; <a href=\"x\">friends</a>&#33;</p>\n\
                    <p>Second&#x20;para &eacute;t&eacute; &unknown; Q&A</p>";
        assert_eq!(
            html_to_text(html, 2000),
            "Hello world & friends! Second para été &unknown; Q&A"
        );
    }

    #[test]
    fn script_style_and_comments_are_dropped() {
        let html = "a<script>var x = '<p>';</script>b<STYLE>p{}</STYLE>c<!-- hidden -->d";
        assert_eq!(html_to_text(html, 100), "a b cd");
    }

    #[test]
    fn a_lone_less_than_is_text() {
        assert_eq!(html_to_text("1 < 2 and 3 > 2", 100), "1 < 2 and 3 > 2");
    }

    #[test]
    fn cut_to_the_bound_with_a_mark() {
        let long = "word ".repeat(1000);
        let text = html_to_text(&long, 2000);
        assert_eq!(text.chars().count(), 2000);
        assert!(text.ends_with("word…") || text.ends_with('…'));
        assert_eq!(bounded("short", 10), "short");
        assert_eq!(bounded("ééééé", 3), "éé…");
        assert_eq!(truncated("ééééé", 3), "ééé");
    }
}
