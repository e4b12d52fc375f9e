//! Password hashing: argon2id with OWASP's minimum parameters (m = 19456 KiB, t = 2, p = 1),
//! stored as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`).
//!
//! Verification uses the `argon2` crate's `PasswordVerifier`, which recomputes the hash with
//! the stored salt and parameters and compares the outputs in constant time.
//! [`dummy_verify`] does the same work against a fixed hash, for sign-in attempts with an
//! unknown email, so both cases cost one argon2id computation.

use std::fmt;

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

use super::password::Password;

/// Memory cost in KiB (OWASP minimum for argon2id).
pub const M_COST_KIB: u32 = 19_456;
/// Iterations (OWASP minimum with 19 MiB).
pub const T_COST: u32 = 2;
/// Parallelism.
pub const P_COST: u32 = 1;

/// A hash with the parameters above of a random password nobody kept (24 random bytes,
/// base64url), made once with [`hash`]; [`dummy_verify`] checks against it.
const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$fABtZTDeugyWQhXrCJcYVw$noY0SInWwFrZoX1hQXzXbawTwfiBNe2OJLtTTbdNBrQ";

/// Why hashing failed, or a stored string was not an argon2id PHC hash. Never contains a
/// password or a hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// The system random source failed while making a salt, or the hasher refused its input.
    #[error("password hashing failed")]
    Hashing,
    /// A stored value that is not an argon2id PHC string.
    #[error("stored password hash is not an argon2id PHC string")]
    NotArgon2id,
}

/// A stored password hash: an argon2id PHC string. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Takes a hash read from storage, refusing anything that is not an argon2id PHC string.
    pub fn from_stored(phc: &str) -> Result<Self, HashError> {
        let parsed = argon2::PasswordHash::new(phc).map_err(|_| HashError::NotArgon2id)?;
        if parsed.algorithm != argon2::ARGON2ID_IDENT {
            return Err(HashError::NotArgon2id);
        }
        Ok(Self(phc.to_owned()))
    }

    /// The PHC string, for storage.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

fn hasher() -> Result<Argon2<'static>, HashError> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).map_err(|_| HashError::Hashing)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password with a fresh random 16-byte salt.
pub fn hash(password: &Password) -> Result<PasswordHash, HashError> {
    let phc = hasher()?
        .hash_password(password.expose().as_bytes())
        .map_err(|_| HashError::Hashing)?;
    Ok(PasswordHash(phc.to_string()))
}

/// Whether `password` matches `stored` (constant-time comparison of the argon2 outputs). Any
/// failure (e.g. unusable parameters in the stored string) counts as no match.
pub fn verify(password: &Password, stored: &PasswordHash) -> bool {
    match hasher() {
        Ok(hasher) => hasher
            .verify_password(password.expose().as_bytes(), stored.as_str())
            .is_ok(),
        Err(_) => false,
    }
}

/// Does the work of [`verify`] against a fixed hash and discards the result: call it when
/// the email is unknown so the response takes as long as for a known one.
pub fn dummy_verify(password: &Password) {
    let dummy = PasswordHash(DUMMY_PHC.to_owned());
    let _ = std::hint::black_box(verify(password, &dummy));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(text: &str) -> Password {
        Password::parse(text).expect("valid password")
    }

    #[test]
    fn round_trip_and_wrong_password() {
        let stored = hash(&password("kq7#vZp2-correct")).expect("hashed");
        assert!(
            stored
                .as_str()
                .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
        );
        assert!(verify(&password("kq7#vZp2-correct"), &stored));
        assert!(!verify(&password("kq7#vZp2-Correct"), &stored));

        // The stored string reads back and still verifies.
        let reread = PasswordHash::from_stored(stored.as_str()).expect("argon2id PHC");
        assert!(verify(&password("kq7#vZp2-correct"), &reread));
    }

    #[test]
    fn salts_differ() {
        let a = hash(&password("kq7#vZp2-same")).expect("hashed");
        let b = hash(&password("kq7#vZp2-same")).expect("hashed");
        assert_ne!(a, b);
    }

    #[test]
    fn normalised_forms_verify_against_each_other() {
        let stored = hash(&password("caf\u{e9}-lumi\u{e8}re")).expect("hashed");
        let login = Password::parse_for_login("cafe\u{301}-lumie\u{300}re").expect("valid");
        assert!(verify(&login, &stored));
    }

    #[test]
    fn dummy_hash_uses_the_same_parameters() {
        let dummy = PasswordHash::from_stored(DUMMY_PHC).expect("argon2id PHC");
        let parsed = argon2::PasswordHash::new(dummy.as_str()).expect("PHC");
        let params = Params::try_from(&parsed).expect("argon2 params");
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (M_COST_KIB, T_COST, P_COST)
        );
        assert_eq!(parsed.version, Some(Version::V0x13.into()));
        assert!(!verify(&password("kq7#vZp2-anything"), &dummy));
        dummy_verify(&password("kq7#vZp2-anything"));
    }

    #[test]
    fn stored_values_other_than_argon2id_are_refused() {
        for stored in [
            "",
            "plain text",
            "$argon2i$v=19$m=19456,t=2,p=1$OexIJrgz9oFM7/ue2xy5Mw$/HMXXAmG97Q5G1hnbB6ODB5AsMxs7tc6mKPxbTLoTv0",
            "$2b$12$abcdefghijklmnopqrstuu",
        ] {
            assert_eq!(
                PasswordHash::from_stored(stored),
                Err(HashError::NotArgon2id),
                "{stored}"
            );
        }
    }

    #[test]
    fn debug_is_redacted() {
        let stored = hash(&password("kq7#vZp2-debug")).expect("hashed");
        assert_eq!(format!("{stored:?}"), "PasswordHash(<redacted>)");
    }
}
