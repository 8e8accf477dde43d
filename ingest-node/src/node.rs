//! The node: its origin, the publishers it admits, and the live sessions
//! it runs.
//!
//! A publisher reaches the node on its one RTMP or SRT port ([`crate::listen`])
//! with a stream key. [`Node::admit`] looks the key up, claims the stream's
//! session for this node (one node wins a race), and hands the publisher's
//! media to the session as a [`Feed`]. A session outlives its publishers: one
//! that returns within the reconnect window continues it (a new FFmpeg
//! process, a new generation); a newer publisher with the key replaces the
//! current one.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use tokio::{
    io::AsyncWriteExt,
    sync::{Mutex, mpsc, watch},
    task::JoinHandle,
    time::Instant,
};
use tracing::Instrument;

use skycast_core::{
    events::SessionFigures,
    health::{Measured, SrtLink, assess},
    stream::Protocol,
};

use crate::{
    config::NodeConfig,
    directory::{Claimed, Directory},
    ffmpeg::{self, InputFormat, TranscodeSpec},
    origin::{self, Inbox, Registry},
    profile::Profile,
    session::{Progress, Rendition, RenditionStats, master_for, run_rendition},
    store::{LIVE_PLAYLIST, ObjectStore, put_until_stored},
};

/// What a session needs to start.
#[derive(Debug, Clone)]
pub struct SessionSpec {
    pub stream_id: String,
    pub session_id: String,
    pub profile: Profile,
    /// Asked of FFmpeg (segments start on keyframes, so an encoder's longer
    /// keyframe interval makes them longer).
    pub segment_seconds: u32,
}

/// A verified publisher's media, as FFmpeg reads it.
pub struct Feed {
    pub format: InputFormat,
    pub protocol: Protocol,
    pub peer: Option<SocketAddr>,
    pub media: mpsc::Receiver<Bytes>,
    /// The link's figures as the protocol counts them (SRT); `None` where
    /// the protocol has none (RTMP's TCP).
    pub link: Option<Arc<dyn LinkFigures>>,
}

/// A publisher's link as its protocol sees it.
pub trait LinkFigures: Send + Sync {
    /// What was counted since the last call; `None` if nothing was (the
    /// publisher is gone, or has only just come).
    fn take(&self) -> Option<SrtLink>;
}

/// How many chunks of media may wait for FFmpeg before the publisher's
/// connection is paused (TCP) or its buffer fills (SRT).
pub const FEED_DEPTH: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// Asked to stop (the owner, or node shutdown).
    Stopped,
    /// The publisher left and did not return within the reconnect window.
    PublisherGone,
    /// No publisher arrived within the waiting timeout.
    NoPublisher,
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct SessionSummary {
    pub reason: EndReason,
    pub renditions: Vec<(String, RenditionStats)>,
    /// Publisher connections that produced media (1 + reconnects).
    pub publishes: u32,
    /// A thumbnail was stored.
    pub thumbnail: bool,
}

/// The figures events report: the top rendition's (listed first).
fn figures(renditions: &[(String, RenditionStats)], thumbnail: bool) -> SessionFigures {
    let top = renditions.first().map(|(_, s)| s);
    SessionFigures {
        segments: top.map_or(0, |s| s.segments),
        duration_s: top.map_or(0.0, |s| s.duration),
        bitrate_bps: top.map_or(0, |s| s.average_bps()),
        thumbnail,
        health: None,
    }
}

/// What the node sees of the incoming stream: the top rendition is the
/// encoder's own (copied), so its init segment names the encoder's codecs
/// and its segments, cut at the encoder's keyframes, show the keyframe
/// interval and the frame rate. `ingest_bps` is what arrived lately, `srt`
/// what SRT says of the link.
fn measure(renditions: &[(String, RenditionStats)], ingest_bps: u64, srt: Option<SrtLink>) -> Measured {
    let Some((_, top)) = renditions.first() else { return Measured { srt, ..Measured::default() } };
    let (video_codec, audio_codec) = skycast_core::health::split_codecs(&top.codecs);
    let framed: Vec<(f64, u64)> = top.recent.iter().filter_map(|(d, f)| f.map(|f| (*d, f))).collect();
    let seconds: f64 = framed.iter().map(|(d, _)| d).sum();
    let frames: u64 = framed.iter().map(|(_, f)| f).sum();
    // The last segment of a process may be cut short: the longest recent one
    // is the interval (or the segment length, when keyframes come more often).
    let keyframe_interval_s = top.recent.iter().map(|(d, _)| *d).reduce(f64::max);
    Measured {
        ingest_bitrate_bps: ingest_bps,
        frame_rate: (seconds > 0.0 && frames > 0 && video_codec.is_some()).then(|| frames as f64 / seconds),
        keyframe_interval_s: keyframe_interval_s.filter(|_| video_codec.is_some()),
        video_codec,
        audio_codec,
        width: top.resolution.map(|(w, _)| w),
        height: top.resolution.map(|(_, h)| h),
        srt,
    }
}

