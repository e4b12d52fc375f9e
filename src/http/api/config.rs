//! Settings of the api component, parsed once per instance from Spin variables. The
//! variables the components share (`api_token`, `outbound_allow_loopback`,
//! `youtube_origin`) are parsed by [`crate::http::config`].
//!
//! | variable           | meaning                                                           |
//! |--------------------|-------------------------------------------------------------------|
//! | `api_token`        | the operator's bearer token (`/api/v1/users...`), ≥ 16 characters |
//! | `auth_keys`        | secret: `kid:base64-secret` pairs, comma-separated; every key verifies |
//! | `auth_signing_kid` | the `kid` of the key that signs new access tokens                 |
//! | `auth_issuer`      | `iss` of access tokens                                            |
//! | `auth_audience`    | `aud` of access tokens                                            |
//! | `google_client_id` | the OAuth client id Google ID tokens must be issued to (`aud`)    |
//! | `google_jwks_url`  | where Google's signing keys are published                         |
//! | `outbound_allow_loopback` | `true`: subscribing may fetch from 127.0.0.0/8, `::1`, `localhost` (tests only; default `false`) |
//! | `youtube_origin`   | where YouTube channel pages are fetched from (default `https://www.youtube.com`; a fixture server in tests) |
//! | `hash_budget`      | password hashes per second, `PER_CLIENT/GLOBAL` (default `3/10`; see [`HashBudget`]) |
//! | `link_key`         | secret: base64 of ≥ 32 bytes signing the `/links/...` URLs (empty, the default: those routes answer 404) |
//! | `public_base_url`  | where the service is reached from outside, the start of every signed link (default `http://127.0.0.1:3000`) |
//!
//! A setting that is missing or invalid disables what needs it (503 "not configured" on those
//! routes, logged once per request with a constant reason), never the rest of the API.

use std::cell::RefCell;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

use serde_json::json;

use crate::auth::google::{GoogleConfig, JwksCache};
use crate::auth::token::{AccessTokens, JwtAlgorithm, TokenConfigError, TokenKey};
use crate::digests::links::Links;
use crate::http::ApiError;
use crate::http::config::{allow_loopback, links, operator_token, origin};
use crate::models::account::{HashBudget, ThrottlePolicy};
use crate::observability::log;
use crate::outbound::NetPolicy;
use crate::sources::resolve::ResolveSettings;

/// How long a refresh token lives (each rotation starts a new period).
pub const REFRESH_TOKEN_DAYS: i64 = 30;

/// The raw values of the variables (each `None` when unset).
#[derive(Default, Clone)]
pub struct Variables {
    pub api_token: Option<String>,
    pub auth_keys: Option<String>,
    pub auth_signing_kid: Option<String>,
    pub auth_issuer: Option<String>,
    pub auth_audience: Option<String>,
    pub google_client_id: Option<String>,
    pub google_jwks_url: Option<String>,
    pub outbound_allow_loopback: Option<String>,
    pub youtube_origin: Option<String>,
    pub hash_budget: Option<String>,
    pub link_key: Option<String>,
    pub public_base_url: Option<String>,
}

impl fmt::Debug for Variables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Variables { .. }")
    }
}

/// Settings of the api component.
#[derive(Clone)]
pub struct ApiConfig {
    /// The bearer token of the operator API (`api_token`), trimmed (a secret file usually ends
    /// in a newline). Missing, or shorter than [`crate::http::config::MIN_TOKEN_CHARS`]: the
    /// operator routes answer 503 (not configured), never a 401 that some token could pass.
    pub api_token: String,
    /// Access tokens, or why they cannot be issued (a constant, never a key).
    pub tokens: Result<AccessTokens, &'static str>,
    /// Google sign-in, if configured.
    pub google: Option<GoogleConfig>,
    /// The sign-in throttle (verifications per email and window).
    pub throttle: ThrottlePolicy,
    /// Password hashes per second, per client and in all.
    pub hash_budget: HashBudget,
    /// Google's signing keys as last fetched: a per-instance cache (the configuration lives
    /// as long as the instance), kept while `Cache-Control: max-age` allows.
    pub google_keys: RefCell<Option<JwksCache>>,
    /// How pasted source URLs are resolved: what may be fetched, and YouTube's origin.
    pub sources: ResolveSettings,
    /// The signed links (`/links/...`): `Ok(None)` when `link_key` is empty (disabled, 404),
    /// or why they cannot be served (503, a constant never containing the key).
    pub links: Result<Option<Links>, &'static str>,
}

impl ApiConfig {
    /// The operator API only: users cannot sign in.
    pub fn new(api_token: &str) -> ApiConfig {
        ApiConfig {
            api_token: api_token.trim().to_owned(),
            tokens: Err("auth_keys is not set"),
            google: None,
            throttle: ThrottlePolicy::DEFAULT,
            hash_budget: HashBudget::DEFAULT,
            google_keys: RefCell::new(None),
            sources: ResolveSettings::default(),
            links: Ok(None),
        }
    }

