//! ISO BMFF (MP4) boxes, read from byte slices.

mod boxes;
mod codecs;
mod fragment;

pub use boxes::{Mp4Box, Mp4Error, child, children};
pub use codecs::{TrackInfo, TrackKind, tracks};
pub use fragment::{TrackTiming, fragment_duration, track_timings};
