//! Refresh tokens: opaque, 256 random bits, stored only as a SHA-256 hash,
//! rotated on every use, grouped in a family per login so that replaying a
//! spent token revokes every token descended from that login.

use crate::ids;

pub const REFRESH_TOKEN_BYTES: usize = 32;

/// A token to hand to the client, and the hash under which it is stored.
pub struct IssuedRefresh {
    pub token: String,
    pub hash: String,
}

pub fn issue() -> IssuedRefresh {
    let token = ids::random_token(REFRESH_TOKEN_BYTES);
    let hash = ids::sha256_hex(&token);
    IssuedRefresh { token, hash }
}

/// The storage key of a presented token. Tokens of the wrong shape are
/// rejected before any lookup.
pub fn hash_presented(token: &str) -> Option<String> {
    let ok = token.len() == 43 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| ids::sha256_hex(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presented_tokens_hash_like_issued_ones() {
        let t = issue();
        assert_eq!(hash_presented(&t.token).as_deref(), Some(t.hash.as_str()));
        assert_eq!(hash_presented("short"), None);
        assert_eq!(hash_presented(&"!".repeat(43)), None);
    }
}
