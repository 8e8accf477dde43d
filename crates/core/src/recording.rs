//! Recordings: one per ended session of a stream that records. The
//! recorder turns the session's segments into an MP4; the item tracks that
//! work: processing → ready (with the video's id) or failed (with a reason).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RecordingStatus {
    Processing,
    Ready,
    Failed,
}

impl RecordingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processing => "processing",
            Self::Ready => "ready",
            Self::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    pub stream_id: String,
    pub session_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    pub status: RecordingStatus,
    /// The video the catalog makes of it: the session's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default)]
    pub attempts: u32,
    /// The lifecycle function sent its job.
    #[serde(default)]
    pub job_sent: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl Recording {
    pub fn pending(stream_id: &str, session_id: &str, owner_id: &str, now: &str) -> Self {
        Self {
            stream_id: stream_id.to_owned(),
            session_id: session_id.to_owned(),
            owner_id: Some(owner_id.to_owned()),
            status: RecordingStatus::Processing,
            video_id: None,
            size_bytes: None,
            duration_s: None,
            reason: None,
            attempts: 0,
            job_sent: false,
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
        }
    }
}

/// Where a session's recording is stored: `recordings/{stream}/{session}.mp4`
/// and the thumbnail beside it.
pub fn mp4_key(stream_id: &str, session_id: &str) -> String {
    format!("recordings/{stream_id}/{session_id}.mp4")
}

pub fn thumbnail_key(stream_id: &str, session_id: &str) -> String {
    format!("recordings/{stream_id}/{session_id}.jpg")
}

/// The session's stored HLS in the live bucket, closed with ENDLIST at its end.
/// The number of a stored segment, `seg_{n:06}.m4s` (the live bucket's names).
pub fn segment_number(name: &str) -> Option<u64> {
    name.strip_prefix("seg_")?.strip_suffix(".m4s")?.parse().ok()
}

/// The generation of a stored init segment: `init.mp4` is 0, `init_{k}.mp4` k.
pub fn init_number(name: &str) -> Option<u64> {
    if name == "init.mp4" {
        return Some(0);
    }
    name.strip_prefix("init_")?.strip_suffix(".mp4")?.parse().ok()
}

pub fn session_prefix(stream_id: &str, session_id: &str) -> String {
    format!("live/{stream_id}/{session_id}")
}

/// `(stream_id, session_id)` of a recording's MP4 key, if it is one.
pub fn parse_mp4_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("recordings/")?;
    let (stream, file) = rest.split_once('/')?;
    let session = file.strip_suffix(".mp4")?;
    (crate::ids::is_id(stream) && crate::ids::is_id(session)).then_some((stream, session))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let (s, x) = (crate::ids::new_id(), crate::ids::new_id());
        assert_eq!(parse_mp4_key(&mp4_key(&s, &x)), Some((s.as_str(), x.as_str())));
        assert_eq!(parse_mp4_key(&thumbnail_key(&s, &x)), None);
        assert_eq!(parse_mp4_key("recordings/../x.mp4"), None);
        assert_eq!(parse_mp4_key(&format!("live/{s}/{x}.mp4")), None);
    }
}
