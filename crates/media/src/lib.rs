//! Media code without I/O: HLS playlists (what the ingest node writes and
//! what it reads from ffmpeg) and MP4 boxes (codec strings from init
//! segments). Bytes in, bytes out, so every rule is tested without a network.

pub mod hls;
pub mod mp4;
