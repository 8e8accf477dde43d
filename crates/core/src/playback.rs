//! Who may play stored media, decided at the edge on every request.
//!
//! Public media keeps plain, cacheable URLs that never expire. Private media
//! (a private stream's live HLS, a private video's HLS, MP4 and still) plays
//! only through URLs that carry a **media token** in a path prefix:
//!
//! ```text
//! /t/{expires}.{epoch}.{sig}/live/{stream}/{session}/master.m3u8
//! /t/{expires}.{epoch}.{sig}/recordings/{stream}/{session}.mp4
//! ```
//!
//! A prefix, not a query string, so that the relative URIs inside playlists
//! (`480p/index.m3u8`, `seg_000001.m4s`) inherit it. `sig` is an HMAC over the
//! stream, the session, the expiry and the session's **epoch**. Each session
//! has an access entry, `{state}:{epoch}` (what CloudFront's KeyValueStore
//! holds in AWS); making media private or deleting it bumps the epoch, which
//! voids every token handed out before, at once.
//!
//! The edge strips the prefix before its cache, so tokens never split the
//! cache. This module is the decision, pure; the local CDN runs it, and the
//! CloudFront Function (`infra/edge/media-access.js`) is tested against the
//! same vectors (`infra/edge/vectors.json`), so the two cannot drift.

use aws_lc_rs::{aead, hmac};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

/// Where a session's media stands at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaState {
    /// Plain URLs work.
    Public,
    /// Only URLs with a valid token of the current epoch.
    Private,
    /// Nothing works: deleted.
    Gone,
}

impl MediaState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
            Self::Gone => "gone",
        }
    }
}

/// A session's access entry: its state and the epoch its tokens must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub state: MediaState,
    pub epoch: u64,
}

impl Access {
    /// What a session without an entry is: public, never restricted.
    pub const PUBLIC: Access = Access { state: MediaState::Public, epoch: 0 };

    /// The edge's form of the entry: `{state}:{epoch}`.
    pub fn encode(&self) -> String {
        format!("{}:{}", self.state.as_str(), self.epoch)
    }

    /// Reads an entry; anything malformed is `Gone` (fail closed).
    pub fn decode(value: &str) -> Access {
        let gone = Access { state: MediaState::Gone, epoch: 0 };
        let Some((state, epoch)) = value.split_once(':') else { return gone };
        let Some(epoch) = digits(epoch, 10).and_then(|e| e.parse().ok()) else { return gone };
        let state = match state {
            "public" => MediaState::Public,
            "private" => MediaState::Private,
            _ => return gone,
        };
        Access { state, epoch }
    }
}

/// `s` if it is 1 to `max` ASCII digits.
fn digits(s: &str, max: usize) -> Option<&str> {
    (!s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())).then_some(s)
}

/// A byte of a media path segment or token: `A-Z a-z 0-9 . _ -`.
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-'
}

/// A lowercase hyphenated UUID, as every Skycast id is.
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

/// A request for stored media, as the edge sees it: the optional token and
/// the object's path, which names the stream and session it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRequest<'a> {
    pub token: Option<&'a str>,
    /// The path without the token prefix, starting with `/`: what the cache
    /// and the origin see.
    pub path: &'a str,
    pub stream_id: &'a str,
    pub session_id: &'a str,
}

impl<'a> MediaRequest<'a> {
    /// Reads a request path (`/live/…`, `/recordings/…`, either behind
    /// `/t/{token}`). `None` for anything outside the media layout.
    pub fn parse(uri: &'a str) -> Option<Self> {
        let (token, path) = match uri.strip_prefix("/t/") {
            Some(rest) => {
                let slash = rest.find('/')?;
                let token = &rest[..slash];
                if token.is_empty() || token == "." || token == ".." {
                    return None;
                }
                (Some(token), &rest[slash..])
            }
            None => (None, uri),
        };
        if token.is_some_and(|t| !t.bytes().all(is_name_byte)) {
            return None;
        }
        let parts: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        // Plain names only: no `.`/`..`, no percent-encoding (the edge sees
        // the raw path; nothing of ours is named with anything else).
        if parts.iter().any(|p| p.is_empty() || *p == "." || *p == ".." || !p.bytes().all(is_name_byte)) {
            return None;
        }
        let (stream_id, session_id) = match parts.as_slice() {
            ["live", stream, session, _, ..] => (*stream, *session),
            ["recordings", stream, file] => {
                let session = file.strip_suffix(".mp4").or_else(|| file.strip_suffix(".jpg"))?;
                (*stream, session)
            }
            _ => return None,
        };
        if !is_uuid(stream_id) || !is_uuid(session_id) {
            return None;
        }
        Some(Self { token, path, stream_id, session_id })
    }
}

/// Signs and checks media tokens with the playback key.
pub struct PlaybackSigner {
    key: hmac::Key,
    /// Encrypts listing cursors (see [`crate::page`]).
    cursor_key: aead::LessSafeKey,
}

