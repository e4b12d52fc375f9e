//! `/api/v1/auth/...`: register, login, refresh, logout and Google sign-in. Public routes.
//!
//! Token responses use OAuth 2.0's names (RFC 6749 §5.1): `access_token`, `token_type`
//! (`Bearer`), `expires_in` (seconds), `refresh_token`; register adds `user`. Errors stay
//! `application/problem+json`. Every answer is `Cache-Control: no-store`.
//!
//! - Every password hash is reserved before it is computed ([`check_password`],
//!   [`reserve_hash`]): within the client's and the service's hash budgets
//!   ([`crate::models::account::HashBudget`]; 429 with `Retry-After: 1` beyond them), and for
//!   a verification within the email's throttle: the statement that checks the limit takes
//!   the attempt, so at most 5 verifications per email run in 15 minutes however many
//!   requests race (429 with `Retry-After` until the window ends); a success clears the count.
//!   Input that cannot be a password (empty, over 128 characters) is refused without a hash
//!   and counts nothing.
//! - login: the same 401, after the same work (an Argon2id verification, of a dummy hash
//!   when there is no such account), for an unknown email, a wrong password, an account
//!   without a password and a deactivated one.
//! - refresh: the presented token is spent and a new pair issued; presenting a spent one
//!   revokes its whole family (someone replayed it) and is 401.
//! - logout: revokes the family of the presented refresh token; 204 whether or not it was
//!   live (nothing to tell an attacker).
//! - Google: an outside identity joins an existing account only through its subject already
//!   linked, explicitly from the signed-in account (`POST /me/identities/google`, with the
//!   current password), or by an e-mail address whose holder proved it before. A Google
//!   sign-in for an address held by an account whose address was never proved takes that
//!   account over: Google has just proved the address, so its unproved password, sessions
//!   and other identities are discarded ([`crate::models::account::sql::GOOGLE_SIGN_IN`]).

use chrono::{DateTime, Duration, Utc};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::config::{ApiConfig, REFRESH_TOKEN_DAYS, not_configured};
use super::{input, users};
use crate::auth::google::{self, GoogleIdentity};
use crate::auth::token::{AccessToken, AccessTokens, RefreshToken, sha256_hex};
use crate::auth::{self, Password};
use crate::db::{Db, Timestamp};
use crate::domain::{Email, Timezone, UserId, UserName};
use crate::http::{ApiError, Request, Response, empty_response, json, serialized_response};
use crate::models::account::{
    self, ClientKey, GoogleOutcome, LoginCandidate, Rotation, TokenHash, Verifier, store,
};
use crate::models::user::{NewUser, UserWithPreferences};
use crate::observability::log;
use crate::outbound::Outbound;

const LOGIN_FAILED: ApiError = ApiError::AuthFailed("the email or password is wrong");
const REFRESH_REFUSED: ApiError =
    ApiError::AuthFailed("the refresh token is not valid; sign in again");

/// The longest refresh token looked up (ours are 43 characters).
const MAX_REFRESH_TOKEN_CHARS: usize = 256;

/// RFC 6749 §5.1 token response.
#[derive(Serialize)]
struct Tokens<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: i64,
    refresh_token: &'a str,
}

#[derive(Serialize)]
struct Registered<'a> {
    user: &'a UserWithPreferences,
    #[serde(flatten)]
    tokens: Tokens<'a>,
}

/// A freshly issued pair.
struct Pair {
    access: AccessToken,
    refresh: RefreshToken,
    now: DateTime<Utc>,
}

impl Pair {
    fn body(&self) -> Tokens<'_> {
        Tokens {
            access_token: self.access.as_str(),
            token_type: "Bearer",
            // `exp` - `iat`, both whole seconds (`iat` is `now` truncated).
            expires_in: self.access.expires_at().timestamp() - self.now.timestamp(),
            refresh_token: self.refresh.as_str(),
        }
    }
}

fn new_refresh(now: DateTime<Utc>) -> Result<(RefreshToken, TokenHash, Timestamp), ApiError> {
    let refresh = RefreshToken::generate().map_err(|_| ApiError::Internal)?;
    let hash = TokenHash::parse(&refresh.storage_hash()).map_err(|_| ApiError::Internal)?;
    let expires_at = Timestamp::new(now + Duration::days(REFRESH_TOKEN_DAYS));
    Ok((refresh, hash, expires_at))
}

