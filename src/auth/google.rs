//! Google sign-in: verifying a Google ID token against Google's published keys (JWKS).
//! Host-independent: the key set is fetched through [`crate::outbound`] (the one module that
//! sends HTTP, implemented by the Spin components); this module gets the keys ([`keys`]:
//! cached, fetched again when needed), parses them, and verifies tokens.
//!
//! Verification ([`verify_id_token`]), in order: the token is at most [`MAX_TOKEN_BYTES`] and
//! parses; its header's `alg` is exactly `RS256` (so `none`, `HS256` and every other algorithm
//! are refused before any key is looked at); its `kid` names a key of the set; the RS256
//! signature checks with that key (RustCrypto `rsa` through `jwt-compact`; keys of 2048, 3072
//! or 4096 bits only); `exp` is not past and `nbf`, when present, not ahead (both with
//! [`LEEWAY_SECONDS`]); `iat` is present; `iss` is `accounts.google.com` or
//! `https://accounts.google.com`; `aud` is the configured client id (a string, or an array
//! containing it); `sub` is non-empty and at most [`MAX_SUBJECT_CHARS`]; `email` is present
//! and `email_verified` is `true` (or the string `"true"`).
//!
//! Key rotation: Google publishes new keys before signing with them and serves the set with
//! `Cache-Control: max-age=N`. A route keeps a [`JwksCache`] and, per request (step 2 is
//! [`keys`]):
//! 1. `kid = token_key_id(token)?` (refuses a malformed or non-`RS256` token before any fetch);
//! 2. if [`needs_fetch`]`(cache, &kid, now)`, fetches the set once (bounded by
//!    [`MAX_JWKS_BYTES`]), and on status 200 replaces the cache with
//!    `JwksCache::new(Jwks::parse(&body)?, now, max_age(cache_control))`; if the fetch fails,
//!    a stale cached set is still better than none;
//! 3. [`verify_id_token`] with the cached set.
//!
//! An unknown `kid` causes a fetch only once [`MIN_REFETCH_SECONDS`] have passed since the
//! last one, so tokens with made-up key ids cannot make every request fetch.
//!
//! No `Debug` or error here shows a token; [`GoogleIdentity`]'s `Debug` shows the subject only.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use jwt_compact::alg::{Rsa, RsaPublicKey, StrongAlg, StrongKey};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{AlgorithmExt, TimeOptions, UntrustedToken, ValidationError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::jwt::{self, HeaderRefusal, Invalid};
use crate::observability::log;
use crate::outbound::{Outbound, OutboundError, client};

/// Where Google publishes the keys that sign its ID tokens.
pub const DEFAULT_JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";
/// The `iss` values Google uses.
pub const ISSUERS: [&str; 2] = ["accounts.google.com", "https://accounts.google.com"];
/// The one accepted `alg`.
pub const ALGORITHM: &str = "RS256";
/// Clock skew tolerated when checking `exp` and `nbf`.
pub const LEEWAY_SECONDS: i64 = 30;
/// Longest token accepted (Google's are about 1 KiB).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Largest key-set document worth reading (Google's is about 1 KiB).
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// Longest `sub` accepted (Google documents at most 255 ASCII characters).
pub const MAX_SUBJECT_CHARS: usize = 255;
/// How long a fetched key set is used when its response has no usable `max-age`.
pub const DEFAULT_JWKS_TTL_SECONDS: i64 = 5 * 60;
/// Longest a fetched key set is used, whatever `max-age` says.
pub const MAX_JWKS_TTL_SECONDS: i64 = 24 * 60 * 60;
/// Shortest time between two fetches caused by an unknown `kid`.
pub const MIN_REFETCH_SECONDS: i64 = 60;
/// Time allowed to fetch the key set.
pub const JWKS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// The application's Google settings. No secrets here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleConfig {
    /// The OAuth client id: the `aud` of the tokens meant for this application.
    pub client_id: String,
    /// Where the key set is fetched from ([`DEFAULT_JWKS_URL`] for Google).
    pub jwks_url: String,
}