impl SessionSummary {
    pub fn figures(&self) -> SessionFigures {
        figures(&self.renditions, self.thumbnail)
    }

    pub fn segments(&self) -> u64 {
        self.figures().segments
    }
    pub fn duration(&self) -> f64 {
        self.figures().duration_s
    }
}

#[derive(Debug, Clone)]
pub enum SessionEvent {
    /// Claimed; no media yet.
    Waiting,
    /// Every rendition's first segment and the master playlist are stored.
    Live {
        renditions: Vec<String>,
    },
    /// Every [`STATS_EVERY`] while live.
    Stats(SessionFigures),
    Ended(SessionSummary),
}

/// A session event, with the ids of the session it is about.
#[derive(Debug, Clone)]
pub struct Notice {
    pub stream_id: String,
    pub session_id: String,
    pub event: SessionEvent,
}

/// Why a publisher was turned away. Shown to it (RTMP's status description)
/// and logged; never with the key it offered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("unknown stream key")]
    UnknownKey,
    #[error("the stream is live from another encoder")]
    Busy,
    #[error("its owner has as many streams on air as allowed")]
    OverQuota,
    #[error("ingest is unavailable; try again shortly")]
    Unavailable,
    #[error("this ingest node is shutting down")]
    Draining,
}

/// How often a live session reports its figures and, at most, uploads a thumbnail.
pub const STATS_EVERY: Duration = Duration::from_secs(10);
/// Thumbnails change every [`STATS_EVERY`]; caches may keep one that long.
const THUMBNAIL_CACHE: &str = "public, max-age=10";
/// How long an ending session waits for a first still already on its way
/// to the store (retries included); none on its way ends the wait at once.
const FIRST_THUMBNAIL_GRACE: Duration = Duration::from_secs(5);

struct Running {
    session_id: String,
    stop: watch::Sender<bool>,
    /// Uploads stop retrying (a drain's deadline passed): what is not
    /// stored stays in the spool for the next start.
    give_up: Arc<watch::Sender<bool>>,
    feeds: mpsc::UnboundedSender<Feed>,
    task: JoinHandle<SessionSummary>,
}

pub struct Node {
    config: NodeConfig,
    store: Arc<dyn ObjectStore>,
    directory: Arc<dyn Directory>,
    origin: SocketAddr,
    registry: Registry,
    /// By stream id: a node runs at most one session of a stream.
    sessions: Mutex<HashMap<String, Running>>,
    events: mpsc::UnboundedSender<Notice>,
    draining: watch::Sender<bool>,
}

impl Node {
    /// Starts the origin. Session events arrive on `events`.
    pub async fn start(
        config: NodeConfig,
        store: Arc<dyn ObjectStore>,
        directory: Arc<dyn Directory>,
        events: mpsc::UnboundedSender<Notice>,
    ) -> std::io::Result<Arc<Self>> {
        let registry = Registry::default();
        let origin = origin::start(registry.clone()).await?;
        tokio::fs::create_dir_all(&config.spool_dir).await?;
        Ok(Arc::new(Self {
            config,
            store,
            directory,
            origin,
            registry,
            sessions: Mutex::new(HashMap::new()),
            events,
            draining: watch::channel(false).0,
        }))
    }

    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// Whether `key` belongs to a stream (the SRT handshake asks, before
    /// it lets a caller in).
    pub async fn knows(&self, key: &str) -> Result<bool, Refusal> {
        if !skycast_core::stream::is_plausible_key(key) {
            return Ok(false);
        }
        match self.directory.find(key).await {
            Ok(found) => Ok(found.is_some()),
            Err(e) => {
                tracing::warn!(error = %e, "cannot look a stream key up");
                Err(Refusal::Unavailable)
            }
        }
    }

