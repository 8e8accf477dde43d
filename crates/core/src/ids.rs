//! Identifiers and secrets.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

/// A new resource id: a UUIDv7, so ids sort by creation time and can serve as
/// the sort key of "newest first" listings.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Whether `s` looks like an id we issued; anything else cannot exist, which
/// lets handlers answer 404 without a database round trip.
pub fn is_id(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::parse_str(s).is_ok()
}

/// `n` bytes from the operating system's CSPRNG, URL-safe base64 without padding.
pub fn random_token(n: usize) -> String {
    let mut buf = vec![0u8; n];
    if aws_lc_rs::rand::fill(&mut buf).is_err() {
        // The system RNG failing is not something to limp on from.
        panic!("system random number generator failed");
    }
    URL_SAFE_NO_PAD.encode(buf)
}

/// SHA-256 of `s`, hex. Used to store secrets (refresh tokens) only as hashes.
pub fn sha256_hex(s: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, s.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares secrets in constant time.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_time_ordered_and_recognised() {
        let a = new_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id();
        assert!(a < b);
        assert!(is_id(&a));
        assert!(!is_id("not-an-id"));
        assert!(!is_id(""));
    }

    #[test]
    fn tokens_have_the_requested_entropy() {
        let t = random_token(32);
        assert_eq!(t.len(), 43); // 256 bits in unpadded base64
        assert!(t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(t, random_token(32));
    }

    #[test]
    fn hashing_and_comparison() {
        assert_eq!(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(secrets_equal("same", "same"));
        assert!(!secrets_equal("same", "Same"));
        assert!(!secrets_equal("short", "longer"));
    }
}
