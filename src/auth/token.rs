//! Access tokens (JWT, HMAC-signed) and refresh tokens (random, stored as a SHA-256 digest).
//!
//! Access tokens: header `{"alg": <configured>, "kid": <signing key id>, "typ": "JWT"}`,
//! claims `sub` (user id as a string), `iat`, `exp` (15 minutes after `iat`), `iss`, `aud`,
//! `jti` (128 random bits, base64url). Verification, in order: the token parses; its `alg` is
//! exactly the configured one (so `none` and every other algorithm are refused before any key
//! is looked at); its `kid` names a configured verification key (several may be configured
//! at once, so keys can rotate); the signature checks with that key; `exp` is not past (with
//! [`LEEWAY_SECONDS`] of leeway); `iss` and `aud` are the configured values; `sub` is a user
//! id; `jti` is present.
//!
//! Refresh tokens: 32 random bytes, base64url without padding, given to the client once;
//! only [`sha256_hex`] of the token is stored.
//!
//! No `Debug` here shows a token or a key; no error contains one.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use jwt_compact::alg::{Hs256, Hs256Key, Hs384, Hs384Key, Hs512, Hs512Key};
use jwt_compact::{AlgorithmExt, Claims, Header, TimeOptions, UntrustedToken, ValidationError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::jwt::{self, HeaderRefusal, Invalid};
use crate::domain::UserId;

/// How long an access token is valid.
pub const ACCESS_TOKEN_SECONDS: i64 = 15 * 60;
/// Clock skew tolerated when checking `exp`.
pub const LEEWAY_SECONDS: i64 = 30;
/// Fewest bytes an HMAC key may have (the SHA-256 output size).
pub const MIN_KEY_BYTES: usize = 32;
/// Random bytes in a refresh token.
pub const REFRESH_TOKEN_BYTES: usize = 32;
const JTI_BYTES: usize = 16;

/// Why a token could not be made or was refused. Never contains a token, a key or a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a well-formed JWT (segments, base64, JSON).
    #[error("token is malformed")]
    Malformed,
    /// The header's `alg` is not the configured algorithm (including `none`).
    #[error("token algorithm is not accepted")]
    AlgorithmRefused,
    /// The header has no `kid`.
    #[error("token has no key id")]
    MissingKeyId,
    /// The header's `kid` names no configured key.
    #[error("token key id is unknown")]
    UnknownKeyId,
    /// The signature does not match.
    #[error("token signature is invalid")]
    BadSignature,
    /// `exp` is past (beyond the leeway).
    #[error("token has expired")]
    Expired,
    /// A required claim (`exp`, `iat`, `sub`, `jti`, `iss`, `aud`) is missing or not usable.
    #[error("token lacks a required claim")]
    MissingClaim,
    /// `iss` is not the configured issuer.
    #[error("token issuer is not accepted")]
    WrongIssuer,
    /// `aud` is not the configured audience.
    #[error("token audience is not accepted")]
    WrongAudience,
    /// The system random source failed.
    #[error("random source failed")]
    Random,
    /// Signing failed.
    #[error("token signing failed")]
    Signing,
}

impl From<HeaderRefusal> for TokenError {
    fn from(refusal: HeaderRefusal) -> Self {
        match refusal {
            HeaderRefusal::AlgorithmRefused => TokenError::AlgorithmRefused,
            HeaderRefusal::MissingKeyId => TokenError::MissingKeyId,
        }
    }
}

/// Why a token configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenConfigError {
    /// A key has fewer than [`MIN_KEY_BYTES`] bytes.
    #[error("token key is shorter than 32 bytes")]
    WeakKey,
    /// Two keys share a `kid`, or a `kid` is empty.
    #[error("token key ids must be non-empty and distinct")]
    BadKeyId,
    /// The signing `kid` is not among the keys.
    #[error("the signing key id is not among the configured keys")]
    SigningKeyMissing,
    /// Issuer or audience is empty.
    #[error("token issuer and audience must be non-empty")]
    EmptyIssuerOrAudience,
}

