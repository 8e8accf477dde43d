//! The ingest node: the one long-running process of Skycast.
//!
//! Per live session it runs one FFmpeg listener (SRT: the stream key is the
//! passphrase; RTMP: the node's own gate checks the key, see [`rtmp`]). FFmpeg PUTs its CMAF HLS output to an origin inside this
//! process ([`origin`]), which spools each file to disk and hands it to the
//! session's per-rendition pipeline ([`session`]): segments are uploaded to
//! S3 under session-wide numbers, and the node writes every playlist itself,
//! naming only segments already stored. A session outlives FFmpeg processes:
//! a publisher that reconnects continues it after an `EXT-X-DISCONTINUITY`.

pub mod config;
pub mod control;
pub mod ffmpeg;
pub mod node;
pub mod origin;
pub mod profile;
pub mod rtmp;
pub mod session;
pub mod store;
