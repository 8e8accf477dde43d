//! HLS playlists (RFC 8216).

mod ffmpeg;
mod master;
mod media;

pub use ffmpeg::{FfmpegPlaylist, FfmpegSegment};
pub use master::{Variant, parse_master, render_master};
pub use media::{MediaPlaylist, PlaylistSegment};
