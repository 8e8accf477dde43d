//! FFmpeg listener command lines (pure) and the process handle.
//!
//! One process serves one publisher connection: it listens, transcodes or
//! copies to CMAF HLS, PUTs every file to the node's origin, and exits when
//! the publisher leaves. The session decides whether to start another.

use std::{path::Path, process::Stdio};

use crate::profile::{LADDER, Profile};

/// Where a listener takes its publisher from.
#[derive(Clone)]
pub enum Input {
    /// Public: the SRT passphrase is the stream key (10–79 characters), and
    /// SRT refuses a publisher without it at the handshake.
    Srt { host: String, port: u16, passphrase: String },
    /// Loopback only: the node's RTMP gate checks the key and relays here.
    Rtmp { port: u16 },
}

/// What one listener process needs to know.
#[derive(Clone)]
pub struct ListenerSpec {
    pub input: Input,
    pub profile: Profile,
    pub segment_seconds: u32,
    /// `http://127.0.0.1:<origin>/ingest/<token>/<generation>`; renditions go below it.
    pub origin_base: String,
}

impl std::fmt::Debug for ListenerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (protocol, port) = match &self.input {
            Input::Srt { port, .. } => ("srt", port),
            Input::Rtmp { port } => ("rtmp", port),
        };
        f.debug_struct("ListenerSpec")
            .field("protocol", &protocol)
            .field("port", port)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

/// A still of every keyframe (every 2 s from an encoder set up per the
/// README), overwriting `thumb.jpg`; the node uploads at most one per 10 s.
/// Measured: `fps=1/10` or a `select` on time hold the first still back
/// 10 s or more; keyframes as they come show one within about 2 s of live.
const THUMBNAIL_SCALE: &str = "scale=-2:360";

/// The input options and URL.
fn input_args(input: &Input, args: &mut Vec<String>) {
    // FFmpeg probes a live input for up to 5 s by default before it writes
    // anything (measured over SRT: first segment 5.6 s after the publisher
    // connected). 2 s covers a 2 s GOP's parameter sets: first segment 2.7 s.
    // It also lets the node see a returning publisher before its reconnect
    // window can run out under it.
    args.extend(["-analyzeduration", "2000000"].map(String::from));
    match input {
        // `pbkeylen=16`: AES-128, what OBS uses by default.
        Input::Srt { host, port, passphrase } => {
            args.push("-i".into());
            args.push(format!("srt://{host}:{port}?mode=listener&transtype=live&pbkeylen=16&passphrase={passphrase}"));
        }
        // The app and stream names are not checked by FFmpeg (the gate does
        // that); `rw_timeout` notices a publisher that vanished without
        // closing, as SRT's own peer timeout does.
        Input::Rtmp { port } => {
            args.extend(["-listen", "1", "-rw_timeout", "10000000", "-i"].map(String::from));
            args.push(format!("rtmp://127.0.0.1:{port}/live/publisher"));
        }
    }
}

/// `thumb.jpg` from `video` (a stream or a filter label), POSTed to the origin.
fn thumbnail_output(spec: &ListenerSpec, video: &str, filter: Option<&str>, args: &mut Vec<String>) {
    args.extend(["-map".into(), video.to_owned()]);
    if let Some(f) = filter {
        args.extend(["-vf".into(), f.to_owned()]);
    }
    // Passthrough: one JPEG per still, not duplicates up to a frame rate.
    args.extend(
        ["-fps_mode", "passthrough", "-c:v", "mjpeg", "-q:v", "5", "-f", "image2", "-update", "1"].map(String::from),
    );
    args.push(format!("{}/thumb.jpg", spec.origin_base));
}

fn hls_output(spec: &ListenerSpec, rendition: &str, args: &mut Vec<String>) {
    let seg = spec.segment_seconds.to_string();
    args.extend(
        [
            "-f",
            "hls",
            "-hls_time",
            &seg,
            "-hls_segment_type",
            "fmp4",
            "-hls_playlist_type",
            "event",
            "-hls_fmp4_init_filename",
            "init.mp4",
            "-method",
            "PUT",
            "-http_persistent",
            "1",
        ]
        .map(String::from),
    );
    args.push("-hls_segment_filename".into());
    args.push(format!("{}/{rendition}/seg_%06d.m4s", spec.origin_base));
    args.push(format!("{}/{rendition}/index.m3u8", spec.origin_base));
}