/// Why an ID token was refused. Never contains the token or a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GoogleError {
    /// Not a well-formed JWT (size, segments, base64, JSON, claim types).
    #[error("Google token is malformed")]
    Malformed,
    /// The header's `alg` is not `RS256` (including `none` and `HS256`).
    #[error("Google token algorithm is not accepted")]
    AlgorithmRefused,
    /// The header has no `kid`.
    #[error("Google token has no key id")]
    MissingKeyId,
    /// The header's `kid` names no key of the set.
    #[error("Google token key id is unknown")]
    UnknownKeyId,
    /// The signature does not match.
    #[error("Google token signature is invalid")]
    BadSignature,
    /// `exp` is past (beyond the leeway).
    #[error("Google token has expired")]
    Expired,
    /// `nbf` is ahead (beyond the leeway).
    #[error("Google token is not valid yet")]
    NotYetValid,
    /// `iss` is not Google's.
    #[error("Google token issuer is not accepted")]
    WrongIssuer,
    /// `aud` is not (or does not contain) the configured client id.
    #[error("Google token audience is not accepted")]
    WrongAudience,
    /// `email_verified` is missing or not true.
    #[error("Google account email is not verified")]
    EmailNotVerified,
    /// A required claim (`exp`, `iat`, `iss`, `aud`, `sub`, `email`) is missing or unusable.
    #[error("Google token lacks a required claim")]
    MissingClaim,
}

impl From<HeaderRefusal> for GoogleError {
    fn from(refusal: HeaderRefusal) -> Self {
        match refusal {
            HeaderRefusal::AlgorithmRefused => GoogleError::AlgorithmRefused,
            HeaderRefusal::MissingKeyId => GoogleError::MissingKeyId,
        }
    }
}

/// Why a key-set document was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// Not JSON, or no `keys` array.
    #[error("key set is malformed")]
    Malformed,
    /// No RSA signing key with a `kid`, usable for RS256 and of an accepted size.
    #[error("key set has no usable key")]
    NoUsableKey,
}

/// The RS256 keys of a JWKS document (RFC 7517), by `kid`. `Debug` shows the key ids.
#[derive(Clone)]
pub struct Jwks {
    keys: Vec<(String, StrongKey<RsaPublicKey>)>,
}

#[derive(Deserialize)]
struct JwksDocument {
    keys: Vec<Value>,
}

impl Jwks {
    /// Parses a JWKS document. Keeps the keys with `"kty": "RSA"`, a non-empty `kid`, `n` and
    /// `e`, whose `use` (when present) is `sig` and `alg` (when present) is `RS256`, and whose
    /// modulus has 2048, 3072 or 4096 bits; ignores the others and later duplicates of a `kid`.
    pub fn parse(document: &[u8]) -> Result<Jwks, JwksError> {
        let document: JwksDocument =
            serde_json::from_slice(document).map_err(|_| JwksError::Malformed)?;
        let mut keys: Vec<(String, StrongKey<RsaPublicKey>)> = Vec::new();
        for entry in &document.keys {
            let Some((kid, key)) = rsa_signing_key(entry) else {
                continue;
            };
            if !keys.iter().any(|(known, _)| *known == kid) {
                keys.push((kid, key));
            }
        }
        if keys.is_empty() {
            return Err(JwksError::NoUsableKey);
        }
        Ok(Jwks { keys })
    }

    /// Whether the set has a key with this id.
    pub fn contains(&self, kid: &str) -> bool {
        self.key(kid).is_some()
    }

    /// The ids of the keys, in document order.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(kid, _)| kid.as_str())
    }

    fn key(&self, kid: &str) -> Option<&StrongKey<RsaPublicKey>> {
        self.keys
            .iter()
            .find(|(known, _)| known == kid)
            .map(|(_, key)| key)
    }
}

impl fmt::Debug for Jwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwks")
            .field("key_ids", &self.key_ids().collect::<Vec<_>>())
            .finish()
    }
}

fn rsa_signing_key(entry: &Value) -> Option<(String, StrongKey<RsaPublicKey>)> {
    let field = |name: &str| entry.get(name).and_then(Value::as_str);
    let absent_or =
        |name: &str, wanted: &str| entry.get(name).is_none() || field(name) == Some(wanted);
    if field("kty") != Some("RSA") || !absent_or("use", "sig") || !absent_or("alg", ALGORITHM) {
        return None;
    }
    let kid = field("kid").filter(|kid| !kid.is_empty())?;
    let modulus = base64url(field("n")?)?;
    let public_exponent = base64url(field("e")?)?;
    let jwk = JsonWebKey::Rsa {
        modulus: Cow::Owned(modulus),
        public_exponent: Cow::Owned(public_exponent),
        private_parts: None,
    };
    let key = RsaPublicKey::try_from(&jwk).ok()?;
    let key = StrongKey::try_from(key).ok()?;
    Some((kid.to_owned(), key))
}