    /// Lets a publisher with `key` in: its stream's session on this node
    /// takes the media sent on the returned sender. The key is checked
    /// against the table on every connect, so a rotated key stops working
    /// at the next one.
    pub async fn admit(
        self: &Arc<Self>,
        key: &str,
        format: InputFormat,
        protocol: Protocol,
        peer: Option<SocketAddr>,
        link: Option<Arc<dyn LinkFigures>>,
    ) -> Result<mpsc::Sender<Bytes>, Refusal> {
        if *self.draining.borrow() {
            return Err(Refusal::Draining);
        }
        // Garbage (empty, huge, odd bytes) never costs a lookup.
        if !skycast_core::stream::is_plausible_key(key) {
            return Err(Refusal::UnknownKey);
        }
        let unavailable = |e: crate::directory::DirectoryError| {
            tracing::warn!(error = %e, "cannot admit a publisher");
            Refusal::Unavailable
        };
        let stream = self.directory.find(key).await.map_err(unavailable)?.ok_or(Refusal::UnknownKey)?;
        let (tx, media) = mpsc::channel(FEED_DEPTH);
        let mut feed = Feed { format, protocol, peer, media, link };
        {
            let sessions = self.sessions.lock().await;
            if let Some(running) = sessions.get(&stream.stream_id).filter(|r| !r.task.is_finished()) {
                // The same stream again (a reconnect, or a newer encoder): it
                // continues the session, replacing any current publisher.
                match running.feeds.send(feed) {
                    Ok(()) => {
                        tracing::info!(stream_id = %stream.stream_id, session_id = %running.session_id, ?protocol, "publisher rejoined its session");
                        return Ok(tx);
                    }
                    Err(mpsc::error::SendError(back)) => feed = back,
                }
            }
        }
        let session_id = match self.directory.claim(&stream, key, &self.config.node_id).await.map_err(unavailable)? {
            Claimed::Session(id) => id,
            Claimed::Held => return Err(Refusal::Busy),
            Claimed::OverQuota => return Err(Refusal::OverQuota),
            Claimed::Refused => return Err(Refusal::UnknownKey),
        };
        let segment_seconds = stream.latency.segment_seconds(self.config.segment_seconds);
        let spec = SessionSpec { stream_id: stream.stream_id, session_id, profile: stream.profile, segment_seconds };
        self.start_session(spec, feed).await.map_err(|e| {
            tracing::error!(error = %e, "cannot start a session");
            Refusal::Unavailable
        })?;
        Ok(tx)
    }

    /// Starts a session with its first publisher; a second start of a
    /// running session only hands it the publisher.
    pub async fn start_session(self: &Arc<Self>, spec: SessionSpec, first: Feed) -> std::io::Result<()> {
        let mut sessions = self.sessions.lock().await;
        sessions.retain(|_, r| !r.task.is_finished());
        if let Some(r) = sessions.get(&spec.stream_id) {
            let _ = r.feeds.send(first);
            return Ok(());
        }
        let spool = self.config.spool_dir.join(&spec.stream_id).join(&spec.session_id);
        for r in spec.profile.renditions() {
            tokio::fs::create_dir_all(spool.join(r)).await?;
        }
        let (stop, stop_rx) = watch::channel(false);
        let give_up = Arc::new(watch::channel(false).0);
        let (feeds, feeds_rx) = mpsc::unbounded_channel();
        let _ = feeds.send(first);
        let node = Arc::clone(self);
        // One span per session: every log line of it carries its ids.
        let span = tracing::info_span!("session", stream_id = %spec.stream_id, session_id = %spec.session_id);
        let stream_id = spec.stream_id.clone();
        let session_id = spec.session_id.clone();
        let giving_up = Arc::clone(&give_up);
        let task = tokio::spawn(
            async move { node.run_session(spec, spool, feeds_rx, stop_rx, giving_up).await }.instrument(span),
        );
        sessions.insert(stream_id, Running { session_id, stop, give_up, feeds, task });
        Ok(())
    }

    /// Stops a session and waits until its playlists are closed.
    pub async fn stop_session(&self, session_id: &str) -> Option<SessionSummary> {
        let running = {
            let mut sessions = self.sessions.lock().await;
            let stream_id = sessions.iter().find(|(_, r)| r.session_id == session_id).map(|(k, _)| k.clone())?;
            sessions.remove(&stream_id)?
        };
        let _ = running.stop.send(true);
        running.task.await.ok()
    }

