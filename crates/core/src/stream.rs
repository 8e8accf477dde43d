//! Streams: what a streamer creates once and goes live with many times.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::validation::{ValidationError, check_len};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Srt,
    Rtmp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Srt => "srt",
            Self::Rtmp => "rtmp",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    #[default]
    Public,
    Private,
}

/// What the ingest node makes of the publisher's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Passthrough: the encoder's own stream, one rendition. Nearly free; opt in.
    Source,
    /// Adaptive bitrate, the default (as Mux, IVS Standard and Cloudflare
    /// give): the encoder's own stream on top, copied, and 480p and 360p
    /// encoded on the node.
    #[default]
    Ladder,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::Ladder => "ladder",
        }
    }
}

/// How far behind the encoder viewers watch: the segment length the node
/// cuts and how close to the live edge the web app's player sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum Latency {
    /// 2 s segments (the node's setting), the player about 4–5 s behind:
    /// rides out a slow segment without stalling. The default.
    #[default]
    Standard,
    /// 1 s segments, the player about 2–3 s behind. The encoder must send a
    /// keyframe every second (OBS: Keyframe Interval 1 s): segments start on
    /// keyframes, so a 2 s interval still makes 2 s segments.
    Low,
}

impl Latency {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Low => "low",
        }
    }

    /// The segment length the node asks of FFmpeg for this latency, where
    /// `standard_s` is the node's configured one.
    pub fn segment_seconds(self, standard_s: u32) -> u32 {
        match self {
            Self::Standard => standard_s,
            Self::Low => 1,
        }
    }
}

/// `idle` → `waiting` (listener up, no media yet) → `live` → `ended`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum StreamStatus {
    #[default]
    Idle,
    Waiting,
    Live,
    Ended,
}

impl StreamStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Waiting => "waiting",
            Self::Live => "live",
            Self::Ended => "ended",
        }
    }

    /// A listener holds the current key while the stream is waiting or live.
    pub fn is_on_air(self) -> bool {
        matches!(self, Self::Waiting | Self::Live)
    }
}

impl std::str::FromStr for StreamStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "idle" => Ok(Self::Idle),
            "waiting" => Ok(Self::Waiting),
            "live" => Ok(Self::Live),
            "ended" => Ok(Self::Ended),
            _ => Err(()),
        }
    }
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Stream {
    pub id: String,
    pub owner_id: String,
    /// Denormalised: usernames never change, and every response shows it.
    pub owner_username: String,
    pub title: String,
    pub description: String,
    pub protocol: Protocol,
    pub visibility: Visibility,
    pub record: bool,
    #[serde(default)]
    pub profile: Profile,
    #[serde(default)]
    pub latency: Latency,
    pub status: StreamStatus,
    pub stream_key: String,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hls_url: Option<String>,
    /// The session's `thumb.jpg` is stored (beside its master playlist).
    #[serde(default)]
    pub thumbnail: bool,
    /// The ingest node holding the current (or last) session; none while
    /// a session `start` armed waits for its publisher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingest_node_id: Option<String>,
    /// Figures of the current (or last) session, from the ingest node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub renditions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitrate_bps: Option<u64>,
    /// The incoming stream's health, while live (see `health`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::health::StreamHealth>,
}

