//! `ETag` values and the conditional request headers `If-Match` and `If-None-Match`
//! (RFC 9110 §8.8.3, §13).
//!
//! A user's ETag covers the user and its preferences (`"u<user>.<preferences>"`, both
//! `updated_at` in microseconds); the preferences' ETag covers them alone (`"p<micros>"`).
//! Our ETags are always strong.
//!
//! - `If-Match` (reads and writes): `*` or a list of tags; it holds when any listed tag
//!   matches by the strong comparison (a weak tag never matches).
//! - `If-None-Match` (reads): `*` or a list of tags; it fails when any listed tag matches by
//!   the weak comparison, and a GET or HEAD is then answered with 304.
//!
//! Writes pass the versions `If-Match` lists to their one statement (see
//! [`Precondition::versions`]); reads evaluate both headers on the representation they read
//! ([`read_condition`]).

use http::HeaderMap;
use http::header::{HeaderName, IF_MATCH, IF_NONE_MATCH};

use crate::models::user::{PreferencesVersion, UserVersion};

/// The `ETag` of a user representation.
pub fn user_etag(version: UserVersion) -> String {
    format!(
        "\"u{}.{}\"",
        version.user_micros, version.preferences_micros
    )
}

/// The `ETag` of a preferences representation.
pub fn preferences_etag(version: PreferencesVersion) -> String {
    format!("\"p{}\"", version.micros)
}

/// One entity tag of a request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EntityTag<'a> {
    weak: bool,
    /// The opaque tag without its quotes.
    opaque: &'a str,
}

/// An `If-Match` or `If-None-Match` field value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TagList<'a> {
    /// `*`: any current representation.
    Any,
    /// The well-formed tags listed (malformed members are left out: they match nothing).
    Tags(Vec<EntityTag<'a>>),
}

impl TagList<'_> {
    /// Whether the list matches the current (strong) tag `current` (opaque part, no quotes).
    fn matches(&self, current: &str, weak_comparison: bool) -> bool {
        match self {
            TagList::Any => true,
            TagList::Tags(tags) => tags
                .iter()
                .any(|t| t.opaque == current && (weak_comparison || !t.weak)),
        }
    }
}

/// `etagc = %x21 / %x23-7E / obs-text` (obs-text arrives as U+FFFD here and matches no tag
/// of ours either way).
fn is_etagc(c: char) -> bool {
    c == '\u{21}' || ('\u{23}'..='\u{7e}').contains(&c) || !c.is_ascii()
}

const OWS: [char; 2] = [' ', '\t'];

/// Parses `#entity-tag` or `*`. Members that are not an entity tag are skipped up to the
/// next comma.
fn parse_list(value: &str) -> TagList<'_> {
    let mut tags = Vec::new();
    let mut stars = 0;
    let mut others = 0;
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            break;
        }
        if let Some((tag, tail)) = parse_tag(rest) {
            tags.push(tag);
            rest = tail;
            continue;
        }
        let end = rest.find(',').unwrap_or(rest.len());
        if rest[..end].trim_end_matches(OWS) == "*" {
            stars += 1;
        } else {
            others += 1;
        }
        rest = &rest[end..];
    }
    if stars > 0 && tags.is_empty() && others == 0 {
        TagList::Any
    } else {
        TagList::Tags(tags)
    }
}

/// One `entity-tag` at the start of `input`, followed by optional whitespace and then a
/// comma or the end; returns it and what follows it.
fn parse_tag(input: &str) -> Option<(EntityTag<'_>, &str)> {
    let (weak, rest) = match input.strip_prefix("W/") {
        Some(rest) => (true, rest),
        None => (false, input),
    };
    let body = rest.strip_prefix('"')?;
    let end = body.find('"')?;
    let opaque = &body[..end];
    let tail = body[end + 1..].trim_start_matches(OWS);
    (opaque.chars().all(is_etagc) && (tail.is_empty() || tail.starts_with(',')))
        .then_some((EntityTag { weak, opaque }, tail))
}

