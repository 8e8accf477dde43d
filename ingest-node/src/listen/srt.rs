//! SRT on one port, through libsrt: the caller's stream id names its key,
//! which is checked during the handshake ([`super::key_gate`]); the key is
//! the caller's passphrase, so only a caller holding it completes the key
//! exchange. Accepted callers are then admitted like RTMP publishers and
//! their MPEG-TS is fed to their session.
//!
//! libsrt's calls block: the accept loop and each caller's reads run on
//! threads of their own. The reader also passes on SRT's figures for the
//! link (round trip, loss, resends) every [`LINK_PERIOD`], for the session's
//! health.

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
use tokio::{runtime::Handle, sync::watch};

use super::key_gate::{KeyGate, Lookup};
use crate::{directory::key_from_stream_id, ffmpeg::InputFormat, node::Node};

/// How often blocking calls wake up to notice a shutdown.
const POLL: Duration = Duration::from_millis(250);
/// The period each set of link figures covers: short enough that the first
/// health report, the moment a session goes live, has them.
pub const LINK_PERIOD: Duration = Duration::from_secs(2);

/// The SRT listener; closed when dropped.
pub struct SrtListener {
    stop: Arc<AtomicBool>,
    pub local: SocketAddr,
    accept: Option<std::thread::JoinHandle<()>>,
    readers: Arc<Readers>,
}

/// How long dropping the listener waits for callers' readers to stop.
const READERS_DEADLINE: Duration = Duration::from_secs(2);

/// Dropping the listener returns once no thread of its is inside libsrt:
/// libsrt's own teardown at process exit frees what a thread still closing
/// a socket would free too (a double free, seen at a test binary's exit).
impl Drop for SrtListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        // A reader stops within one poll, unless its session stopped taking
        // media: that one is waited for only so long.
        let deadline = Instant::now() + READERS_DEADLINE;
        let mut live = self.readers.live.lock().unwrap_or_else(|e| e.into_inner());
        while *live > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::warn!(readers = *live, "srt readers still running at shutdown");
                break;
            }
            live = self.readers.done.wait_timeout(live, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

/// The callers' reader threads still running.
#[derive(Default)]
struct Readers {
    live: Mutex<usize>,
    done: Condvar,
}

/// Counts one reader thread for as long as it lives.
struct Reading(Arc<Readers>);

impl Reading {
    fn start(readers: &Arc<Readers>) -> Self {
        *readers.live.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        Self(Arc::clone(readers))
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        *self.0.live.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        self.0.done.notify_all();
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
    let readers = Arc::new(Readers::default());
    let counted = Arc::clone(&readers);
    let accept = std::thread::Builder::new().name("srt-accept".into()).spawn(move || {
        while !stopped.load(Ordering::Relaxed) {
            let conn = match listener.accept() {
                Ok(Some(c)) => c,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "srt accept failed");
                    std::thread::sleep(POLL);
                    continue;
                }
            };
            let node = Arc::clone(&node);
            let stopped = Arc::clone(&stopped);
            let readers = Arc::clone(&counted);
            handle.spawn(async move {
                let Some(key) = key_from_stream_id(&conn.stream_id).map(str::to_owned) else { return };
                let peer = conn.peer;
                let (link, figures) = watch::channel(None);
                match node.admit(&key, InputFormat::MpegTs, Protocol::Srt, peer, Some(figures)).await {
                    Ok(media) => {
                        tracing::info!(?peer, "srt publisher accepted");
                        let reading = Reading::start(&readers);
                        let reader = std::thread::Builder::new().name("srt-read".into()).spawn(move || {
                            let _reading = reading;
                            read(conn, media, &link, &stopped)
                        });
                        if let Err(e) = reader {
                            tracing::error!(error = %e, "cannot start an srt reader");
                        }
                    }
                    Err(refusal) => tracing::warn!(?peer, reason = %refusal, "srt publisher refused"),
                }
            });
        }
    })?;
    Ok(SrtListener { stop, local, accept: Some(accept), readers })
}

/// Moves one caller's media to its session until either side is done,
/// passing on the link's figures as it goes.
fn read(
    conn: skycast_srt::Connection,
    media: tokio::sync::mpsc::Sender<Bytes>,
    link: &watch::Sender<Option<SrtLink>>,
    stop: &AtomicBool,
) {
    let mut buf = vec![0u8; 1500];
    // Whole SRT messages (7 TS packets each) are batched a little: fewer
    // wake-ups for the pump.
    let mut batch = Vec::with_capacity(16 * 1316);
    // The first period starts at the handshake (the stats' own start).
    let mut period = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if period.elapsed() >= LINK_PERIOD {
            period = Instant::now();
            match conn.link_stats() {
                Ok(s) => {
                    link.send_replace(Some(link_figures(&s)));
                }
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
