//! Password hashing with argon2id (the crate's defaults: 19 MiB, t=2, p=1,
//! OWASP's recommended minimum).
//!
//! Hashing is CPU-bound for tens of milliseconds; callers run it on a blocking
//! thread, never on the async executor.

use std::sync::LazyLock;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use thiserror::Error;

#[derive(Debug, Error)]
#[error("password hashing failed: {0}")]
pub struct PasswordError(String);

pub fn hash(password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| PasswordError("system RNG failed".into()))?;
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError(e.to_string()))
}

/// Whether `password` matches the stored PHC string. A malformed hash is a mismatch.
pub fn verify(password: &str, phc: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), phc).is_ok()
}

/// A hash of a random password, computed once: verifying against it when the
/// user does not exist makes "unknown user" cost what "wrong password" costs.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| hash(&crate::ids::random_token(16)).unwrap_or_default());

pub fn verify_against_dummy(password: &str) {
    let _ = verify(password, &DUMMY_HASH);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_argon2id() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("correct horse battery", &h));
        assert!(!verify("correct horse battery!", &h));
        assert!(!verify("x", "not a phc string"));
        assert_ne!(h, hash("correct horse battery").unwrap(), "salts differ");
    }
}
