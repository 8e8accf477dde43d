//! SRT on one port, through libsrt: the caller's stream id names its key,
//! which is checked during the handshake ([`super::key_gate`]); the key is
//! the caller's passphrase, so only a caller holding it completes the key
//! exchange. Accepted callers are then admitted like RTMP publishers and
//! their MPEG-TS is fed to their session.
//!
//! libsrt's calls block: the accept loop and each caller's reads run on
//! threads of their own. The reader also adds up SRT's counts for the link
//! (round trip, loss, resends, drops) each second, which the session takes
//! for each health report.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use skycast_core::{health::SrtLink, stream::Protocol};
use skycast_srt::{Gate, Listener, REJECT_FORBIDDEN, Received, Verdict};
use tokio::runtime::Handle;

use super::key_gate::{KeyGate, Lookup};
use crate::{
    directory::key_from_stream_id,
    ffmpeg::InputFormat,
    node::{LinkFigures, Node},
};

/// How often blocking calls wake up to notice a shutdown.
const POLL: Duration = Duration::from_millis(250);
/// How often a caller's reader adds SRT's latest counts to its tally.
const LINK_PERIOD: Duration = Duration::from_secs(1);

/// The SRT listener. [`SrtListener::close`] (or dropping it) stops it and
/// returns once no thread of its is inside libsrt: libsrt's own teardown at
/// process exit frees what a thread still closing a socket would free too
/// (a double free, seen at a test binary's exit).
pub struct SrtListener {
    stop: Arc<AtomicBool>,
    pub local: SocketAddr,
    accept: Option<std::thread::JoinHandle<()>>,
    callers: Arc<Callers>,
}

/// How long closing the listener waits for its callers' connections to close.
const CALLERS_DEADLINE: Duration = Duration::from_secs(2);

impl SrtListener {
    /// Stops taking callers and ends every caller's reader, waiting off the
    /// async workers (the accept loop and the readers wake within a poll).
    pub async fn close(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let (accept, callers) = (self.accept.take(), Arc::clone(&self.callers));
        let _ = tokio::task::spawn_blocking(move || stop_threads(accept, &callers)).await;
    }
}

impl Drop for SrtListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        stop_threads(self.accept.take(), &self.callers);
    }
}

/// Joins the accept loop, then waits until every accepted caller's
/// connection is closed: a reader stops within one poll, unless its session
/// stopped taking media, which is waited for only so long.
fn stop_threads(accept: Option<std::thread::JoinHandle<()>>, callers: &Callers) {
    if let Some(accept) = accept {
        let _ = accept.join();
    }
    let deadline = Instant::now() + CALLERS_DEADLINE;
    let mut open = callers.open.lock().unwrap_or_else(|e| e.into_inner());
    while *open > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            tracing::warn!(callers = *open, "srt connections still open at shutdown");
            break;
        }
        open = callers.closed.wait_timeout(open, left).unwrap_or_else(|e| e.into_inner()).0;
    }
}

/// The accepted callers whose connections are not closed yet.
#[derive(Default)]
struct Callers {
    open: Mutex<usize>,
    closed: Condvar,
}

/// An accepted caller's connection, counted from its accept (through its
/// admission, which may wait on the table) until it is closed.
struct Caller {
    // Fields drop in order: the connection closes before it is counted closed.
    conn: skycast_srt::Connection,
    _open: Open,
}

impl Caller {
    fn new(conn: skycast_srt::Connection, callers: &Arc<Callers>) -> Self {
        *callers.open.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        Self { conn, _open: Open(Arc::clone(callers)) }
    }
}

/// One open connection in [`Callers`].
struct Open(Arc<Callers>);

impl Drop for Open {
    fn drop(&mut self) {
        *self.0.open.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        self.0.closed.notify_all();
    }
}

/// SRT's counts of one publisher's link, added up by its reader until the
/// session takes them for a report.
#[derive(Default)]
struct LinkTally(Mutex<Option<skycast_srt::LinkStats>>);

impl LinkTally {
    fn add(&self, counted: skycast_srt::LinkStats) {
        let mut tally = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Zero counts followed by `counted` are `counted`.
        *tally = Some(tally.unwrap_or_default().then(&counted));
    }
}

impl LinkFigures for LinkTally {
    fn take(&self) -> Option<SrtLink> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take().map(|s| link_figures(&s))
    }
}

