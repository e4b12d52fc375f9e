//! The signed links a digest carries (see [`crate::auth::link`]): its page in the browser,
//! one-click unsubscribe, and the private Atom feed of a user's digests; and the link that
//! proves an e-mail address. They are served by
//! the api component under `/links/` (one route table: `src/http/api/routes.rs`).

use chrono::{DateTime, TimeDelta, Utc};
use url::Url;

use crate::auth::link::{LinkKey, Purpose};
use crate::domain::UserId;

/// How long a digest's page and unsubscribe links work after the digest is sent.
pub const LINK_DAYS: i64 = 90;

/// Path of a digest's page (`?token=`).
pub const DIGEST_PATH: &str = "/links/digest";
/// Path of one-click unsubscribe (`?token=`): GET shows a page with a button, POST acts.
pub const UNSUBSCRIBE_PATH: &str = "/links/unsubscribe";
/// Path of the Atom feed of a user's digests (`?token=`).
pub const FEED_PATH: &str = "/links/digests.atom";
/// Path of an e-mail address proof (`?token=`): GET shows a page with a button, POST sets
/// the address verified.
pub const VERIFY_EMAIL_PATH: &str = "/links/verify-email";
/// How long an e-mail address proof's link works after the proof was asked for.
pub const VERIFY_EMAIL_HOURS: i64 = 24;

/// Builds the absolute URLs of signed links.
#[derive(Debug, Clone)]
pub struct Links {
    /// Where the service is reached from outside (`public_base_url`), without a trailing
    /// slash.
    base: String,
    key: LinkKey,
}

/// Why `public_base_url` is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("public_base_url must be an absolute http(s) URL without query or fragment")]
pub struct BaseUrlError;

impl Links {
    pub fn new(public_base_url: &str, key: LinkKey) -> Result<Links, BaseUrlError> {
        let url = Url::parse(public_base_url.trim()).map_err(|_| BaseUrlError)?;
        if !matches!(url.scheme(), "http" | "https")
            || url.host().is_none()
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(BaseUrlError);
        }
        Ok(Links {
            base: url.as_str().trim_end_matches('/').to_owned(),
            key,
        })
    }

    pub fn key(&self) -> &LinkKey {
        &self.key
    }

    fn url(&self, path: &str, token: &str) -> String {
        // Tokens are digits, dots and base64url: nothing to escape in a query.
        format!("{}{path}?token={token}", self.base)
    }

    /// The page of digest `id`, working for [`LINK_DAYS`] after `now`.
    pub fn digest(&self, id: i64, now: DateTime<Utc>) -> String {
        let expires = now + TimeDelta::days(LINK_DAYS);
        self.url(
            DIGEST_PATH,
            &self.key.sign(Purpose::ViewDigest, id, Some(expires)),
        )
    }

    /// One-click unsubscribe of `user`, working for [`LINK_DAYS`] after `now`.
    pub fn unsubscribe(&self, user: UserId, now: DateTime<Utc>) -> String {
        let expires = now + TimeDelta::days(LINK_DAYS);
        let token = self
            .key
            .sign(Purpose::Unsubscribe, user.get(), Some(expires));
        self.url(UNSUBSCRIBE_PATH, &token)
    }

    /// The link proving the address of e-mail proof `id`, asked for at `created` (working
    /// for [`VERIFY_EMAIL_HOURS`] after it: every attempt to send it signs the same link).
    pub fn verify_email(&self, id: i64, created: DateTime<Utc>) -> String {
        let expires = created + TimeDelta::hours(VERIFY_EMAIL_HOURS);
        self.url(
            VERIFY_EMAIL_PATH,
            &self.key.sign(Purpose::VerifyEmail, id, Some(expires)),
        )
    }

    /// The private Atom feed of `user`'s digests (never expires; changing `link_key` ends it).
    pub fn feed(&self, user: UserId) -> String {
        self.url(
            FEED_PATH,
            &self.key.sign(Purpose::DigestFeed, user.get(), None),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn links(base: &str) -> Result<Links, BaseUrlError> {
        let key = base64::engine::general_purpose::STANDARD.encode([3u8; 32]);
        Links::new(base, LinkKey::parse(&key).unwrap())
    }

    #[test]
    fn links_are_absolute_and_verify() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let links = links("https://keemu.example/").unwrap();
        let url = links.digest(12, now);
        assert!(
            url.starts_with("https://keemu.example/links/digest?token=12."),
            "{url}"
        );
        let token = url.split("token=").nth(1).unwrap();
        assert_eq!(
            links.key().verify(Purpose::ViewDigest, token, now),
            Some(12)
        );
        let user = UserId::new(5).unwrap();
        assert!(
            links
                .feed(user)
                .starts_with("https://keemu.example/links/digests.atom?token=5.0.")
        );
        assert!(
            links
                .unsubscribe(user, now)
                .contains("/links/unsubscribe?token=5.")
        );
        let proof = links.verify_email(9, now);
        let token = proof.split("token=").nth(1).unwrap();
        assert!(proof.starts_with("https://keemu.example/links/verify-email?token=9."));
        assert_eq!(
            links.key().verify(Purpose::VerifyEmail, token, now),
            Some(9)
        );
        assert_eq!(
            links
                .key()
                .verify(Purpose::VerifyEmail, token, now + TimeDelta::hours(24)),
            None
        );
    }

    #[test]
    fn base_urls_must_be_plain_http_origins() {
        for bad in [
            "",
            "keemu.example",
            "ftp://x.example",
            "https://x.example/?a=1",
            "javascript:alert(1)",
        ] {
            assert!(links(bad).is_err(), "{bad}");
        }
        assert!(links("http://127.0.0.1:3000").is_ok());
    }
}