    /// Refuses new publishers, then stops every session at once, finishing
    /// their uploads; for SIGTERM. Uploads still failing at `deadline` (S3
    /// down) are given up: what is not stored stays in the spool, and the
    /// next start of the node stores it and ends those sessions.
    pub async fn shutdown(&self, deadline: Duration) {
        self.draining.send_replace(true);
        let running: Vec<Running> = self.sessions.lock().await.drain().map(|(_, r)| r).collect();
        for r in &running {
            let _ = r.stop.send(true);
        }
        let give_ups: Vec<_> = running.iter().map(|r| Arc::clone(&r.give_up)).collect();
        let mut tasks: Vec<_> = running.into_iter().map(|r| r.task).collect();
        let all = async {
            for t in &mut tasks {
                let _ = t.await;
            }
        };
        if tokio::time::timeout(deadline, all).await.is_err() {
            tracing::warn!("uploads still failing at the drain's deadline; the rest stays in the spool");
            for g in &give_ups {
                g.send_replace(true);
            }
            for t in tasks.iter_mut().filter(|t| !t.is_finished()) {
                let _ = t.await;
            }
        }
    }

    /// The sessions running now: (stream id, session id).
    pub async fn sessions(&self) -> Vec<(String, String)> {
        let sessions = self.sessions.lock().await;
        sessions.iter().filter(|(_, r)| !r.task.is_finished()).map(|(s, r)| (s.clone(), r.session_id.clone())).collect()
    }

    /// The sessions running now.
    pub async fn running(&self) -> usize {
        self.sessions.lock().await.values().filter(|r| !r.task.is_finished()).count()
    }

