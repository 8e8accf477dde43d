//! Transcoding profiles: what FFmpeg makes of a publisher's stream.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Passthrough: one rendition, the publisher's own encoding. Nearly free.
    #[default]
    Source,
    /// An ABR ladder encoded from the source, keyframes aligned across rungs.
    Ladder,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rung {
    pub name: &'static str,
    pub width: u32,
    pub height: u32,
    pub video_kbps: u32,
    pub audio_kbps: u32,
}

/// The ladder's rungs, highest first (the master playlist's order).
pub const LADDER: &[Rung] = &[
    Rung { name: "720p", width: 1280, height: 720, video_kbps: 2800, audio_kbps: 128 },
    Rung { name: "480p", width: 854, height: 480, video_kbps: 1200, audio_kbps: 96 },
    Rung { name: "360p", width: 640, height: 360, video_kbps: 700, audio_kbps: 64 },
];

impl Profile {
    /// The rendition names this profile produces.
    pub fn renditions(self) -> Vec<&'static str> {
        match self {
            Profile::Source => vec!["source"],
            Profile::Ladder => LADDER.iter().map(|r| r.name).collect(),
        }
    }
}
