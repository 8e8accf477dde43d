//! ISO BMFF (MP4) boxes: reading init segments and fragments, and writing
//! a progressive MP4 from them.

mod boxes;
mod codecs;
mod fragment;
mod init;
mod moof;
mod progressive;
mod sample_table;
mod scan;
#[cfg(test)]
mod synth;
mod write;

pub use boxes::{Mp4Box, Mp4Error, child, children};
pub use codecs::{TrackInfo, TrackKind, tracks};
pub use fragment::{FragmentSpan, TrackTiming, fragment_duration, fragment_span, track_timings};
pub use init::{FragmentDefaults, InitTrack, init_tracks};
pub use moof::{Run, Sample, fragment_runs};
pub use progressive::{Copy, InitId, Layout, RecordingBuilder};
pub use sample_table::{StoredSample, StoredTrack, stored_tracks};
pub use scan::{FoundMoof, PROBE_BYTES, SegmentScan, scan_in_memory};