fn issue(
    tokens: &AccessTokens,
    session: &account::Session,
    refresh: RefreshToken,
    now: DateTime<Utc>,
) -> Result<Pair, ApiError> {
    let access = tokens
        .issue_in(session.user_id, Some(session.family_id), now)
        .map_err(|_| ApiError::Internal)?;
    Ok(Pair {
        access,
        refresh,
        now,
    })
}

fn token_response<T: Serialize>(status: StatusCode, body: &T) -> Result<Response, ApiError> {
    let mut response = serialized_response(status, body)?;
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// Starts a session for `user` (a new family) and issues its first pair.
async fn start_session<D: Db>(
    db: &D,
    tokens: &AccessTokens,
    user: UserId,
    now: DateTime<Utc>,
) -> Result<Pair, ApiError> {
    let (refresh, hash, expires_at) = new_refresh(now)?;
    let session = store::create_session(db, user, &hash, expires_at).await?;
    issue(tokens, &session, refresh, now)
}

/// Who the caller is for the hash budgets: the address the host reports in
/// `spin-client-addr`. The host appends its own value after the request's headers, so a
/// client that sends the header itself is still counted by its real address: the last value
/// is the host's.
pub(super) fn client_key(request: &Request) -> ClientKey {
    let addr = request
        .headers()
        .get_all("spin-client-addr")
        .iter()
        .next_back()
        .and_then(|value| value.to_str().ok());
    ClientKey::from_socket_addr(addr)
}

/// Reserves one password hash (a new password) within the budgets: 429 beyond them.
async fn reserve_hash<D: Db>(
    request: &Request,
    config: &ApiConfig,
    db: &D,
) -> Result<(), ApiError> {
    match store::reserve_hash(db, &client_key(request), config.hash_budget).await? {
        None => Ok(()),
        Some(refusal) => {
            log::warn(
                "hash_budget_refused",
                json!({ "refused": format!("{refusal:?}") }),
            );
            Err(refusal.into())
        }
    }
}

/// Checks `password` for `who`: reserves the verification first (the email's throttle and
/// the hash budgets, one statement; 429 when refused), then verifies against the stored hash,
/// or a dummy one when there is no account or it has no password, so every case costs one
/// Argon2id computation. The account (if any) and whether the password is its own.
pub(super) async fn check_password<D: Db>(
    request: &Request,
    config: &ApiConfig,
    db: &D,
    who: Verifier<'_>,
    password: &Password,
) -> Result<(Option<LoginCandidate>, bool), ApiError> {
    let reserved = store::reserve_verification(
        db,
        who,
        &client_key(request),
        config.throttle,
        config.hash_budget,
    )
    .await?;
    if matches!(who, Verifier::User(_)) && reserved.candidate.is_none() {
        // A signed-in user whose account is gone: nothing to verify.
        return Ok((None, false));
    }
    if let Some(refusal) = reserved.refused {
        log::warn(
            "password_check_refused",
            json!({ "refused": format!("{refusal:?}") }),
        );
        return Err(refusal.into());
    }
    let stored = reserved.candidate.as_ref().and_then(|c| {
        c.password_hash
            .as_ref()
            .and_then(|h| auth::PasswordHash::from_stored(h.as_str()).ok())
    });
    let verified = match &stored {
        Some(stored) => auth::hash::verify(password, stored),
        None => {
            auth::hash::dummy_verify(password);
            false
        }
    };
    Ok((reserved.candidate, verified))
}

/// `POST /auth/register` {email, name, password, timezone?}: 201 with the user and tokens.
/// The user, its preferences and its first session are one statement.
pub async fn register<D: Db>(
    request: &Request,
    config: &ApiConfig,
    db: &D,
    now: DateTime<Utc>,
) -> Result<Response, ApiError> {
    let tokens = config.access_tokens()?;
    let body = json::object(request)?;
    let (new_user, password) = registration(&body)?;
    reserve_hash(request, config, db).await?;
    let hash = auth::hash::hash(&password).map_err(|_| ApiError::Internal)?;
    let hash = account::PasswordHash::parse(hash.as_str()).map_err(|_| ApiError::Internal)?;
    let (refresh, token_hash, expires_at) = new_refresh(now)?;
    let (user, session) = store::register(db, &new_user, &hash, &token_hash, expires_at).await?;
    let pair = issue(tokens, &session, refresh, now)?;
    let body = Registered {
        user: &user,
        tokens: pair.body(),
    };
    let mut response = token_response(StatusCode::CREATED, &body)?;
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("/api/v1/me"));
    Ok(users::with_etag(
        response,
        super::etag::user_etag(user.version()),
    ))
}