/// Base64url, with or without padding (RFC 7515 says without; be lenient).
fn base64url(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

/// A fetched key set and how long to use it.
#[derive(Debug, Clone)]
pub struct JwksCache {
    /// The keys.
    pub jwks: Jwks,
    /// When they were fetched.
    pub fetched_at: DateTime<Utc>,
    /// When they stop being fresh.
    pub expires_at: DateTime<Utc>,
}

impl JwksCache {
    /// A set fetched at `fetched_at`, fresh for `max_age` (the response's [`max_age`]),
    /// at most [`MAX_JWKS_TTL_SECONDS`]; [`DEFAULT_JWKS_TTL_SECONDS`] when `None`.
    pub fn new(
        jwks: Jwks,
        fetched_at: DateTime<Utc>,
        max_age: Option<std::time::Duration>,
    ) -> JwksCache {
        let seconds = max_age.map_or(DEFAULT_JWKS_TTL_SECONDS, |age| {
            i64::try_from(age.as_secs())
                .map_or(MAX_JWKS_TTL_SECONDS, |s| s.min(MAX_JWKS_TTL_SECONDS))
        });
        JwksCache {
            jwks,
            fetched_at,
            expires_at: fetched_at + Duration::seconds(seconds),
        }
    }

    /// Whether the set may still be used without fetching it again.
    pub fn fresh(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at
    }
}

/// Whether to fetch the key set before verifying a token whose header names `kid`: when
/// nothing is cached, when the cached set is stale, or when it lacks `kid` (a rotation) and
/// was fetched at least [`MIN_REFETCH_SECONDS`] ago. Call it once per request.
pub fn needs_fetch(cache: Option<&JwksCache>, kid: &str, now: DateTime<Utc>) -> bool {
    match cache {
        None => true,
        Some(cache) if !cache.fresh(now) => true,
        Some(cache) => {
            !cache.jwks.contains(kid)
                && now - cache.fetched_at >= Duration::seconds(MIN_REFETCH_SECONDS)
        }
    }
}

/// The `max-age` of a `Cache-Control` header value: directives are comma-separated and
/// case-insensitive, whitespace is ignored, a quoted value is accepted. `None` when the header
/// is absent, has no valid `max-age`, or says `no-store` or `no-cache`.
pub fn max_age(cache_control: Option<&str>) -> Option<std::time::Duration> {
    let mut found = None;
    for directive in cache_control?.split(',') {
        let (name, value) = match directive.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim())),
            None => (directive.trim(), None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return None;
        }
        if name.eq_ignore_ascii_case("max-age") && found.is_none() {
            found = value
                .map(|v| {
                    v.strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or(v)
                })
                .and_then(|v| v.parse::<u64>().ok())
                .map(std::time::Duration::from_secs);
        }
    }
    found
}

/// Why no key set could be fetched. Shows no URL and no body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeysUnavailable {
    /// The fetch failed, or answered a status other than 200.
    Fetch(OutboundError),
    /// The document is not a usable key set.
    Unusable(JwksError),
}

impl KeysUnavailable {
    /// What the log says (`google_keys_unavailable`'s `reason`).
    #[must_use]
    pub const fn reason(self) -> &'static str {
        match self {
            Self::Unusable(_) => "the key set is not usable",
            Self::Fetch(OutboundError::Status(_)) => "the key set URL did not answer 200",
            Self::Fetch(OutboundError::Timeout) => "the key set fetch timed out",
            Self::Fetch(OutboundError::Denied) => {
                "the key set host is not in allowed_outbound_hosts"
            }
            Self::Fetch(OutboundError::TooLarge) => "the key set is too large",
            Self::Fetch(OutboundError::InvalidUrl) => "google_jwks_url is not a valid URL",
            Self::Fetch(
                OutboundError::Failed
                | OutboundError::Refused(_)
                | OutboundError::TooManyRedirects
                | OutboundError::BadRedirect,
            ) => "the key set fetch failed",
        }
    }
}

/// Fetches the key set at `url` (one `GET`, [`JWKS_TIMEOUT`], [`MAX_JWKS_BYTES`], status
/// 200 only) and parses it: the set, and the response's [`max_age`].
///
/// # Errors
///
/// [`KeysUnavailable`]: the fetch failed, or the document is not a usable set.
pub async fn fetch_keys(
    outbound: &impl Outbound,
    url: &str,
) -> Result<(Jwks, Option<std::time::Duration>), KeysUnavailable> {
    let got = client::get_configured(outbound, url, JWKS_TIMEOUT, MAX_JWKS_BYTES)
        .await
        .map_err(KeysUnavailable::Fetch)?;
    let jwks = Jwks::parse(&got.body).map_err(KeysUnavailable::Unusable)?;
    Ok((jwks, max_age(got.header("cache-control"))))
}

