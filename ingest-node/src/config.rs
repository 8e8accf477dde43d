//! The node's configuration, from the environment with working defaults.

use std::{path::PathBuf, time::Duration};

use skycast_core::config::{DEFAULT_RTMP_PORT, DEFAULT_SRT_PORT};

#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This node's id in the registry (and on the sessions it holds).
    pub node_id: String,
    /// Host in the node's registration (its own address behind a load balancer).
    pub public_host: String,
    /// Address the RTMP and SRT listeners bind to.
    pub listen_host: String,
    /// TCP, for every RTMP publisher (0: any free port, for tests).
    pub rtmp_port: u16,
    /// UDP, for every SRT publisher (0: any free port, for tests).
    pub srt_port: u16,
    /// The node's HTTP port (`SKYCAST_NODE_HTTP_ADDR`'s), in its registration:
    /// other nodes forward relay sockets to it.
    pub http_port: Option<u16>,
    pub live_bucket: String,
    /// Base of the `hls_url` a claimed session gets (the CDN's).
    pub cdn_base_url: String,
    pub ffmpeg: PathBuf,
    /// Where files wait until they are in S3.
    pub spool_dir: PathBuf,
    pub segment_seconds: u32,
    /// How much of a live session its playlists show (the rest is in the
    /// VOD playlist written at the end).
    pub dvr_window: Duration,
    /// A publisher that drops and returns within this continues its session.
    pub reconnect_window: Duration,
    /// A session `start` armed that no publisher reached ends after this
    /// (any node's reaper ends it).
    pub waiting_timeout: Duration,
}

impl NodeConfig {
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            node_id: skycast_core::ids::new_id(),
            public_host: "127.0.0.1".into(),
            listen_host: "127.0.0.1".into(),
            rtmp_port: DEFAULT_RTMP_PORT,
            srt_port: DEFAULT_SRT_PORT,
            http_port: None,
            live_bucket: skycast_core::config::physical_name(prefix, "live"),
            cdn_base_url: skycast_core::config::DEFAULT_CDN_BASE_URL.into(),
            ffmpeg: PathBuf::from("ffmpeg"),
            spool_dir: std::env::temp_dir().join("skycast-spool"),
            segment_seconds: 2,
            dvr_window: Duration::from_secs(2 * 3600),
            reconnect_window: Duration::from_secs(60),
            waiting_timeout: Duration::from_secs(600),
        }
    }

    pub fn from_env() -> anyhow::Result<Self> {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let prefix = get("SKYCAST_NAME_PREFIX").unwrap_or_else(|| skycast_core::config::DEFAULT_PREFIX.into());
        let mut c = Self::with_prefix(&prefix);
        if let Some(v) = get("SKYCAST_NODE_ID") {
            c.node_id = v;
        }
        if let Some(v) = get("SKYCAST_INGEST_PUBLIC_HOST") {
            c.public_host = v;
        }
        if let Some(v) = get("SKYCAST_INGEST_LISTEN_HOST") {
            c.listen_host = v;
        }
        if let Some(v) = get("SKYCAST_RTMP_PORT") {
            c.rtmp_port = v.parse().map_err(|_| anyhow::anyhow!("SKYCAST_RTMP_PORT must be a port, got {v:?}"))?;
        }
        if let Some(v) = get("SKYCAST_SRT_PORT") {
            c.srt_port = v.parse().map_err(|_| anyhow::anyhow!("SKYCAST_SRT_PORT must be a port, got {v:?}"))?;
        }
        if let Some(addr) = get("SKYCAST_NODE_HTTP_ADDR").or_else(|| get("SKYCAST_INGEST_HEALTH_ADDR")) {
            let port = addr.rsplit(':').next().and_then(|p| p.parse().ok());
            c.http_port =
                Some(port.ok_or_else(|| anyhow::anyhow!("SKYCAST_NODE_HTTP_ADDR must be host:port, got {addr:?}"))?);
        }
        if let Some(v) = get("SKYCAST_BUCKET_LIVE") {
            c.live_bucket = v;
        }
        if let Some(v) = get("SKYCAST_CDN_BASE_URL") {
            c.cdn_base_url = v.trim_end_matches('/').to_owned();
        }
        if let Some(v) = get("SKYCAST_FFMPEG") {
            c.ffmpeg = v.into();
        }
        if let Some(v) = get("SKYCAST_SPOOL_DIR") {
            c.spool_dir = v.into();
        }
        if let Some(v) = get("SKYCAST_RECONNECT_WINDOW_S") {
            c.reconnect_window = Duration::from_secs(v.parse()?);
        }
        if let Some(v) = get("SKYCAST_DVR_WINDOW_S") {
            c.dvr_window = Duration::from_secs(v.parse()?);
        }
        if let Some(v) = get("SKYCAST_WAITING_TIMEOUT_S") {
            c.waiting_timeout = Duration::from_secs(v.parse()?);
        }
        Ok(c)
    }
}
