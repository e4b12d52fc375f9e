//! Signed links: URLs that act for one user without signing in ("view this digest in the
//! browser", one-click unsubscribe, the private Atom feed of one's digests, the proof of an
//! e-mail address).
//!
//! A token is `{subject}.{expires}.{mac}`: the subject (a digest's or a user's id), when it
//! stops working (Unix seconds, `0` for never) and HMAC-SHA-256 (`hmac` + `sha2`, never our
//! own cryptography) over the link's [`Purpose`], subject and expiry, base64url without
//! padding. The purpose is not in the token: a token signed for one purpose never verifies
//! for another. A forged, altered, truncated or expired token is refused, and the refusal
//! says nothing about which part was wrong.
//!
//! The key is the secret variable `link_key` (base64, at least 32 bytes). Changing it ends
//! every link signed before, feeds' URLs included.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Fewest bytes a key may have.
pub const MIN_KEY_BYTES: usize = 32;
/// Longest token [`verify`] reads (two 20-digit numbers, a 43-character MAC, two dots).
pub const MAX_TOKEN_BYTES: usize = 100;

/// What a link does; part of what is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Show digest `subject` as a web page.
    ViewDigest,
    /// Turn e-mail off for user `subject` (RFC 8058 one-click).
    Unsubscribe,
    /// The Atom feed of user `subject`'s digests.
    DigestFeed,
    /// Prove the address of e-mail proof `subject` (sets the user's address verified).
    VerifyEmail,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::ViewDigest => b"keemu/view-digest/v1",
            Purpose::Unsubscribe => b"keemu/unsubscribe/v1",
            Purpose::DigestFeed => b"keemu/digest-feed/v1",
            Purpose::VerifyEmail => b"keemu/verify-email/v1",
        }
    }
}

/// The key links are signed with. `Debug` never shows it.
#[derive(Clone)]
pub struct LinkKey(Vec<u8>);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(..)")
    }
}

/// Why a `link_key` value is not a key (the message never contains the value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("link_key is not base64")]
    NotBase64,
    #[error("link_key has fewer than {MIN_KEY_BYTES} bytes")]
    TooShort,
}

impl LinkKey {
    /// Parses the variable's value: base64 (standard or URL-safe) of at least
    /// [`MIN_KEY_BYTES`] bytes.
    pub fn parse(value: &str) -> Result<LinkKey, KeyError> {
        let value = value.trim();
        let bytes = STANDARD
            .decode(value)
            .or_else(|_| URL_SAFE_NO_PAD.decode(value.trim_end_matches('=')))
            .map_err(|_| KeyError::NotBase64)?;
        if bytes.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort);
        }
        Ok(LinkKey(bytes))
    }

    fn mac(&self, purpose: Purpose, subject: i64, expires: i64) -> Hmac<Sha256> {
        // A key of any length is accepted by HMAC; parse() guarantees at least 32 bytes.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(purpose.label());
        mac.update(b"\0");
        mac.update(subject.to_string().as_bytes());
        mac.update(b"\0");
        mac.update(expires.to_string().as_bytes());
        mac
    }

    /// A token for `purpose` and `subject`, valid until `expires` (`None`: never).
    pub fn sign(&self, purpose: Purpose, subject: i64, expires: Option<DateTime<Utc>>) -> String {
        let expires = expires.map_or(0, |t| t.timestamp().max(1));
        let tag = self.mac(purpose, subject, expires).finalize().into_bytes();
        format!("{subject}.{expires}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// The subject of `token` if it was signed with this key for `purpose` and has not
    /// expired at `now`.
    pub fn verify(&self, purpose: Purpose, token: &str, now: DateTime<Utc>) -> Option<i64> {
        if token.len() > MAX_TOKEN_BYTES {
            return None;
        }
        let mut parts = token.split('.');
        let (subject, expires, tag) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        // Canonical decimal only: "+5", "05" and "5 " are other strings for the same number.
        let canonical = |s: &str| s.parse::<i64>().ok().filter(|n| n.to_string() == s);
        let (subject, expires) = (canonical(subject)?, canonical(expires)?);
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        // Constant-time comparison (hmac's verify_slice).
        self.mac(purpose, subject, expires)
            .verify_slice(&tag)
            .ok()?;
        if expires != 0 && now.timestamp() >= expires {
            return None;
        }
        Some(subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn key() -> LinkKey {
        LinkKey::parse(&STANDARD.encode([7u8; 32])).unwrap()
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn a_signed_token_verifies_for_its_purpose_only() {
        let token = key().sign(Purpose::Unsubscribe, 42, Some(now() + TimeDelta::days(1)));
        assert_eq!(key().verify(Purpose::Unsubscribe, &token, now()), Some(42));
        assert_eq!(key().verify(Purpose::ViewDigest, &token, now()), None);
        assert_eq!(key().verify(Purpose::DigestFeed, &token, now()), None);
        assert_eq!(key().verify(Purpose::VerifyEmail, &token, now()), None);
    }

    #[test]
    fn expired_altered_and_forged_tokens_are_refused() {
        let expires = now() + TimeDelta::days(1);
        let token = key().sign(Purpose::ViewDigest, 7, Some(expires));
        assert_eq!(key().verify(Purpose::ViewDigest, &token, expires), None);
        let altered = token.replacen("7.", "8.", 1);
        assert_eq!(key().verify(Purpose::ViewDigest, &altered, now()), None);
        let longer = token.replacen(&format!(".{}.", expires.timestamp()), ".0.", 1);
        assert_eq!(key().verify(Purpose::ViewDigest, &longer, now()), None);
        let other = LinkKey::parse(&STANDARD.encode([8u8; 32])).unwrap();
        let forged = other.sign(Purpose::ViewDigest, 7, Some(expires));
        assert_eq!(key().verify(Purpose::ViewDigest, &forged, now()), None);
        for junk in [
            "",
            "7",
            "7.0",
            "7.0.",
            "07.0.x",
            "7.0.x.y",
            &"9".repeat(200),
        ] {
            assert_eq!(
                key().verify(Purpose::ViewDigest, junk, now()),
                None,
                "{junk}"
            );
        }
        let padded = format!("0{token}");
        assert_eq!(key().verify(Purpose::ViewDigest, &padded, now()), None);
    }

    #[test]
    fn a_token_without_expiry_never_expires() {
        let token = key().sign(Purpose::DigestFeed, 3, None);
        let later = now() + TimeDelta::days(3650);
        assert_eq!(key().verify(Purpose::DigestFeed, &token, later), Some(3));
    }

    #[test]
    fn keys_must_be_base64_of_32_bytes() {
        assert_eq!(
            LinkKey::parse("not base64!").err(),
            Some(KeyError::NotBase64)
        );
        let short = STANDARD.encode([1u8; 31]);
        assert_eq!(LinkKey::parse(&short).err(), Some(KeyError::TooShort));
        assert!(format!("{:?}", key()).contains(".."));
    }
}