/// Google's keys for a token signed with `kid`: the set in `cache`, fetched again
/// ([`fetch_keys`]) when [`needs_fetch`] says so, and then cached. A failed fetch is logged
/// (`google_keys_unavailable`) and falls back on the cached set, stale or not.
///
/// # Errors
///
/// Why the fetch failed, when nothing is cached.
pub async fn keys(
    outbound: &impl Outbound,
    config: &GoogleConfig,
    cache: &RefCell<Option<JwksCache>>,
    kid: &str,
    now: DateTime<Utc>,
) -> Result<Jwks, KeysUnavailable> {
    let cached = cache.borrow().clone();
    if !needs_fetch(cached.as_ref(), kid, now)
        && let Some(cached) = cached
    {
        return Ok(cached.jwks);
    }
    match fetch_keys(outbound, &config.jwks_url).await {
        Ok((jwks, max_age)) => {
            *cache.borrow_mut() = Some(JwksCache::new(jwks.clone(), now, max_age));
            Ok(jwks)
        }
        Err(error) => {
            log::warn(
                "google_keys_unavailable",
                json!({ "reason": error.reason() }),
            );
            cached.map(|cached| cached.jwks).ok_or(error)
        }
    }
}

/// The `kid` of a token's header, read without verifying the signature or the claims (to
/// decide whether to fetch the key set before [`verify_id_token`]). A token that is not
/// `RS256` is refused here already, so it never causes a fetch.
pub fn token_key_id(token: &str) -> Result<String, GoogleError> {
    let untrusted = parse(token)?;
    let kid = jwt::key_id(&untrusted, ALGORITHM)?;
    if kid.is_empty() {
        return Err(GoogleError::MissingKeyId);
    }
    Ok(kid.to_owned())
}

fn parse(token: &str) -> Result<UntrustedToken<'_>, GoogleError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(GoogleError::Malformed);
    }
    UntrustedToken::new(token).map_err(|_| GoogleError::Malformed)
}

/// Who a verified ID token names. `Debug` shows the subject only.
#[derive(Clone, PartialEq, Eq)]
pub struct GoogleIdentity {
    /// `sub`: the Google account's stable id.
    pub subject: String,
    /// `email`, verified by Google.
    pub email: String,
    /// `name`, when the token has one.
    pub name: Option<String>,
    /// `iat`: when Google issued the token (a re-authentication wants a recent one).
    pub issued_at: DateTime<Utc>,
}

impl fmt::Debug for GoogleIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleIdentity")
            .field("subject", &self.subject)
            .field("email", &"<redacted>")
            .field("name", &"<redacted>")
            .finish()
    }
}

/// The claims read besides the times. All optional, so that a missing claim is reported as
/// such after the signature check rather than as a malformed token.
#[derive(Deserialize)]
struct IdClaims {
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    aud: Option<Value>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<Value>,
    #[serde(default)]
    name: Option<String>,
}