/// Binds `addr` and serves SRT publishers until the returned handle is dropped.
pub fn serve(node: Arc<Node>, addr: SocketAddr) -> std::io::Result<SrtListener> {
    let handle = Handle::current();
    let lookup_node = Arc::clone(&node);
    let lookup: Lookup = Arc::new(move |key: String| {
        let node = Arc::clone(&lookup_node);
        Box::pin(async move { node.knows(&key).await.map_err(|_| ()) })
    });
    let key_gate = KeyGate::new(lookup, handle.clone());
    let gate: Gate = Arc::new(move |stream_id: &str, peer| {
        // Only well-formed keys cost a lookup.
        let Some(key) = key_from_stream_id(stream_id).filter(|k| skycast_core::stream::is_plausible_key(k)) else {
            tracing::debug!(?peer, "srt caller refused: no stream key in its stream id");
            return Verdict::Reject(REJECT_FORBIDDEN);
        };
        key_gate.check(key, peer)
    });
    let listener = Listener::bind(addr, gate, POLL).map_err(std::io::Error::other)?;
    let local = listener.local_addr();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let callers = Arc::new(Callers::default());
    let counted = Arc::clone(&callers);
    let accept = std::thread::Builder::new().name("srt-accept".into()).spawn(move || {
        while !stopped.load(Ordering::Relaxed) {
            let caller = match listener.accept() {
                Ok(Some(c)) => Caller::new(c, &counted),
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "srt accept failed");
                    std::thread::sleep(POLL);
                    continue;
                }
            };
            let node = Arc::clone(&node);
            let stopped = Arc::clone(&stopped);
            handle.spawn(async move {
                let Some(key) = key_from_stream_id(&caller.conn.stream_id).map(str::to_owned) else { return };
                let peer = caller.conn.peer;
                let tally = Arc::new(LinkTally::default());
                let figures: Arc<dyn LinkFigures> = tally.clone();
                match node.admit(&key, InputFormat::MpegTs, Protocol::Srt, peer, Some(figures)).await {
                    // Shutting down meanwhile: the caller is closed, not read.
                    Ok(_) if stopped.load(Ordering::Relaxed) => {}
                    Ok(media) => {
                        tracing::info!(?peer, "srt publisher accepted");
                        let reader = std::thread::Builder::new()
                            .name("srt-read".into())
                            .spawn(move || read(caller, media, &tally, &stopped));
                        if let Err(e) = reader {
                            tracing::error!(error = %e, "cannot start an srt reader");
                        }
                    }
                    Err(refusal) => tracing::warn!(?peer, reason = %refusal, "srt publisher refused"),
                }
            });
        }
    })?;
    Ok(SrtListener { stop, local, accept: Some(accept), callers })
}

/// Moves one caller's media to its session until either side is done,
/// adding up SRT's counts of the link as it goes.
fn read(caller: Caller, media: tokio::sync::mpsc::Sender<Bytes>, link: &LinkTally, stop: &AtomicBool) {
    let conn = &caller.conn;
    let mut buf = vec![0u8; 1500];
    // Whole SRT messages (7 TS packets each) are batched a little: fewer
    // wake-ups for the pump.
    let mut batch = Vec::with_capacity(16 * 1316);
    // The first count covers the handshake on (the stats' own start).
    let mut counted = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if counted.elapsed() >= LINK_PERIOD {
            counted = Instant::now();
            match conn.link_stats() {
                Ok(s) => link.add(s),
                Err(e) => tracing::debug!(error = %e, "no srt link figures"),
            }
        }
        match conn.recv(&mut buf) {
            Received::Data(n) => {
                batch.extend_from_slice(&buf[..n]);
                if batch.len() >= 8 * 1316 || media.capacity() == media.max_capacity() {
                    if media.blocking_send(Bytes::from(std::mem::take(&mut batch))).is_err() {
                        break;
                    }
                    batch.reserve(16 * 1316);
                }
            }
            Received::Idle if !media.is_closed() => {
                if !batch.is_empty() && media.blocking_send(Bytes::from(std::mem::take(&mut batch))).is_err() {
                    break;
                }
            }
            _ => break,
        }
    }
    // All of a caller's media reaches its session; at shutdown, what fits.
    if !batch.is_empty() {
        let _ = if stop.load(Ordering::Relaxed) {
            media.try_send(Bytes::from(batch)).map_err(|_| ())
        } else {
            media.blocking_send(Bytes::from(batch)).map_err(|_| ())
        };
    }
    tracing::info!(peer = ?conn.peer, "srt publisher left");
}

/// SRT's figures as stream health shows them.
fn link_figures(s: &skycast_srt::LinkStats) -> SrtLink {
    SrtLink {
        // Hundredths: a link across a room is well under a tenth of a millisecond.
        rtt_ms: (s.rtt_ms * 100.0).round() / 100.0,
        loss_percent: (s.loss_percent() * 100.0).round() / 100.0,
        retransmits: s.packets_retransmitted,
        dropped: s.packets_dropped,
        link_bandwidth_bps: (s.bandwidth_mbps > 0.0).then_some((s.bandwidth_mbps * 1_000_000.0) as u64),
    }
}

#[cfg(test)]
mod tests {
    use skycast_core::stream::is_plausible_key as plausible_key;

    #[test]
    fn only_key_shaped_ids_are_looked_up() {
        assert!(plausible_key(&skycast_core::stream::new_stream_key()));
        assert!(!plausible_key("short"));
        assert!(!plausible_key(&"k".repeat(80)));
        assert!(!plausible_key("has spaces in it ok"));
    }
}
