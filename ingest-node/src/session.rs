//! A live session: its FFmpeg listeners over time, and one pipeline per
//! rendition that stores what FFmpeg produces and keeps the playlists.
//!
//! Ordering rules, per rendition, enforced by doing the work in one task:
//! a segment is stored before any playlist names it; segments are listed in
//! the order FFmpeg made them; a new FFmpeg process (a reconnect) starts with
//! a discontinuity and its own init segment.

use std::{
    collections::{HashMap, VecDeque},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use bytes::Bytes;
use skycast_media::{
    hls::{FfmpegPlaylist, MediaPlaylist, PlaylistSegment, Variant, render_master},
    mp4::{TrackKind, TrackTiming, fragment_span, track_timings, tracks},
};
use tokio::{
    sync::{mpsc, watch},
    time::Instant,
};

use crate::store::{IMMUTABLE, LIVE_PLAYLIST, ObjectStore, put_until_stored};

/// A file FFmpeg finished, as the origin hands it over.
#[derive(Debug)]
pub enum Piece {
    Init {
        generation: u32,
        body: Bytes,
    },
    /// Spooled to disk; `name` is FFmpeg's own (per-process) file name.
    Segment {
        generation: u32,
        name: String,
        path: PathBuf,
        received: Instant,
    },
    /// FFmpeg wrote its playlist again: the newest text is in the
    /// rendition's [`LatestPlaylist`] (only the newest matters, so a slow
    /// store never queues old ones).
    Playlist,
}

/// The newest playlist FFmpeg wrote for a rendition, and its process.
pub type LatestPlaylist = Arc<std::sync::Mutex<Option<(u32, String)>>>;

/// What a rendition reports to its session.
#[derive(Debug)]
pub enum Progress {
    Init {
        rendition: String,
        codecs: Vec<String>,
        resolution: Option<(u32, u32)>,
    },
    Listed {
        rendition: String,
        bytes: u64,
        duration: f64,
        /// Video frames in it, when its bytes said (the stream's health).
        frames: Option<u64>,
        stored_after: Duration,
        listed_after: Duration,
    },
}

/// Recent segments a rendition's health looks at.
pub const RECENT_SEGMENTS: usize = 5;

/// Timings kept per rendition, for the benchmarks and the logs (bounded).
pub const MAX_TIMINGS: usize = 10_000;

#[derive(Debug, Clone, Default)]
pub struct RenditionStats {
    pub segments: u64,
    pub bytes: u64,
    pub duration: f64,
    pub peak_bps: u64,
    pub codecs: Vec<String>,
    pub resolution: Option<(u32, u32)>,
    /// Per segment: finished by ffmpeg (received) → stored in S3, in ms.
    pub stored_ms: Vec<f32>,
    /// Per segment: received → named by a stored playlist, in ms.
    pub listed_ms: Vec<f32>,
    /// The last few segments: (seconds, video frames if known).
    pub recent: VecDeque<(f64, Option<u64>)>,
}

impl RenditionStats {
    pub fn average_bps(&self) -> u64 {
        if self.duration > 0.0 { (self.bytes as f64 * 8.0 / self.duration) as u64 } else { 0 }
    }
}

/// The master playlist for the renditions' current figures.
pub fn master_for(renditions: &[(String, RenditionStats)]) -> String {
    let variants: Vec<Variant> = renditions
        .iter()
        .map(|(name, s)| Variant {
            uri: format!("{name}/index.m3u8"),
            bandwidth: s.peak_bps.max(s.average_bps()).max(1),
            average_bandwidth: (s.average_bps() > 0).then(|| s.average_bps()),
            resolution: s.resolution,
            frame_rate: None,
            codecs: s.codecs.clone(),
        })
        .collect();
    render_master(&variants)
}

pub struct Rendition {
    pub name: String,
    /// Where this rendition's files wait, under the names they get in S3,
    /// until stored: what a restart finds there, it uploads.
    spool: PathBuf,
    latest_playlist: LatestPlaylist,
    /// Something could not be stored (the session gave up): it is in the spool.
    unstored: bool,
    /// `live/<stream>/<session>/<rendition>`
    key_prefix: String,
    store: Arc<dyn ObjectStore>,
    playlist: MediaPlaylist,
    nominal_seconds: u32,
    next_number: u64,
    init_names: HashMap<u32, String>,
    /// Per generation: the track timings that give a segment its duration.
    timings: HashMap<u32, Vec<TrackTiming>>,
    /// Stored, not yet listed: (generation, ffmpeg name, our name, bytes).
    stored: VecDeque<(u32, String, String, u64, Instant, Duration)>,
    durations: HashMap<(u32, String), f64>,
    /// Video frames per segment, where its bytes said.
    frames: HashMap<(u32, String), u64>,
    last_listed_generation: Option<u32>,
    /// When the next segment of the current generation began, wall clock.
    next_start: Option<(u32, time::OffsetDateTime)>,
    progress: mpsc::UnboundedSender<Progress>,
    give_up: watch::Receiver<bool>,
}

impl Rendition {
    /// `dvr_window`: how much of the session its live playlist shows.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &str,
        spool: PathBuf,
        latest_playlist: LatestPlaylist,
        key_prefix: String,
        store: Arc<dyn ObjectStore>,
        nominal_seconds: u32,
        dvr_window: Duration,
        progress: mpsc::UnboundedSender<Progress>,
        give_up: watch::Receiver<bool>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            spool,
            latest_playlist,
            unstored: false,
            key_prefix,
            store,
            playlist: MediaPlaylist::with_window(nominal_seconds, dvr_window.as_secs_f64()),
            nominal_seconds,
            next_number: 0,
            init_names: HashMap::new(),
            timings: HashMap::new(),
            stored: VecDeque::new(),
            durations: HashMap::new(),
            frames: HashMap::new(),
            last_listed_generation: None,
            next_start: None,
            progress,
            give_up,
        }
    }

    async fn put(&self, name: &str, body: Bytes, cache: &str) -> bool {
        let key = format!("{}/{name}", self.key_prefix);
        match put_until_stored(self.store.as_ref(), &key, body, cache, &self.give_up).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "giving up on an upload at shutdown");
                false
            }
        }
    }

    pub async fn handle(&mut self, piece: Piece) {
        match piece {
            Piece::Init { generation, body } => {
                let name = match self.init_names.len() {
                    0 => "init.mp4".to_owned(),
                    k => format!("init_{k}.mp4"),
                };
                let info = tracks(&body).unwrap_or_default();
                match track_timings(&body) {
                    Ok(t) => {
                        self.timings.insert(generation, t);
                    }
                    Err(e) => tracing::warn!(error = %e, "init segment unreadable; waiting for ffmpeg's durations"),
                }
                let spooled = self.spool.join(&name);
                if let Err(e) = tokio::fs::write(&spooled, &body).await {
                    tracing::warn!(error = %e, "cannot spool an init segment");
                }
                if self.put(&name, body, IMMUTABLE).await {
                    let _ = tokio::fs::remove_file(&spooled).await;
                } else {
                    self.unstored = true;
                }
                self.init_names.insert(generation, name);
                let codecs = info.iter().filter_map(|t| t.codec.clone()).collect();
                let resolution = info.iter().find_map(|t| match t.kind {
                    TrackKind::Video { width, height } => Some((u32::from(width), u32::from(height))),
                    TrackKind::Audio { .. } => None,
                });
                let _ = self.progress.send(Progress::Init { rendition: self.name.clone(), codecs, resolution });
            }
            Piece::Segment { generation, name, path, received } => {
                let body = match tokio::fs::read(&path).await {
                    Ok(b) => Bytes::from(b),
                    Err(e) => {
                        tracing::error!(path = %path.display(), error = %e, "spooled segment unreadable");
                        return;
                    }
                };
                // The segment says how long it is: it can be listed as soon as
                // it is stored. ffmpeg's playlist is the fallback.
                if let Some(span) = self.timings.get(&generation).and_then(|t| fragment_span(t, &body).ok()) {
                    self.durations.insert((generation, name.clone()), span.duration_s);
                    if span.video {
                        self.frames.insert((generation, name.clone()), span.samples);
                    }
                }
                let ours = format!("seg_{:06}.m4s", self.next_number);
                self.next_number += 1;
                let bytes = body.len() as u64;
                // Renamed to what it is called in S3 before it goes there.
                let spooled = self.spool.join(&ours);
                let path = match tokio::fs::rename(&path, &spooled).await {
                    Ok(()) => spooled,
                    Err(_) => path,
                };
                if self.put(&ours, body, IMMUTABLE).await {
                    let _ = tokio::fs::remove_file(&path).await;
                    self.stored.push_back((generation, name, ours, bytes, received, received.elapsed()));
                } else {
                    self.unstored = true;
                }
                self.list_ready().await;
            }
            Piece::Playlist => {
                let latest = self.latest_playlist.lock().ok().and_then(|mut l| l.take());
                let Some((generation, text)) = latest else { return };
                for s in FfmpegPlaylist::parse(&text).segments {
                    // Only for segments the bytes did not already time.
                    let known = self.stored.iter().any(|(g, n, ..)| *g == generation && *n == s.uri);
                    if known {
                        self.durations.entry((generation, s.uri)).or_insert(s.duration);
                    }
                }
                self.list_ready().await;
            }
        }
    }

    /// Lists every stored segment whose duration is known, in order, then
    /// stores the playlist: it names nothing that is not already stored.
    async fn list_ready(&mut self) {
        let mut listed = Vec::new();
        while let Some((generation, name, ours, bytes, received, stored_after)) = self.stored.front().cloned() {
            let Some(duration) = self.durations.remove(&(generation, name.clone())) else { break };
            let frames = self.frames.remove(&(generation, name));
            self.stored.pop_front();
            self.append(generation, ours, duration, Some(received));
            listed.push((bytes, duration, frames, received, stored_after));
        }
        if !listed.is_empty() {
            self.put("index.m3u8", Bytes::from(self.playlist.render()), LIVE_PLAYLIST).await;
            for (bytes, duration, frames, received, stored_after) in listed {
                let listed_after = received.elapsed();
                let progress = Progress::Listed {
                    rendition: self.name.clone(),
                    bytes,
                    duration,
                    frames,
                    stored_after,
                    listed_after,
                };
                let _ = self.progress.send(progress);
            }
        }
    }

    /// Lists a segment. Its date: where the previous one of its process
    /// ended, or, for a process's first, when it was received less its length.
    fn append(&mut self, generation: u32, uri: String, duration: f64, received: Option<Instant>) {
        let init_uri = self.init_names.get(&generation).cloned().unwrap_or_else(|| "init.mp4".to_owned());
        let discontinuity = self.last_listed_generation.is_some_and(|g| g != generation);
        let length = time::Duration::seconds_f64(duration);
        let start = match self.next_start {
            Some((g, t)) if g == generation => t,
            _ => {
                let age = received.map_or(Duration::ZERO, |r| r.elapsed());
                time::OffsetDateTime::now_utc() - age - length
            }
        };
        self.next_start = Some((generation, start + length));
        let program_date_time = Some(skycast_core::timefmt::rfc3339(start));
        if !self.playlist.push(PlaylistSegment { uri, duration, init_uri, discontinuity, program_date_time }) {
            tracing::warn!(rendition = %self.name, duration, target = self.playlist.target_duration(),
                "a segment longer than the target duration: set the encoder's keyframe interval to 2 s");
        }
        self.last_listed_generation = Some(generation);
    }

    /// Closes the playlist with ENDLIST. Segments whose process died before
    /// saying their duration are listed at the nominal duration rather than lost.
    pub async fn finish(mut self) -> Finished {
        while let Some((generation, _name, ours, ..)) = self.stored.pop_front() {
            tracing::warn!(rendition = %self.name, segment = %ours, "duration unknown; listing at nominal");
            let nominal = f64::from(self.nominal_seconds);
            self.append(generation, ours, nominal, None);
        }
        self.playlist.end();
        // A session that never produced media leaves nothing behind.
        if !self.playlist.segments().is_empty()
            && !self.unstored
            && !self.put("index.m3u8", Bytes::from(self.playlist.render()), LIVE_PLAYLIST).await
        {
            // Not closed in S3: the session is not over as far as the platform knows.
            self.unstored = true;
        }
        Finished { complete: !self.unstored, playlist: self.playlist }
    }
}