/// All lines of a header joined into one list (RFC 9110 §5.3), `None` if absent.
fn field(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// The opaque part of one of our ETags (`"..."`).
fn opaque(etag: &str) -> &str {
    etag.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(etag)
}

/// What an `If-Match` header asks of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition<V> {
    /// No `If-Match`, or `If-Match: *`: the resource only has to exist.
    Any,
    /// The resource must be at one of these versions. Tags that can match no representation
    /// (weak, malformed, of another kind) are left out, so an empty list matches nothing:
    /// 412 if the resource exists, 404 if it does not.
    OneOf(Vec<V>),
}

impl<V> Precondition<V> {
    /// The versions the conditional statement must find one of; `None`: unconditional.
    pub fn versions(self) -> Option<Vec<V>> {
        match self {
            Precondition::Any => None,
            Precondition::OneOf(versions) => Some(versions),
        }
    }
}

fn precondition<V>(headers: &HeaderMap, parse_tag: impl Fn(&str) -> Option<V>) -> Precondition<V> {
    let Some(value) = field(headers, IF_MATCH) else {
        return Precondition::Any;
    };
    match parse_list(&value) {
        TagList::Any => Precondition::Any,
        TagList::Tags(tags) => Precondition::OneOf(
            tags.iter()
                .filter(|t| !t.weak)
                .filter_map(|t| parse_tag(t.opaque))
                .collect(),
        ),
    }
}

/// The user versions an `If-Match` header allows.
pub fn user_precondition(headers: &HeaderMap) -> Precondition<UserVersion> {
    precondition(headers, |tag| {
        let (user, preferences) = tag.strip_prefix('u')?.split_once('.')?;
        Some(UserVersion {
            user_micros: user.parse().ok()?,
            preferences_micros: preferences.parse().ok()?,
        })
    })
}

/// The preferences versions an `If-Match` header allows.
pub fn preferences_precondition(headers: &HeaderMap) -> Precondition<PreferencesVersion> {
    precondition(headers, |tag| {
        Some(PreferencesVersion {
            micros: tag.strip_prefix('p')?.parse().ok()?,
        })
    })
}

/// How a GET or HEAD of an existing representation is answered under its preconditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadCondition {
    /// Send the representation.
    Proceed,
    /// `If-None-Match` matched: 304 with the ETag and no body.
    NotModified,
    /// `If-Match` did not match: 412.
    Failed,
}

