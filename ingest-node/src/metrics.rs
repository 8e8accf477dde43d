//! The node's Prometheus metrics, served at `GET /metrics` on its HTTP port
//! (and at `make dev`'s). One set per process: the counters are where the
//! work happens (uploads, publishers' bytes, FFmpeg starts); what is cheaper
//! to look at than to track (sessions, the spool, the heartbeat's age) is
//! measured when scraped.
//!
//! Names (the CloudWatch agent in AWS publishes them under `Skycast/Node`):
//! `skycast_node_sessions`, `skycast_node_publishers{protocol}`,
//! `skycast_node_bytes_in_total{protocol}`, `skycast_node_segments_stored_total`,
//! `skycast_node_upload_seconds` (histogram), `skycast_node_spool_bytes`,
//! `skycast_node_spool_oldest_age_seconds`, `skycast_node_ffmpeg_restarts_total`,
//! `skycast_node_s3_errors_total`, `skycast_node_heartbeat_age_seconds`.

use std::{
    path::{Path, PathBuf},
    sync::{
        LazyLock,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
use skycast_core::stream::Protocol;

/// What `render` is: the OpenMetrics text format (Prometheus reads it).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProtocolLabel {
    pub protocol: String,
}

impl ProtocolLabel {
    pub fn of(protocol: Protocol) -> Self {
        Self { protocol: protocol.as_str().to_owned() }
    }
}

pub struct NodeMetrics {
    registry: Registry,
    sessions: Gauge,
    pub publishers: Family<ProtocolLabel, Gauge>,
    pub bytes_in: Family<ProtocolLabel, Counter>,
    pub segments_stored: Counter,
    pub upload_seconds: Histogram,
    spool_bytes: Gauge,
    spool_oldest_age_seconds: Gauge<f64, AtomicU64>,
    pub ffmpeg_restarts: Counter,
    pub s3_errors: Counter,
    heartbeat_age_seconds: Gauge<f64, AtomicU64>,
    /// Unix seconds of the last heartbeat stored; the process's start until one is.
    last_heartbeat: AtomicI64,
}

static METRICS: LazyLock<NodeMetrics> = LazyLock::new(NodeMetrics::new);

/// This process's metrics.
pub fn metrics() -> &'static NodeMetrics {
    &METRICS
}

impl NodeMetrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("skycast_node");
        let m = Self {
            sessions: Gauge::default(),
            publishers: Family::default(),
            bytes_in: Family::default(),
            segments_stored: Counter::default(),
            // 10 ms to about 40 s: a healthy PUT is tens of milliseconds; S3
            // trouble shows as retries that take seconds.
            upload_seconds: Histogram::new([0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 40.0]),
            spool_bytes: Gauge::default(),
            spool_oldest_age_seconds: Gauge::default(),
            ffmpeg_restarts: Counter::default(),
            s3_errors: Counter::default(),
            heartbeat_age_seconds: Gauge::default(),
            last_heartbeat: AtomicI64::new(skycast_core::timefmt::unix_now()),
            registry: Registry::default(),
        };
        registry.register("sessions", "Live sessions this node runs", m.sessions.clone());
        registry.register("publishers", "Publishers sending media now", m.publishers.clone());
        registry.register("bytes_in", "Media bytes received from publishers", m.bytes_in.clone());
        registry.register("segments_stored", "Segments stored in S3 (every rendition)", m.segments_stored.clone());
        registry.register(
            "upload_seconds",
            "From a segment's arrival to its being stored, retries included",
            m.upload_seconds.clone(),
        );
        registry.register("spool_bytes", "Bytes waiting in the spool for S3", m.spool_bytes.clone());
        registry.register(
            "spool_oldest_age_seconds",
            "Age of the oldest file waiting in the spool (0: none)",
            m.spool_oldest_age_seconds.clone(),
        );
        registry.register(
            "ffmpeg_restarts",
            "FFmpeg processes started for a session after its first (reconnects, replaced publishers)",
            m.ffmpeg_restarts.clone(),
        );
        registry.register("s3_errors", "Failed S3 uploads (each is retried)", m.s3_errors.clone());
        registry.register(
            "heartbeat_age_seconds",
            "Seconds since the node's registration was last stored",
            m.heartbeat_age_seconds.clone(),
        );
        Self { registry, ..m }
    }

    /// The registration was stored just now.
    pub fn heartbeat_stored(&self) {
        self.last_heartbeat.store(skycast_core::timefmt::unix_now(), Ordering::Relaxed);
    }

    /// The text exposition, with the scrape-time figures measured first.
    pub async fn render(&self, sessions: usize, spool_dir: &Path) -> String {
        self.sessions.set(sessions as i64);
        let age = skycast_core::timefmt::unix_now() - self.last_heartbeat.load(Ordering::Relaxed);
        self.heartbeat_age_seconds.set(age.max(0) as f64);
        let dir = spool_dir.to_owned();
        let spool = tokio::task::spawn_blocking(move || spool_usage(&dir, SystemTime::now())).await.unwrap_or_default();
        self.spool_bytes.set(spool.bytes as i64);
        self.spool_oldest_age_seconds.set(spool.oldest.map_or(0.0, |d| d.as_secs_f64()));
        let mut text = String::new();
        if encode(&mut text, &self.registry).is_err() {
            tracing::warn!("metrics could not be encoded");
        }
        text
    }
}

