//! ffmpeg standing in for OBS, and a guard for child processes.

use std::process::Stdio;

use tokio::process::Command;

/// An encoder publishing `seconds` of test pattern and tone in real time,
/// H.264 (2 s GOP, like OBS set up per the README) and AAC, to `url`: in
/// MPEG-TS over SRT, in FLV over RTMP.
pub fn obs(url: &str, seconds: u32) -> Command {
    obs_at(url, seconds, "640x360")
}

/// The same at another frame size (`WxH`), for ladders that need a tall source.
pub fn obs_at(url: &str, seconds: u32, size: &str) -> Command {
    let container = if url.starts_with("rtmp") { "flv" } else { "mpegts" };
    let mut c = Command::new("ffmpeg");
    c.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={size}:rate=30"),
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
        ])
        .args(["-t", &seconds.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-g",
            "60",
            "-keyint_min",
            "60",
            "-sc_threshold",
            "0",
        ])
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k", "-f", container])
        .arg(lingering(url));
    quiet(&mut c);
    c
}

/// SRT in live mode closes at once by default and drops what is still
/// unacknowledged: on a loaded machine the last half second, ending on a
/// broken frame. An encoder that lingers delivers everything it sent, as a
/// test of the node's own losslessness needs.
fn lingering(url: &str) -> String {
    if url.starts_with("srt://") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}linger=3")
    } else {
        url.to_owned()
    }
}

/// A cheap encoder for load: copies a pre-encoded MPEG-TS file in real time.
pub fn obs_from_file(url: &str, file: &std::path::Path) -> Command {
    let mut c = Command::new("ffmpeg");
    c.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-i"])
        .arg(file)
        .args(["-c", "copy", "-f", "mpegts"])
        .arg(lingering(url));
    quiet(&mut c);
    c
}

fn quiet(c: &mut Command) {
    c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).kill_on_drop(true);
}

/// A child process killed on drop, so a failing test leaves nothing running.
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl std::ops::Deref for ChildGuard {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for ChildGuard {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}
