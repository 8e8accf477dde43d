//! The media playlist the ingest node owns for a whole session.
//!
//! ffmpeg's own playlist starts over with every ffmpeg process, while a
//! session outlives processes (reconnects, crashes). The node numbers segments
//! per session and writes this playlist itself: it keeps every segment (DVR:
//! viewers can seek back to the start), marks where a new process began with
//! `EXT-X-DISCONTINUITY` and that process's own init segment, and ends with
//! `EXT-X-ENDLIST` when the session does. A segment is added only once it is
//! stored, so the playlist never names a missing one.

use std::fmt::Write;

#[derive(Debug, Clone, PartialEq)]
pub struct PlaylistSegment {
    pub uri: String,
    /// Seconds.
    pub duration: f64,
    /// The init segment (`EXT-X-MAP`) this segment needs.
    pub init_uri: String,
    /// The first segment after a new encoder process began.
    pub discontinuity: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MediaPlaylist {
    /// The segment duration asked of the encoder; the target duration never
    /// goes below it, so it stays constant in the normal case.
    nominal_target: u32,
    segments: Vec<PlaylistSegment>,
    ended: bool,
}

impl MediaPlaylist {
    pub fn new(nominal_segment_seconds: u32) -> Self {
        Self { nominal_target: nominal_segment_seconds.max(1), segments: Vec::new(), ended: false }
    }

    pub fn segments(&self) -> &[PlaylistSegment] {
        &self.segments
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    pub fn push(&mut self, segment: PlaylistSegment) {
        self.segments.push(segment);
    }

    pub fn end(&mut self) {
        self.ended = true;
    }

    /// Seconds of media listed.
    pub fn duration(&self) -> f64 {
        self.segments.iter().map(|s| s.duration).sum()
    }

    /// RFC 8216 §4.3.3.1: every EXTINF, rounded to the nearest integer, must
    /// be ≤ the target duration.
    pub fn target_duration(&self) -> u32 {
        let longest = self.segments.iter().map(|s| s.duration.round() as u32).max().unwrap_or(0);
        longest.max(self.nominal_target)
    }

    pub fn render(&self) -> String {
        let mut out = String::with_capacity(128 + self.segments.len() * 48);
        out.push_str("#EXTM3U\n#EXT-X-VERSION:7\n");
        let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", self.target_duration());
        out.push_str("#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-DISCONTINUITY-SEQUENCE:0\n");
        // EVENT: segments are only ever appended, so players may seek back.
        out.push_str("#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-INDEPENDENT-SEGMENTS\n");
        let mut current_init: Option<&str> = None;
        for s in &self.segments {
            if s.discontinuity && current_init.is_some() {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if current_init != Some(s.init_uri.as_str()) {
                let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", s.init_uri);
                current_init = Some(&s.init_uri);
            }
            let _ = writeln!(out, "#EXTINF:{:.6},\n{}", s.duration, s.uri);
        }
        if self.ended {
            out.push_str("#EXT-X-ENDLIST\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(n: u32, d: f64, init: &str, disc: bool) -> PlaylistSegment {
        PlaylistSegment { uri: format!("seg_{n:06}.m4s"), duration: d, init_uri: init.into(), discontinuity: disc }
    }

    #[test]
    fn a_live_session_then_its_end() {
        let mut p = MediaPlaylist::new(2);
        assert_eq!(p.render().lines().filter(|l| l.starts_with("#EXTINF")).count(), 0);
        p.push(seg(0, 2.0, "init.mp4", false));
        p.push(seg(1, 2.0, "init.mp4", false));
        let live = p.render();
        assert!(live.starts_with("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n"));
        assert!(live.contains("#EXT-X-PLAYLIST-TYPE:EVENT\n"));
        assert_eq!(live.matches("#EXT-X-MAP").count(), 1);
        assert!(live.contains("#EXTINF:2.000000,\nseg_000001.m4s\n"));
        assert!(!live.contains("ENDLIST"));
        p.end();
        assert!(p.render().ends_with("seg_000001.m4s\n#EXT-X-ENDLIST\n"));
        assert!((p.duration() - 4.0).abs() < 1e-9);
    }

    #[test]
    fn a_reconnect_is_a_discontinuity_with_its_own_init() {
        let mut p = MediaPlaylist::new(2);
        p.push(seg(0, 2.0, "init.mp4", false));
        p.push(seg(1, 1.5, "init.mp4", false));
        p.push(seg(2, 2.0, "init_1.mp4", true));
        let text = p.render();
        let tail = text.split("seg_000001.m4s\n").nth(1).unwrap();
        assert!(
            tail.starts_with(
                "#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init_1.mp4\"\n#EXTINF:2.000000,\nseg_000002.m4s\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn target_duration_covers_every_segment() {
        let mut p = MediaPlaylist::new(2);
        p.push(seg(0, 2.0, "init.mp4", false));
        assert_eq!(p.target_duration(), 2);
        p.push(seg(1, 2.4, "init.mp4", false));
        assert_eq!(p.target_duration(), 2, "2.4 rounds to 2");
        p.push(seg(2, 4.6, "init.mp4", false));
        assert_eq!(p.target_duration(), 5);
    }
}
