//! The ingest node: the one long-running process of Skycast.
//!
//! It listens on one RTMP port and one SRT port ([`listen`]) for every
//! stream, checks each publisher's key before anything reaches FFmpeg, and
//! claims the stream's session ([`node`], [`directory`]). Per session it
//! runs one FFmpeg that reads the publisher's media from a pipe and PUTs
//! its CMAF HLS output to an origin inside this process ([`origin`]), which
//! spools each file and hands it to the session's per-rendition pipeline
//! ([`session`]): segments are uploaded to S3 under session-wide numbers,
//! and the node writes every playlist itself, naming only segments already
//! stored. A session outlives FFmpeg processes: a publisher that reconnects
//! continues it after an `EXT-X-DISCONTINUITY`.

pub mod config;
pub mod control;
pub mod directory;
pub mod ffmpeg;
pub mod listen;
pub mod metrics;
pub mod node;
pub mod origin;
pub mod profile;
pub mod reaper;
pub mod recover;
pub mod relay;
pub mod relay_forward;
pub mod relay_records;
pub mod session;
pub mod store;