/// Each encoded rung is scaled from the one above it (cheaper than each from
/// the source), never above the source's own height; the thumbnail branches
/// off the first.
fn ladder_filter() -> String {
    let last = LADDER.len() - 1;
    let mut parts = Vec::new();
    for (i, r) in LADDER.iter().enumerate() {
        let input = if i == 0 { "[0:v]".to_owned() } else { format!("[c{i}]") };
        let mut outs = format!("[o{i}]");
        if i < last {
            outs.push_str(&format!("[c{}]", i + 1));
        }
        if i == 0 {
            outs.push_str("[vt]");
        }
        let fanout = outs.matches('[').count();
        let scale = format!("scale=w=-2:h='min({},ih)':flags=fast_bilinear", r.height);
        parts.push(if fanout > 1 {
            format!("{input}{scale},split={fanout}{outs}")
        } else {
            format!("{input}{scale}{outs}")
        });
    }
    // Every frame is decoded here: keep the keyframes only.
    parts.push(format!("[vt]select='eq(pict_type,I)',{THUMBNAIL_SCALE}[thumb]"));
    parts.join(";")
}

/// The full argument list (without the program name).
pub fn listener_args(spec: &ListenerSpec) -> Vec<String> {
    let mut a: Vec<String> = ["-hide_banner", "-nostdin", "-loglevel", "warning"].map(String::from).to_vec();
    if spec.profile == Profile::Source {
        // Copy mode decodes nothing but the keyframes the thumbnail is made of.
        a.extend(["-skip_frame", "nokey"].map(String::from));
    }
    input_args(&spec.input, &mut a);
    match spec.profile {
        Profile::Source => {
            a.extend(["-map", "0:v:0", "-map", "0:a:0?", "-c", "copy", "-bsf:a", "aac_adtstoasc"].map(String::from));
            hls_output(spec, "source", &mut a);
            thumbnail_output(spec, "0:v:0", Some(THUMBNAIL_SCALE), &mut a);
        }
        Profile::Ladder => {
            a.push("-filter_complex".into());
            a.push(ladder_filter());
            // The top rung is the publisher's own video, copied; audio is
            // copied into every rung. Only the lower rungs' video is encoded.
            a.extend(["-map", "0:v:0", "-map", "0:a:0?", "-c:v:0", "copy"].map(String::from));
            for (i, r) in LADDER.iter().enumerate() {
                let v = i + 1;
                a.extend(["-map".into(), format!("[o{i}]"), "-map".into(), "0:a:0?".into()]);
                let opt = |name: &str| format!("-{name}:v:{v}");
                a.extend([opt("c"), "libx264".into()]);
                // Measured on this 2-core machine, 720p30 source: ultrafast
                // with CABAC back on costs 0.17 cores for both rungs against
                // 0.23 for superfast, for 0.002 less SSIM. One thread per
                // encoder: x264's thread sync costs more than it saves here.
                a.extend([opt("preset"), "ultrafast".into(), opt("x264-params"), "cabac=1".into()]);
                a.extend([opt("tune"), "zerolatency".into(), opt("threads"), "1".into()]);
                a.extend([opt("profile"), "main".into(), opt("pix_fmt"), "yuv420p".into()]);
                a.extend([opt("b"), format!("{}k", r.video_kbps)]);
                a.extend([opt("maxrate"), format!("{}k", r.video_kbps * 11 / 10)]);
                a.extend([opt("bufsize"), format!("{}k", r.video_kbps * 2)]);
                // Keyframes exactly where the publisher's are, and nowhere
                // else, so every rung's segments share their boundaries.
                a.extend([opt("force_key_frames"), "source".into(), opt("sc_threshold"), "0".into()]);
            }
            // Keep the publisher's timestamps: snapping encoded frames to a
            // frame-rate grid would shift their segment boundaries off the
            // copied rung's by up to a frame.
            a.extend(["-fps_mode", "passthrough", "-c:a", "copy", "-bsf:a", "aac_adtstoasc"].map(String::from));
            let mut map = vec!["v:0,a:0,name:source".to_owned()];
            map.extend(LADDER.iter().enumerate().map(|(i, r)| format!("v:{},a:{},name:{}", i + 1, i + 1, r.name)));
            a.extend(["-var_stream_map".into(), map.join(" ")]);
            hls_output(spec, "%v", &mut a);
            thumbnail_output(spec, "[thumb]", None, &mut a);
        }
    }
    a
}

/// Spawns a listener that dies with the node, even on SIGKILL (no orphans).
/// Call it from a runtime worker thread (async code), which lives as long as
/// the runtime: the parent-death signal follows the spawning thread.
pub fn spawn(ffmpeg: &Path, spec: &ListenerSpec) -> std::io::Result<tokio::process::Child> {
    let mut cmd = tokio::process::Command::new(ffmpeg);
    cmd.args(listener_args(spec)).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).kill_on_drop(true);
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe and only sets the parent-death signal.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn()
}