/// Verifies a Google ID token presented at `now` (see the module documentation).
pub fn verify_id_token(
    token: &str,
    jwks: &Jwks,
    config: &GoogleConfig,
    now: DateTime<Utc>,
) -> Result<GoogleIdentity, GoogleError> {
    let untrusted = parse(token)?;
    let kid = jwt::key_id(&untrusted, ALGORITHM)?;
    let key = jwks.key(kid).ok_or(GoogleError::UnknownKeyId)?;
    let checked = StrongAlg(Rsa::rs256())
        .validator::<IdClaims>(key)
        .validate(&untrusted)
        .map_err(validation_error)?;
    let claims = checked.claims();
    let options = TimeOptions::new(Duration::seconds(LEEWAY_SECONDS), || now);
    claims
        .validate_expiration(&options)
        .map_err(validation_error)?;
    if claims.not_before.is_some() {
        claims
            .validate_maturity(&options)
            .map_err(validation_error)?;
    }
    let issued_at = claims.issued_at.ok_or(GoogleError::MissingClaim)?;
    let custom = &claims.custom;
    let issuer = custom.iss.as_deref().ok_or(GoogleError::MissingClaim)?;
    if !ISSUERS.contains(&issuer) {
        return Err(GoogleError::WrongIssuer);
    }
    let audience = custom.aud.as_ref().ok_or(GoogleError::MissingClaim)?;
    if config.client_id.is_empty() || !audience_matches(audience, &config.client_id) {
        return Err(GoogleError::WrongAudience);
    }
    let subject = custom
        .sub
        .as_deref()
        .filter(|sub| !sub.is_empty() && sub.chars().count() <= MAX_SUBJECT_CHARS)
        .ok_or(GoogleError::MissingClaim)?;
    let email = custom
        .email
        .as_deref()
        .filter(|email| !email.is_empty())
        .ok_or(GoogleError::MissingClaim)?;
    let verified = match &custom.email_verified {
        Some(Value::Bool(verified)) => *verified,
        Some(Value::String(verified)) => verified == "true",
        _ => false,
    };
    if !verified {
        return Err(GoogleError::EmailNotVerified);
    }
    Ok(GoogleIdentity {
        subject: subject.to_owned(),
        email: email.to_owned(),
        name: custom.name.clone().filter(|name| !name.is_empty()),
        issued_at,
    })
}

fn audience_matches(audience: &Value, client_id: &str) -> bool {
    match audience {
        Value::String(aud) => aud == client_id,
        Value::Array(auds) => auds.iter().any(|aud| aud.as_str() == Some(client_id)),
        _ => false,
    }
}

