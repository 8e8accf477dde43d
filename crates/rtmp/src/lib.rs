//! A sans-IO RTMP publish server: bytes from an encoder in, replies and
//! events out. It answers the handshake and the `connect` / `createStream`
//! / `publish` exchange itself, so the node sees the stream key before
//! anything reaches FFmpeg, then hands media on as FLV tags ([`flv`]).
//!
//! What an unauthenticated peer can make it hold is bounded: until the key
//! is accepted, [`MAX_BEFORE_PUBLISH`] bytes in all and no message larger
//! than [`MAX_COMMAND_LEN`].

pub mod amf0;
pub mod chunk;
pub mod flv;
mod server;

pub use server::{Event, Media, Publish, ServerSession};
use thiserror::Error;

/// More than any encoder sends before `publish` (the handshake is 3 KiB,
/// `connect` a few hundred bytes).
pub const MAX_BEFORE_PUBLISH: usize = 64 * 1024;
/// The largest message accepted before publishing (commands are small).
pub const MAX_COMMAND_LEN: usize = 16 * 1024;
/// The largest media message once publishing: a keyframe of a high-bitrate
/// 4K stream is a few MB.
pub const MAX_MEDIA_MESSAGE: usize = 16 * 1024 * 1024;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RtmpError {
    #[error("not RTMP: handshake version {0}, expected 3")]
    Version(u8),
    #[error("more than {MAX_BEFORE_PUBLISH} bytes before publish")]
    TooMuchBeforePublish,
    #[error("a message of {0} bytes is larger than allowed")]
    MessageTooLarge(usize),
    #[error("chunk on stream {0} continues a message that never began")]
    NoPreviousHeader(u32),
    #[error("too many chunk streams")]
    TooManyChunkStreams,
    #[error("invalid chunk size {0}")]
    ChunkSize(u32),
    #[error("malformed AMF0: {0}")]
    Amf(&'static str),
    #[error("media before the stream was accepted")]
    MediaBeforePublish,
    #[error("a second publish on one connection")]
    SecondPublish,
}
