//! Accounts and sign-in: password hashes, the failed-login throttle, refresh-token sessions
//! and Google identities. The database part only: hashes (Argon2id PHC strings, SHA-256 of
//! refresh tokens) are computed elsewhere and arrive here as checked strings.
//!
//! - this module: the types;
//! - [`sql`]: the statements, one per operation;
//! - [`store`]: the operations, each one round trip over any [`crate::db::Db`].

pub mod sql;
pub mod store;

use std::fmt;
use std::time::Duration;

use crate::db::Timestamp;
use crate::domain::{DomainError, UserId};

/// An Argon2id hash in PHC string form (`$argon2id$v=19$...`). `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// The longest PHC string accepted (the database checks the same bound).
    pub const MAX_CHARS: usize = 512;

    /// Accepts a PHC string of the `argon2id` algorithm.
    pub fn parse(phc: &str) -> Result<PasswordHash, DomainError> {
        if !phc.starts_with("$argon2id$") {
            return Err(DomainError::new(
                "password_hash",
                "must be an argon2id PHC string",
            ));
        }
        if phc.chars().count() > Self::MAX_CHARS {
            return Err(DomainError::new(
                "password_hash",
                "must be at most 512 characters",
            ));
        }
        Ok(PasswordHash(phc.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// The SHA-256 of a refresh token, as 64 lower-case hex digits. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenHash(String);

impl TokenHash {
    /// Accepts exactly 64 lower-case hex digits.
    pub fn parse(hex: &str) -> Result<TokenHash, DomainError> {
        let ok = hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(TokenHash(hex.to_owned()))
        } else {
            Err(DomainError::new(
                "token_hash",
                "must be 64 lower-case hexadecimal digits",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

/// How many password verifications an email may have in a window: each attempt is reserved
/// before the hash is computed, and beyond the limit the email is locked until the window
/// ends. A successful sign-in clears the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub max_attempts: u32,
    pub window: Duration,
}

impl ThrottlePolicy {
    /// 5 attempts per 15 minutes.
    pub const DEFAULT: ThrottlePolicy = ThrottlePolicy {
        max_attempts: 5,
        window: Duration::from_secs(15 * 60),
    };
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy::DEFAULT
    }
}

/// How many password hashes (Argon2id, about 19 MiB and tens of milliseconds of CPU each)
/// one client, and all clients together, may make the service compute per second, across
/// every instance. Beyond it: 429 with `Retry-After: 1`, before any hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashBudget {
    pub per_client: u32,
    pub global: u32,
}

impl HashBudget {
    /// 3 per client and 10 in all, per second: under Spin 4.0.2 one hash took about 160 ms
    /// of a core (measured in the e2e tests, 2026-12-07), so a 2-core host computes about 12
    /// a second; the budget leaves the rest of the service most of its CPU. Raise `global`
    /// with the number of hosts (the `hash_budget` variable).
    pub const DEFAULT: HashBudget = HashBudget {
        per_client: 3,
        global: 10,
    };
}

impl Default for HashBudget {
    fn default() -> Self {
        HashBudget::DEFAULT
    }
}

/// Who a hash budget is counted for: the caller's network address (without the port), as
/// the host reports it; `unknown` when it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientKey(String);

impl ClientKey {
    /// The longest key kept (an IPv6 address with a zone fits).
    pub const MAX_CHARS: usize = 64;

    /// From a `host:port` or `[v6]:port` socket address; anything else (absent, too long,
    /// not an address) is `unknown`.
    #[must_use]
    pub fn from_socket_addr(addr: Option<&str>) -> ClientKey {
        let ip = addr
            .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
            .map(|a| a.ip().to_string())
            .or_else(|| {
                addr.and_then(|a| a.parse::<std::net::IpAddr>().ok())
                    .map(|ip| ip.to_string())
            });
        match ip {
            Some(ip) if ip.len() <= Self::MAX_CHARS => ClientKey(ip),
            _ => ClientKey("unknown".to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a password verification or hash was not reserved, and for how long to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The email has had its attempts for this window.
    Locked(Duration),
    /// This client has spent its hashes for this second.
    ClientBudget,
    /// The service has spent its hashes for this second.
    GlobalBudget,
}

impl Refusal {
    /// Seconds to put in `Retry-After` (at least 1).
    #[must_use]
    pub fn retry_after_secs(self) -> u64 {
        match self {
            Refusal::Locked(wait) => wait.as_secs().max(1),
            Refusal::ClientBudget | Refusal::GlobalBudget => 1,
        }
    }
}

/// Which account a verification is for.
#[derive(Debug, Clone, Copy)]
pub enum Verifier<'a> {
    /// A sign-in by email (the account may not exist: the attempt is counted all the same).
    Email(&'a crate::domain::Email),
    /// The signed-in user re-entering their password.
    User(UserId),
}

/// A reserved (or refused) password verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// The account, if any.
    pub candidate: Option<LoginCandidate>,
    /// `None` when the verification may run.
    pub refused: Option<Refusal>,
}

/// What one maintenance round deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Maintained {
    pub throttles: u64,
    pub budgets: u64,
    pub session_families: u64,
}

/// An account that may sign in with a password.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginCandidate {
    pub user_id: UserId,
    /// `None` for a Google-only account.
    pub password_hash: Option<PasswordHash>,
    pub is_active: bool,
}

impl fmt::Debug for LoginCandidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LoginCandidate(user_id={})", self.user_id)
    }
}

/// A live refresh token's session (the token itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: i64,
    /// The sign-in this token descends from; revoked as a whole.
    pub family_id: i64,
    pub user_id: UserId,
    pub expires_at: Timestamp,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live: it is spent, and this is its successor.
    Rotated(Session),
    /// The token had already been spent: someone replayed it. Its family is now revoked.
    Reused { user_id: UserId, family_id: i64 },
    /// The token's family had been revoked (logout, reuse, revoke-all).
    Revoked { user_id: UserId, family_id: i64 },
    /// The token was unspent but expired. Nothing changed.
    Expired { user_id: UserId, family_id: i64 },
    /// The token was live but its user is deactivated. Nothing changed.
    Inactive { user_id: UserId, family_id: i64 },
    /// No token has that hash.
    Unknown,
}

/// How a Google sign-in found its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoogleOutcome {
    /// The Google identity was already linked.
    Existing,
    /// Linked now to the account with the same email, whose holder had proved it.
    Linked,
    /// Linked now to the account with the same email, whose address had never been proved:
    /// its password, sessions and other identities were discarded.
    Claimed,
    /// A new account (no password) with the identity.
    Created,
}

