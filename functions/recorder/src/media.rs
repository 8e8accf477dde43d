//! Where the recorder reads a session and writes its MP4: S3 in AWS (the
//! live bucket in, the recordings bucket out), a folder for the command-line
//! assembler. Reads are byte ranges, writes a stream of chunks, so memory
//! never holds more than a few segments and one upload part.

use async_trait::async_trait;
use bytes::Bytes;
use thiserror::Error;

use crate::layout::StoredFile;

#[derive(Debug, Error)]
pub enum MediaError {
    #[error("reading {key}: {message}")]
    Read { key: String, message: String },
    #[error("writing {key}: {message}")]
    Write { key: String, message: String },
}

/// What the MP4 is stored with, so a later attempt (or the catalog) can
/// tell what it is without reading it.
#[derive(Debug, Clone, PartialEq)]
pub struct Mp4Meta {
    pub stream_id: String,
    pub session_id: String,
    pub duration_s: f64,
}

/// An MP4 stored by an earlier attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMp4 {
    pub size: u64,
    pub duration_s: Option<f64>,
}

#[async_trait]
pub trait RecordingMedia: Send + Sync {
    /// The files below `prefix` (a folder, without the trailing `/`), by name within it.
    async fn list(&self, prefix: &str) -> Result<Vec<StoredFile>, MediaError>;
    /// A whole small object (a playlist, an init segment); `None` if absent.
    async fn get(&self, key: &str) -> Result<Option<Bytes>, MediaError>;
    /// Exactly `len` bytes from `offset`; fewer is an error.
    async fn read(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, MediaError>;
    /// The recording at `key`, if an earlier attempt completed it.
    async fn stored_mp4(&self, key: &str) -> Result<Option<StoredMp4>, MediaError>;
    /// Copies a live object (the session's thumbnail) to the recordings
    /// side; `false` if there is none.
    async fn copy_to_recordings(&self, live_key: &str, key: &str) -> Result<bool, MediaError>;
    async fn begin_mp4(&self, key: &str, meta: &Mp4Meta) -> Result<Box<dyn Mp4Upload>, MediaError>;
}

/// An MP4 being written: visible to nobody until `finish` returns.
#[async_trait]
pub trait Mp4Upload: Send {
    async fn write(&mut self, chunk: Bytes) -> Result<(), MediaError>;
    async fn finish(self: Box<Self>) -> Result<(), MediaError>;
    /// Drops what was written; nothing is left behind.
    async fn abort(self: Box<Self>);
}
