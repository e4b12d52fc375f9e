//! How long a digest is: each summary length's budget of items and excerpt characters.
//!
//! | `summary_length` | items at most | excerpt |
//! |---|---|---|
//! | `concise` | 5 | none (titles only) |
//! | `standard` | 12 | about 280 characters |
//! | `detailed` | 30 | about 800 characters |

use crate::domain::SummaryLength;

/// What one digest may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Items in the digest, at most.
    pub items: u32,
    /// Characters of each item's excerpt, at most (0: titles only).
    pub excerpt_chars: usize,
}

impl Budget {
    /// The budget of a summary length.
    #[must_use]
    pub const fn of(length: SummaryLength) -> Budget {
        match length {
            SummaryLength::Concise => Budget {
                items: 5,
                excerpt_chars: 0,
            },
            SummaryLength::Standard => Budget {
                items: 12,
                excerpt_chars: 280,
            },
            SummaryLength::Detailed => Budget {
                items: 30,
                excerpt_chars: 800,
            },
        }
    }
}

/// `text` (already clean: no markup, whitespace collapsed) cut to at most `max` characters:
/// whole when it fits; else at the last sentence end (`.`, `!`, `?` followed by a space)
/// in the second half of the budget; else at the last space, with `…` appended (the `…`
/// counts). `None` when `max` is 0 or nothing is left.
#[must_use]
pub fn excerpt(text: &str, max: usize) -> Option<String> {
    let text = text.trim();
    if max == 0 || text.is_empty() {
        return None;
    }
    if text.chars().count() <= max {
        return Some(text.to_owned());
    }
    // The longest prefix of at most `max - 1` characters (one is kept for the ellipsis).
    let cut = text
        .char_indices()
        .nth(max.saturating_sub(1))
        .map_or(text.len(), |(at, _)| at);
    let head = &text[..cut];
    let half = head.len() / 2;
    let sentence_end = head
        .char_indices()
        .filter(|&(at, c)| {
            matches!(c, '.' | '!' | '?') && at >= half && head[at + c.len_utf8()..].starts_with(' ')
        })
        .map(|(at, c)| at + c.len_utf8())
        .next_back();
    if let Some(end) = sentence_end {
        return Some(head[..end].to_owned());
    }
    let word_end = head.rfind(' ').filter(|&at| at > 0).unwrap_or(head.len());
    let kept = head[..word_end].trim_end_matches([' ', ',', ';', ':', '-']);
    if kept.is_empty() {
        return None;
    }
    Some(format!("{kept}…"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_length_has_its_budget() {
        assert_eq!(Budget::of(SummaryLength::Concise).items, 5);
        assert_eq!(Budget::of(SummaryLength::Concise).excerpt_chars, 0);
        assert_eq!(Budget::of(SummaryLength::Standard).items, 12);
        assert_eq!(Budget::of(SummaryLength::Detailed).excerpt_chars, 800);
    }

    #[test]
    fn short_text_is_whole_and_titles_only_has_none() {
        assert_eq!(
            excerpt("  A short one.  ", 280).as_deref(),
            Some("A short one.")
        );
        assert_eq!(excerpt("Anything", 0), None);
        assert_eq!(excerpt("   ", 10), None);
    }

    #[test]
    fn long_text_is_cut_at_a_sentence_end_in_the_second_half() {
        let text =
            "First sentence is here. Second one goes on. Third one is much longer than the rest";
        assert_eq!(
            excerpt(text, 50).as_deref(),
            Some("First sentence is here. Second one goes on.")
        );
    }

    #[test]
    fn without_a_late_sentence_end_it_is_cut_at_a_word_with_an_ellipsis() {
        let text = "One. then a very long clause that never ends with any full stop at all";
        let got = excerpt(text, 30).expect("excerpt");
        assert_eq!(got, "One. then a very long clause…");
        assert!(got.chars().count() <= 30);
    }

    #[test]
    fn multibyte_text_is_cut_on_character_boundaries_within_the_budget() {
        let text = "ééééé ééééé ééééé ééééé ééééé";
        let got = excerpt(text, 14).expect("excerpt");
        assert_eq!(got, "ééééé ééééé…");
        assert!(got.chars().count() <= 14);
        // One long word: cut inside it rather than nothing.
        let got = excerpt("abcdefghijklmnopqrstuvwxyz", 10).expect("excerpt");
        assert_eq!(got, "abcdefghi…");
    }
}