/// The one JWT algorithm a configuration signs with and accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JwtAlgorithm {
    /// HMAC-SHA-256 (the default).
    #[default]
    Hs256,
    /// HMAC-SHA-384.
    Hs384,
    /// HMAC-SHA-512.
    Hs512,
}

impl JwtAlgorithm {
    /// The `alg` header value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::Hs384 => "HS384",
            Self::Hs512 => "HS512",
        }
    }
}

/// A secret HMAC key and its id (`kid`). `Debug` shows the id only.
#[derive(Clone)]
pub struct TokenKey {
    kid: String,
    secret: Vec<u8>,
}

impl TokenKey {
    /// A key from its id and secret bytes (at least [`MIN_KEY_BYTES`]).
    pub fn new(kid: &str, secret: &[u8]) -> Result<Self, TokenConfigError> {
        if kid.is_empty() {
            return Err(TokenConfigError::BadKeyId);
        }
        if secret.len() < MIN_KEY_BYTES {
            return Err(TokenConfigError::WeakKey);
        }
        Ok(Self {
            kid: kid.to_owned(),
            secret: secret.to_vec(),
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKey")
            .field("kid", &self.kid)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A signed access token, as given to the client. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    token: String,
    expires_at: DateTime<Utc>,
}

impl AccessToken {
    /// The compact JWT.
    pub fn as_str(&self) -> &str {
        &self.token
    }

    /// When it expires (`exp`).
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The claims of an access token that passed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAccess {
    /// `sub`.
    pub user_id: UserId,
    /// `jti`.
    pub token_id: String,
    /// `iat`.
    pub issued_at: DateTime<Utc>,
    /// `exp`.
    pub expires_at: DateTime<Utc>,
    /// `sid`: the session family (sign-in) the token was issued for, if any.
    pub session: Option<i64>,
}

/// The registered claims other than the times, which `jwt_compact::Claims` carries.
#[derive(Serialize, Deserialize)]
struct AccessClaims {
    sub: String,
    iss: String,
    aud: String,
    jti: String,
    /// The session family the token was issued for (absent in tokens issued outside one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<i64>,
}

/// Issues and verifies access tokens: one algorithm, one issuer, one audience, one signing
/// key, and every key that verifies (the signing key among them). `Debug` shows key ids only.
#[derive(Clone, Debug)]
pub struct AccessTokens {
    algorithm: JwtAlgorithm,
    issuer: String,
    audience: String,
    signing_kid: String,
    keys: Vec<TokenKey>,
}

impl AccessTokens {
    /// A configuration that signs with the key `signing_kid` and verifies with any of `keys`.
    pub fn new(
        algorithm: JwtAlgorithm,
        issuer: &str,
        audience: &str,
        signing_kid: &str,
        keys: Vec<TokenKey>,
    ) -> Result<Self, TokenConfigError> {
        if issuer.is_empty() || audience.is_empty() {
            return Err(TokenConfigError::EmptyIssuerOrAudience);
        }
        for (index, key) in keys.iter().enumerate() {
            if keys[..index].iter().any(|earlier| earlier.kid == key.kid) {
                return Err(TokenConfigError::BadKeyId);
            }
        }
        if !keys.iter().any(|key| key.kid == signing_kid) {
            return Err(TokenConfigError::SigningKeyMissing);
        }
        Ok(Self {
            algorithm,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            signing_kid: signing_kid.to_owned(),
            keys,
        })
    }

    fn key(&self, kid: &str) -> Option<&TokenKey> {
        self.keys.iter().find(|key| key.kid == kid)
    }

    /// Issues an access token for `user_id`, valid from `now` for [`ACCESS_TOKEN_SECONDS`],
    /// outside any session.
    pub fn issue(&self, user_id: UserId, now: DateTime<Utc>) -> Result<AccessToken, TokenError> {
        self.issue_in(user_id, None, now)
    }

    /// Issues an access token for `user_id` in the session family `session` (claim `sid`:
    /// what "the other sessions" of the user are, when an e-mail change revokes them).
    pub fn issue_in(
        &self,
        user_id: UserId,
        session: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<AccessToken, TokenError> {
        let key = self
            .key(&self.signing_kid)
            .ok_or(TokenError::UnknownKeyId)?;
        let issued_at = truncate_to_seconds(now);
        let expires_at = issued_at + Duration::seconds(ACCESS_TOKEN_SECONDS);
        let mut claims = Claims::new(AccessClaims {
            sub: user_id.to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: random_base64url::<JTI_BYTES>()?,
            sid: session,
        });
        claims.issued_at = Some(issued_at);
        claims.expiration = Some(expires_at);
        let header = Header::empty()
            .with_key_id(key.kid.clone())
            .with_token_type("JWT");
        let token = match self.algorithm {
            JwtAlgorithm::Hs256 => Hs256.token(&header, &claims, &Hs256Key::new(&key.secret)),
            JwtAlgorithm::Hs384 => Hs384.token(&header, &claims, &Hs384Key::new(&key.secret)),
            JwtAlgorithm::Hs512 => Hs512.token(&header, &claims, &Hs512Key::new(&key.secret)),
        }
        .map_err(|_| TokenError::Signing)?;
        Ok(AccessToken { token, expires_at })
    }

    /// Verifies an access token presented at `now` (see the module documentation).
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<VerifiedAccess, TokenError> {
        let untrusted = UntrustedToken::new(token).map_err(|_| TokenError::Malformed)?;
        let kid = jwt::key_id(&untrusted, self.algorithm.name())?;
        let key = self.key(kid).ok_or(TokenError::UnknownKeyId)?;
        let checked = match self.algorithm {
            JwtAlgorithm::Hs256 => Hs256
                .validator::<AccessClaims>(&Hs256Key::new(&key.secret))
                .validate(&untrusted),
            JwtAlgorithm::Hs384 => Hs384
                .validator::<AccessClaims>(&Hs384Key::new(&key.secret))
                .validate(&untrusted),
            JwtAlgorithm::Hs512 => Hs512
                .validator::<AccessClaims>(&Hs512Key::new(&key.secret))
                .validate(&untrusted),
        }
        .map_err(validation_error)?;
        let claims = checked.claims();
        let options = TimeOptions::new(Duration::seconds(LEEWAY_SECONDS), || now);
        claims
            .validate_expiration(&options)
            .map_err(validation_error)?;
        let (Some(issued_at), Some(expires_at)) = (claims.issued_at, claims.expiration) else {
            return Err(TokenError::MissingClaim);
        };
        let custom = &claims.custom;
        if custom.iss != self.issuer {
            return Err(TokenError::WrongIssuer);
        }
        if custom.aud != self.audience {
            return Err(TokenError::WrongAudience);
        }
        if custom.jti.is_empty() {
            return Err(TokenError::MissingClaim);
        }
        let user_id = UserId::parse(&custom.sub).map_err(|_| TokenError::MissingClaim)?;
        Ok(VerifiedAccess {
            user_id,
            token_id: custom.jti.clone(),
            issued_at,
            expires_at,
            session: custom.sid,
        })
    }
}

fn validation_error(error: ValidationError) -> TokenError {
    match Invalid::from(error) {
        Invalid::AlgorithmRefused => TokenError::AlgorithmRefused,
        Invalid::BadSignature => TokenError::BadSignature,
        Invalid::Expired => TokenError::Expired,
        Invalid::MissingClaim => TokenError::MissingClaim,
        // `NotMature` is not raised here: `verify` does not check `nbf`.
        Invalid::NotYetValid | Invalid::Malformed => TokenError::Malformed,
    }
}

fn truncate_to_seconds(moment: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(moment.timestamp(), 0).unwrap_or(moment)
}

fn random_base64url<const N: usize>() -> Result<String, TokenError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|_| TokenError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// A new refresh token: [`REFRESH_TOKEN_BYTES`] random bytes, base64url without padding.
/// `Debug` does not show it; store only [`RefreshToken::storage_hash`].
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl RefreshToken {
    /// Draws a new token from the system random source.
    pub fn generate() -> Result<Self, TokenError> {
        random_base64url::<REFRESH_TOKEN_BYTES>().map(Self)
    }

    /// The token, to give to the client once.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What to store and look up: [`sha256_hex`] of the token.
    pub fn storage_hash(&self) -> String {
        sha256_hex(&self.0)
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

/// SHA-256 of the token's UTF-8 bytes, as 64 lower-case hex digits.
pub fn sha256_hex(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        hex.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &[u8] = b"old-secret-old-secret-old-secret-0123";
    const NEW: &[u8] = b"new-secret-new-secret-new-secret-4567";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000, 0).expect("valid time")
    }

    fn user() -> UserId {
        UserId::parse("42").expect("user id")
    }

    fn config(signing: &str, keys: &[(&str, &[u8])]) -> AccessTokens {
        let keys = keys
            .iter()
            .map(|(kid, secret)| TokenKey::new(kid, secret).expect("key"))
            .collect();
        AccessTokens::new(JwtAlgorithm::Hs256, "keemu", "keemu-app", signing, keys).expect("config")
    }

    fn b64(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    fn payload(now: DateTime<Utc>) -> String {
        let iat = now.timestamp();
        b64(&format!(
            r#"{{"sub":"42","iat":{iat},"exp":{},"iss":"keemu","aud":"keemu-app","jti":"abc"}}"#,
            iat + 900
        ))
    }

    #[test]
    fn issued_token_verifies_with_its_claims() {
        let tokens = config("k1", &[("k1", OLD)]);
        let issued = tokens.issue(user(), now()).expect("issued");
        assert_eq!(issued.expires_at(), now() + Duration::seconds(900));
        let verified = tokens.verify(issued.as_str(), now()).expect("valid");
        assert_eq!(verified.user_id, user());
        assert_eq!(verified.issued_at, now());
        assert_eq!(verified.expires_at, now() + Duration::seconds(900));
        assert_eq!(verified.token_id.len(), 22);

        let header = issued.as_str().split('.').next().expect("header");
        let header = URL_SAFE_NO_PAD.decode(header).expect("base64url");
        let header: serde_json::Value = serde_json::from_slice(&header).expect("json");
        assert_eq!(header["alg"], "HS256");
        assert_eq!(header["kid"], "k1");
    }

    #[test]
    fn jti_is_random() {
        let tokens = config("k1", &[("k1", OLD)]);
        let a = tokens.issue(user(), now()).expect("issued");
        let b = tokens.issue(user(), now()).expect("issued");
        let a = tokens.verify(a.as_str(), now()).expect("valid").token_id;
        let b = tokens.verify(b.as_str(), now()).expect("valid").token_id;
        assert_ne!(a, b);
    }

    #[test]
    fn alg_none_is_refused() {
        let tokens = config("k1", &[("k1", OLD)]);
        let header = b64(r#"{"alg":"none","kid":"k1","typ":"JWT"}"#);
        for token in [
            format!("{header}.{}.", payload(now())),
            format!("{header}.{}", payload(now())),
        ] {
            assert!(matches!(
                tokens.verify(&token, now()),
                Err(TokenError::AlgorithmRefused | TokenError::Malformed)
            ));
        }
        assert_eq!(
            tokens.verify(&format!("{header}.{}.", payload(now())), now()),
            Err(TokenError::AlgorithmRefused)
        );
    }

    #[test]
    fn other_algorithms_are_refused_even_when_signed_with_the_key() {
        let tokens = config("k1", &[("k1", OLD)]);
        let hs512 = AccessTokens::new(
            JwtAlgorithm::Hs512,
            "keemu",
            "keemu-app",
            "k1",
            vec![TokenKey::new("k1", OLD).expect("key")],
        )
        .expect("config");
        let token = hs512.issue(user(), now()).expect("issued");
        assert!(hs512.verify(token.as_str(), now()).is_ok());
        assert_eq!(
            tokens.verify(token.as_str(), now()),
            Err(TokenError::AlgorithmRefused)
        );

        // An asymmetric algorithm name with the HMAC key as "public key" (algorithm confusion).
        let header = b64(r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#);
        let token = format!("{header}.{}.c2lnbmF0dXJl", payload(now()));
        assert_eq!(
            tokens.verify(&token, now()),
            Err(TokenError::AlgorithmRefused)
        );
    }

    #[test]
    fn tampered_tokens_are_refused() {
        let tokens = config("k1", &[("k1", OLD)]);
        let token = tokens.issue(user(), now()).expect("issued");
        let parts: Vec<&str> = token.as_str().split('.').collect();
        assert_eq!(parts.len(), 3);

        // A changed signature byte.
        let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("base64url");
        signature[5] ^= 0x01;
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            URL_SAFE_NO_PAD.encode(&signature)
        );
        assert_eq!(tokens.verify(&forged, now()), Err(TokenError::BadSignature));

        // Another user's id in the payload, with the original signature.
        let payload = URL_SAFE_NO_PAD.decode(parts[1]).expect("base64url");
        let payload = String::from_utf8(payload)
            .expect("utf-8")
            .replace(r#""sub":"42""#, r#""sub":"1""#);
        let forged = format!("{}.{}.{}", parts[0], b64(&payload), parts[2]);
        assert_eq!(tokens.verify(&forged, now()), Err(TokenError::BadSignature));

        // Signed with a key that is not the configured one under the same kid.
        let other = config("k1", &[("k1", NEW)])
            .issue(user(), now())
            .expect("issued");
        assert_eq!(
            tokens.verify(other.as_str(), now()),
            Err(TokenError::BadSignature)
        );

        assert_eq!(
            tokens.verify("not a token", now()),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn expiry_is_checked_with_a_small_leeway() {
        let tokens = config("k1", &[("k1", OLD)]);
        let token = tokens.issue(user(), now()).expect("issued");
        let exp = now() + Duration::seconds(ACCESS_TOKEN_SECONDS);
        assert!(tokens.verify(token.as_str(), exp).is_ok());
        assert!(
            tokens
                .verify(token.as_str(), exp + Duration::seconds(LEEWAY_SECONDS - 1))
                .is_ok()
        );
        assert_eq!(
            tokens.verify(token.as_str(), exp + Duration::seconds(LEEWAY_SECONDS + 1)),
            Err(TokenError::Expired)
        );
        assert_eq!(
            tokens.verify(token.as_str(), now() + Duration::hours(1)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn wrong_issuer_or_audience_is_refused() {
        let keys = || vec![TokenKey::new("k1", OLD).expect("key")];
        let tokens = config("k1", &[("k1", OLD)]);
        let other_iss = AccessTokens::new(JwtAlgorithm::Hs256, "evil", "keemu-app", "k1", keys())
            .expect("config")
            .issue(user(), now())
            .expect("issued");
        assert_eq!(
            tokens.verify(other_iss.as_str(), now()),
            Err(TokenError::WrongIssuer)
        );
        let other_aud = AccessTokens::new(JwtAlgorithm::Hs256, "keemu", "other-app", "k1", keys())
            .expect("config")
            .issue(user(), now())
            .expect("issued");
        assert_eq!(
            tokens.verify(other_aud.as_str(), now()),
            Err(TokenError::WrongAudience)
        );
    }

    #[test]
    fn unknown_or_missing_kid_is_refused() {
        let tokens = config("k1", &[("k1", OLD)]);
        let token = config("k9", &[("k9", OLD)])
            .issue(user(), now())
            .expect("issued");
        assert_eq!(
            tokens.verify(token.as_str(), now()),
            Err(TokenError::UnknownKeyId)
        );

        let header = b64(r#"{"alg":"HS256","typ":"JWT"}"#);
        let token = format!("{header}.{}.c2lnbmF0dXJl", payload(now()));
        assert_eq!(tokens.verify(&token, now()), Err(TokenError::MissingKeyId));
    }

    #[test]
    fn key_rotation() {
        // Before: signs and verifies with "old".
        let before = config("old", &[("old", OLD)]);
        let old_token = before.issue(user(), now()).expect("issued");
        // During: signs with "new", still verifies "old".
        let during = config("new", &[("new", NEW), ("old", OLD)]);
        assert_eq!(
            during
                .verify(old_token.as_str(), now())
                .expect("valid")
                .user_id,
            user()
        );
        let new_token = during.issue(user(), now()).expect("issued");
        assert!(during.verify(new_token.as_str(), now()).is_ok());
        assert_eq!(
            before.verify(new_token.as_str(), now()),
            Err(TokenError::UnknownKeyId)
        );
        // After: "old" removed, its tokens refused.
        let after = config("new", &[("new", NEW)]);
        assert_eq!(
            after.verify(old_token.as_str(), now()),
            Err(TokenError::UnknownKeyId)
        );
        assert!(after.verify(new_token.as_str(), now()).is_ok());
    }

    #[test]
    fn configuration_is_checked() {
        let key = |kid: &str| TokenKey::new(kid, OLD).expect("key");
        assert_eq!(
            TokenKey::new("k", &[0; 31]).err(),
            Some(TokenConfigError::WeakKey)
        );
        assert_eq!(
            TokenKey::new("", OLD).err(),
            Some(TokenConfigError::BadKeyId)
        );
        let new = |signing: &str, keys: Vec<TokenKey>, iss: &str| {
            AccessTokens::new(JwtAlgorithm::Hs256, iss, "aud", signing, keys).err()
        };
        assert_eq!(
            new("a", vec![key("a"), key("a")], "iss"),
            Some(TokenConfigError::BadKeyId)
        );
        assert_eq!(
            new("b", vec![key("a")], "iss"),
            Some(TokenConfigError::SigningKeyMissing)
        );
        assert_eq!(
            new("a", vec![key("a")], ""),
            Some(TokenConfigError::EmptyIssuerOrAudience)
        );
    }

    #[test]
    fn refresh_tokens() {
        let a = RefreshToken::generate().expect("random");
        let b = RefreshToken::generate().expect("random");
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 43);
        assert_eq!(
            URL_SAFE_NO_PAD.decode(a.as_str()).expect("base64url").len(),
            32
        );
        assert_eq!(a.storage_hash(), sha256_hex(a.as_str()));
        assert_eq!(a.storage_hash().len(), 64);
        assert_ne!(a.storage_hash(), b.storage_hash());
    }

    #[test]
    fn sha256_hex_known_answer() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn debug_output_is_redacted() {
        let refresh = RefreshToken::generate().expect("random");
        assert_eq!(format!("{refresh:?}"), "RefreshToken(<redacted>)");
        let tokens = config("k1", &[("k1", OLD)]);
        let access = tokens.issue(user(), now()).expect("issued");
        let debug = format!("{access:?}");
        assert!(!debug.contains(access.as_str()), "{debug}");
        assert!(debug.contains("<redacted>"));
        let debug = format!("{tokens:?}");
        assert!(!debug.contains("old-secret"), "{debug}");
        assert!(debug.contains("k1"));
    }
}
