//! The node's configuration, from the environment with working defaults.

use std::{path::PathBuf, time::Duration};

#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Host in the ingest URLs handed to streamers.
    pub public_host: String,
    /// Address FFmpeg listeners bind to.
    pub listen_host: String,
    pub srt_ports: (u16, u16),
    /// TCP ports for RTMP publishers, one per session.
    pub rtmp_ports: (u16, u16),
    pub live_bucket: String,
    pub ffmpeg: PathBuf,
    /// Where files wait until they are in S3.
    pub spool_dir: PathBuf,
    pub segment_seconds: u32,
    /// A publisher that drops and returns within this continues its session.
    pub reconnect_window: Duration,
    /// A session whose publisher never arrives ends after this.
    pub waiting_timeout: Duration,
}

impl NodeConfig {
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            public_host: "127.0.0.1".into(),
            listen_host: "127.0.0.1".into(),
            srt_ports: (6000, 6099),
            rtmp_ports: (1935, 2034),
            live_bucket: skycast_core::config::physical_name(prefix, "live"),
            ffmpeg: PathBuf::from("ffmpeg"),
            spool_dir: std::env::temp_dir().join("skycast-spool"),
            segment_seconds: 2,
            reconnect_window: Duration::from_secs(60),
            waiting_timeout: Duration::from_secs(600),
        }
    }

    pub fn from_env() -> anyhow::Result<Self> {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let prefix = get("SKYCAST_NAME_PREFIX").unwrap_or_else(|| skycast_core::config::DEFAULT_PREFIX.into());
        let mut c = Self::with_prefix(&prefix);
        if let Some(v) = get("SKYCAST_INGEST_PUBLIC_HOST") {
            c.public_host = v;
        }
        if let Some(v) = get("SKYCAST_INGEST_LISTEN_HOST") {
            c.listen_host = v;
        }
        if let Some(v) = get("SKYCAST_SRT_PORTS") {
            c.srt_ports = parse_range(&v)
                .ok_or_else(|| anyhow::anyhow!("SKYCAST_SRT_PORTS must be LOW-HIGH with LOW ≤ HIGH, got {v:?}"))?;
        }
        if let Some(v) = get("SKYCAST_RTMP_PORTS") {
            c.rtmp_ports = parse_range(&v)
                .ok_or_else(|| anyhow::anyhow!("SKYCAST_RTMP_PORTS must be LOW-HIGH with LOW ≤ HIGH, got {v:?}"))?;
        }
        if let Some(v) = get("SKYCAST_BUCKET_LIVE") {
            c.live_bucket = v;
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
        if let Some(v) = get("SKYCAST_WAITING_TIMEOUT_S") {
            c.waiting_timeout = Duration::from_secs(v.parse()?);
        }
        Ok(c)
    }
}

/// `LOW-HIGH`, inclusive, written the right way round.
pub fn parse_range(v: &str) -> Option<(u16, u16)> {
    let (lo, hi) = v.split_once('-')?;
    let (lo, hi) = (lo.trim().parse().ok()?, hi.trim().parse().ok()?);
    (lo <= hi && lo > 0).then_some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_are_checked() {
        assert_eq!(parse_range("6000-6099"), Some((6000, 6099)));
        assert_eq!(parse_range("6000-1945"), None, "backwards ranges are refused, not 'fixed'");
        assert_eq!(parse_range("0-10"), None);
        assert_eq!(parse_range("6000"), None);
        assert_eq!(parse_range("a-b"), None);
    }
}
