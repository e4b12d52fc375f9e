//! Accounts and sign-in building blocks (no routes, no SQL): password policy, password
//! hashing, access and refresh tokens, Google ID-token verification. Everything is
//! target-independent and builds for `wasm32-wasip2`; the cryptography is the RustCrypto
//! crates' (`argon2`, `sha2`, HMAC and RSA via `jwt-compact`), randomness is `getrandom`
//! (WASI `random` on `wasm32-wasip2`).
//!
//! - [`password`]: [`Password`], NFKC-normalised, 8–128 characters, not a common password.
//! - [`hash`]: argon2id PHC hashes, verification, and [`hash::dummy_verify`] for unknown emails.
//! - [`token`]: JWT access tokens with key rotation by `kid`, refresh tokens and their digests.
//! - [`google`]: Google ID tokens (RS256) checked against Google's key set, and its caching.
//! - [`link`]: signed, expiring links that act for one user without signing in (digest
//!   pages, one-click unsubscribe, the digests' Atom feed).
//! - `jwt`: the header checks both kinds of token share (algorithm, key id).

pub mod google;
pub mod hash;
mod jwt;
pub mod link;
pub mod password;
pub mod token;

pub use hash::{HashError, PasswordHash};
pub use password::{Password, PasswordError};
pub use token::{
    AccessToken, AccessTokens, JwtAlgorithm, RefreshToken, TokenConfigError, TokenError, TokenKey,
    VerifiedAccess, sha256_hex,
};