/// The user a Google sign-in resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoogleSignIn {
    pub user_id: UserId,
    pub is_active: bool,
    pub outcome: GoogleOutcome,
}

/// What linking a Google identity to the signed-in user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOutcome {
    /// Linked now.
    Linked,
    /// It was linked to this user already.
    Already,
    /// It is linked to another user: nothing changed.
    Taken,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_must_be_argon2id() {
        assert!(PasswordHash::parse("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA").is_ok());
        assert!(PasswordHash::parse("$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA").is_err());
        assert!(PasswordHash::parse("plain").is_err());
        let long = format!("$argon2id${}", "a".repeat(600));
        assert!(PasswordHash::parse(&long).is_err());
        let hash = PasswordHash::parse("$argon2id$secret").unwrap();
        assert_eq!(format!("{hash:?}"), "PasswordHash(..)");
    }

    #[test]
    fn client_keys_are_addresses_without_ports() {
        let key = |a: Option<&str>| ClientKey::from_socket_addr(a).as_str().to_owned();
        assert_eq!(key(Some("127.0.0.1:5555")), "127.0.0.1");
        assert_eq!(key(Some("[::1]:80")), "::1");
        assert_eq!(key(Some("10.1.2.3")), "10.1.2.3");
        assert_eq!(key(None), "unknown");
        assert_eq!(key(Some("evil; DROP")), "unknown");
        assert_eq!(key(Some(&"1".repeat(200))), "unknown");
    }

    #[test]
    fn token_hash_is_64_lower_hex() {
        assert!(TokenHash::parse(&"ab12".repeat(16)).is_ok());
        assert!(TokenHash::parse(&"AB12".repeat(16)).is_err());
        assert!(TokenHash::parse(&"ab1".repeat(16)).is_err());
        assert!(TokenHash::parse(&"zz12".repeat(16)).is_err());
        let hash = TokenHash::parse(&"ab12".repeat(16)).unwrap();
        assert_eq!(format!("{hash:?}"), "TokenHash(..)");
    }
}
