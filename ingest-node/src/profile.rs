//! Transcoding profiles: what FFmpeg makes of a publisher's stream.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Passthrough: one rendition, the publisher's own encoding. Nearly free.
    Source,
    /// An ABR ladder, the default: the source itself on top, copied, and
    /// lower rungs encoded from it with keyframes where the source has them.
    #[default]
    Ladder,
}

/// An encoded rung below the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rung {
    pub name: &'static str,
    /// At most this tall: a smaller source is never scaled up.
    pub height: u32,
    pub video_kbps: u32,
}

/// The encoded rungs, highest first (the master playlist's order, after `source`).
pub const LADDER: &[Rung] =
    &[Rung { name: "480p", height: 480, video_kbps: 1200 }, Rung { name: "360p", height: 360, video_kbps: 700 }];

impl Profile {
    /// The rendition names this profile produces, highest first.
    pub fn renditions(self) -> Vec<&'static str> {
        match self {
            Profile::Source => vec!["source"],
            Profile::Ladder => std::iter::once("source").chain(LADDER.iter().map(|r| r.name)).collect(),
        }
    }
}
