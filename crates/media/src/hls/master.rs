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

/// The variants of a master playlist (as [`render_master`] writes them, or
/// any RFC 8216 one): what an operator's manifest shows. Lines it does not
/// know are skipped; a variant without a URI line is dropped.
pub fn parse_master(text: &str) -> Vec<Variant> {
    let mut out = Vec::new();
    let mut pending: Option<Variant> = None;
    for line in text.lines().map(str::trim) {
        if let Some(attrs) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            let mut v = Variant {
                uri: String::new(),
                bandwidth: 0,
                average_bandwidth: None,
                resolution: None,
                frame_rate: None,
                codecs: vec![],
            };
            for (name, value) in attributes(attrs) {
                match name {
                    "BANDWIDTH" => v.bandwidth = value.parse().unwrap_or(0),
                    "AVERAGE-BANDWIDTH" => v.average_bandwidth = value.parse().ok(),
                    "RESOLUTION" => {
                        v.resolution = value.split_once('x').and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
                    }
                    "FRAME-RATE" => v.frame_rate = value.parse().ok(),
                    "CODECS" => v.codecs = value.split(',').map(|c| c.trim().to_owned()).collect(),
                    _ => {}
                }
            }
            pending = Some(v);
        } else if !line.is_empty()
            && !line.starts_with('#')
            && let Some(mut v) = pending.take()
        {
            v.uri = line.to_owned();
            out.push(v);
        }
    }
    out
}

/// `NAME=value` pairs of an attribute list; quoted values keep their commas.
fn attributes(list: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = list;
    while let Some((name, after)) = rest.split_once('=') {
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => match quoted.split_once('"') {
                Some((v, tail)) => (v, tail.strip_prefix(',').unwrap_or(tail)),
                None => (quoted, ""),
            },
            None => match after.split_once(',') {
                Some((v, tail)) => (v, tail),
                None => (after, ""),
            },
        };
        out.push((name.trim(), value));
        rest = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A top rung with every attribute, and one with none but its bandwidth.
    fn two_variants() -> Vec<Variant> {
        vec![
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
        ]
    }

    #[test]
    fn parses_what_it_renders() {
        let variants = two_variants();
        assert_eq!(parse_master(&render_master(&variants)), variants);
        assert!(parse_master("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n").is_empty(), "no URI, no variant");
        assert!(parse_master("garbage\n\u{0}").is_empty());
    }

    #[test]
    fn renders_every_attribute_players_choose_by() {
        let text = render_master(&two_variants());
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-STREAM-INF:BANDWIDTH=3300000,AVERAGE-BANDWIDTH=3000000,RESOLUTION=1280x720,FRAME-RATE=30.000,CODECS=\"avc1.4d401f,mp4a.40.2\"\n720p/index.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=900000\n360p/index.m3u8\n"
        );
    }
}