/// `POST /auth/login` {email, password}: 200 tokens, or the one 401, or 429 while locked or
/// over the hash budgets.
pub async fn login<D: Db>(
    request: &Request,
    config: &ApiConfig,
    db: &D,
    now: DateTime<Utc>,
) -> Result<Response, ApiError> {
    let tokens = config.access_tokens()?;
    let body = json::object(request)?;
    let [email, password] = input::credentials(&body, ["email", "password"])?;
    // Input that no account can have (an address that does not parse, a password over the
    // policy's length) is refused before any hash or throttle row: only real verifications
    // count, and an attacker cannot write throttle rows for free.
    let (Ok(email), Ok(password)) = (Email::parse(&email), Password::parse_for_login(&password))
    else {
        return Err(LOGIN_FAILED);
    };
    let (candidate, verified) =
        check_password(request, config, db, Verifier::Email(&email), &password).await?;
    match candidate.filter(|c| c.is_active) {
        Some(candidate) if verified => {
            let (refresh, hash, expires_at) = new_refresh(now)?;
            let session = store::login_session(db, candidate.user_id, &hash, expires_at)
                .await?
                .ok_or(LOGIN_FAILED)?;
            let pair = issue(tokens, &session, refresh, now)?;
            token_response(StatusCode::OK, &pair.body())
        }
        _ => {
            log::info("login_failed", json!({}));
            Err(LOGIN_FAILED)
        }
    }
}

/// The refresh token of a `{refresh_token}` body, as the hash it is stored under; `None`
/// for a value that cannot be one of ours.
fn presented_refresh(request: &Request) -> Result<Option<TokenHash>, ApiError> {
    let body = json::object(request)?;
    let [token] = input::credentials(&body, ["refresh_token"])?;
    if token.is_empty() || token.chars().count() > MAX_REFRESH_TOKEN_CHARS {
        return Ok(None);
    }
    Ok(TokenHash::parse(&sha256_hex(&token)).ok())
}

/// `POST /auth/refresh` {refresh_token}: 200 a new pair; the presented token is spent.
pub async fn refresh<D: Db>(
    request: &Request,
    config: &ApiConfig,
    db: &D,
    now: DateTime<Utc>,
) -> Result<Response, ApiError> {
    let tokens = config.access_tokens()?;
    let presented = presented_refresh(request)?.ok_or(REFRESH_REFUSED)?;
    let (refresh, hash, expires_at) = new_refresh(now)?;
    match store::rotate_session(db, &presented, &hash, expires_at).await? {
        Rotation::Rotated(session) => {
            let pair = issue(tokens, &session, refresh, now)?;
            token_response(StatusCode::OK, &pair.body())
        }
        Rotation::Reused { family_id, .. } => {
            log::warn("refresh_token_reused", json!({ "family_id": family_id }));
            Err(REFRESH_REFUSED)
        }
        Rotation::Revoked { .. }
        | Rotation::Expired { .. }
        | Rotation::Inactive { .. }
        | Rotation::Unknown => Err(REFRESH_REFUSED),
    }
}

/// `POST /auth/logout` {refresh_token}: 204; the token's family is revoked.
pub async fn logout<D: Db>(request: &Request, db: &D) -> Result<Response, ApiError> {
    if let Some(presented) = presented_refresh(request)? {
        store::revoke_family(db, &presented).await?;
    }
    Ok(empty_response(StatusCode::NO_CONTENT))
}

const GOOGLE_REFUSED: ApiError = ApiError::AuthFailed("the Google ID token is not valid");

/// A display name for a Google account: its `name` (cut to the longest name allowed) if
/// acceptable, else the email's local part, else a constant.
fn google_name(identity: &GoogleIdentity) -> Result<UserName, ApiError> {
    let cut = |text: &str| text.trim().chars().take(100).collect::<String>();
    identity
        .name
        .as_deref()
        .and_then(|name| UserName::parse(&cut(name)).ok())
        .or_else(|| {
            let local = identity.email.split('@').next().unwrap_or("");
            UserName::parse(&cut(local)).ok()
        })
        .or_else(|| UserName::parse("KeeMU user").ok())
        .ok_or(ApiError::Internal)
}