/// Evaluates `If-Match` and then `If-None-Match` (RFC 9110 §13.2.2) against the ETag of the
/// representation a GET or HEAD found. (A resource that does not exist is answered with 404
/// whatever the preconditions, §13.2.1.)
pub fn read_condition(headers: &HeaderMap, etag: &str) -> ReadCondition {
    let current = opaque(etag);
    if let Some(value) = field(headers, IF_MATCH)
        && !parse_list(&value).matches(current, false)
    {
        return ReadCondition::Failed;
    }
    if let Some(value) = field(headers, IF_NONE_MATCH)
        && parse_list(&value).matches(current, true)
    {
        return ReadCondition::NotModified;
    }
    ReadCondition::Proceed
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(name: HeaderName, values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for value in values {
            h.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        h
    }

    fn if_match(value: &str) -> HeaderMap {
        headers(IF_MATCH, &[value])
    }

    const V: UserVersion = UserVersion {
        user_micros: 1_764_000_000_123_456,
        preferences_micros: 1_764_000_000_000_001,
    };
    const W: UserVersion = UserVersion {
        user_micros: 7,
        preferences_micros: 8,
    };

    #[test]
    fn if_match_single_tags() {
        assert_eq!(
            user_precondition(&if_match(&user_etag(V))),
            Precondition::OneOf(vec![V])
        );
        assert_eq!(user_precondition(&HeaderMap::new()), Precondition::Any);
        assert_eq!(user_precondition(&if_match("*")), Precondition::Any);
        assert_eq!(user_precondition(&if_match(" * ")), Precondition::Any);
        // Strong comparison: a weak tag never matches.
        assert_eq!(
            user_precondition(&if_match(&format!("W/{}", user_etag(V)))),
            Precondition::OneOf(vec![])
        );
        assert_eq!(
            user_precondition(&if_match("\"garbage\"")),
            Precondition::OneOf(vec![])
        );
        assert_eq!(
            user_precondition(&if_match("u1.2")),
            Precondition::OneOf(vec![])
        );
        let p = PreferencesVersion { micros: 42 };
        assert_eq!(
            preferences_precondition(&if_match(&preferences_etag(p))),
            Precondition::OneOf(vec![p])
        );
        assert_eq!(
            preferences_precondition(&if_match(&user_etag(V))),
            Precondition::OneOf(vec![])
        );
    }

    #[test]
    fn if_match_lists() {
        let list = format!("{}, {}", user_etag(W), user_etag(V));
        assert_eq!(
            user_precondition(&if_match(&list)),
            Precondition::OneOf(vec![W, V])
        );
        // Several header lines form one list; members that are not ours are left out.
        let h = headers(
            IF_MATCH,
            &[&user_etag(W), "\"p1\", W/\"u1.1\", junk", &user_etag(V)],
        );
        assert_eq!(user_precondition(&h), Precondition::OneOf(vec![W, V]));
        // `*` among tags is not `*`.
        assert_eq!(
            user_precondition(&if_match(&format!("*, {}", user_etag(V)))),
            Precondition::OneOf(vec![V])
        );
        assert_eq!(
            user_precondition(&headers(IF_MATCH, &["*", "*"])),
            Precondition::Any
        );
        assert_eq!(Precondition::<UserVersion>::Any.versions(), None);
    }

    #[test]
    fn parser_handles_commas_inside_tags_and_garbage() {
        assert_eq!(
            parse_list(r#""a,b" , W/"c",,"d""#),
            TagList::Tags(vec![
                EntityTag {
                    weak: false,
                    opaque: "a,b"
                },
                EntityTag {
                    weak: true,
                    opaque: "c"
                },
                EntityTag {
                    weak: false,
                    opaque: "d"
                },
            ])
        );
        assert_eq!(
            parse_list(r#""unterminated, "x""#),
            TagList::Tags(vec![EntityTag {
                weak: false,
                opaque: "x"
            }])
        );
        assert_eq!(parse_list(r#""a" junk"#), TagList::Tags(vec![]));
        assert_eq!(parse_list("w/\"a\""), TagList::Tags(vec![]));
        assert_eq!(parse_list(""), TagList::Tags(vec![]));
    }

    #[test]
    fn reads_honour_if_none_match_with_the_weak_comparison() {
        let etag = user_etag(V);
        let none_match = |v: &str| read_condition(&headers(IF_NONE_MATCH, &[v]), &etag);
        assert_eq!(
            read_condition(&HeaderMap::new(), &etag),
            ReadCondition::Proceed
        );
        assert_eq!(none_match(&etag), ReadCondition::NotModified);
        assert_eq!(none_match(&format!("W/{etag}")), ReadCondition::NotModified);
        assert_eq!(
            none_match(&format!("\"x\", {}", user_etag(V))),
            ReadCondition::NotModified
        );
        assert_eq!(none_match("*"), ReadCondition::NotModified);
        assert_eq!(none_match(&user_etag(W)), ReadCondition::Proceed);
        assert_eq!(none_match("garbage"), ReadCondition::Proceed);
    }

    #[test]
    fn reads_honour_if_match_first() {
        let etag = user_etag(V);
        let mut h = headers(IF_MATCH, &[&user_etag(W)]);
        assert_eq!(read_condition(&h, &etag), ReadCondition::Failed);
        h.insert(IF_NONE_MATCH, HeaderValue::from_str(&etag).unwrap());
        assert_eq!(read_condition(&h, &etag), ReadCondition::Failed);
        let h = headers(IF_MATCH, &[&format!("W/{etag}")]);
        assert_eq!(read_condition(&h, &etag), ReadCondition::Failed);
        let h = headers(IF_MATCH, &[&format!("{}, {etag}", user_etag(W))]);
        assert_eq!(read_condition(&h, &etag), ReadCondition::Proceed);
        let h = headers(IF_MATCH, &["*"]);
        assert_eq!(read_condition(&h, &etag), ReadCondition::Proceed);
    }
}