    /// The settings from the variables.
    pub fn from_variables(vars: &Variables) -> ApiConfig {
        let mut config = ApiConfig::new(vars.api_token.as_deref().unwrap_or(""));
        config.tokens = access_tokens(vars);
        config.google = match (&vars.google_client_id, &vars.google_jwks_url) {
            (Some(client_id), Some(url)) if !client_id.trim().is_empty() => Some(GoogleConfig {
                client_id: client_id.trim().to_owned(),
                jwks_url: url.trim().to_owned(),
            }),
            _ => None,
        };
        config.sources = sources(vars);
        config.links = links(vars.link_key.as_deref(), vars.public_base_url.as_deref());
        config.hash_budget = non_empty(&vars.hash_budget)
            .and_then(parse_hash_budget)
            .unwrap_or(HashBudget::DEFAULT);
        config
    }

    /// With these hash budgets (tests).
    pub fn with_hash_budget(mut self, budget: HashBudget) -> ApiConfig {
        self.hash_budget = budget;
        self
    }

    /// With these source resolution settings (tests).
    pub fn with_sources(mut self, sources: ResolveSettings) -> ApiConfig {
        self.sources = sources;
        self
    }

    /// With access tokens configured (tests).
    pub fn with_tokens(mut self, tokens: AccessTokens) -> ApiConfig {
        self.tokens = Ok(tokens);
        self
    }

    /// With signed links (tests).
    pub fn with_links(mut self, links: Links) -> ApiConfig {
        self.links = Ok(Some(links));
        self
    }

    /// With Google sign-in configured (tests).
    pub fn with_google(mut self, google: GoogleConfig) -> ApiConfig {
        self.google = Some(google);
        self
    }

    /// The token operator requests must present, or why the operator API cannot be served
    /// (a constant that never contains the token).
    pub fn token(&self) -> Result<&str, &'static str> {
        operator_token(&self.api_token)
    }
}

impl ApiConfig {
    /// The access tokens, or 503 (not configured) with the reason logged.
    pub fn access_tokens(&self) -> Result<&AccessTokens, ApiError> {
        self.tokens
            .as_ref()
            .map_err(|reason| not_configured(reason))
    }
}

/// 503 (not configured) for a setting that is missing or invalid; logs the reason (a
/// constant, never a value).
pub fn not_configured(reason: &'static str) -> ApiError {
    log::error("api_not_configured", json!({ "reason": reason }));
    ApiError::NotConfigured
}

impl fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiConfig")
            .field("api_token", &"<redacted>")
            .field("tokens", &self.tokens)
            .field("google", &self.google)
            .field("sources", &self.sources)
            .field("links", &self.links.as_ref().map(Option::is_some))
            .finish()
    }
}

fn access_tokens(vars: &Variables) -> Result<AccessTokens, &'static str> {
    let keys = vars
        .auth_keys
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or("auth_keys is not set")?;
    let keys = parse_keys(keys)?;
    let signing = vars
        .auth_signing_kid
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .or_else(|| keys.first().map(TokenKey::kid))
        .ok_or("auth_signing_kid is not set")?
        .to_owned();
    let issuer = non_empty(&vars.auth_issuer).unwrap_or("keemu");
    let audience = non_empty(&vars.auth_audience).unwrap_or("keemu-api");
    AccessTokens::new(JwtAlgorithm::Hs256, issuer, audience, &signing, keys).map_err(|e| match e {
        TokenConfigError::WeakKey => "an auth_keys secret is shorter than 32 bytes",
        TokenConfigError::BadKeyId => "auth_keys has an empty or repeated kid",
        TokenConfigError::SigningKeyMissing => "auth_signing_kid is not among auth_keys",
        TokenConfigError::EmptyIssuerOrAudience => "auth_issuer or auth_audience is empty",
    })
}

/// `outbound_allow_loopback` is `true` only when it says so (any case, trimmed); a
/// `youtube_origin` that is not an http(s) URL leaves the default (both parsed by
/// [`crate::http::config`], shared with the ingest component).
fn sources(vars: &Variables) -> ResolveSettings {
    let youtube_origin = origin(vars.youtube_origin.as_deref())
        .unwrap_or_else(crate::sources::resolve::youtube_origin);
    ResolveSettings {
        policy: NetPolicy {
            allow_loopback: allow_loopback(vars.outbound_allow_loopback.as_deref()),
        },
        youtube_origin,
    }
}

