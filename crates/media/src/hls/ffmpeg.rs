//! Reading the media playlists ffmpeg's HLS muxer writes, to learn which
//! segments it has finished and how long each is. Tolerant: unknown tags are
//! skipped; garbage yields an empty playlist, never a panic.

#[derive(Debug, Clone, PartialEq)]
pub struct FfmpegSegment {
    pub uri: String,
    pub duration: f64,
    /// The `EXT-X-MAP` in force for this segment (the node's playlists name
    /// a new one after every reconnect).
    pub init_uri: Option<String>,
    /// Its `EXT-X-PROGRAM-DATE-TIME`, if dated.
    pub program_date_time: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct FfmpegPlaylist {
    pub init_uri: Option<String>,
    pub segments: Vec<FfmpegSegment>,
    pub ended: bool,
}

impl FfmpegPlaylist {
    pub fn parse(text: &str) -> Self {
        let mut out = Self::default();
        let mut pending: Option<f64> = None;
        let mut dated: Option<String> = None;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(rest) = line.strip_prefix("#EXTINF:") {
                let value = rest.split(',').next().unwrap_or("");
                pending = value.trim().parse::<f64>().ok().filter(|d| d.is_finite() && *d >= 0.0);
            } else if let Some(rest) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
                dated = Some(rest.trim().to_owned());
            } else if let Some(rest) = line.strip_prefix("#EXT-X-MAP:") {
                out.init_uri = attribute(rest, "URI");
            } else if line == "#EXT-X-ENDLIST" {
                out.ended = true;
            } else if line.starts_with('#') {
                continue;
            } else if let Some(duration) = pending.take() {
                out.segments.push(FfmpegSegment {
                    uri: line.to_owned(),
                    duration,
                    init_uri: out.init_uri.clone(),
                    program_date_time: dated.take(),
                });
            }
        }
        out
    }
}

/// The value of `NAME="value"` or `NAME=value` in an attribute list.
fn attribute(list: &str, name: &str) -> Option<String> {
    let start = list.find(&format!("{name}="))? + name.len() + 1;
    let rest = &list[start..];
    let value = match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next()?,
        None => rest.split(',').next()?,
    };
    Some(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ffmpeg_output() {
        let p = FfmpegPlaylist::parse(include_str!("../../tests/fixtures/ffmpeg_event.m3u8"));
        assert_eq!(p.init_uri.as_deref(), Some("init.mp4"));
        assert_eq!(p.segments.len(), 3);
        assert_eq!(
            p.segments[0],
            FfmpegSegment {
                uri: "seg_000000.m4s".into(),
                duration: 2.0,
                init_uri: Some("init.mp4".into()),
                program_date_time: None
            }
        );
        assert_eq!(p.segments[2].duration, 1.0);
        assert!(p.ended);
        let dated = FfmpegPlaylist::parse(
            "#EXT-X-PROGRAM-DATE-TIME:2026-12-02T10:00:00.000Z\n#EXTINF:2,\na.m4s\n#EXTINF:2,\nb.m4s\n",
        );
        assert_eq!(dated.segments[0].program_date_time.as_deref(), Some("2026-12-02T10:00:00.000Z"));
        assert_eq!(dated.segments[1].program_date_time, None, "a date belongs to the one segment after it");
    }

    #[test]
    fn each_segment_knows_its_init() {
        let p = FfmpegPlaylist::parse(include_str!("../../tests/fixtures/session/index.m3u8"));
        let inits: Vec<_> = p.segments.iter().map(|s| s.init_uri.as_deref().unwrap_or("")).collect();
        assert_eq!(inits, ["init.mp4", "init.mp4", "init.mp4", "init_1.mp4", "init_1.mp4"]);
        assert!(p.ended);
    }

    #[test]
    fn garbage_is_empty_not_a_panic() {
        for text in [
            "",
            "\u{0}\u{ffff}",
            "#EXTINF:abc,\nseg.m4s",
            "#EXTINF:-1,\nx",
            "#EXT-X-MAP:URI=\"",
            "seg_without_extinf.m4s",
        ] {
            let p = FfmpegPlaylist::parse(text);
            assert!(p.segments.is_empty(), "{text:?}");
        }
        assert_eq!(
            FfmpegPlaylist::parse("#EXT-X-MAP:URI=init_2.mp4,BYTERANGE=1").init_uri.as_deref(),
            Some("init_2.mp4")
        );
    }
}