fn validation_error(error: ValidationError) -> GoogleError {
    match Invalid::from(error) {
        Invalid::AlgorithmRefused => GoogleError::AlgorithmRefused,
        Invalid::BadSignature => GoogleError::BadSignature,
        Invalid::Expired => GoogleError::Expired,
        Invalid::NotYetValid => GoogleError::NotYetValid,
        Invalid::MissingClaim => GoogleError::MissingClaim,
        Invalid::Malformed => GoogleError::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwt_compact::alg::{Hs256, Hs256Key, RsaPrivateKey};
    use jwt_compact::{Claims, Header};

    const JWKS: &str = include_str!("../../tests/fixtures/google/jwks.json");
    const PRIVATE_JWK: &str = include_str!("../../tests/fixtures/google/test-signing-key.jwk.json");
    const KID: &str = "keemu-test-1";
    const CLIENT_ID: &str = "1234-keemu.apps.googleusercontent.com";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000, 0).expect("valid time")
    }

    fn config() -> GoogleConfig {
        GoogleConfig {
            client_id: CLIENT_ID.to_owned(),
            jwks_url: DEFAULT_JWKS_URL.to_owned(),
        }
    }

    fn jwks() -> Jwks {
        Jwks::parse(JWKS.as_bytes()).expect("fixture key set")
    }

    fn signing_key() -> RsaPrivateKey {
        let jwk: JsonWebKey<'_> = serde_json::from_str(PRIVATE_JWK).expect("fixture JWK");
        RsaPrivateKey::try_from(&jwk).expect("fixture private key")
    }

    /// Google's claims for `now`, as JSON, to be altered by each test.
    fn claims() -> Value {
        let iat = now().timestamp();
        serde_json::json!({
            "iss": "https://accounts.google.com",
            "azp": CLIENT_ID,
            "aud": CLIENT_ID,
            "sub": "110169484474386276334",
            "email": "ada@example.com",
            "email_verified": true,
            "name": "Ada Lovelace",
            "iat": iat,
            "exp": iat + 3600,
        })
    }

    fn sign_with(kid: &str, claims: &Value) -> String {
        let header = Header::empty().with_key_id(kid).with_token_type("JWT");
        Rsa::rs256()
            .token(&header, &Claims::new(claims.clone()), &signing_key())
            .expect("signed")
    }

    fn sign(claims: &Value) -> String {
        sign_with(KID, claims)
    }

    fn verify(token: &str) -> Result<GoogleIdentity, GoogleError> {
        verify_id_token(token, &jwks(), &config(), now())
    }

    fn b64(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn key_set_keeps_only_usable_rsa_signing_keys() {
        let set = jwks();
        // The EC key, the `enc` key and the 1024-bit key are ignored.
        assert_eq!(set.key_ids().collect::<Vec<_>>(), vec![KID]);
        assert!(set.contains(KID));
        assert!(!set.contains("keemu-test-weak"));
        assert_eq!(format!("{set:?}"), r#"Jwks { key_ids: ["keemu-test-1"] }"#);
    }

    #[test]
    fn key_set_without_usable_key_or_malformed_is_refused() {
        assert_eq!(Jwks::parse(b"not json").err(), Some(JwksError::Malformed));
        assert_eq!(
            Jwks::parse(br#"{"kys":[]}"#).err(),
            Some(JwksError::Malformed)
        );
        assert_eq!(
            Jwks::parse(br#"{"keys":[]}"#).err(),
            Some(JwksError::NoUsableKey)
        );
        let mut document: Value = serde_json::from_str(JWKS).expect("fixture");
        let keys = document["keys"].as_array_mut().expect("keys");
        keys.retain(|key| key["kid"] != KID);
        let only_unusable = serde_json::to_vec(&document).expect("json");
        assert_eq!(
            Jwks::parse(&only_unusable).err(),
            Some(JwksError::NoUsableKey)
        );
    }

    #[test]
    fn valid_token_gives_the_identity() {
        let identity = verify(&sign(&claims())).expect("valid");
        assert_eq!(identity.subject, "110169484474386276334");
        assert_eq!(identity.email, "ada@example.com");
        assert_eq!(identity.name.as_deref(), Some("Ada Lovelace"));
        let debug = format!("{identity:?}");
        assert!(debug.contains("110169484474386276334"));
        assert!(!debug.contains("ada@example.com") && !debug.contains("Ada Lovelace"));
    }

    #[test]
    fn accepted_variants_of_iss_aud_and_email_verified() {
        let mut claims = claims();
        claims["iss"] = "accounts.google.com".into();
        claims["aud"] = serde_json::json!(["other-client", CLIENT_ID]);
        claims["email_verified"] = "true".into();
        claims.as_object_mut().expect("object").remove("name");
        let identity = verify(&sign(&claims)).expect("valid");
        assert_eq!(identity.name, None);
    }

    #[test]
    fn alg_none_is_refused() {
        let payload = b64(&claims().to_string());
        let header = b64(&format!(r#"{{"alg":"none","kid":"{KID}","typ":"JWT"}}"#));
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}.c2ln"),
        ] {
            assert_eq!(verify(&token), Err(GoogleError::AlgorithmRefused));
            assert_eq!(token_key_id(&token), Err(GoogleError::AlgorithmRefused));
        }
    }

    #[test]
    fn hs256_signed_with_the_public_key_is_refused() {
        // Algorithm confusion: an HMAC key made of the public key's published bytes.
        let header = Header::empty().with_key_id(KID).with_token_type("JWT");
        let claims = Claims::new(claims());
        for secret in [JWKS.as_bytes(), PRIVATE_JWK.as_bytes()] {
            let token = Hs256
                .token(&header, &claims, &Hs256Key::new(secret))
                .expect("signed");
            assert_eq!(verify(&token), Err(GoogleError::AlgorithmRefused));
            assert_eq!(token_key_id(&token), Err(GoogleError::AlgorithmRefused));
        }
    }

    #[test]
    fn other_rsa_algorithms_are_refused() {
        let header = Header::empty().with_key_id(KID);
        let token = Rsa::ps256()
            .token(&header, &Claims::new(claims()), &signing_key())
            .expect("signed");
        assert_eq!(verify(&token), Err(GoogleError::AlgorithmRefused));
    }

    #[test]
    fn tampered_payload_is_refused() {
        let token = sign(&claims());
        let mut parts: Vec<&str> = token.split('.').collect();
        let mut forged = claims();
        forged["email"] = "eve@example.com".into();
        let forged = b64(&forged.to_string());
        parts[1] = &forged;
        assert_eq!(verify(&parts.join(".")), Err(GoogleError::BadSignature));
        // The signature of other claims, and a signature cut short.
        let mut other = claims();
        other["sub"] = "1".into();
        let other = sign(&other);
        let swapped = format!(
            "{}.{}",
            token.rsplit_once('.').expect("dot").0,
            other.rsplit_once('.').expect("dot").1
        );
        assert_eq!(verify(&swapped), Err(GoogleError::BadSignature));
        let (signed, signature) = token.rsplit_once('.').expect("dot");
        let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
        let cut = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(&signature[..200]));
        assert_eq!(verify(&cut), Err(GoogleError::BadSignature));
    }

    #[test]
    fn unknown_or_missing_kid_is_refused() {
        let token = sign_with("some-other-key", &claims());
        assert_eq!(verify(&token), Err(GoogleError::UnknownKeyId));
        assert_eq!(token_key_id(&token).as_deref(), Ok("some-other-key"));
        // Known to the document, but not a usable signing key.
        let token = sign_with("keemu-test-enc", &claims());
        assert_eq!(verify(&token), Err(GoogleError::UnknownKeyId));
        let header = Header::empty();
        let token = Rsa::rs256()
            .token(&header, &Claims::new(claims()), &signing_key())
            .expect("signed");
        assert_eq!(verify(&token), Err(GoogleError::MissingKeyId));
        assert_eq!(token_key_id(&token), Err(GoogleError::MissingKeyId));
    }

    #[test]
    fn wrong_audience_is_refused() {
        let mut claims = claims();
        claims["aud"] = "someone-else.apps.googleusercontent.com".into();
        assert_eq!(verify(&sign(&claims)), Err(GoogleError::WrongAudience));
        claims["aud"] = serde_json::json!(["a", "b"]);
        assert_eq!(verify(&sign(&claims)), Err(GoogleError::WrongAudience));
        let empty = GoogleConfig {
            client_id: String::new(),
            ..config()
        };
        claims["aud"] = "".into();
        let result = verify_id_token(&sign(&claims), &jwks(), &empty, now());
        assert_eq!(result, Err(GoogleError::WrongAudience));
    }

    #[test]
    fn wrong_issuer_is_refused() {
        let mut claims = claims();
        for issuer in ["https://evil.example.com", "http://accounts.google.com", ""] {
            claims["iss"] = issuer.into();
            assert_eq!(verify(&sign(&claims)), Err(GoogleError::WrongIssuer));
        }
    }

    #[test]
    fn expiry_is_checked_with_leeway() {
        let mut claims = claims();
        claims["exp"] = (now().timestamp() - LEEWAY_SECONDS - 1).into();
        assert_eq!(verify(&sign(&claims)), Err(GoogleError::Expired));
        claims["exp"] = (now().timestamp() - LEEWAY_SECONDS + 1).into();
        assert!(verify(&sign(&claims)).is_ok());
        claims["nbf"] = (now().timestamp() + LEEWAY_SECONDS + 60).into();
        assert_eq!(verify(&sign(&claims)), Err(GoogleError::NotYetValid));
    }

    #[test]
    fn unverified_email_is_refused() {
        let mut claims = claims();
        for verified in [Value::from(false), Value::from("false"), Value::from(1)] {
            claims["email_verified"] = verified;
            assert_eq!(verify(&sign(&claims)), Err(GoogleError::EmailNotVerified));
        }
        claims
            .as_object_mut()
            .expect("object")
            .remove("email_verified");
        assert_eq!(verify(&sign(&claims)), Err(GoogleError::EmailNotVerified));
    }

    #[test]
    fn missing_claims_are_refused() {
        for (claim, replacement) in [
            ("email", None),
            ("email", Some(Value::from(""))),
            ("sub", None),
            ("sub", Some(Value::from(""))),
            ("sub", Some(Value::from("1".repeat(MAX_SUBJECT_CHARS + 1)))),
            ("iat", None),
            ("exp", None),
            ("iss", None),
            ("aud", None),
        ] {
            let mut claims = claims();
            let object = claims.as_object_mut().expect("object");
            match replacement {
                Some(value) => object.insert(claim.to_owned(), value),
                None => object.remove(claim),
            };
            assert_eq!(
                verify(&sign(&claims)),
                Err(GoogleError::MissingClaim),
                "{claim}"
            );
        }
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for token in [
            "",
            "abc",
            "a.b",
            "a.b.c",
            "....",
            &"a".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            assert_eq!(verify(token), Err(GoogleError::Malformed));
            assert_eq!(token_key_id(token), Err(GoogleError::Malformed));
        }
    }

    #[test]
    fn errors_do_not_show_the_token() {
        let token = sign_with("some-other-key", &claims());
        let error = verify(&token).expect_err("refused");
        assert!(!error.to_string().contains(&token[..20]));
        assert!(!format!("{error:?}").contains(&token[..20]));
    }

    #[test]
    fn max_age_parsing() {
        let secs = |s: u64| Some(std::time::Duration::from_secs(s));
        assert_eq!(
            max_age(Some("public, max-age=19008, must-revalidate, no-transform")),
            secs(19008)
        );
        assert_eq!(max_age(Some("MAX-AGE = 60")), secs(60));
        assert_eq!(max_age(Some("max-age=\"120\"")), secs(120));
        assert_eq!(max_age(Some("s-maxage=5, max-age=7")), secs(7));
        assert_eq!(max_age(Some("max-age=0")), secs(0));
        assert_eq!(max_age(Some("max-age=10, max-age=20")), secs(10));
        assert_eq!(max_age(Some("max-age=60, no-cache")), None);
        assert_eq!(max_age(Some("No-Store, max-age=60")), None);
        assert_eq!(max_age(Some("public")), None);
        assert_eq!(max_age(Some("max-age=-1")), None);
        assert_eq!(max_age(Some("max-age=soon")), None);
        assert_eq!(max_age(Some("max-age")), None);
        assert_eq!(max_age(Some("")), None);
        assert_eq!(max_age(None), None);
    }

    #[test]
    fn cache_freshness_and_refetch_decision() {
        let at = now();
        let cache = JwksCache::new(jwks(), at, Some(std::time::Duration::from_secs(600)));
        assert_eq!(cache.expires_at, at + Duration::seconds(600));
        assert!(cache.fresh(at + Duration::seconds(599)));
        assert!(!cache.fresh(at + Duration::seconds(600)));
        let default = JwksCache::new(jwks(), at, None);
        assert_eq!(
            default.expires_at,
            at + Duration::seconds(DEFAULT_JWKS_TTL_SECONDS)
        );
        let capped = JwksCache::new(jwks(), at, Some(std::time::Duration::MAX));
        assert_eq!(
            capped.expires_at,
            at + Duration::seconds(MAX_JWKS_TTL_SECONDS)
        );

        assert!(needs_fetch(None, KID, at));
        assert!(!needs_fetch(Some(&cache), KID, at + Duration::seconds(10)));
        assert!(needs_fetch(Some(&cache), KID, at + Duration::seconds(600)));
        // Unknown kid: a rotation, but not more often than MIN_REFETCH_SECONDS.
        assert!(!needs_fetch(
            Some(&cache),
            "rotated",
            at + Duration::seconds(10)
        ));
        let later = at + Duration::seconds(MIN_REFETCH_SECONDS);
        assert!(needs_fetch(Some(&cache), "rotated", later));
    }

    /// Answers the key-set fetch with a fixed result.
    struct KeySet(Result<(u16, &'static str), OutboundError>);

    impl Outbound for KeySet {
        async fn fetch(
            &self,
            request: &crate::outbound::FetchRequest<'_>,
        ) -> Result<crate::outbound::Fetched, OutboundError> {
            assert_eq!(request.url, DEFAULT_JWKS_URL);
            assert_eq!(
                (request.timeout, request.max_bytes),
                (JWKS_TIMEOUT, MAX_JWKS_BYTES)
            );
            let (status, body) = self.0?;
            Ok(crate::outbound::Fetched {
                status,
                headers: vec![("cache-control".into(), "max-age=120".into())],
                body: body.as_bytes().to_vec(),
            })
        }
    }

    fn fetch(answer: Result<(u16, &'static str), OutboundError>) -> Result<Duration, &'static str> {
        let fetched =
            futures_util::FutureExt::now_or_never(fetch_keys(&KeySet(answer), DEFAULT_JWKS_URL))
                .expect("ready");
        fetched
            .map(|(jwks, max_age)| {
                assert!(jwks.contains(KID));
                Duration::seconds(max_age.map_or(-1, |age| age.as_secs().cast_signed()))
            })
            .map_err(KeysUnavailable::reason)
    }

    #[test]
    fn key_fetch_failures_have_their_reasons() {
        assert_eq!(fetch(Ok((200, JWKS))), Ok(Duration::seconds(120)));
        assert_eq!(
            fetch(Ok((302, JWKS))),
            Err("the key set URL did not answer 200")
        );
        assert_eq!(fetch(Ok((200, "{}"))), Err("the key set is not usable"));
        for (error, reason) in [
            (OutboundError::Timeout, "the key set fetch timed out"),
            (
                OutboundError::Denied,
                "the key set host is not in allowed_outbound_hosts",
            ),
            (OutboundError::TooLarge, "the key set is too large"),
            (
                OutboundError::InvalidUrl,
                "google_jwks_url is not a valid URL",
            ),
            (OutboundError::Failed, "the key set fetch failed"),
        ] {
            assert_eq!(fetch(Err(error)), Err(reason));
        }
    }
}
