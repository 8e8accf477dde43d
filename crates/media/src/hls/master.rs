//! The master (multivariant) playlist: one entry per rendition.

use std::fmt::Write;

#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// Relative URI of the rendition's media playlist, e.g. `720p/index.m3u8`.
    pub uri: String,
    /// Peak bits per second, container overhead included.
    pub bandwidth: u64,
    pub average_bandwidth: Option<u64>,
    pub resolution: Option<(u32, u32)>,
    pub frame_rate: Option<f64>,
    /// RFC 6381 codec strings, e.g. `["avc1.4d401f", "mp4a.40.2"]`.
    pub codecs: Vec<String>,
}

/// Variants in the order given: players (Safari especially) start with the first.
pub fn render_master(variants: &[Variant]) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for v in variants {
        let _ = write!(out, "#EXT-X-STREAM-INF:BANDWIDTH={}", v.bandwidth);
        if let Some(avg) = v.average_bandwidth {
            let _ = write!(out, ",AVERAGE-BANDWIDTH={avg}");
        }
        if let Some((w, h)) = v.resolution {
            let _ = write!(out, ",RESOLUTION={w}x{h}");
        }
        if let Some(fps) = v.frame_rate {
            let _ = write!(out, ",FRAME-RATE={fps:.3}");
        }
        if !v.codecs.is_empty() {
            let _ = write!(out, ",CODECS=\"{}\"", v.codecs.join(","));
        }
        let _ = writeln!(out, "\n{}", v.uri);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_attribute_players_choose_by() {
        let text = render_master(&[
            Variant {
                uri: "720p/index.m3u8".into(),
                bandwidth: 3_300_000,
                average_bandwidth: Some(3_000_000),
                resolution: Some((1280, 720)),
                frame_rate: Some(30.0),
                codecs: vec!["avc1.4d401f".into(), "mp4a.40.2".into()],
            },
            Variant {
                uri: "360p/index.m3u8".into(),
                bandwidth: 900_000,
                average_bandwidth: None,
                resolution: None,
                frame_rate: None,
                codecs: vec![],
            },
        ]);
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-STREAM-INF:BANDWIDTH=3300000,AVERAGE-BANDWIDTH=3000000,RESOLUTION=1280x720,FRAME-RATE=30.000,CODECS=\"avc1.4d401f,mp4a.40.2\"\n720p/index.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=900000\n360p/index.m3u8\n"
        );
    }
}