    /// Ends the sessions the table no longer wants here (the owner stopped
    /// them, or another node took the stream); for the node's watch loop.
    pub async fn reconcile(&self) {
        for (stream_id, session_id) in self.sessions().await {
            match self.directory.wanted(&stream_id, &session_id, &self.config.node_id).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!(%stream_id, %session_id, "session stopped by its owner; ending it");
                    // Ending waits for the last uploads: do not hold up the loop.
                    let running = {
                        let mut sessions = self.sessions.lock().await;
                        // Only if it is still that session: a newer one may have started.
                        match sessions.get(&stream_id) {
                            Some(r) if r.session_id == session_id => sessions.remove(&stream_id),
                            _ => None,
                        }
                    };
                    if let Some(r) = running {
                        let _ = r.stop.send(true);
                        tokio::spawn(async move {
                            let _ = r.task.await;
                        });
                    }
                }
                Err(e) => tracing::debug!(error = %e, "cannot check a session; next round"),
            }
        }
    }

    fn emit(&self, spec: &SessionSpec, event: SessionEvent) {
        let _ =
            self.events.send(Notice { stream_id: spec.stream_id.clone(), session_id: spec.session_id.clone(), event });
    }

    async fn run_session(
        self: Arc<Self>,
        spec: SessionSpec,
        spool: std::path::PathBuf,
        mut feeds: mpsc::UnboundedReceiver<Feed>,
        mut stop: watch::Receiver<bool>,
        give_up_tx: Arc<watch::Sender<bool>>,
    ) -> SessionSummary {
        let prefix = format!("live/{}/{}", spec.stream_id, spec.session_id);
        let token = uuid::Uuid::new_v4().simple().to_string();
        let give_up = give_up_tx.subscribe();
        let (progress_tx, mut progress) = mpsc::unbounded_channel();
        let (activity_tx, mut activity) = mpsc::unbounded_channel();
        let names = spec.profile.renditions();
        let mut senders = HashMap::new();
        let mut playlists = HashMap::new();
        let mut pipelines = Vec::new();
        for name in &names {
            let (tx, rx) = mpsc::unbounded_channel();
            let latest = crate::session::LatestPlaylist::default();
            playlists.insert((*name).to_owned(), latest.clone());
            let r = Rendition::new(
                name,
                spool.join(name),
                latest,
                format!("{prefix}/{name}"),
                self.store.clone(),
                spec.segment_seconds,
                self.config.dvr_window,
                progress_tx.clone(),
                give_up.clone(),
            );
            pipelines.push(tokio::spawn(run_rendition(r, rx)));
            senders.insert((*name).to_owned(), tx);
        }
        drop(progress_tx);
        let (thumbnail_tx, thumbnail_rx) = watch::channel(None);
        let stills = Arc::new(thumbnail_tx);
        // Whether a thumbnail is stored; it changes once, from false to true.
        let (stored_tx, mut thumbnail_stored) = watch::channel(false);
        let thumbnails =
            tokio::spawn(keep_thumbnail(self.store.clone(), format!("{prefix}/thumb.jpg"), thumbnail_rx, stored_tx));
        let inbox = Inbox {
            spool: spool.clone(),
            renditions: senders,
            playlists,
            activity: activity_tx,
            thumbnail: Arc::clone(&stills),
        };
        self.registry.insert(token.clone(), inbox);
        self.emit(&spec, SessionEvent::Waiting);
        tracing::info!(profile = ?spec.profile, segment_seconds = spec.segment_seconds, "session claimed");

        let mut stats: Vec<(String, RenditionStats)> =
            names.iter().map(|n| ((*n).to_owned(), RenditionStats::default())).collect();
        let mut live = false;
        let mut generation = 0u32;
        let mut publishes = 0u32;
        let mut next: Option<Feed> = None;
        let mut deadline = Instant::now() + self.config.waiting_timeout;
        let mut report = tokio::time::interval(STATS_EVERY);
        report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Bytes the publishers sent, for the ingest bitrate of each report.
        let ingested = Arc::new(std::sync::atomic::AtomicU64::new(0));
        // (when, bytes) of the last report, or of the current publisher's arrival.
        let mut last_report: (Instant, u64);
        let reason = 'session: loop {
            let feed = match next.take() {
                Some(f) => f,
                None => tokio::select! {
                    Some(f) = feeds.recv() => f,
                    _ = stop.changed() => break EndReason::Stopped,
                    _ = tokio::time::sleep_until(deadline) => {
                        break if publishes > 0 { EndReason::PublisherGone } else { EndReason::NoPublisher };
                    }
                },
            };
            let transcode = TranscodeSpec {
                input: feed.format,
                profile: spec.profile,
                segment_seconds: spec.segment_seconds,
                origin_base: format!("http://{}/ingest/{token}/{generation}", self.origin),
            };
            let mut child = match ffmpeg::spawn(&self.config.ffmpeg, &transcode) {
                Ok(c) => c,
                Err(e) => break EndReason::Failed(format!("cannot start ffmpeg: {e}")),
            };
            tracing::info!(generation, protocol = ?feed.protocol, peer = ?feed.peer, "publisher connected");
            if generation > 0 {
                crate::metrics::metrics().ffmpeg_restarts.inc();
            }
            let _publishing = crate::metrics::PublisherGuard::new(feed.protocol);
            // The ingest bitrate counts from the publisher's arrival, not the wait for it.
            last_report = (Instant::now(), ingested.load(std::sync::atomic::Ordering::Relaxed));
            tokio::spawn(log_ffmpeg(child.stderr.take()));
            let link = feed.link;
            let mut pump = tokio::spawn(pump(feed.media, child.stdin.take(), feed.protocol, Arc::clone(&ingested)));
            let mut pumped = false;
            let mut active = false;
            loop {
                tokio::select! {
                    _ = child.wait() => break,
                    _ = stop.changed() => {
                        pump.abort();
                        interrupt(&mut child).await;
                        // Files it flushed on the way out still count.
                        while let Ok(g) = activity.try_recv() {
                            note_activity(g, generation, &mut active, &mut publishes);
                        }
                        break 'session EndReason::Stopped;
                    }
                    Some(f) = feeds.recv() => {
                        // A newer publisher replaces this one: end its input,
                        // let FFmpeg finish what it has.
                        tracing::info!(generation, "a newer publisher replaces the current one");
                        next = Some(f);
                        pump.abort();
                        interrupt(&mut child).await;
                        break;
                    }
                    _ = &mut pump, if !pumped => {
                        // The publisher left: FFmpeg reads to the end of its
                        // input and exits; wait for it in the first branch.
                        pumped = true;
                    }
                    Some(g) = activity.recv() => {
                        note_activity(g, generation, &mut active, &mut publishes);
                    }
                    Some(p) = progress.recv() => {
                        self.record(&mut stats, p);
                        if !live && stats.iter().all(|(_, s)| s.segments > 0) {
                            live = self.put_master(&prefix, &stats, &give_up).await;
                            if live {
                                tracing::info!("live");
                                self.emit(&spec, SessionEvent::Live { renditions: names.iter().map(|n| (*n).to_owned()).collect() });
                            }
                        }
                    }
                    // Listings show the still as soon as there is one, not a tick later.
                    Ok(()) = thumbnail_stored.changed(), if live => {
                        self.emit(&spec, SessionEvent::Stats(figures(&stats, *thumbnail_stored.borrow_and_update())));
                    }
                    _ = report.tick(), if live => {
                        let mut f = figures(&stats, *thumbnail_stored.borrow());
                        let bytes = ingested.load(std::sync::atomic::Ordering::Relaxed);
                        let elapsed = last_report.0.elapsed().as_secs_f64();
                        let sent = bytes.saturating_sub(last_report.1);
                        let bps = if elapsed > 0.5 { (sent as f64 * 8.0 / elapsed) as u64 } else { 0 };
                        last_report = (Instant::now(), bytes);
                        let srt = link.as_ref().and_then(|l| l.take());
                        f.health = Some(Box::new(assess(&measure(&stats, bps, srt), &skycast_core::timefmt::now_rfc3339())));
                        self.emit(&spec, SessionEvent::Stats(f));
                    }
                }
            }
            // The process's last PUTs may still be queued: count them first.
            while let Ok(g) = activity.try_recv() {
                note_activity(g, generation, &mut active, &mut publishes);
            }
            if next.is_none() {
                tracing::info!(
                    generation,
                    window_s = self.config.reconnect_window.as_secs(),
                    "publisher left; waiting for a reconnect"
                );
            }
            deadline = Instant::now() + self.config.reconnect_window;
            generation += 1;
        };

        // No process writes any more: close the pipelines, which store what
        // they hold and end every playlist with ENDLIST.
        self.registry.remove(&token);
        if matches!(reason, EndReason::Failed(_)) {
            give_up_tx.send_replace(true);
        }
        let mut complete = true;
        for p in pipelines {
            complete &= p.await.is_ok_and(|f| f.complete);
        }
        // The stored still is at most one period old: the session does not
        // wait for a newer one. A session too short to have stored its first
        // still yet waits briefly for it, or its video would have none.
        // A drain past its deadline (S3 down) does not wait for it.
        let mut giving_up = give_up.clone();
        tokio::select! {
            _ = tokio::time::timeout(FIRST_THUMBNAIL_GRACE, thumbnail_stored.wait_for(|stored| *stored)) => {}
            _ = giving_up.wait_for(|g| *g) => {}
        }
        thumbnails.abort();
        if !*thumbnail_stored.borrow() {
            // Its video will have no still: say whether FFmpeg made none or storing failed.
            tracing::warn!(still_arrived = stills.borrow().is_some(), "session ends with no still stored");
        }
        while let Ok(p) = progress.try_recv() {
            self.record(&mut stats, p);
        }
        if stats.iter().any(|(_, s)| s.segments > 0) {
            complete &= self.put_master(&prefix, &stats, &give_up).await;
        }
        let summary = SessionSummary { reason, renditions: stats, publishes, thumbnail: *thumbnail_stored.borrow() };
        if !complete {
            // Not `ended`: the recording would miss what the spool holds.
            // The next start of this node stores it and ends the session.
            tracing::warn!(spool = %spool.display(), "session stopped with files not yet stored; they wait in the spool");
            return summary;
        }
        let _ = tokio::fs::remove_dir_all(&spool).await;
        if let Some(stream_dir) = spool.parent() {
            // Only if empty: another session of the stream may be spooling.
            let _ = tokio::fs::remove_dir(stream_dir).await;
        }
        tracing::info!(reason = ?summary.reason, segments = summary.segments(), duration_s = summary.duration(), "session ended");
        self.emit(&spec, SessionEvent::Ended(summary.clone()));
        summary
    }

    fn record(&self, stats: &mut [(String, RenditionStats)], p: Progress) {
        match p {
            Progress::Init { rendition, codecs, resolution } => {
                if let Some((_, s)) = stats.iter_mut().find(|(n, _)| *n == rendition) {
                    s.codecs = codecs;
                    s.resolution = resolution;
                }
            }
            Progress::Listed { rendition, bytes, duration, frames, stored_after, listed_after } => {
                if let Some((_, s)) = stats.iter_mut().find(|(n, _)| *n == rendition) {
                    if s.stored_ms.len() < crate::session::MAX_TIMINGS {
                        s.stored_ms.push(stored_after.as_secs_f32() * 1000.0);
                        s.listed_ms.push(listed_after.as_secs_f32() * 1000.0);
                    }
                    let m = crate::metrics::metrics();
                    m.segments_stored.inc();
                    m.upload_seconds.observe(stored_after.as_secs_f64());
                    s.recent.push_back((duration, frames));
                    if s.recent.len() > crate::session::RECENT_SEGMENTS {
                        s.recent.pop_front();
                    }
                    s.segments += 1;
                    s.bytes += bytes;
                    s.duration += duration;
                    if duration > 0.0 {
                        s.peak_bps = s.peak_bps.max((bytes as f64 * 8.0 / duration) as u64);
                    }
                }
            }
        }
    }

    async fn put_master(
        &self,
        prefix: &str,
        stats: &[(String, RenditionStats)],
        give_up: &watch::Receiver<bool>,
    ) -> bool {
        let key = format!("{prefix}/master.m3u8");
        put_until_stored(self.store.as_ref(), &key, Bytes::from(master_for(stats)), LIVE_PLAYLIST, give_up)
            .await
            .is_ok()
    }
}

