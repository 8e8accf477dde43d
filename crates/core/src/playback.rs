//! Playback links for private videos' HLS: an expiry and an HMAC over the
//! video id and that expiry. A player cannot send an `Authorization` header
//! with every playlist request, so the link itself carries the right to
//! play, for a short while, like a presigned S3 URL.

use aws_lc_rs::hmac;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

pub struct PlaybackSigner {
    key: hmac::Key,
}

impl PlaybackSigner {
    pub fn new(secret: &[u8]) -> Self {
        Self { key: hmac::Key::new(hmac::HMAC_SHA256, secret) }
    }

    fn message(video_id: &str, expires: i64) -> String {
        format!("skycast-playback\n{video_id}\n{expires}")
    }

    pub fn sign(&self, video_id: &str, expires: i64) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.key, Self::message(video_id, expires).as_bytes()))
    }

    /// Whether `signature` is ours for this video and has not expired;
    /// compared in constant time.
    pub fn verify(&self, video_id: &str, expires: i64, signature: &str, now: i64) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(signature) else { return false };
        now <= expires && hmac::verify(&self.key, Self::message(video_id, expires).as_bytes(), &tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_verify_until_they_expire_and_only_for_their_video() {
        let s = PlaybackSigner::new(b"0123456789abcdef0123456789abcdef");
        let sig = s.sign("v1", 1000);
        assert!(s.verify("v1", 1000, &sig, 999));
        assert!(s.verify("v1", 1000, &sig, 1000));
        assert!(!s.verify("v1", 1000, &sig, 1001), "expired");
        assert!(!s.verify("v2", 1000, &sig, 999), "another video");
        assert!(!s.verify("v1", 2000, &sig, 999), "a longer expiry is a forgery");
        assert!(!s.verify("v1", 1000, "garbage!", 999));
        assert!(!PlaybackSigner::new(b"another key").verify("v1", 1000, &sig, 999));
    }
}
