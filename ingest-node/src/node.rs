//! The node: its origin, and the live sessions it runs.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use tokio::{
    sync::{Mutex, mpsc, watch},
    task::JoinHandle,
    time::Instant,
};
use tracing::Instrument;

use skycast_core::{events::SessionFigures, stream::Protocol};

use crate::{
    config::NodeConfig,
    ffmpeg::{self, Input, ListenerSpec},
    origin::{self, Inbox, Registry},
    profile::Profile,
    session::{LISTENER_RESTART_DELAY, Progress, Rendition, RenditionStats, master_for, run_rendition},
    store::{LIVE_PLAYLIST, ObjectStore, put_until_stored},
};

/// What a session needs to start.
#[derive(Clone)]
pub struct SessionSpec {
    pub stream_id: String,
    pub session_id: String,
    /// The public port: UDP for SRT, TCP for RTMP.
    pub port: u16,
    pub protocol: Protocol,
    pub stream_key: String,
    pub profile: Profile,
}

impl std::fmt::Debug for SessionSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionSpec")
            .field("stream_id", &self.stream_id)
            .field("session_id", &self.session_id)
            .field("port", &self.port)
            .field("protocol", &self.protocol)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// Asked to stop (API, or node shutdown).
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
    /// The listener is up; no media yet.
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

/// How often a live session reports its figures and, at most, uploads a thumbnail.
pub const STATS_EVERY: Duration = Duration::from_secs(10);
/// Thumbnails change every [`STATS_EVERY`]; caches may keep one that long.
const THUMBNAIL_CACHE: &str = "public, max-age=10";
/// How long an ending session waits for a first still already on its way
/// to the store (retries included); none on its way ends the wait at once.
const FIRST_THUMBNAIL_GRACE: Duration = Duration::from_secs(5);

struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<SessionSummary>,
}

pub struct Node {
    config: NodeConfig,
    store: Arc<dyn ObjectStore>,
    origin: SocketAddr,
    registry: Registry,
    sessions: Mutex<HashMap<String, Running>>,
    events: mpsc::UnboundedSender<Notice>,
}

impl Node {
    /// Starts the origin. Session events arrive on `events`.
    pub async fn start(
        config: NodeConfig,
        store: Arc<dyn ObjectStore>,
        events: mpsc::UnboundedSender<Notice>,
    ) -> std::io::Result<Arc<Self>> {
        let registry = Registry::default();
        let origin = origin::start(registry.clone()).await?;
        tokio::fs::create_dir_all(&config.spool_dir).await?;
        Ok(Arc::new(Self { config, store, origin, registry, sessions: Mutex::new(HashMap::new()), events }))
    }

    /// Starts a session; a second start of a running session changes nothing.
    pub async fn start_session(self: &Arc<Self>, spec: SessionSpec) -> std::io::Result<()> {
        let mut sessions = self.sessions.lock().await;
        if sessions.get(&spec.session_id).is_some_and(|r| !r.task.is_finished()) {
            return Ok(());
        }
        let spool = self.config.spool_dir.join(&spec.session_id);
        for r in spec.profile.renditions() {
            tokio::fs::create_dir_all(spool.join(r)).await?;
        }
        let (stop, stop_rx) = watch::channel(false);
        let node = Arc::clone(self);
        let id = spec.session_id.clone();
        // One span per session: every log line of it carries its ids.
        let span = tracing::info_span!("session", stream_id = %spec.stream_id, session_id = %spec.session_id, port = spec.port);
        let task = tokio::spawn(async move { node.run_session(spec, spool, stop_rx).await }.instrument(span));
        sessions.insert(id, Running { stop, task });
        Ok(())
    }

    /// Stops a session and waits until its playlists are closed.
    pub async fn stop_session(&self, session_id: &str) -> Option<SessionSummary> {
        let running = self.sessions.lock().await.remove(session_id)?;
        let _ = running.stop.send(true);
        running.task.await.ok()
    }

    /// Stops every session, finishing their uploads; for SIGTERM.
    pub async fn shutdown(&self) {
        let ids: Vec<String> = self.sessions.lock().await.keys().cloned().collect();
        for id in ids {
            self.stop_session(&id).await;
        }
    }