/// A file from FFmpeg process `g`: the first one from the current process
/// means a publisher connected to it. `true` when this one did.
fn note_activity(g: u32, generation: u32, active: &mut bool, publishes: &mut u32) -> bool {
    let first = g == generation && !*active;
    if first {
        *active = true;
        *publishes += 1;
    }
    first
}

/// Stores the newest still, at once for the first and then at most one per
/// [`STATS_EVERY`]: FFmpeg makes one per keyframe. A failed upload is retried
/// a few times unless a newer still replaces it.
async fn keep_thumbnail(
    store: Arc<dyn ObjectStore>,
    key: String,
    mut latest: watch::Receiver<Option<Bytes>>,
    stored: watch::Sender<bool>,
) {
    const ATTEMPTS: u32 = 5;
    while latest.changed().await.is_ok() {
        let Some(body) = latest.borrow_and_update().clone() else { continue };
        for attempt in 1..=ATTEMPTS {
            match store.put(&key, body.clone(), "image/jpeg", THUMBNAIL_CACHE).await {
                Ok(()) => {
                    // Only the first store is news to the session.
                    stored.send_if_modified(|s| !std::mem::replace(s, true));
                    tokio::time::sleep(STATS_EVERY).await;
                    break;
                }
                Err(e) if attempt < ATTEMPTS && !latest.has_changed().unwrap_or(false) => {
                    tracing::debug!(error = %e, attempt, "thumbnail not stored; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "thumbnail not stored");
                    break;
                }
            }
        }
    }
}

/// Asks FFmpeg to finish (it writes its last segment and playlist), then
/// kills it if it has not within a few seconds.
async fn interrupt(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid as i32, libc::SIGINT) };
    }
    if tokio::time::timeout(Duration::from_secs(5), child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}

