//! The media playlist the ingest node owns for a whole session.
//!
//! ffmpeg's own playlist starts over with every ffmpeg process, while a
//! session outlives processes (reconnects, crashes). The node numbers segments
//! per session and writes this playlist itself: it marks where a new process
//! began with `EXT-X-DISCONTINUITY` and that process's own init segment, dates
//! every segment (`EXT-X-PROGRAM-DATE-TIME`), and ends with `EXT-X-ENDLIST`
//! when the session does. A segment is added only once it is stored, so the
//! playlist never names a missing one.
//!
//! While live, the playlist shows a DVR window (the last couple of hours), so
//! what is uploaded for every segment stays bounded however long the session
//! runs; once ended it lists the whole session: the VOD playlist. The target
//! duration is fixed by the first segment and never changes (RFC 8216 §6.2.1).

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
    /// Wall-clock time of its first frame, RFC 3339 (`EXT-X-PROGRAM-DATE-TIME`).
    pub program_date_time: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MediaPlaylist {
    /// The segment duration asked of the encoder: the least target duration.
    nominal_target: u32,
    /// Fixed when the first segment is listed.
    target: Option<u32>,
    /// Seconds a live playlist shows, newest last; `None`: everything.
    window: Option<f64>,
    segments: Vec<PlaylistSegment>,
    ended: bool,
}

impl MediaPlaylist {
    pub fn new(nominal_segment_seconds: u32) -> Self {
        Self {
            nominal_target: nominal_segment_seconds.max(1),
            target: None,
            window: None,
            segments: Vec::new(),
            ended: false,
        }
    }

    /// A live playlist showing the last `window_seconds` (at least one segment).
    pub fn with_window(nominal_segment_seconds: u32, window_seconds: f64) -> Self {
        Self { window: Some(window_seconds), ..Self::new(nominal_segment_seconds) }
    }

    pub fn segments(&self) -> &[PlaylistSegment] {
        &self.segments
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Adds a segment; `false` if it is longer than the target duration
    /// fixed by the first one (an encoder's keyframe interval grew): it is
    /// listed all the same, and its caller may warn.
    pub fn push(&mut self, segment: PlaylistSegment) -> bool {
        let rounded = segment.duration.round() as u32;
        let target = *self.target.get_or_insert(rounded.max(self.nominal_target));
        self.segments.push(segment);
        rounded <= target
    }

    pub fn end(&mut self) {
        self.ended = true;
    }

    /// Seconds of media listed.
    pub fn duration(&self) -> f64 {
        self.segments.iter().map(|s| s.duration).sum()
    }

    /// RFC 8216 §4.3.3.1 and §6.2.1: every EXTINF, rounded, is ≤ the target
    /// duration, which never changes: the first segment's, or the nominal.
    pub fn target_duration(&self) -> u32 {
        self.target.unwrap_or(self.nominal_target)
    }

    /// The first segment a live render shows.
    fn window_start(&self) -> usize {
        let (Some(window), false) = (self.window, self.ended) else { return 0 };
        let mut shown = 0.0;
        for (i, s) in self.segments.iter().enumerate().rev() {
            shown += s.duration;
            if shown >= window {
                return i;
            }
        }
        0
    }

    pub fn render(&self) -> String {
        let start = self.window_start();
        let shown = &self.segments[start..];
        let mut out = String::with_capacity(160 + shown.len() * 96);
        out.push_str("#EXTM3U\n#EXT-X-VERSION:7\n");
        let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", self.target_duration());
        // Discontinuity tags that slid out of the window, counted (§4.3.3.3);
        // the first segment ever never has one.
        let slid = self.segments.get(1..=start).map_or(0, |s| s.iter().filter(|s| s.discontinuity).count());
        let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{start}\n#EXT-X-DISCONTINUITY-SEQUENCE:{slid}");
        // EVENT (segments only ever appended, players may seek back to the
        // start) only where nothing slides out of view.
        if self.window.is_none() {
            out.push_str("#EXT-X-PLAYLIST-TYPE:EVENT\n");
        }
        out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
        let mut current_init: Option<&str> = None;
        for s in shown {
            if s.discontinuity && current_init.is_some() {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if current_init != Some(s.init_uri.as_str()) {
                let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", s.init_uri);
                current_init = Some(&s.init_uri);
            }
            if let Some(t) = &s.program_date_time {
                let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{t}");
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
        PlaylistSegment {
            uri: format!("seg_{n:06}.m4s"),
            duration: d,
            init_uri: init.into(),
            discontinuity: disc,
            program_date_time: None,
        }
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
    fn the_target_duration_is_fixed_by_the_first_segment() {
        let mut p = MediaPlaylist::new(2);
        assert_eq!(p.target_duration(), 2);
        assert!(p.push(seg(0, 3.4, "init.mp4", false)));
        assert_eq!(p.target_duration(), 3);
        assert!(p.push(seg(1, 2.0, "init.mp4", false)));
        assert!(!p.push(seg(2, 4.6, "init.mp4", false)), "longer than the target: the caller is told");
        assert_eq!(p.target_duration(), 3, "and it never changes");
    }

    #[test]
    fn a_live_window_slides_and_the_end_lists_everything() {
        let mut p = MediaPlaylist::with_window(2, 6.0);
        for n in 0..5 {
            let mut s = seg(n, 2.0, if n < 3 { "init.mp4" } else { "init_1.mp4" }, n == 3);
            s.program_date_time = Some(format!("2026-12-02T10:00:{:02}.000Z", n * 2));
            p.push(s);
        }
        let live = p.render();
        assert!(live.contains("#EXT-X-MEDIA-SEQUENCE:2\n#EXT-X-DISCONTINUITY-SEQUENCE:0\n"), "{live}");
        assert!(!live.contains("seg_000001") && live.contains("seg_000002"), "{live}");
        assert!(!live.contains("PLAYLIST-TYPE"), "segments leave a sliding window: not EVENT");
        assert!(live.contains("#EXT-X-MAP:URI=\"init.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:2026-12-02T10:00:04.000Z\n#EXTINF:2.000000,\nseg_000002.m4s"), "{live}");
        p.push(seg(5, 2.0, "init_1.mp4", false));
        let later = p.render();
        // The discontinuity before seg 3 is now before the window's first segment.
        assert!(later.contains("#EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n"), "{later}");
        assert!(!later.contains("#EXT-X-DISCONTINUITY\n"), "{later}");
        p.end();
        let vod = p.render();
        assert!(
            vod.contains("#EXT-X-MEDIA-SEQUENCE:0\n") && vod.contains("seg_000000.m4s"),
            "the whole session: {vod}"
        );
        assert_eq!(vod.matches("#EXT-X-DISCONTINUITY\n").count(), 1);
        assert!(vod.ends_with("#EXT-X-ENDLIST\n"));
    }
}