    fn emit(&self, spec: &SessionSpec, event: SessionEvent) {
        let _ =
            self.events.send(Notice { stream_id: spec.stream_id.clone(), session_id: spec.session_id.clone(), event });
    }

    /// The sessions running now, for the node's own view of its load.
    pub async fn running(&self) -> usize {
        self.sessions.lock().await.values().filter(|r| !r.task.is_finished()).count()
    }

    async fn run_session(
        self: Arc<Self>,
        spec: SessionSpec,
        spool: std::path::PathBuf,
        mut stop: watch::Receiver<bool>,
    ) -> SessionSummary {
        let (input, gate) = match self.listen(&spec).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for the publisher");
                let reason = EndReason::Failed(format!("cannot listen on port {}: {e}", spec.port));
                let summary = SessionSummary { reason, renditions: Vec::new(), publishes: 0, thumbnail: false };
                let _ = tokio::fs::remove_dir_all(&spool).await;
                self.emit(&spec, SessionEvent::Ended(summary.clone()));
                return summary;
            }
        };
        let prefix = format!("live/{}/{}", spec.stream_id, spec.session_id);
        let token = uuid::Uuid::new_v4().simple().to_string();
        let (give_up_tx, give_up) = watch::channel(false);
        let (progress_tx, mut progress) = mpsc::unbounded_channel();
        let (activity_tx, mut activity) = mpsc::unbounded_channel();
        let names = spec.profile.renditions();
        let mut senders = HashMap::new();
        let mut pipelines = Vec::new();
        for name in &names {
            let (tx, rx) = mpsc::unbounded_channel();
            let r = Rendition::new(
                name,
                format!("{prefix}/{name}"),
                self.store.clone(),
                self.config.segment_seconds,
                progress_tx.clone(),
                give_up.clone(),
            );
            pipelines.push(tokio::spawn(run_rendition(r, rx)));
            senders.insert((*name).to_owned(), tx);
        }
        drop(progress_tx);
        let (thumbnail_tx, thumbnail_rx) = watch::channel(None);
        // Whether a thumbnail is stored; it changes once, from false to true.
        let (stored_tx, mut thumbnail_stored) = watch::channel(false);
        let thumbnails =
            tokio::spawn(keep_thumbnail(self.store.clone(), format!("{prefix}/thumb.jpg"), thumbnail_rx, stored_tx));
        let inbox = Inbox {
            spool: spool.clone(),
            renditions: senders,
            activity: activity_tx,
            thumbnail: Arc::new(thumbnail_tx),
        };
        self.registry.insert(token.clone(), inbox);
        self.emit(&spec, SessionEvent::Waiting);
        tracing::info!("listening for the publisher");

        let mut stats: Vec<(String, RenditionStats)> =
            names.iter().map(|n| ((*n).to_owned(), RenditionStats::default())).collect();
        let mut live = false;
        let mut generation = 0u32;
        let mut publishes = 0u32;
        let mut deadline = Instant::now() + self.config.waiting_timeout;
        let mut report = tokio::time::interval(STATS_EVERY);
        report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let reason = 'session: loop {
            let listener = ListenerSpec {
                input: input.clone(),
                profile: spec.profile,
                segment_seconds: self.config.segment_seconds,
                origin_base: format!("http://{}/ingest/{token}/{generation}", self.origin),
            };
            let mut child = match ffmpeg::spawn(&self.config.ffmpeg, &listener) {
                Ok(c) => c,
                Err(e) => break EndReason::Failed(format!("cannot start ffmpeg: {e}")),
            };
            let stderr = child.stderr.take();
            tokio::spawn(log_ffmpeg(stderr, spec.stream_key.clone()));
            let mut active = false;
            loop {
                tokio::select! {
                    _ = child.wait() => break,
                    _ = stop.changed() => {
                        interrupt(&mut child).await;
                        // Files it flushed on the way out still count.
                        while let Ok(g) = activity.try_recv() {
                            note_activity(g, generation, &mut active, &mut publishes);
                        }
                        break 'session EndReason::Stopped;
                    }
                    Some(g) = activity.recv() => {
                        if note_activity(g, generation, &mut active, &mut publishes) {
                            tracing::info!(generation, "publisher connected");
                        }
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
                        self.emit(&spec, SessionEvent::Stats(figures(&stats, *thumbnail_stored.borrow())));
                    }
                    _ = tokio::time::sleep_until(deadline), if !active => {
                        let _ = child.kill().await;
                        break 'session if publishes > 0 { EndReason::PublisherGone } else { EndReason::NoPublisher };
                    }
                }
            }
            // The process's last PUTs may still be queued: count them first.
            while let Ok(g) = activity.try_recv() {
                note_activity(g, generation, &mut active, &mut publishes);
            }
            if active {
                tracing::info!(
                    generation,
                    window_s = self.config.reconnect_window.as_secs(),
                    "publisher left; waiting for a reconnect"
                );
                deadline = Instant::now() + self.config.reconnect_window;
            } else {
                tokio::time::sleep(LISTENER_RESTART_DELAY).await;
            }
            generation += 1;
        };

        // No process writes any more: close the pipelines, which store what
        // they hold and end every playlist with ENDLIST.
        drop(gate);
        self.registry.remove(&token);
        let _ = give_up_tx.send(matches!(reason, EndReason::Failed(_)));
        for p in pipelines {
            let _ = p.await;
        }
        // The stored still is at most one period old: the session does not
        // wait for a newer one. A session too short to have stored its first
        // still yet waits briefly for it, or its video would have none.
        let _ = tokio::time::timeout(FIRST_THUMBNAIL_GRACE, thumbnail_stored.wait_for(|stored| *stored)).await;
        thumbnails.abort();
        while let Ok(p) = progress.try_recv() {
            self.record(&mut stats, p);
        }
        if stats.iter().any(|(_, s)| s.segments > 0) {
            self.put_master(&prefix, &stats, &give_up).await;
        }
        let _ = tokio::fs::remove_dir_all(&spool).await;
        let summary = SessionSummary { reason, renditions: stats, publishes, thumbnail: *thumbnail_stored.borrow() };
        tracing::info!(reason = ?summary.reason, segments = summary.segments(), duration_s = summary.duration(), "session ended");
        self.emit(&spec, SessionEvent::Ended(summary.clone()));
        summary
    }

    /// Where the session's FFmpeg takes its publisher from. SRT: FFmpeg
    /// listens on the public port itself. RTMP: the node's gate holds the
    /// public port and relays publishers with the key to FFmpeg on loopback.
    async fn listen(&self, spec: &SessionSpec) -> std::io::Result<(Input, Option<crate::rtmp::gate::Gate>)> {
        match spec.protocol {
            Protocol::Srt => Ok((
                Input::Srt {
                    host: self.config.listen_host.clone(),
                    port: spec.port,
                    passphrase: spec.stream_key.clone(),
                },
                None,
            )),
            Protocol::Rtmp => {
                let public: std::net::IpAddr = self.config.listen_host.parse().map_err(std::io::Error::other)?;
                // A port the kernel just handed out, for every FFmpeg of this session.
                let upstream = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
                let gate =
                    crate::rtmp::gate::open((public, spec.port).into(), upstream, spec.stream_key.clone()).await?;
                Ok((Input::Rtmp { port: upstream.port() }, Some(gate)))
            }
        }
    }

    fn record(&self, stats: &mut [(String, RenditionStats)], p: Progress) {
        match p {
            Progress::Init { rendition, codecs, resolution } => {
                if let Some((_, s)) = stats.iter_mut().find(|(n, _)| *n == rendition) {
                    s.codecs = codecs;
                    s.resolution = resolution;
                }
            }
            Progress::Listed { rendition, bytes, duration, stored_after, listed_after } => {
                if let Some((_, s)) = stats.iter_mut().find(|(n, _)| *n == rendition) {
                    if s.stored_ms.len() < crate::session::MAX_TIMINGS {
                        s.stored_ms.push(stored_after.as_secs_f32() * 1000.0);
                        s.listed_ms.push(listed_after.as_secs_f32() * 1000.0);
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

/// Logs ffmpeg's stderr with the stream key taken out: ffmpeg echoes its
/// input URL, passphrase included, in its error lines.
async fn log_ffmpeg(stderr: Option<tokio::process::ChildStderr>, key: String) {
    use tokio::io::AsyncBufReadExt;
    let Some(stderr) = stderr else { return };
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let line = crate::ffmpeg::redact(&line, &key);
        tracing::debug!(target: "ffmpeg", "{line}");
    }
}