/// The key media tokens are signed with, derived from the playback secret:
/// hex of SHA-256 over a label and the secret. The edge's store holds this,
/// never the secret (Terraform derives it the same way, with `sha256()`), so
/// whoever reads the store cannot make cursors.
pub fn media_key(secret: &[u8]) -> String {
    let mut input = b"skycast-media-key-v1\n".to_vec();
    input.extend_from_slice(secret);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &input);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

impl PlaybackSigner {
    /// From the playback secret: media tokens and cursors get keys of their own.
    pub fn new(secret: &[u8]) -> Self {
        let cursor = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), b"skycast-cursor-key-v1");
        Self::with_keys(media_key(secret).as_bytes(), cursor.as_ref())
    }

    /// With the media key as the edge holds it (for the shared vectors).
    pub fn from_media_key(media_key: &str) -> Self {
        Self::with_keys(media_key.as_bytes(), &[0u8; 32])
    }

    fn with_keys(media: &[u8], cursor: &[u8]) -> Self {
        let cursor = aead::UnboundKey::new(&aead::AES_256_GCM, &cursor[..32]).map(aead::LessSafeKey::new);
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, media),
            // A 32-byte key always makes an AES-256 key.
            cursor_key: cursor.unwrap_or_else(|_| unreachable!("32-byte AES-256 key")),
        }
    }

    fn message(stream_id: &str, session_id: &str, expires: &str, epoch: &str) -> String {
        format!("skycast-media-v1\n{stream_id}\n{session_id}\n{expires}\n{epoch}")
    }

    /// A token for one session's media until `expires` (unix seconds), valid
    /// while the session's epoch is `epoch`.
    pub fn token(&self, stream_id: &str, session_id: &str, expires: i64, epoch: u64) -> String {
        let (expires, epoch) = (expires.max(0).to_string(), epoch.to_string());
        let sig = hmac::sign(&self.key, Self::message(stream_id, session_id, &expires, &epoch).as_bytes());
        format!("{expires}.{epoch}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    /// Whether `token` is ours for this session and epoch and has not
    /// expired; the signature is compared in constant time.
    pub fn verify(&self, token: &str, stream_id: &str, session_id: &str, epoch: u64, now: i64) -> bool {
        let mut parts = token.split('.');
        let (Some(expires), Some(token_epoch), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let (Some(expires), Some(token_epoch)) = (digits(expires, 12), digits(token_epoch, 10)) else { return false };
        let (Ok(exp), Ok(ep)) = (expires.parse::<i64>(), token_epoch.parse::<u64>()) else { return false };
        let Ok(tag) = URL_SAFE_NO_PAD.decode(sig) else { return false };
        ep == epoch
            && now <= exp
            && hmac::verify(&self.key, Self::message(stream_id, session_id, expires, token_epoch).as_bytes(), &tag)
                .is_ok()
    }

    /// The edge's decision for `request` given its session's access entry:
    /// `true` lets it through (to `request.path`, without the token).
    pub fn allows(&self, request: &MediaRequest<'_>, access: Access, now: i64) -> bool {
        match access.state {
            MediaState::Public => true,
            MediaState::Gone => false,
            MediaState::Private => {
                request.token.is_some_and(|t| self.verify(t, request.stream_id, request.session_id, access.epoch, now))
            }
        }
    }

    /// Encrypts a listing cursor, bound to its listing and caller (`scope`,
    /// as associated data): nobody can read a key out of it (it may name an
    /// item the caller may not see) nor make one.
    pub(crate) fn seal(&self, scope: &str, payload: &[u8]) -> String {
        let mut nonce = [0u8; aead::NONCE_LEN];
        if aws_lc_rs::rand::fill(&mut nonce).is_err() {
            panic!("system random number generator failed");
        }
        let mut sealed = payload.to_vec();
        let aad = aead::Aad::from(scope.as_bytes());
        if self
            .cursor_key
            .seal_in_place_append_tag(aead::Nonce::assume_unique_for_key(nonce), aad, &mut sealed)
            .is_err()
        {
            // Sealing fails only for inputs of gigabytes; a cursor is bytes.
            return String::new();
        }
        let mut out = nonce.to_vec();
        out.extend(sealed);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// The payload of a cursor sealed for `scope`, if it is one.
    pub(crate) fn open(&self, scope: &str, cursor: &str) -> Option<Vec<u8>> {
        let raw = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        if raw.len() < aead::NONCE_LEN + aead::AES_256_GCM.tag_len() {
            return None;
        }
        let (nonce, sealed) = raw.split_at(aead::NONCE_LEN);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = sealed.to_vec();
        let plain = self.cursor_key.open_in_place(nonce, aead::Aad::from(scope.as_bytes()), &mut buf).ok()?;
        Some(plain.to_vec())
    }
}

/// How long a private live stream's links work; a player that watches
/// longer fetches the stream again for fresh ones.
pub const LIVE_TOKEN_TTL_S: i64 = 3600;

/// How long a private video's links work: an hour to start, plus twice the
/// video's length, so a viewer who pauses still plays it to the end.
pub fn vod_token_ttl_s(duration_s: f64) -> i64 {
    // A week at most, whatever length a (damaged) recording reports.
    3600 + 2 * duration_s.clamp(0.0, 7.0 * 86400.0).ceil() as i64
}

/// The URL of stored media under the CDN's `base`, behind `token` if given:
/// `{base}/live/…` or `{base}/t/{token}/live/…`.
pub fn media_url(base: &str, key: &str, token: Option<&str>) -> String {
    let key = key.trim_start_matches('/');
    match token {
        Some(t) => format!("{base}/t/{t}/{key}"),
        None => format!("{base}/{key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    const X: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c";

    #[test]
    fn tokens_verify_for_their_session_epoch_and_time_only() {
        let s = PlaybackSigner::new(b"0123456789abcdef0123456789abcdef");
        let t = s.token(S, X, 1000, 3);
        assert!(s.verify(&t, S, X, 3, 999));
        assert!(s.verify(&t, S, X, 3, 1000));
        assert!(!s.verify(&t, S, X, 3, 1001), "expired");
        assert!(!s.verify(&t, S, X, 4, 999), "an older epoch");
        assert!(!s.verify(&t, X, S, 3, 999), "another stream and session");
        assert!(!s.verify(&t.replace("1000.", "2000."), S, X, 3, 999), "a longer expiry is a forgery");
        assert!(!s.verify("garbage", S, X, 3, 999));
        assert!(!s.verify(&format!("{t}.x"), S, X, 3, 999));
        assert!(!PlaybackSigner::new(b"another key").verify(&t, S, X, 3, 999));
    }

    #[test]
    fn requests_parse_only_inside_the_media_layout() {
        let uri = format!("/t/abc/live/{S}/{X}/480p/seg_000001.m4s");
        let r = MediaRequest::parse(&uri).unwrap();
        assert_eq!((r.token, r.stream_id, r.session_id), (Some("abc"), S, X));
        assert_eq!(r.path, format!("/live/{S}/{X}/480p/seg_000001.m4s"));
        let uri = format!("/recordings/{S}/{X}.mp4");
        let r = MediaRequest::parse(&uri).unwrap();
        assert_eq!((r.token, r.session_id), (None, X));
        for bad in [
            format!("/live/{S}/{X}"),
            format!("/live/{S}/{X}/"),
            format!("/live/{S}/{X}/../x"),
            format!("/live/{S}//{X}/a"),
            format!("/recordings/{S}/{X}.mov"),
            format!("/live/{}/{X}/a", S.to_uppercase()),
            format!("/t//live/{S}/{X}/a"),
            format!("/live/{S}/{X}/%2e%2e/a"),
            format!("/t/a%2Fb/live/{S}/{X}/a"),
            format!("/live/{S}/{X}/seg 1.m4s"),
            "/t/abc".to_owned(),
            "/other/x".to_owned(),
            String::new(),
        ] {
            assert_eq!(MediaRequest::parse(&bad), None, "{bad}");
        }
    }

    #[test]
    fn entries_round_trip_and_fail_closed() {
        let a = Access { state: MediaState::Private, epoch: 7 };
        assert_eq!(Access::decode(&a.encode()), a);
        assert_eq!(Access::decode("public:0"), Access::PUBLIC);
        for bad in ["", "private", "private:", "private:x", "open:1", "private:-1", "gone:1"] {
            assert_eq!(Access::decode(bad).state, MediaState::Gone, "{bad}");
        }
    }

    #[test]
    fn cursors_are_sealed_to_their_scope_and_unreadable() {
        let s = PlaybackSigner::new(b"k");
        let sealed = s.seal("streams:all:anon", b"{\"id\":\"private-one\"}");
        assert!(!String::from_utf8_lossy(&URL_SAFE_NO_PAD.decode(&sealed).unwrap()).contains("private-one"));
        assert_eq!(s.open("streams:all:anon", &sealed).as_deref(), Some(&b"{\"id\":\"private-one\"}"[..]));
        assert_eq!(s.open("streams:all:alice", &sealed), None, "another caller's");
        assert_eq!(PlaybackSigner::new(b"other").open("streams:all:anon", &sealed), None);
        let mut tampered = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        tampered[14] ^= 1;
        assert_eq!(s.open("streams:all:anon", &URL_SAFE_NO_PAD.encode(tampered)), None);
        assert_eq!(s.open("streams:all:anon", "AAAA"), None);
        assert_ne!(sealed, s.seal("streams:all:anon", b"{\"id\":\"private-one\"}"), "a fresh nonce each time");
    }

    #[test]
    fn the_media_key_is_derived_and_a_long_video_does_not_overflow() {
        assert_eq!(media_key(b"secret").len(), 64);
        assert_ne!(media_key(b"secret"), media_key(b"secret2"));
        let s = PlaybackSigner::new(b"secret");
        let t = s.token(S, X, 1000, 1);
        assert!(PlaybackSigner::from_media_key(&media_key(b"secret")).verify(&t, S, X, 1, 999));
        assert_eq!(vod_token_ttl_s(f64::MAX), 3600 + 14 * 86400);
        assert_eq!(vod_token_ttl_s(f64::NAN).max(3600), 3600);
    }
}
