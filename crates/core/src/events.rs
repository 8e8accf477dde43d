//! Message contracts on SQS (ARCHITECTURE.md, "Events"). Every message is JSON
//! with `type`, `stream_id`, `session_id` and `at`.

use serde::{Deserialize, Serialize};

/// stream-events: what an ingest node reports of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// The listener is up; no media yet.
    Waiting { stream_id: String, session_id: String, at: String },
    /// The first segment of every rendition and the master playlist are stored.
    Live { stream_id: String, session_id: String, at: String, renditions: Vec<String> },
    /// A live session's figures so far, every 10 s while it is live.
    Stats {
        stream_id: String,
        session_id: String,
        at: String,
        #[serde(flatten)]
        figures: SessionFigures,
    },
    Ended {
        stream_id: String,
        session_id: String,
        at: String,
        renditions: Vec<String>,
        #[serde(flatten)]
        figures: SessionFigures,
        /// stopped, publisher_gone, no_publisher, failed: …
        reason: String,
    },
}

/// recording-jobs: one per ended session of a stream that records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RecordingJob {
    Record {
        stream_id: String,
        session_id: String,
        at: String,
        /// The rendition the MP4 is made of: the top one (listed first).
        rendition: String,
    },
}

impl RecordingJob {
    pub fn ids(&self) -> (&str, &str) {
        match self {
            Self::Record { stream_id, session_id, .. } => (stream_id, session_id),
        }
    }
}

/// How much a session has made, as of its latest event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionFigures {
    /// Segments stored per rendition (the same in every rendition).
    pub segments: u64,
    pub duration_s: f64,
    /// Average bitrate of the top rendition, audio included.
    #[serde(default)]
    pub bitrate_bps: u64,
    /// `thumb.jpg`, beside the master playlist, is stored.
    #[serde(default)]
    pub thumbnail: bool,
    /// What the node sees of the incoming stream (in `stats` while live).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Box<crate::health::StreamHealth>>,
}

impl StreamEvent {
    pub fn stream_id(&self) -> &str {
        match self {
            Self::Waiting { stream_id, .. }
            | Self::Live { stream_id, .. }
            | Self::Stats { stream_id, .. }
            | Self::Ended { stream_id, .. } => stream_id,
        }
    }
    pub fn session_id(&self) -> &str {
        match self {
            Self::Waiting { session_id, .. }
            | Self::Live { session_id, .. }
            | Self::Stats { session_id, .. }
            | Self::Ended { session_id, .. } => session_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_is_tagged_json() {
        let e: StreamEvent = serde_json::from_str(
            r#"{"type":"live","stream_id":"s","session_id":"x","at":"t","renditions":["source"]}"#,
        )
        .unwrap();
        assert_eq!(e.session_id(), "x");
        assert!(serde_json::from_str::<StreamEvent>(r#"{"type":"exploded","stream_id":"s"}"#).is_err());
        // Figures sit flat in the message, as the contract shows them.
        let ended = StreamEvent::Ended {
            stream_id: "s".into(),
            session_id: "x".into(),
            at: "t".into(),
            renditions: vec!["source".into()],
            figures: SessionFigures {
                segments: 3,
                duration_s: 6.0,
                bitrate_bps: 2_000_000,
                thumbnail: true,
                health: None,
            },
            reason: "stopped".into(),
        };
        let json = serde_json::to_value(&ended).unwrap();
        assert_eq!((json["segments"].as_u64(), json["thumbnail"].as_bool()), (Some(3), Some(true)));
        assert_eq!(serde_json::from_value::<StreamEvent>(json).unwrap(), ended);
    }
}