/// Writes the publisher's media into FFmpeg's stdin until the publisher
/// leaves (its sender is dropped), then closes stdin: FFmpeg sees the end
/// of its input and finishes.
async fn pump(
    mut media: mpsc::Receiver<Bytes>,
    stdin: Option<tokio::process::ChildStdin>,
    protocol: Protocol,
    ingested: Arc<std::sync::atomic::AtomicU64>,
) {
    let Some(mut stdin) = stdin else { return };
    let bytes_in =
        crate::metrics::metrics().bytes_in.get_or_create(&crate::metrics::ProtocolLabel::of(protocol)).clone();
    while let Some(chunk) = media.recv().await {
        bytes_in.inc_by(chunk.len() as u64);
        ingested.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
        if let Err(e) = stdin.write_all(&chunk).await {
            tracing::warn!(error = %e, "ffmpeg stopped reading its input");
            return;
        }
    }
    let _ = stdin.shutdown().await;
}

/// Logs ffmpeg's stderr at debug level. It holds nothing secret: the media
/// arrives on stdin, and the command line carries no key.
async fn log_ffmpeg(stderr: Option<tokio::process::ChildStderr>) {
    use tokio::io::AsyncBufReadExt;
    let Some(stderr) = stderr else { return };
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(target: "ffmpeg", "{line}");
    }
}
