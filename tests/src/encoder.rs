//! ffmpeg standing in for OBS, a share of the machine for real-time
//! tests, and a guard for child processes.

use std::{path::PathBuf, process::Stdio, sync::OnceLock, time::Duration};

use tokio::{
    process::{Child, ChildStdin, Command},
    sync::{Mutex, Semaphore, SemaphorePermit},
};

/// Holds `cores` of the machine's cores for a test that runs media in real
/// time (an encoder pushing at 1×, the node's listener, a transcoding ladder)
/// until the permit drops.
///
/// Real-time work beyond the cores starves: an encoder falls behind its own
/// clock, and an SRT receiver drops what arrives later than its latency, as
/// live SRT is meant to. The test would then fail on what the platform did
/// right. Tests in one binary run in parallel; this keeps their real-time
/// load within the machine and lets the rest of the test run alongside.
pub async fn realtime_share(cores: u32) -> SemaphorePermit<'static> {
    static CORES: OnceLock<(Semaphore, u32)> = OnceLock::new();
    let (cores_free, total) = CORES.get_or_init(|| {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 64) as u32;
        (Semaphore::new(n as usize), n)
    });
    // A test that asks for more than there is waits for the whole machine.
    cores_free.acquire_many(cores.clamp(1, *total)).await.expect("the semaphore is never closed")
}

/// A stand-in OBS publishing to `url`: H.264 (2 s GOP, like OBS set up per
/// the README) and AAC in real time, in MPEG-TS over SRT, in FLV over RTMP.
///
/// The media is encoded once per size and length, ahead of time, and then
/// fed to a copying ffmpeg at 1×. A live x264 encoder under `-re` costs most
/// of a core here (ffmpeg 5.1 polls its clock); a copy fed by a pipe costs
/// next to nothing, so the node under test gets the machine.
pub struct Obs {
    child: Child,
    feeder: tokio::task::JoinHandle<std::io::Result<()>>,
    complaints: tokio::task::JoinHandle<String>,
}

/// How a publish went, as OBS would tell the streamer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was sent and acknowledged.
    Delivered,
    /// Nobody accepted the connection (not listening yet, or refused).
    NeverConnected,
    /// Connected, then cut off.
    Failed,
}

impl Obs {
    /// Starts sending `seconds` of `size` (`WxH`) test pattern and tone.
    pub async fn start(url: &str, seconds: u32, size: &str) -> std::io::Result<Obs> {
        Self::start_with(url, &TestMedia { size, seconds, ..TestMedia::default() }).await
    }

    /// Starts sending `media`, encoded as it asks (keyframe interval, sound).
    pub async fn start_with(url: &str, media: &TestMedia<'_>) -> std::io::Result<Obs> {
        let seconds = media.seconds;
        let media = tokio::fs::read(test_media(media).await?).await?;
        let container = if url.starts_with("rtmp") { "flv" } else { "mpegts" };
        let mut c = Command::new("ffmpeg");
        // The copy needs no more than the first second (see the feeder) to
        // know both streams; a longer probe would hold the start back.
        c.args(["-hide_banner", "-loglevel", "error", "-nostdin"])
            .args(["-probesize", "200000", "-analyzeduration", "0", "-f", "mpegts", "-i", "pipe:0"])
            .args(["-c", "copy", "-f", container])
            .arg(lingering(url));
        c.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).kill_on_drop(true);
        let mut child = c.spawn()?;
        let stdin = child.stdin.take().ok_or_else(|| std::io::Error::other("no stdin"))?;
        let stderr = child.stderr.take().ok_or_else(|| std::io::Error::other("no stderr"))?;
        let complaints = tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut text = String::new();
            let _ = tokio::io::BufReader::new(stderr).read_to_string(&mut text).await;
            text
        });
        let feeder = tokio::spawn(feed_in_real_time(media, Duration::from_secs(seconds.into()), stdin));
        Ok(Obs { child, feeder, complaints })
    }

    /// Waits until everything is sent, or the encoder gave up.
    pub async fn finished(mut self) -> Outcome {
        let fed = matches!(self.feeder.await, Ok(Ok(())));
        let exited = self.child.wait().await.is_ok_and(|s| s.success());
        let complaints = self.complaints.await.unwrap_or_default();
        let outcome = match (fed && exited, complaints.contains("Connection to ") && complaints.contains(" failed")) {
            (true, _) => Outcome::Delivered,
            (false, true) => Outcome::NeverConnected,
            (false, false) => Outcome::Failed,
        };
        if outcome != Outcome::Delivered {
            // Shown with the failing test's output: why the encoder stopped.
            eprintln!("stand-in OBS: {outcome:?} (fed: {fed}, exited cleanly: {exited}): {}", complaints.trim());
        }
        outcome
    }

    /// Whether it has stopped (and so gave up or finished).
    pub fn has_stopped(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    pub async fn stop(mut self) {
        self.feeder.abort();
        let _ = self.child.kill().await;
    }
}

/// Publishes `seconds` of `size` (`WxH`) to `url` once, without retrying:
/// private, so that every test publishes as OBS does ([`obs_when_listening`]).
async fn obs_at(url: &str, seconds: u32, size: &str) -> Outcome {
    match Obs::start(url, seconds, size).await {
        Ok(o) => o.finished().await,
        Err(e) => {
            eprintln!("stand-in OBS could not start: {e}");
            Outcome::Failed
        }
    }
}

