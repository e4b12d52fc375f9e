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

/// How many failed sign-ins an email may have in a window before it is locked until the
/// window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub max_failures: u32,
    pub window: Duration,
}

impl ThrottlePolicy {
    /// 5 failures per 15 minutes.
    pub const DEFAULT: ThrottlePolicy = ThrottlePolicy {
        max_failures: 5,
        window: Duration::from_secs(15 * 60),
    };
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy::DEFAULT
    }
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

/// What a sign-in by email needs before checking the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginCheck {
    /// The account with that email, if any.
    pub candidate: Option<LoginCandidate>,
    /// `Some` while the email is locked (too many failures): how long until it is not.
    pub locked_for: Option<Duration>,
}

/// The throttle after a failed sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureRecorded {
    /// Failures in the current window, this one included.
    pub failures: u32,
    /// `Some` if the email is now locked: for how long.
    pub locked_for: Option<Duration>,
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
    /// Linked now to the account with the same email.
    Linked,
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
    fn token_hash_is_64_lower_hex() {
        assert!(TokenHash::parse(&"ab12".repeat(16)).is_ok());
        assert!(TokenHash::parse(&"AB12".repeat(16)).is_err());
        assert!(TokenHash::parse(&"ab1".repeat(16)).is_err());
        assert!(TokenHash::parse(&"zz12".repeat(16)).is_err());
        let hash = TokenHash::parse(&"ab12".repeat(16)).unwrap();
        assert_eq!(format!("{hash:?}"), "TokenHash(..)");
    }
}