impl std::fmt::Debug for Stream {
    // Stream keys are never logged, not even through a stray `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("id", &self.id)
            .field("owner_id", &self.owner_id)
            .field("title", &self.title)
            .field("status", &self.status)
            .field("visibility", &self.visibility)
            .field("stream_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

pub const TITLE_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 5000;
/// 24 random bytes = 192 bits, 32 URL-safe characters; also valid as an SRT
/// passphrase (10–79 characters), which is how the ingest node will use it.
pub const STREAM_KEY_BYTES: usize = 24;

pub fn new_stream_key() -> String {
    crate::ids::random_token(STREAM_KEY_BYTES)
}

/// Whether `key` could be a stream key at all (what `new_stream_key` makes,
/// within SRT's passphrase rules): anything else is refused before any lookup.
pub fn is_plausible_key(key: &str) -> bool {
    (10..=79).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn check_title(title: &str) -> Result<String, ValidationError> {
    let t = title.trim();
    check_len("title", t, 1, TITLE_MAX)?;
    Ok(t.to_owned())
}

pub fn check_description(d: &str) -> Result<String, ValidationError> {
    check_len("description", d, 0, DESCRIPTION_MAX)?;
    Ok(d.to_owned())
}

/// Who is asking, for visibility decisions.
pub fn is_visible_to(stream: &Stream, caller: Option<&str>) -> bool {
    stream.visibility == Visibility::Public || caller == Some(stream.owner_id.as_str())
}

pub fn is_owner(stream: &Stream, caller: Option<&str>) -> bool {
    caller == Some(stream.owner_id.as_str())
}

/// A validated creation request.
#[derive(Debug, Clone)]
pub struct NewStream {
    pub title: String,
    pub description: String,
    pub protocol: Protocol,
    pub visibility: Visibility,
    pub record: bool,
    pub profile: Profile,
    pub latency: Latency,
}

/// A validated partial update; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<Visibility>,
    pub record: Option<bool>,
    pub profile: Option<Profile>,
    pub latency: Option<Latency>,
}

impl StreamPatch {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    pub fn apply(&self, s: &mut Stream) {
        if let Some(t) = &self.title {
            s.title = t.clone();
        }
        if let Some(d) = &self.description {
            s.description = d.clone();
        }
        if let Some(v) = self.visibility {
            s.visibility = v;
        }
        if let Some(r) = self.record {
            s.record = r;
        }
        if let Some(p) = self.profile {
            s.profile = p;
        }
        if let Some(l) = self.latency {
            s.latency = l;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(owner: &str, visibility: Visibility) -> Stream {
        Stream {
            id: crate::ids::new_id(),
            owner_id: owner.into(),
            owner_username: "alice".into(),
            title: "t".into(),
            description: String::new(),
            protocol: Protocol::Srt,
            visibility,
            record: true,
            status: StreamStatus::Idle,
            stream_key: new_stream_key(),
            created_at: String::new(),
            updated_at: String::new(),
            started_at: None,
            ended_at: None,
            session_id: None,
            hls_url: None,
            thumbnail: false,
            ingest_node_id: None,
            renditions: vec![],
            segments: None,
            duration_s: None,
            bitrate_bps: None,
            health: None,
            profile: Profile::Source,
            latency: Latency::Standard,
        }
    }

    #[test]
    fn titles_and_descriptions() {
        assert_eq!(check_title("  Hello  ").unwrap(), "Hello");
        assert_eq!(check_title("   ").unwrap_err().field, "title");
        assert!(check_title(&"t".repeat(200)).is_ok());
        assert!(check_title(&"t".repeat(201)).is_err());
        assert!(check_description("").is_ok());
        assert!(check_description(&"d".repeat(5000)).is_ok());
        assert_eq!(check_description(&"d".repeat(5001)).unwrap_err().field, "description");
    }

    #[test]
    fn private_streams_are_seen_only_by_their_owner() {
        let s = sample("u1", Visibility::Private);
        assert!(is_visible_to(&s, Some("u1")));
        assert!(!is_visible_to(&s, Some("u2")));
        assert!(!is_visible_to(&s, None));
        let p = sample("u1", Visibility::Public);
        assert!(is_visible_to(&p, None));
    }

    #[test]
    fn stream_keys_are_long_url_safe_and_srt_compatible() {
        let k = new_stream_key();
        assert_eq!(k.len(), 32);
        assert!((10..=79).contains(&k.len()));
        assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn debug_redacts_the_key() {
        let s = sample("u1", Visibility::Public);
        assert!(!format!("{s:?}").contains(&s.stream_key));
    }

    #[test]
    fn patch_applies_only_what_it_names() {
        let mut s = sample("u1", Visibility::Public);
        let p = StreamPatch { visibility: Some(Visibility::Private), ..Default::default() };
        assert!(!p.is_empty());
        p.apply(&mut s);
        assert_eq!(s.visibility, Visibility::Private);
        assert_eq!(s.title, "t");
        assert!(StreamPatch::default().is_empty());
    }

    #[test]
    fn on_air_statuses() {
        assert!(StreamStatus::Live.is_on_air());
        assert!(StreamStatus::Waiting.is_on_air());
        assert!(!StreamStatus::Idle.is_on_air());
        assert_eq!("live".parse::<StreamStatus>(), Ok(StreamStatus::Live));
        assert!("LIVE".parse::<StreamStatus>().is_err());
    }
}
