//! A session's rendition → one MP4: list the stored files, scan every
//! segment's fragment headers (a small ranged read each), plan the MP4 with
//! [`RecordingBuilder`], then stream the header and each segment's media
//! bytes, in order, into the upload.

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};
use skycast_media::{
    hls::FfmpegPlaylist,
    mp4::{FoundMoof, Mp4Error, RecordingBuilder, SegmentScan, child, children},
};
use thiserror::Error;

use crate::{
    layout::{LayoutError, fill_tail, listed_inits, session_files},
    media::{MediaError, Mp4Meta, RecordingMedia},
};

/// Segments whose headers are read at once.
const SCAN_CONCURRENCY: usize = 16;
/// Segments whose media is read ahead of the upload.
const READ_AHEAD: usize = 3;

#[derive(Debug, Error)]
pub enum AssembleError {
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error("{file}: {error}")]
    Mp4 { file: String, error: Mp4Error },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Assembled {
    pub size: u64,
    pub duration_s: f64,
    pub segments: usize,
    /// Encoder processes the session had (1 + reconnects).
    pub generations: usize,
}

fn mp4_err(file: &str) -> impl FnOnce(Mp4Error) -> AssembleError + '_ {
    move |error| AssembleError::Mp4 { file: file.to_owned(), error }
}

/// Reads only a segment's headers: typically one 16 KiB read.
async fn scan(media: &dyn RecordingMedia, key: &str, len: u64) -> Result<Vec<FoundMoof>, AssembleError> {
    let mut scan = SegmentScan::new(len);
    while let Some((at, n)) = scan.want() {
        let bytes = media.read(key, at, n).await?;
        scan.feed(at, &bytes).map_err(mp4_err(key))?;
    }
    scan.finish().map_err(mp4_err(key))
}

/// The first `tfdt` of a segment: where its decode time starts.
fn first_decode_time(moofs: &[FoundMoof]) -> Option<u64> {
    let moof = moofs.first()?;
    let traf = children(&moof.payload).filter_map(Result::ok).find(|b| b.is(b"traf"))?;
    let tfdt = child(traf.payload, b"tfdt").ok()??.payload;
    match tfdt.first()? {
        1 => tfdt.get(4..12).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes),
        _ => tfdt.get(4..8).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes).map(u64::from),
    }
}

/// Writes the MP4 of the rendition stored under `folder` to `key`.
pub async fn assemble(
    media: &dyn RecordingMedia,
    folder: &str,
    key: &str,
    meta_for: impl FnOnce(f64) -> Mp4Meta,
) -> Result<Assembled, AssembleError> {
    let files = session_files(media.list(folder).await?)?;
    let playlist_key = format!("{folder}/index.m3u8");
    let playlist = media.get(&playlist_key).await?.map(|text| FfmpegPlaylist::parse(&String::from_utf8_lossy(&text)));
    let mut assigned = listed_inits(&files, playlist.as_ref())?;

    // Owned keys and sizes: the futures must not borrow the closure's argument.
    let scans: Vec<(String, u64)> = files.segments.iter().map(|f| (format!("{folder}/{}", f.name), f.size)).collect();
    let moofs: Vec<Vec<FoundMoof>> = stream::iter(scans)
        .map(|(key, size)| async move { scan(media, &key, size).await })
        .buffered(SCAN_CONCURRENCY)
        .try_collect()
        .await?;
    let first_times: Vec<Option<u64>> = moofs.iter().map(|m| first_decode_time(m)).collect();
    fill_tail(&mut assigned, &first_times, files.inits.len());

    let mut builder = RecordingBuilder::new();
    let mut current: Option<(usize, skycast_media::mp4::InitId)> = None;
    let mut generations = 0;
    for (i, (segment, found)) in files.segments.iter().zip(&moofs).enumerate() {
        let init = assigned[i].unwrap_or(0);
        let id = match current {
            Some((n, id)) if n == init => id,
            _ => {
                let name = &files.inits[init].name;
                let init_key = format!("{folder}/{name}");
                let bytes = media.get(&init_key).await?.ok_or_else(|| LayoutError::MissingInit(name.clone()))?;
                let id = builder.add_init(&bytes).map_err(mp4_err(name))?;
                generations += 1;
                current = Some((init, id));
                id
            }
        };
        builder.add_segment(id, i, segment.size, found).map_err(mp4_err(&segment.name))?;
    }
    drop(moofs);
    let layout = builder.finish().map_err(mp4_err(folder))?;

    let mut upload = media.begin_mp4(key, &meta_for(layout.duration_s)).await?;
    let written = async {
        upload.write(Bytes::from(layout.header)).await?;
        let reads: Vec<(String, u64, u64)> = layout
            .copies
            .iter()
            .map(|c| (format!("{folder}/{}", files.segments[c.segment].name), c.offset, c.len))
            .collect();
        let mut reads = stream::iter(reads)
            .map(|(key, offset, len)| async move { media.read(&key, offset, len).await })
            .buffered(READ_AHEAD);
        while let Some(bytes) = reads.next().await {
            upload.write(bytes?).await?;
        }
        Ok::<_, MediaError>(())
    }
    .await;
    match written {
        Ok(()) => upload.finish().await?,
        Err(e) => {
            upload.abort().await;
            return Err(e.into());
        }
    }
    Ok(Assembled { size: layout.size, duration_s: layout.duration_s, segments: files.segments.len(), generations })
}
