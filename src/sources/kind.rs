//! [`SourceKind`]: what kind of source a row of `content_sources` is.

use crate::domain::named_enum;

named_enum! {
    /// What kind of source a row of `content_sources` is.
    ///
    /// Names (JSON and database): `"youtube_channel"`, `"subreddit"`, `"blog"`.
    SourceKind,
    field = "kind",
    expected = "youtube_channel, subreddit, blog",
    message = "must be youtube_channel, subreddit or blog",
    {
        /// A YouTube channel (`"youtube_channel"`).
        YoutubeChannel => "youtube_channel",
        /// A subreddit (`"subreddit"`).
        Subreddit => "subreddit",
        /// A blog, by its feed (`"blog"`).
        Blog => "blog",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spin_sdk::pg::{DbValue, Decode, ParameterValue};

    #[test]
    fn names_are_the_stored_and_serialised_ones() {
        let expected = [
            (SourceKind::YoutubeChannel, "youtube_channel"),
            (SourceKind::Subreddit, "subreddit"),
            (SourceKind::Blog, "blog"),
        ];
        assert_eq!(SourceKind::ALL.len(), expected.len());
        for (kind, name) in expected {
            assert_eq!(kind.as_str(), name);
            assert_eq!(kind.to_string(), name);
            assert_eq!(SourceKind::parse(name), Ok(kind));
            assert_eq!(
                serde_json::to_string(&kind).ok(),
                Some(format!("\"{name}\""))
            );
            assert_eq!(
                SourceKind::decode(&DbValue::Str(name.into())).ok(),
                Some(kind)
            );
            let p: ParameterValue = kind.into();
            assert!(matches!(p, ParameterValue::Str(ref s) if s == name));
        }
    }

    #[test]
    fn other_names_are_refused_with_the_same_text() {
        for bad in ["", "Blog", "youtube", "youtube-channel", "blog "] {
            assert_eq!(
                SourceKind::parse(bad).map_err(|e| e.to_string()),
                Err("kind must be youtube_channel, subreddit or blog".to_owned()),
                "{bad:?}"
            );
        }
        assert!(SourceKind::decode(&DbValue::Str("rss".into())).is_err());
        assert!(SourceKind::decode(&DbValue::Int64(1)).is_err());
    }
}
