//! Which stored files make a session's recording, and which init segment
//! each media segment needs. Pure: the names and sizes come from a listing.
//!
//! The segments in S3 are the truth, not the playlist: a node that crashed
//! never wrote `#EXT-X-ENDLIST`, and may have stored segments its last
//! playlist does not name yet. Listed segments take their init from the
//! playlist's `EXT-X-MAP`; the unlisted tail continues with the last one,
//! and moves to the next init where decode time starts over (a new encoder
//! process after a reconnect).

use skycast_core::recording::{init_number, segment_number};
use skycast_media::hls::FfmpegPlaylist;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub name: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LayoutError {
    #[error("the session has no segments")]
    NoSegments,
    #[error("the session has no init segment")]
    NoInit,
    #[error("segment {0} is missing")]
    MissingSegment(String),
    #[error("the playlist names init segment {0}, which is not stored")]
    MissingInit(String),
}

/// The session's files in order: inits by generation, segments by number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFiles {
    pub inits: Vec<StoredFile>,
    pub segments: Vec<StoredFile>,
}

/// Sorts a rendition folder's listing; a gap in the numbering is a missing segment.
pub fn session_files(listing: Vec<StoredFile>) -> Result<SessionFiles, LayoutError> {
    let mut inits: Vec<(u64, StoredFile)> = Vec::new();
    let mut segments: Vec<(u64, StoredFile)> = Vec::new();
    for f in listing {
        if let Some(n) = segment_number(&f.name) {
            segments.push((n, f));
        } else if let Some(n) = init_number(&f.name) {
            inits.push((n, f));
        }
    }
    segments.sort_by_key(|(n, _)| *n);
    inits.sort_by_key(|(n, _)| *n);
    if segments.is_empty() {
        return Err(LayoutError::NoSegments);
    }
    if inits.is_empty() {
        return Err(LayoutError::NoInit);
    }
    for (expected, (n, _)) in segments.iter().enumerate() {
        if *n != expected as u64 {
            return Err(LayoutError::MissingSegment(format!("seg_{expected:06}.m4s")));
        }
    }
    Ok(SessionFiles {
        inits: inits.into_iter().map(|(_, f)| f).collect(),
        segments: segments.into_iter().map(|(_, f)| f).collect(),
    })
}

/// The init (index into `files.inits`) of each segment the playlist names,
/// `None` for the unlisted tail.
pub fn listed_inits(
    files: &SessionFiles,
    playlist: Option<&FfmpegPlaylist>,
) -> Result<Vec<Option<usize>>, LayoutError> {
    let mut out = vec![None; files.segments.len()];
    let Some(playlist) = playlist else { return Ok(out) };
    for s in &playlist.segments {
        let Some(n) = segment_number(&s.uri) else { continue };
        let slot = out.get_mut(n as usize).ok_or_else(|| LayoutError::MissingSegment(s.uri.clone()))?;
        let init = s.init_uri.as_deref().unwrap_or("init.mp4");
        let i = files.inits.iter().position(|f| f.name == init).ok_or_else(|| LayoutError::MissingInit(init.into()))?;
        *slot = Some(i);
    }
    Ok(out)
}

/// Fills in the unlisted segments' inits: the one before continues, and
/// each restart of decode time moves to the next stored init.
/// `first_decode_times` is each segment's first `tfdt`, where it has one.
pub fn fill_tail(assigned: &mut [Option<usize>], first_decode_times: &[Option<u64>], init_count: usize) {
    let mut current = 0usize;
    let mut previous_dts: Option<u64> = None;
    for (i, slot) in assigned.iter_mut().enumerate() {
        let dts = first_decode_times.get(i).copied().flatten();
        match slot {
            Some(init) => current = *init,
            None => {
                if let (Some(prev), Some(now)) = (previous_dts, dts)
                    && now < prev
                    && current + 1 < init_count
                {
                    current += 1;
                }
                *slot = Some(current);
            }
        }
        previous_dts = dts.or(previous_dts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str) -> StoredFile {
        StoredFile { name: name.into(), size: 10 }
    }

    #[test]
    fn orders_files_and_finds_gaps() {
        let files = session_files(vec![
            f("seg_000001.m4s"),
            f("init.mp4"),
            f("index.m3u8"),
            f("seg_000000.m4s"),
            f("init_1.mp4"),
        ])
        .unwrap();
        assert_eq!(files.inits.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["init.mp4", "init_1.mp4"]);
        assert_eq!(files.segments[1].name, "seg_000001.m4s");
        assert_eq!(
            session_files(vec![f("init.mp4"), f("seg_000000.m4s"), f("seg_000002.m4s")]),
            Err(LayoutError::MissingSegment("seg_000001.m4s".into()))
        );
        assert_eq!(session_files(vec![f("init.mp4")]), Err(LayoutError::NoSegments));
        assert_eq!(session_files(vec![f("seg_000000.m4s")]), Err(LayoutError::NoInit));
    }

    #[test]
    fn the_playlist_says_which_init_and_the_tail_follows_decode_time() {
        let files = session_files(
            ["init.mp4", "init_1.mp4", "seg_000000.m4s", "seg_000001.m4s", "seg_000002.m4s", "seg_000003.m4s"]
                .map(f)
                .to_vec(),
        )
        .unwrap();
        // The node crashed after listing two segments; the last one stored
        // before the crash belongs to a reconnect (its clock restarted).
        let playlist = FfmpegPlaylist::parse(
            "#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2,\nseg_000000.m4s\n#EXTINF:2,\nseg_000001.m4s\n",
        );
        let mut assigned = listed_inits(&files, Some(&playlist)).unwrap();
        assert_eq!(assigned, [Some(0), Some(0), None, None]);
        fill_tail(&mut assigned, &[Some(0), Some(180_000), Some(360_000), Some(0)], 2);
        assert_eq!(assigned, [Some(0), Some(0), Some(0), Some(1)]);
        // No playlist at all: the same rule from the start.
        let mut assigned = listed_inits(&files, None).unwrap();
        fill_tail(&mut assigned, &[Some(0), Some(180_000), Some(0), Some(180_000)], 2);
        assert_eq!(assigned, [Some(0), Some(0), Some(1), Some(1)]);
        // A playlist naming what is not stored.
        let wrong = FfmpegPlaylist::parse("#EXT-X-MAP:URI=\"init_7.mp4\"\n#EXTINF:2,\nseg_000000.m4s\n");
        assert_eq!(listed_inits(&files, Some(&wrong)), Err(LayoutError::MissingInit("init_7.mp4".into())));
        let beyond = FfmpegPlaylist::parse("#EXTINF:2,\nseg_000009.m4s\n");
        assert_eq!(listed_inits(&files, Some(&beyond)), Err(LayoutError::MissingSegment("seg_000009.m4s".into())));
    }
}