/// A publisher counted in `skycast_node_publishers` while this lives.
pub struct PublisherGuard(ProtocolLabel);

impl PublisherGuard {
    pub fn new(protocol: Protocol) -> Self {
        let label = ProtocolLabel::of(protocol);
        metrics().publishers.get_or_create(&label).inc();
        Self(label)
    }
}

impl Drop for PublisherGuard {
    fn drop(&mut self) {
        metrics().publishers.get_or_create(&self.0).dec();
    }
}

#[derive(Debug, Default, PartialEq)]
pub struct SpoolUsage {
    pub bytes: u64,
    pub files: u64,
    /// How long the oldest file has waited.
    pub oldest: Option<Duration>,
}

/// What the spool holds: every file under `dir`, however deep.
pub fn spool_usage(dir: &Path, now: SystemTime) -> SpoolUsage {
    let mut usage = SpoolUsage::default();
    let mut pending: Vec<PathBuf> = vec![dir.to_owned()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                usage.bytes += meta.len();
                usage.files += 1;
                if let Ok(age) = meta.modified().and_then(|m| now.duration_since(m).map_err(std::io::Error::other)) {
                    usage.oldest = Some(usage.oldest.map_or(age, |o| o.max(age)));
                }
            }
        }
    }
    usage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spool_usage_counts_every_file_and_the_oldest() {
        let dir = std::env::temp_dir().join(format!("spool-usage-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(dir.join("stream/session/source")).unwrap();
        std::fs::write(dir.join("stream/session/source/seg_000001.m4s"), vec![0u8; 1000]).unwrap();
        std::fs::write(dir.join("stream/session/init.mp4"), vec![0u8; 24]).unwrap();
        let later = SystemTime::now() + Duration::from_secs(90);
        let usage = spool_usage(&dir, later);
        assert_eq!((usage.bytes, usage.files), (1024, 2));
        assert!(usage.oldest.is_some_and(|o| o >= Duration::from_secs(89)), "{usage:?}");
        assert_eq!(spool_usage(&dir.join("missing"), later), SpoolUsage::default());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn exposition_names_what_the_alarms_read() {
        let m = metrics();
        m.bytes_in.get_or_create(&ProtocolLabel::of(Protocol::Srt)).inc_by(188);
        m.upload_seconds.observe(0.03);
        let text = m.render(2, Path::new("/nonexistent")).await;
        for name in [
            "skycast_node_sessions 2",
            "skycast_node_bytes_in_total{protocol=\"srt\"}",
            "skycast_node_segments_stored_total",
            "skycast_node_upload_seconds_bucket{le=\"0.05\"}",
            "skycast_node_spool_bytes 0",
            "skycast_node_spool_oldest_age_seconds 0",
            "skycast_node_ffmpeg_restarts_total",
            "skycast_node_s3_errors_total",
            "skycast_node_heartbeat_age_seconds",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
    }
}