/// `line` with the stream key, and any `passphrase=` value, replaced.
pub fn redact(line: &str, key: &str) -> String {
    let mut out = if key.is_empty() { line.to_owned() } else { line.replace(key, "<redacted>") };
    let mut from = 0;
    while let Some(i) = out[from..].find("passphrase=") {
        let start = from + i + "passphrase=".len();
        let end =
            out[start..].find(|c: char| c == '&' || c == ':' || c.is_whitespace()).map_or(out.len(), |j| start + j);
        out.replace_range(start..end, "<redacted>");
        from = start + "<redacted>".len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(profile: Profile) -> ListenerSpec {
        ListenerSpec {
            input: Input::Srt { host: "127.0.0.1".into(), port: 6001, passphrase: "k".repeat(32) },
            profile,
            segment_seconds: 2,
            origin_base: "http://127.0.0.1:9/ingest/tok/0".into(),
        }
    }

    #[test]
    fn source_copies_and_puts_to_the_origin() {
        let a = listener_args(&spec(Profile::Source));
        let joined = a.join(" ");
        assert!(joined.contains("srt://127.0.0.1:6001?mode=listener"));
        assert!(joined.contains(&format!("passphrase={}", "k".repeat(32))));
        assert!(joined.contains("-c copy -bsf:a aac_adtstoasc"));
        assert!(joined.contains("-hls_segment_type fmp4"));
        assert!(joined.contains("/source/seg_%06d.m4s http://127.0.0.1:9/ingest/tok/0/source/index.m3u8"));
        assert!(joined.starts_with(
            "-hide_banner -nostdin -loglevel warning -skip_frame nokey -analyzeduration 2000000 -i srt://"
        ));
        assert!(joined.ends_with("-map 0:v:0 -vf scale=-2:360 -fps_mode passthrough -c:v mjpeg -q:v 5 -f image2 -update 1 http://127.0.0.1:9/ingest/tok/0/thumb.jpg"), "{joined}");
        assert!(!format!("{:?}", spec(Profile::Source)).contains(&"k".repeat(32)), "debug output hides the key");
    }

    #[test]
    fn rtmp_listens_on_loopback_behind_the_gate() {
        let mut s = spec(Profile::Source);
        s.input = Input::Rtmp { port: 41000 };
        let joined = listener_args(&s).join(" ");
        assert!(
            joined.contains(
                "-analyzeduration 2000000 -listen 1 -rw_timeout 10000000 -i rtmp://127.0.0.1:41000/live/publisher"
            ),
            "{joined}"
        );
        assert!(!joined.contains(&"k".repeat(32)), "ffmpeg is never given the RTMP key");
    }

    #[test]
    fn ffmpeg_lines_never_carry_the_key() {
        let key = "k".repeat(32);
        let line = format!("srt://127.0.0.1:6001?mode=listener&passphrase={key}: Input/output error");
        let clean = redact(&line, &key);
        assert!(!clean.contains(&key), "{clean}");
        assert_eq!(clean, "srt://127.0.0.1:6001?mode=listener&passphrase=<redacted>: Input/output error");
        assert_eq!(
            redact("passphrase=other&x=1 and passphrase=more", ""),
            "passphrase=<redacted>&x=1 and passphrase=<redacted>"
        );
        assert_eq!(redact("no secrets here", &key), "no secrets here");
    }

    #[test]
    fn the_ladder_copies_the_source_and_encodes_aligned_lower_rungs() {
        let joined = listener_args(&spec(Profile::Ladder)).join(" ");
        assert!(
            joined.contains(
                "-filter_complex [0:v]scale=w=-2:h='min(480,ih)':flags=fast_bilinear,split=3[o0][c1][vt];\
                 [c1]scale=w=-2:h='min(360,ih)':flags=fast_bilinear[o1];[vt]select='eq(pict_type,I)',scale=-2:360[thumb]"
            ),
            "{joined}"
        );
        assert!(joined.contains("-map 0:v:0 -map 0:a:0? -c:v:0 copy -map [o0]"));
        assert!(joined.contains("-force_key_frames:v:1 source -sc_threshold:v:1 0"));
        assert!(joined.contains("-force_key_frames:v:2 source -sc_threshold:v:2 0"));
        assert!(joined.contains("-fps_mode passthrough -c:a copy"));
        assert!(!joined.contains("skip_frame"), "the ladder decodes every frame");
        assert!(joined.contains("v:0,a:0,name:source v:1,a:1,name:480p v:2,a:2,name:360p"));
        assert!(joined.contains("/%v/index.m3u8 -map [thumb]"));
    }
}