/// `PER_CLIENT/GLOBAL`, both whole numbers from 1; anything else is `None` (the default).
fn parse_hash_budget(value: &str) -> Option<HashBudget> {
    let (per_client, global) = value.split_once('/')?;
    let per_client = per_client.trim().parse::<u32>().ok().filter(|n| *n > 0)?;
    let global = global.trim().parse::<u32>().ok().filter(|n| *n > 0)?;
    Some(HashBudget { per_client, global })
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// `kid:secret[,kid:secret...]`, each secret base64 (standard or URL-safe, padded or not) of
/// at least 32 bytes.
fn parse_keys(text: &str) -> Result<Vec<TokenKey>, &'static str> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (kid, secret) = entry
                .split_once(':')
                .ok_or("auth_keys entries must be kid:base64-secret")?;
            let bytes = [URL_SAFE_NO_PAD, URL_SAFE, STANDARD, STANDARD_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(secret.trim()).ok())
                .ok_or("an auth_keys secret is not base64")?;
            TokenKey::new(kid.trim(), &bytes).map_err(|e| match e {
                TokenConfigError::WeakKey => "an auth_keys secret is shorter than 32 bytes",
                _ => "auth_keys has an empty kid",
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(|keys| {
            if keys.is_empty() {
                Err("auth_keys is not set")
            } else {
                Ok(keys)
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET_A: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"; // 32 bytes
    const SECRET_B: &str = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";

    fn vars(keys: &str, signing: Option<&str>) -> Variables {
        Variables {
            api_token: Some("0123456789abcdef\n".into()),
            auth_keys: Some(keys.into()),
            auth_signing_kid: signing.map(str::to_owned),
            ..Variables::default()
        }
    }

    #[test]
    fn token_is_trimmed_and_at_least_16_characters() {
        let config = ApiConfig::new("  0123456789abcdef\n");
        assert_eq!(config.token(), Ok("0123456789abcdef"));
        assert_eq!(
            ApiConfig::new("0123456789abcde\n").token(),
            Err("api_token is shorter than 16 characters")
        );
        assert_eq!(
            ApiConfig::new("ééééééééééééééé").token(),
            Err("api_token is shorter than 16 characters")
        );
        assert_eq!(
            ApiConfig::new("éééééééééééééééé").token(),
            Ok("éééééééééééééééé")
        );
        assert_eq!(ApiConfig::new("").token(), Err("api_token is not set"));
        assert_eq!(ApiConfig::new(" \n\t").token(), Err("api_token is not set"));
        let debug = format!("{:?}", ApiConfig::new("0123456789abcdef"));
        assert!(!debug.contains("0123"), "{debug}");
    }

    #[test]
    fn keys_parse_with_rotation() {
        let both = format!("new:{SECRET_B}, old:{SECRET_A}");
        let config = ApiConfig::from_variables(&vars(&both, Some("new")));
        assert!(config.tokens.is_ok(), "{:?}", config.tokens);
        let debug = format!("{config:?}");
        assert!(
            !debug.contains(SECRET_A) && !debug.contains(SECRET_B),
            "{debug}"
        );
        // The first key signs when no signing kid is given.
        let config = ApiConfig::from_variables(&vars(&format!("a:{SECRET_A}"), None));
        assert!(config.tokens.is_ok());
    }

    #[test]
    fn source_settings_default_to_strict() {
        let config = ApiConfig::from_variables(&Variables::default());
        assert!(!config.sources.policy.allow_loopback);
        assert_eq!(
            config.sources.youtube_origin.as_str(),
            "https://www.youtube.com/"
        );
        let config = ApiConfig::from_variables(&Variables {
            outbound_allow_loopback: Some(" TRUE\n".into()),
            youtube_origin: Some("http://127.0.0.1:8081".into()),
            ..Variables::default()
        });
        assert!(config.sources.policy.allow_loopback);
        assert_eq!(
            config.sources.youtube_origin.as_str(),
            "http://127.0.0.1:8081/"
        );
        for value in ["false", "yes", "1", ""] {
            let config = ApiConfig::from_variables(&Variables {
                outbound_allow_loopback: Some(value.into()),
                youtube_origin: Some("ftp://x".into()),
                ..Variables::default()
            });
            assert!(!config.sources.policy.allow_loopback, "{value}");
            assert_eq!(
                config.sources.youtube_origin.as_str(),
                "https://www.youtube.com/"
            );
        }
    }

    #[test]
    fn bad_keys_disable_tokens_with_a_reason() {
        let cases = [
            ("", None, "auth_keys is not set"),
            ("a", None, "auth_keys entries must be kid:base64-secret"),
            (
                "a:c2hvcnQ",
                None,
                "an auth_keys secret is shorter than 32 bytes",
            ),
            ("a:!!!", None, "an auth_keys secret is not base64"),
            (
                &*format!("a:{SECRET_A}"),
                Some("b"),
                "auth_signing_kid is not among auth_keys",
            ),
            (
                &*format!("a:{SECRET_A},a:{SECRET_B}"),
                None,
                "auth_keys has an empty or repeated kid",
            ),
        ];
        for (keys, signing, reason) in cases {
            let config = ApiConfig::from_variables(&vars(keys, signing));
            assert_eq!(config.tokens.err(), Some(reason), "{keys}");
        }
    }
}
