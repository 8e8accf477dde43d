//! Stream health (issue 15): what the ingest node sees of a live session's
//! incoming stream, and the plain warnings a streamer can act on. The node
//! measures ([`Measured`]); [`assess`] turns that into what the API shows.
//! Pure: the thresholds are here, tested without media.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// SRT's view of the link from the encoder since the last report (10 s).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SrtLink {
    /// Smoothed round-trip time.
    pub rtt_ms: f64,
    /// Packets lost on the way in, as a share of those received (0–100).
    pub loss_percent: f64,
    /// Packets the encoder sent again.
    pub retransmits: u64,
    /// Packets that came too late to play, even resent: gaps viewers see.
    #[serde(default)]
    pub dropped: u64,
    /// What SRT estimates the link can carry.
    #[serde(default)]
    pub link_bandwidth_bps: Option<u64>,
}

/// What the node measured of the incoming stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// Bytes the publisher sent over the last period, as bits per second.
    pub ingest_bitrate_bps: u64,
    /// Video frames per second of media (from the source's samples).
    pub frame_rate: Option<f64>,
    /// The longest time between keyframes seen lately (segments are cut at
    /// keyframes, so a source segment's length is at least the interval).
    pub keyframe_interval_s: Option<f64>,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub srt: Option<SrtLink>,
}

/// A problem, said plainly, with what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Warning {
    /// `keyframe_interval`, `no_audio`, `no_video`, `bitrate_high`,
    /// `bitrate_low`, `frame_rate_low`, `packet_loss`, `high_rtt`.
    pub code: String,
    pub message: String,
}

/// A live session's health, as the API shows it to the stream's owner.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StreamHealth {
    /// `good` with no warnings, else `warning`.
    pub status: String,
    pub ingest_bitrate_bps: u64,
    pub frame_rate: Option<f64>,
    pub keyframe_interval_s: Option<f64>,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    /// Whether the stream carries sound.
    pub audio: bool,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// SRT link figures; absent for RTMP (TCP hides them).
    pub srt: Option<SrtLink>,
    pub warnings: Vec<Warning>,
    /// When the node measured it (every 10 s while live).
    pub measured_at: String,
}

/// The keyframe interval players and the ladder want (and OBS's advice).
pub const RECOMMENDED_KEYFRAME_S: f64 = 2.0;
/// The ladder's top rung: more than this is wasted on most viewers' links.
pub const LADDER_TOP_BPS: u64 = 8_000_000;
const LOW_BITRATE_BPS: u64 = 300_000;
const LOW_FRAME_RATE: f64 = 20.0;
const HIGH_LOSS_PERCENT: f64 = 2.0;
const HIGH_RTT_MS: f64 = 300.0;

fn mbps(bps: u64) -> String {
    format!("{:.1} Mbps", bps as f64 / 1_000_000.0)
}

/// The health to show, warnings included, of what was measured at `at`.
pub fn assess(m: &Measured, at: &str) -> StreamHealth {
    let mut warnings = Vec::new();
    let mut warn = |code: &str, message: String| warnings.push(Warning { code: code.into(), message });
    if let Some(k) = m.keyframe_interval_s.filter(|k| *k > RECOMMENDED_KEYFRAME_S * 1.25) {
        warn(
            "keyframe_interval",
            format!(
                "keyframe every {k:.0} s; set {RECOMMENDED_KEYFRAME_S:.0} s in OBS (Settings → Output → Keyframe Interval): \
                 viewers join and switch quality only at keyframes"
            ),
        );
    }
    if m.video_codec.is_none() && m.audio_codec.is_some() {
        warn("no_video", "no video: only sound arrives; check the encoder's video source".into());
    }
    if m.audio_codec.is_none() && m.video_codec.is_some() {
        warn("no_audio", "no audio: viewers hear nothing; add an audio source or check the encoder's audio".into());
    }
    if m.ingest_bitrate_bps > LADDER_TOP_BPS {
        warn(
            "bitrate_high",
            format!(
                "bitrate {} is above the ladder's top rung ({}); viewers on slower links will stall — set {} Kbps or less",
                mbps(m.ingest_bitrate_bps),
                mbps(LADDER_TOP_BPS),
                LADDER_TOP_BPS / 1000
            ),
        );
    } else if m.ingest_bitrate_bps > 0 && m.ingest_bitrate_bps < LOW_BITRATE_BPS && m.video_codec.is_some() {
        warn(
            "bitrate_low",
            format!(
                "bitrate {} is very low; the picture will be blocky — the encoder or its link may be struggling",
                mbps(m.ingest_bitrate_bps)
            ),
        );
    }
    if let Some(f) = m.frame_rate.filter(|f| *f > 0.0 && *f < LOW_FRAME_RATE) {
        warn(
            "frame_rate_low",
            format!(
                "{f:.0} frames per second; motion will stutter — the encoder may be overloaded (OBS: Stats → skipped frames)"
            ),
        );
    }
    if let Some(srt) = &m.srt {
        // Loss SRT recovers in time costs only bandwidth; a dropped packet is a glitch.
        if srt.loss_percent > HIGH_LOSS_PERCENT || srt.dropped > 0 {
            let dropped = match srt.dropped {
                0 => String::new(),
                n => format!(", {n} too late to play even resent"),
            };
            warn(
                "packet_loss",
                format!(
                    "{:.1} % of packets lost on the way in{dropped}; raise SRT latency or lower the bitrate",
                    srt.loss_percent
                ),
            );
        }
        if srt.rtt_ms > HIGH_RTT_MS {
            warn("high_rtt", format!("round trip {:.0} ms; set SRT latency to at least 4× that", srt.rtt_ms));
        }
    }
    StreamHealth {
        status: if warnings.is_empty() { "good".into() } else { "warning".into() },
        ingest_bitrate_bps: m.ingest_bitrate_bps,
        frame_rate: m.frame_rate.map(|f| (f * 100.0).round() / 100.0),
        keyframe_interval_s: m.keyframe_interval_s.map(|k| (k * 100.0).round() / 100.0),
        video_codec: m.video_codec.clone(),
        audio_codec: m.audio_codec.clone(),
        audio: m.audio_codec.is_some(),
        width: m.width,
        height: m.height,
        srt: m.srt.clone(),
        warnings,
        measured_at: at.to_owned(),
    }
}

