//! [`Page`]: one page of a keyset-paginated list (users, subscriptions, items, the feed).
//!
//! A list reads `limit + 1` rows after (or before) a cursor; [`Page::from_items`] keeps the
//! first `limit` and, when there was one more, gives the cursor of the last kept item.

use serde::Serialize;

/// One page of a list; serialised as the list route's body:
/// `{"items": [...], "next_cursor": <cursor or null>}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T, C> {
    pub items: Vec<T>,
    /// What to pass (`after` or `before`) for the next page; `None` on the last page.
    pub next_cursor: Option<C>,
}

impl<T, C> Page<T, C> {
    /// A page with no items and no next page.
    #[must_use]
    pub fn empty() -> Self {
        Page {
            items: Vec::new(),
            next_cursor: None,
        }
    }

    /// The first `limit` of `items` (read with `limit + 1`), with the cursor of the last one
    /// kept when more followed.
    #[must_use]
    pub fn from_items(mut items: Vec<T>, limit: u32, cursor: impl Fn(&T) -> C) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = if more { items.last().map(cursor) } else { None };
        Page { items, next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_more_row_means_a_next_page() {
        let page = Page::from_items(vec![1, 2, 3], 2, |n| n * 10);
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next_cursor, Some(20));
        let last = Page::from_items(vec![1, 2], 2, |n| n * 10);
        assert_eq!(last.items, vec![1, 2]);
        assert_eq!(last.next_cursor, None);
        assert_eq!(Page::from_items(Vec::new(), 2, |n: &i32| *n), Page::empty());
    }

    #[test]
    fn serialises_as_the_list_body() {
        let page = Page::from_items(vec!["a", "b"], 1, |_| 7);
        assert_eq!(
            serde_json::to_value(&page).ok(),
            Some(serde_json::json!({"items": ["a"], "next_cursor": 7}))
        );
        assert_eq!(
            serde_json::to_value(Page::<u8, u8>::empty()).ok(),
            Some(serde_json::json!({"items": [], "next_cursor": null}))
        );
    }
}
