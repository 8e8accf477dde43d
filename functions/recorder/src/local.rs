//! The recorder's media in a folder: live keys are paths below `root`, and
//! the MP4 goes to a file. For the command-line assembler and its benchmark;
//! the same pipeline as in Lambda, so what is measured is what runs.

use std::{
    io::Write,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
};

use async_trait::async_trait;
use bytes::Bytes;

use crate::{
    layout::StoredFile,
    media::{MediaError, Mp4Meta, Mp4Upload, RecordingMedia, StoredMp4},
};

pub struct LocalMedia {
    root: PathBuf,
    /// Where recordings go, by key.
    out: PathBuf,
}

impl LocalMedia {
    pub fn new(root: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        Self { root: root.into(), out: out.into() }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key.trim_start_matches('/'))
    }
}

fn read_err(key: &str, e: impl std::fmt::Display) -> MediaError {
    MediaError::Read { key: key.to_owned(), message: e.to_string() }
}

// Plain blocking file I/O: the command-line assembler does one thing at a
// time, and page-cache reads are faster than handing them to a thread pool.
#[async_trait]
impl RecordingMedia for LocalMedia {
    async fn list(&self, prefix: &str) -> Result<Vec<StoredFile>, MediaError> {
        let dir = std::fs::read_dir(self.path(prefix)).map_err(|e| read_err(prefix, e))?;
        let mut out = Vec::new();
        for entry in dir {
            let entry = entry.map_err(|e| read_err(prefix, e))?;
            let size = entry.metadata().map_err(|e| read_err(prefix, e))?.len();
            out.push(StoredFile { name: entry.file_name().to_string_lossy().into_owned(), size });
        }
        Ok(out)
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, MediaError> {
        match std::fs::read(self.path(key)) {
            Ok(b) => Ok(Some(Bytes::from(b))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(read_err(key, e)),
        }
    }

    async fn read(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, MediaError> {
        let file = std::fs::File::open(self.path(key)).map_err(|e| read_err(key, e))?;
        let mut buf = vec![0u8; len as usize];
        file.read_exact_at(&mut buf, offset).map_err(|e| read_err(key, e))?;
        Ok(Bytes::from(buf))
    }

    async fn stored_mp4(&self, _key: &str) -> Result<Option<StoredMp4>, MediaError> {
        Ok(None)
    }

    async fn copy_to_recordings(&self, live_key: &str, key: &str) -> Result<bool, MediaError> {
        match std::fs::copy(self.path(live_key), self.out.join(key)) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(MediaError::Write { key: key.to_owned(), message: e.to_string() }),
        }
    }

    async fn begin_mp4(&self, key: &str, _meta: &Mp4Meta) -> Result<Box<dyn Mp4Upload>, MediaError> {
        let path = self.out.join(key);
        let partial = path.with_extension("mp4.partial");
        let file = std::fs::File::create(&partial)
            .map_err(|e| MediaError::Write { key: key.to_owned(), message: e.to_string() })?;
        Ok(Box::new(FileMp4 { file: std::io::BufWriter::with_capacity(1 << 20, file), partial, path }))
    }
}

/// Written beside its final name and renamed at the end, so a reader never
/// sees half an MP4.
struct FileMp4 {
    file: std::io::BufWriter<std::fs::File>,
    partial: PathBuf,
    path: PathBuf,
}

fn write_err(path: &Path, e: impl std::fmt::Display) -> MediaError {
    MediaError::Write { key: path.display().to_string(), message: e.to_string() }
}

#[async_trait]
impl Mp4Upload for FileMp4 {
    async fn write(&mut self, chunk: Bytes) -> Result<(), MediaError> {
        self.file.write_all(&chunk).map_err(|e| write_err(&self.partial, e))
    }

    async fn finish(self: Box<Self>) -> Result<(), MediaError> {
        let this = *self;
        let file = this.file.into_inner().map_err(|e| write_err(&this.partial, e))?;
        file.sync_data().map_err(|e| write_err(&this.partial, e))?;
        std::fs::rename(&this.partial, &this.path).map_err(|e| write_err(&this.path, e))
    }

    async fn abort(self: Box<Self>) {
        let _ = std::fs::remove_file(&self.partial);
    }
}