/// Splits an init segment's codec strings (RFC 6381) into video and audio.
pub fn split_codecs(codecs: &[String]) -> (Option<String>, Option<String>) {
    const VIDEO: [&str; 6] = ["avc1", "avc3", "hvc1", "hev1", "av01", "vp09"];
    let video = codecs.iter().find(|c| VIDEO.iter().any(|v| c.starts_with(v))).cloned();
    let audio = codecs.iter().find(|c| !VIDEO.iter().any(|v| c.starts_with(v))).cloned();
    (video, audio)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Measured {
        Measured {
            ingest_bitrate_bps: 3_000_000,
            frame_rate: Some(30.0),
            keyframe_interval_s: Some(2.0),
            video_codec: Some("avc1.64001f".into()),
            audio_codec: Some("mp4a.40.2".into()),
            width: Some(1280),
            height: Some(720),
            srt: Some(SrtLink {
                rtt_ms: 20.0,
                loss_percent: 0.1,
                retransmits: 3,
                dropped: 0,
                link_bandwidth_bps: None,
            }),
        }
    }

    fn codes(h: &StreamHealth) -> Vec<&str> {
        h.warnings.iter().map(|w| w.code.as_str()).collect()
    }

    #[test]
    fn a_healthy_stream_has_no_warnings() {
        let h = assess(&healthy(), "t");
        assert_eq!((h.status.as_str(), h.audio), ("good", true));
        assert!(h.warnings.is_empty());
    }

    #[test]
    fn each_problem_says_what_to_do() {
        let m = Measured { keyframe_interval_s: Some(5.0), ..healthy() };
        let h = assess(&m, "t");
        assert_eq!(codes(&h), ["keyframe_interval"]);
        assert!(h.warnings[0].message.starts_with("keyframe every 5 s; set 2 s in OBS"), "{}", h.warnings[0].message);
        assert_eq!(h.status, "warning");
        // 2.4 s (a segment a little long) is no warning.
        assert!(assess(&Measured { keyframe_interval_s: Some(2.4), ..healthy() }, "t").warnings.is_empty());

        let h = assess(&Measured { audio_codec: None, ..healthy() }, "t");
        assert_eq!(codes(&h), ["no_audio"]);
        assert!(!h.audio);
        assert!(h.warnings[0].message.starts_with("no audio"));

        let h = assess(&Measured { ingest_bitrate_bps: 12_000_000, ..healthy() }, "t");
        assert_eq!(codes(&h), ["bitrate_high"]);
        assert!(h.warnings[0].message.contains("above the ladder's top rung"), "{}", h.warnings[0].message);
        assert_eq!(codes(&assess(&Measured { ingest_bitrate_bps: 100_000, ..healthy() }, "t")), ["bitrate_low"]);
        assert_eq!(codes(&assess(&Measured { frame_rate: Some(12.0), ..healthy() }, "t")), ["frame_rate_low"]);
        let lossy =
            SrtLink { rtt_ms: 450.0, loss_percent: 6.0, retransmits: 900, dropped: 40, link_bandwidth_bps: None };
        let h = assess(&Measured { srt: Some(lossy.clone()), ..healthy() }, "t");
        assert_eq!(codes(&h), ["packet_loss", "high_rtt"]);
        assert!(h.warnings[0].message.starts_with("6.0 % of packets lost on the way in, 40 too late to play"));
        // Little loss, all of it recovered: fine. Any packet dropped: a glitch viewers saw.
        let recovered = SrtLink { rtt_ms: 30.0, loss_percent: 1.0, dropped: 0, ..lossy };
        assert!(assess(&Measured { srt: Some(recovered.clone()), ..healthy() }, "t").warnings.is_empty());
        let glitch = SrtLink { dropped: 3, ..recovered };
        assert_eq!(codes(&assess(&Measured { srt: Some(glitch), ..healthy() }, "t")), ["packet_loss"]);
    }

    #[test]
    fn codecs_split_into_video_and_audio() {
        let (v, a) = split_codecs(&["avc1.4d401e".into(), "mp4a.40.2".into()]);
        assert_eq!((v.as_deref(), a.as_deref()), (Some("avc1.4d401e"), Some("mp4a.40.2")));
        assert_eq!(split_codecs(&["avc1.4d401e".into()]).1, None);
        assert_eq!(split_codecs(&["opus".into()]).0, None);
    }
}
