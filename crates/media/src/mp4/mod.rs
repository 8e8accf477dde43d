//! ISO BMFF (MP4) boxes, read from byte slices.

mod boxes;
mod codecs;

pub use boxes::{Mp4Box, Mp4Error, child, children};
pub use codecs::{TrackInfo, TrackKind, tracks};
