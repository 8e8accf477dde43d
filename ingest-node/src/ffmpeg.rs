//! FFmpeg command lines (pure) and the process handle.
//!
//! One process serves one publisher connection: the node terminates SRT or
//! RTMP itself and writes the media to the process's stdin; FFmpeg copies or
//! transcodes it to CMAF HLS, PUTs every file to the node's origin, and exits
//! when its input ends. Nothing secret is on its command line.

use std::{path::Path, process::Stdio};

use crate::profile::{LADDER, Profile};

/// What the node writes into FFmpeg's stdin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// RTMP's audio, video and metadata messages, as FLV tags.
    Flv,
    /// What SRT carries: MPEG-TS.
    MpegTs,
}

impl InputFormat {
    fn demuxer(self) -> &'static str {
        match self {
            Self::Flv => "flv",
            Self::MpegTs => "mpegts",
        }
    }
}

/// What one FFmpeg process needs to know.
#[derive(Debug, Clone)]
pub struct TranscodeSpec {
    pub input: InputFormat,
    pub profile: Profile,
    pub segment_seconds: u32,
    /// `http://127.0.0.1:<origin>/ingest/<token>/<generation>`; renditions go below it.
    pub origin_base: String,
}

/// A still of every keyframe (every 2 s from an encoder set up per the
/// README), overwriting `thumb.jpg`; the node uploads at most one per 10 s.
/// Measured: `fps=1/10` or a `select` on time hold the first still back
/// 10 s or more; keyframes as they come show one within about 2 s of live.
const THUMBNAIL_SCALE: &str = "scale=-2:360";

/// The input options: the publisher's media on stdin.
fn input_args(input: InputFormat, args: &mut Vec<String>) {
    // FFmpeg probes a live input for up to 5 s by default before it writes
    // anything (measured over SRT: first segment 5.6 s after the publisher
    // connected). 2 s covers a 2 s GOP's parameter sets: first segment 2.7 s.
    args.extend(["-analyzeduration", "2000000", "-f", input.demuxer(), "-i", "pipe:0"].map(String::from));
}

/// `thumb.jpg` from `video` (a stream or a filter label), POSTed to the origin.
fn thumbnail_output(spec: &TranscodeSpec, video: &str, filter: Option<&str>, args: &mut Vec<String>) {
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

fn hls_output(spec: &TranscodeSpec, rendition: &str, args: &mut Vec<String>) {
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
pub fn transcode_args(spec: &TranscodeSpec) -> Vec<String> {
    let mut a: Vec<String> = ["-hide_banner", "-nostdin", "-loglevel", "warning"].map(String::from).to_vec();
    if spec.profile == Profile::Source {
        // Copy mode decodes nothing but the keyframes the thumbnail is made of.
        a.extend(["-skip_frame", "nokey"].map(String::from));
    }
    input_args(spec.input, &mut a);
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

/// Spawns FFmpeg, reading stdin, dying with the node, even on SIGKILL (no orphans).
/// Call it from a runtime worker thread (async code), which lives as long as
/// the runtime: the parent-death signal follows the spawning thread.
pub fn spawn(ffmpeg: &Path, spec: &TranscodeSpec) -> std::io::Result<tokio::process::Child> {
    let mut cmd = tokio::process::Command::new(ffmpeg);
    cmd.args(transcode_args(spec))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(profile: Profile) -> TranscodeSpec {
        TranscodeSpec {
            input: InputFormat::MpegTs,
            profile,
            segment_seconds: 2,
            origin_base: "http://127.0.0.1:9/ingest/tok/0".into(),
        }
    }

    #[test]
    fn source_copies_from_stdin_and_puts_to_the_origin() {
        let joined = transcode_args(&spec(Profile::Source)).join(" ");
        assert!(joined.starts_with(
            "-hide_banner -nostdin -loglevel warning -skip_frame nokey -analyzeduration 2000000 -f mpegts -i pipe:0 "
        ), "{joined}");
        assert!(joined.contains("-c copy -bsf:a aac_adtstoasc"));
        assert!(joined.contains("-hls_segment_type fmp4"));
        assert!(joined.contains("/source/seg_%06d.m4s http://127.0.0.1:9/ingest/tok/0/source/index.m3u8"));
        assert!(joined.ends_with("-map 0:v:0 -vf scale=-2:360 -fps_mode passthrough -c:v mjpeg -q:v 5 -f image2 -update 1 http://127.0.0.1:9/ingest/tok/0/thumb.jpg"), "{joined}");
        let rtmp = TranscodeSpec { input: InputFormat::Flv, ..spec(Profile::Source) };
        assert!(transcode_args(&rtmp).join(" ").contains("-f flv -i pipe:0"));
    }

    #[test]
    fn the_ladder_copies_the_source_and_encodes_aligned_lower_rungs() {
        let joined = transcode_args(&spec(Profile::Ladder)).join(" ");
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