/// Publishes as a streamer does when the server is not up yet: tries again
/// while nobody accepts the connection, until `patience` is over.
pub async fn obs_when_listening(url: &str, seconds: u32, size: &str, patience: Duration) -> Outcome {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let outcome = obs_at(url, seconds, size).await;
        if outcome != Outcome::NeverConnected || tokio::time::Instant::now() > deadline {
            return outcome;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// [`obs_when_listening`] with the patience every end-to-end test gives a
/// listener to come up; whether everything was delivered.
pub async fn publish_when_listening(url: &str, seconds: u32, size: &str) -> bool {
    obs_when_listening(url, seconds, size, Duration::from_secs(15)).await == Outcome::Delivered
}

/// Writes `media` (constant-rate MPEG-TS, so bytes are time) at 1× over
/// `length`, then closes the pipe: the encoder's end of stream.
///
/// The first second goes at once, as an encoder's buffer does when the
/// connection opens: a 720p keyframe alone outweighs a probe of 1×, and the
/// first audio packet comes only after it. While ffmpeg does not read (it
/// is still connecting) the clock stops: a backlog sent later in one burst
/// would arrive too late for live SRT, which drops it, as it should.
async fn feed_in_real_time(media: Vec<u8>, length: Duration, mut to: ChildStdin) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    const TICK: Duration = Duration::from_millis(20);
    const MOST_BEHIND: f64 = 0.25;
    const TS_PACKET: usize = 188;
    let per_second = media.len() as f64 / length.as_secs_f64();
    let started = tokio::time::Instant::now();
    // Seconds of media due beyond the time elapsed: the first second, less
    // whatever time ffmpeg spent not reading.
    let mut ahead = 1.0;
    let mut sent = 0;
    while sent < media.len() {
        let sent_until = sent as f64 / per_second;
        let mut due_until = started.elapsed().as_secs_f64() + ahead;
        if sent > 0 && due_until > sent_until + MOST_BEHIND {
            ahead -= due_until - sent_until;
            due_until = sent_until;
        }
        let due = (due_until * per_second) as usize / TS_PACKET * TS_PACKET;
        let until = due.clamp(sent, media.len());
        to.write_all(&media[sent..until]).await?;
        sent = until;
        tokio::time::sleep(TICK).await;
    }
    to.shutdown().await
}

/// What a stand-in encoder sends: a 30 fps test pattern, and a tone unless
/// `audio` is off. `keyframe_every` is in frames (OBS's 2 s: 60).
#[derive(Debug, Clone, Copy)]
pub struct TestMedia<'a> {
    pub size: &'a str,
    pub seconds: u32,
    pub keyframe_every: u32,
    pub audio: bool,
}

impl Default for TestMedia<'_> {
    fn default() -> Self {
        Self { size: "640x360", seconds: 10, keyframe_every: 60, audio: true }
    }
}

/// Publishes `media` once the listener takes it (as [`publish_when_listening`]).
pub async fn publish_media_when_listening(url: &str, media: &TestMedia<'_>) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let outcome = match Obs::start_with(url, media).await {
            Ok(o) => o.finished().await,
            Err(e) => {
                eprintln!("stand-in OBS could not start: {e}");
                Outcome::Failed
            }
        };
        if outcome != Outcome::NeverConnected || tokio::time::Instant::now() > deadline {
            return outcome == Outcome::Delivered;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The test pattern as a file, encoded once (per machine) for each kind:
/// a fresh clone pays seconds for it, a second run nothing.
async fn test_media(media: &TestMedia<'_>) -> std::io::Result<PathBuf> {
    let TestMedia { size, seconds, keyframe_every, audio } = *media;
    // Tests in one binary share the work; other binaries find the file.
    static ENCODING: Mutex<()> = Mutex::const_new(());
    let dir = std::env::temp_dir().join("skycast-test-media-v1");
    let kind = match (keyframe_every, audio) {
        (60, true) => String::new(),
        (g, a) => format!("-g{g}{}", if a { "" } else { "-silent" }),
    };
    let path = dir.join(format!("{size}-{seconds}s{kind}.ts"));
    let _one_at_a_time = ENCODING.lock().await;
    if tokio::fs::try_exists(&path).await? {
        return Ok(path);
    }
    tokio::fs::create_dir_all(&dir).await?;
    let partial = dir.join(format!(".{size}-{seconds}s{kind}.{}.ts", std::process::id()));
    // Constant bit rate, muxed at a constant rate (null packets fill the
    // gaps): a byte offset is a point in time, which is how it is paced.
    let (video, mux) = if size.ends_with("x360") { ("800k", "1500k") } else { ("2000k", "3000k") };
    let gop = keyframe_every.to_string();
    let mut encode = Command::new("ffmpeg");
    encode.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"]).args([
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc2=size={size}:rate=30"),
    ]);
    if audio {
        encode.args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]);
    }
    encode
        .args(["-t", &seconds.to_string()])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency"])
        .args(["-g", &gop, "-keyint_min", &gop, "-sc_threshold", "0"])
        .args(["-b:v", video, "-maxrate", video, "-bufsize", video, "-pix_fmt", "yuv420p"]);
    if audio {
        encode.args(["-c:a", "aac", "-b:a", "96k"]);
    }
    let status = encode
        .args(["-f", "mpegts", "-muxrate", mux])
        .arg(&partial)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .await?;
    if !status.success() {
        return Err(std::io::Error::other(format!("ffmpeg could not encode the test media: {status}")));
    }
    tokio::fs::rename(&partial, &path).await?;
    Ok(path)
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

/// No output, unless `SKYCAST_ENCODER_LOG` names a directory: then each
/// encoder's stderr goes to a file of its own there, to see why one failed.
fn quiet(c: &mut Command) {
    c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).kill_on_drop(true);
    if let Some(dir) = std::env::var_os("SKYCAST_ENCODER_LOG") {
        let path = std::path::Path::new(&dir).join(format!("encoder-{}.log", crate::unique_prefix()));
        if let Ok(file) = std::fs::File::create(path) {
            c.stderr(file);
        }
    }
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