/// The Google identity of a verified ID token (RS256 against Google's keys, `aud` the
/// configured client id, Google's `iss`, `exp`, a verified email); 503 when Google sign-in is
/// not configured or its keys cannot be had, 401 for any refused token.
pub(super) async fn google_identity(
    id_token: &str,
    config: &ApiConfig,
    outbound: &impl Outbound,
    now: DateTime<Utc>,
) -> Result<(GoogleIdentity, Email), ApiError> {
    let google_config = config
        .google
        .as_ref()
        .ok_or_else(|| not_configured("google_client_id is not set"))?;
    let refused = |error: google::GoogleError| {
        log::info(
            "google_token_refused",
            json!({ "reason": error.to_string() }),
        );
        GOOGLE_REFUSED
    };
    let kid = google::token_key_id(id_token).map_err(refused)?;
    let jwks = google::keys(outbound, google_config, &config.google_keys, &kid, now)
        .await
        .map_err(|_| {
            ApiError::UpstreamUnavailable("Google's signing keys could not be fetched; retry later")
        })?;
    let identity = google::verify_id_token(id_token, &jwks, google_config, now).map_err(refused)?;
    let email = Email::parse(&identity.email).map_err(|_| GOOGLE_REFUSED)?;
    Ok((identity, email))
}

/// `POST /auth/google` {id_token}: verifies a Google ID token ([`google_identity`]), then
/// signs in the account linked to it, else the account with its email (linked when that
/// address was proved, taken over when it never was: see the module documentation), else
/// creates one: 200 tokens for an existing account, 201 for a new one.
pub async fn google<D: Db>(
    request: &Request,
    config: &ApiConfig,
    db: &D,
    outbound: &impl Outbound,
    now: DateTime<Utc>,
) -> Result<Response, ApiError> {
    let tokens = config.access_tokens()?;
    let body = json::object(request)?;
    let [id_token] = input::credentials(&body, ["id_token"])?;
    let (identity, email) = google_identity(&id_token, config, outbound, now).await?;
    let name = google_name(&identity)?;
    let signed_in = store::google_sign_in(db, &identity.subject, &email, &name).await?;
    if !signed_in.is_active {
        return Err(ApiError::AuthFailed("this account is deactivated"));
    }
    let pair = start_session(db, tokens, signed_in.user_id, now).await?;
    let status = match signed_in.outcome {
        GoogleOutcome::Created => StatusCode::CREATED,
        GoogleOutcome::Existing | GoogleOutcome::Linked | GoogleOutcome::Claimed => StatusCode::OK,
    };
    log::info(
        "google_sign_in",
        json!({ "outcome": format!("{:?}", signed_in.outcome).to_lowercase() }),
    );
    token_response(status, &pair.body())
}

// ------------------------------------------------------------------------------------------------
// Request bodies of `/auth` (the small credentials bodies: `input::credentials`).

/// The body of `POST /auth/register`: `email`, `name`, `password` required, `timezone`
/// optional. The password is checked against the policy here (422 with its message).
pub fn registration(body: &Map<String, Value>) -> Result<(NewUser, Password), ApiError> {
    let mut errors = input::Errors::default();
    errors.unknown_fields(body, &["email", "name", "password", "timezone"], &[]);
    for field in ["email", "name", "password"] {
        if !body.contains_key(field) {
            errors.push(field, "is required");
        }
    }
    let email = input::not_null_text(&mut errors, body, "email", Email::parse);
    let name = input::not_null_text(&mut errors, body, "name", UserName::parse);
    let timezone = input::not_null_text(&mut errors, body, "timezone", Timezone::parse);
    let password = input::not_null(&mut errors, body, "password", |e, v| {
        let text = input::text(e, "password", v)?;
        Password::parse(text)
            .map_err(|error| e.push("password", &error.to_string()))
            .ok()
    });
    let parsed = (|| {
        let user = NewUser {
            email: email.ok()??,
            name: name.ok()??,
            profile_picture: None,
            profession: None,
            date_of_birth: None,
            timezone: timezone.ok()?.unwrap_or_default(),
            is_active: true,
        };
        Some((user, password.ok()??))
    })();
    errors.finish(parsed)
}