/// A rendition's end: its playlist, and whether everything it made is stored
/// (if not, the rest waits in the spool, and the playlist is not ended in S3).
pub struct Finished {
    pub playlist: MediaPlaylist,
    pub complete: bool,
}

/// Runs a rendition's pipeline until its inbox closes, then ends its playlist.
pub async fn run_rendition(mut rendition: Rendition, mut inbox: mpsc::UnboundedReceiver<Piece>) -> Finished {
    while let Some(piece) = inbox.recv().await {
        rendition.handle(piece).await;
    }
    rendition.finish().await
}

/// How long to wait before restarting a listener that failed without a publisher.
pub const LISTENER_RESTART_DELAY: Duration = Duration::from_millis(500);

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Recorder {
        puts: Mutex<Vec<(String, String)>>,
    }

    #[async_trait::async_trait]
    impl ObjectStore for Recorder {
        async fn put(&self, key: &str, body: Bytes, _: &str, _: &str) -> Result<(), crate::store::PutError> {
            self.puts.lock().unwrap().push((key.to_owned(), String::from_utf8_lossy(&body).into_owned()));
            Ok(())
        }
    }

    fn spool(dir: &std::path::Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, b"segment").unwrap();
        p
    }

    #[tokio::test]
    async fn playlists_name_only_stored_segments_and_mark_reconnects() {
        let store = Arc::new(Recorder::default());
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (_stop, give_up) = watch::channel(false);
        let dir = tempdir();
        let latest = LatestPlaylist::default();
        let mut r = Rendition::new(
            "source",
            dir.clone(),
            latest.clone(),
            "live/s/x/source".into(),
            store.clone(),
            2,
            Duration::from_secs(7200),
            tx,
            give_up,
        );
        let init = include_bytes!("../../crates/media/tests/fixtures/init_h264_main_aac.mp4");
        r.handle(Piece::Init { generation: 0, body: Bytes::from_static(init) }).await;
        r.handle(Piece::Segment {
            generation: 0,
            name: "seg_000000.m4s".into(),
            path: spool(&dir, "a"),
            received: Instant::now(),
        })
        .await;
        // Stored but its duration unknown until ffmpeg's playlist says: not listed yet.
        assert!(!store.puts.lock().unwrap().iter().any(|(k, _)| k.ends_with("index.m3u8")));
        *latest.lock().unwrap() = Some((0, "#EXTINF:2.0,\nseg_000000.m4s\n".into()));
        r.handle(Piece::Playlist).await;
        // A new process (reconnect) numbers from 0 again; we continue at 1.
        r.handle(Piece::Init { generation: 1, body: Bytes::from_static(init) }).await;
        r.handle(Piece::Segment {
            generation: 1,
            name: "seg_000000.m4s".into(),
            path: spool(&dir, "b"),
            received: Instant::now(),
        })
        .await;
        *latest.lock().unwrap() = Some((1, "#EXTINF:1.5,\nseg_000000.m4s\n".into()));
        r.handle(Piece::Playlist).await;
        r.handle(Piece::Segment {
            generation: 1,
            name: "seg_000001.m4s".into(),
            path: spool(&dir, "c"),
            received: Instant::now(),
        })
        .await;
        let finished = r.finish().await;
        assert!(finished.complete);
        let playlist = finished.playlist;

        let puts = store.puts.lock().unwrap().clone();
        let keys: Vec<&str> = puts.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "live/s/x/source/init.mp4",
                "live/s/x/source/seg_000000.m4s",
                "live/s/x/source/index.m3u8",
                "live/s/x/source/init_1.mp4",
                "live/s/x/source/seg_000001.m4s",
                "live/s/x/source/index.m3u8",
                "live/s/x/source/seg_000002.m4s",
                "live/s/x/source/index.m3u8",
            ]
        );
        // Every playlist names only segments stored before it.
        for (i, (key, body)) in puts.iter().enumerate() {
            if key.ends_with("index.m3u8") {
                for line in body.lines().filter(|l| l.ends_with(".m4s")) {
                    assert!(puts[..i].iter().any(|(k, _)| k.ends_with(line)), "{line} listed before stored");
                }
            }
        }
        let text = playlist.render();
        let reconnect = text.split("#EXT-X-DISCONTINUITY\n").nth(1).expect("a discontinuity");
        assert!(reconnect.starts_with("#EXT-X-MAP:URI=\"init_1.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:20"), "{text}");
        assert!(reconnect.contains("#EXTINF:1.500000,\nseg_000001.m4s"), "{text}");
        assert_eq!(text.matches("#EXT-X-PROGRAM-DATE-TIME:").count(), 3, "every segment dated: {text}");
        assert!(
            text.ends_with("#EXTINF:2.000000,\nseg_000002.m4s\n#EXT-X-ENDLIST\n"),
            "unknown duration listed at nominal: {text}"
        );
        let mut progress = Vec::new();
        while let Ok(p) = rx.try_recv() {
            progress.push(p);
        }
        assert!(
            matches!(&progress[0], Progress::Init { codecs, resolution: Some((640, 360)), .. } if codecs == &["avc1.4d401e", "mp4a.40.2"])
        );
    }

    fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("skycast-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
