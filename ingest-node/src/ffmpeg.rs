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

/// A still every this many seconds: `thumb.jpg`, overwritten.
pub const THUMBNAIL_SECONDS: u32 = 10;
const THUMBNAIL_FILTER: &str = "fps=1/10,scale=-2:360";

/// The input options and URL.
fn input_args(input: &Input, args: &mut Vec<String>) {
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
    args.extend(["-c:v", "mjpeg", "-q:v", "5", "-f", "image2", "-update", "1"].map(String::from));
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
            thumbnail_output(spec, "0:v:0", Some(THUMBNAIL_FILTER), &mut a);
        }
        Profile::Ladder => {
            let n = LADDER.len();
            let outs: String = (0..n).map(|i| format!("[v{i}]")).collect();
            let scales: Vec<String> = LADDER
                .iter()
                .enumerate()
                .map(|(i, r)| format!("[v{i}]scale=w={}:h={}[o{i}]", r.width, r.height))
                .collect();
            a.push("-filter_complex".into());
            a.push(format!("[0:v]split={}{outs}[vt];{};[vt]{THUMBNAIL_FILTER}[thumb]", n + 1, scales.join(";")));
            for (i, r) in LADDER.iter().enumerate() {
                a.extend(["-map".into(), format!("[o{i}]"), "-map".into(), "0:a:0?".into()]);
                a.extend([format!("-b:v:{i}"), format!("{}k", r.video_kbps)]);
                a.extend([format!("-maxrate:v:{i}"), format!("{}k", r.video_kbps * 11 / 10)]);
                a.extend([format!("-bufsize:v:{i}"), format!("{}k", r.video_kbps * 2)]);
                a.extend([format!("-b:a:{i}"), format!("{}k", r.audio_kbps)]);
            }
            // Keyframes every segment boundary in every rung, so players switch cleanly.
            let kf = format!("expr:gte(t,n_forced*{})", spec.segment_seconds);
            a.extend(
                [
                    "-c:v",
                    "libx264",
                    "-preset",
                    "veryfast",
                    "-profile:v",
                    "main",
                    "-pix_fmt",
                    "yuv420p",
                    "-sc_threshold",
                    "0",
                    "-force_key_frames",
                    &kf,
                    "-c:a",
                    "aac",
                    "-ac",
                    "2",
                ]
                .map(String::from),
            );
            let map: Vec<String> =
                LADDER.iter().enumerate().map(|(i, r)| format!("v:{i},a:{i},name:{}", r.name)).collect();
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
        assert!(joined.starts_with("-hide_banner -nostdin -loglevel warning -skip_frame nokey -i srt://"));
        assert!(joined.ends_with("-map 0:v:0 -vf fps=1/10,scale=-2:360 -c:v mjpeg -q:v 5 -f image2 -update 1 http://127.0.0.1:9/ingest/tok/0/thumb.jpg"), "{joined}");
        assert!(!format!("{:?}", spec(Profile::Source)).contains(&"k".repeat(32)), "debug output hides the key");
    }

    #[test]
    fn rtmp_listens_on_loopback_behind_the_gate() {
        let mut s = spec(Profile::Source);
        s.input = Input::Rtmp { port: 41000 };
        let joined = listener_args(&s).join(" ");
        assert!(joined.contains("-listen 1 -rw_timeout 10000000 -i rtmp://127.0.0.1:41000/live/publisher"), "{joined}");
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
    fn the_ladder_aligns_keyframes_and_names_renditions() {
        let joined = listener_args(&spec(Profile::Ladder)).join(" ");
        assert!(joined.contains("split=4[v0][v1][v2][vt]"));
        assert!(joined.contains("[vt]fps=1/10,scale=-2:360[thumb]"));
        assert!(!joined.contains("skip_frame"), "the ladder decodes every frame");
        assert!(joined.contains("-force_key_frames expr:gte(t,n_forced*2)"));
        assert!(joined.contains("-sc_threshold 0"));
        assert!(joined.contains("v:0,a:0,name:720p v:1,a:1,name:480p v:2,a:2,name:360p"));
        assert!(joined.contains("/%v/index.m3u8 -map [thumb]"));
    }
}
