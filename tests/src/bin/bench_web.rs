//! `make bench`, web part: glass-to-glass latency and time to first frame in
//! Chromium with the web app's player, against a baseline in the same run.
//!
//! - Skycast: `skycast-dev` (release, beside this binary) on free ports, a
//!   stream on the default profile (`ladder`), FFmpeg publishing a 720p30
//!   test pattern over RTMP in real time, played on the stream's live page.
//! - Baseline: the same FFmpeg source written as HLS (fMP4 segments of the
//!   same length) by FFmpeg itself into a local folder served by a plain
//!   static server, played by the same player (the app's `/embed` page, in
//!   the same latency mode) in the same browser.
//!
//! Both latency modes: `standard` (2 s segments, the publisher's keyframes
//! every 2 s) and `low` (1 s segments, keyframes every second).
//!
//! Latency is glass to glass, read off the screen: the publisher draws its
//! wall clock into every frame as it captures it (`CLOCK_FILTER`), and the
//! viewer reads it from each frame as the frame is presented; the same
//! machine's clock on both ends. It includes everything: the publisher's
//! encoding, the RTMP hop, the node, S3, the player's buffer. First frame: navigation start to the
//! first frame playing, page load included; eight loads each, each load also
//! sampled for latency (a viewer's latency is set by where it joins the segment clock).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use skycast_tests::{
    dev_stack::{self, DevStack},
    raw_http::request,
};
use tokio::process::Command;

/// A stream latency mode as the bench runs it.
struct Mode {
    /// The stream's `latency` (and the embed page's `latency=`).
    latency: &'static str,
    segment_s: u32,
}

const MODES: [Mode; 2] = [Mode { latency: "standard", segment_s: 2 }, Mode { latency: "low", segment_s: 1 }];

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The publisher's wall clock drawn into each frame as it is captured, for
/// the viewer to read off the screen (web/e2e/latency.mjs): Unix ms mod
/// 2^24 as 24 squares of 32 px, bit i white when set, along the top. The
/// frames are stamped with the wall clock (RTCTIME) so `geq` sees it as `T`,
/// then renumbered for the encoder. `geq` draws 24×2 pixels, scaled up: on
/// the whole strip it cost the publisher a quarter of a core.
const CLOCK_FILTER: &str = "[0:v]format=yuv420p,settb=1/1000,setpts=RTCTIME/1000,split[a][b];\
    [b]crop=24:2:0:0,geq=lum='255*mod(floor(T*1000/pow(2,X)),2)':cb=128:cr=128,scale=768:32:flags=neighbor[clock];\
    [a][clock]overlay=0:0,settb=1/30,setpts=N[v]";

/// The 720p30 test pattern with the clock and a tone, in real time, for
/// `seconds`, encoded as a low-latency live encoder would (x264
/// `zerolatency`), a keyframe starting every segment.
fn source(seconds: u32, mode: &Mode) -> Vec<String> {
    let mut a: Vec<String> = ["-hide_banner", "-loglevel", "error", "-nostdin", "-re"].map(String::from).to_vec();
    a.extend(["-f", "lavfi", "-i"].map(String::from));
    a.push(format!("testsrc2=size=1280x720:rate=30:duration={seconds}"));
    a.extend(["-f", "lavfi", "-i"].map(String::from));
    a.push(format!("sine=frequency=440:sample_rate=48000:duration={seconds}"));
    a.extend(["-filter_complex", CLOCK_FILTER, "-map", "[v]", "-map", "1:a"].map(String::from));
    a.extend(["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-b:v", "2500k"].map(String::from));
    a.extend(["-g".into(), (30 * mode.segment_s).to_string()]);
    a.extend(["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k"].map(String::from));
    a
}

fn quiet(c: &mut Command) -> &mut Command {
    c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).kill_on_drop(true)
}

/// `skycast-dev` from this release build (beside this binary), serving the app.
async fn start_stack(repo: &Path) -> anyhow::Result<DevStack> {
    let exe = std::env::current_exe()?.with_file_name("skycast-dev");
    if !exe.exists() {
        bail!("{} is missing: `make bench` builds it", exe.display());
    }
    dev_stack::start(&exe, &[("SKYCAST_WEB_DIST", repo.join("web/dist").display().to_string())]).await
}

/// Serves `dir` read-only, with CORS (the player's page is another origin).
async fn static_server(dir: PathBuf) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let local = listener.local_addr()?;
    let app = axum::Router::new()
        .fallback_service(tower_http::services::ServeDir::new(dir))
        .layer(tower_http::cors::CorsLayer::permissive());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(local)
}

/// Runs web/e2e/latency.mjs on one page; its samples.
async fn measure(repo: &Path, name: &str, url: &str) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let pages = json!([{"name": name, "url": url}]).to_string();
    let out = Command::new("node")
        .arg("web/e2e/latency.mjs")
        .current_dir(repo)
        .env("SKYCAST_LATENCY_PAGES", pages)
        .kill_on_drop(true)
        .output()
        .await
        .context("running node")?;
    if !out.status.success() {
        bail!("latency.mjs failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(line.trim()).with_context(|| format!("latency.mjs said {line}"))?;
    let numbers = |k: &str| -> Vec<f64> {
        let mut n: Vec<f64> = v[k].as_array().into_iter().flatten().filter_map(Value::as_f64).collect();
        n.sort_by(f64::total_cmp);
        n
    };
    Ok((numbers("first_frame_ms"), numbers("latency_ms")))
}

async fn skycast(repo: &Path, mode: &Mode) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let stack = start_stack(repo).await?;
    let addr = &stack.addr;
    let body = json!({"username": "bench", "email": "bench@example.com", "password": skycast_tests::PASSWORD});
    let reg = request(addr, "POST", "/api/auth/register", None, Some(&body)).await?;
    let token = reg.body["access_token"].as_str().context("a token")?.to_owned();
    let s = request(
        addr,
        "POST",
        "/api/streams",
        Some(&token),
        Some(&json!({"title": "latency", "latency": mode.latency})),
    )
    .await?;
    let id = s.body["id"].as_str().context("a stream")?.to_owned();
    let rtmp = &s.body["ingest"]["rtmp"];
    let target =
        format!("{}/{}", rtmp["server"].as_str().context("server")?, rtmp["stream_key"].as_str().context("key")?);
    let mut publisher = Command::new("ffmpeg");
    publisher.args(source(120, mode)).args(["-f", "flv", &target]);
    let _publisher = quiet(&mut publisher).spawn()?;
    let live = skycast_tests::eventually(Duration::from_secs(30), || async {
        let r = request(addr, "GET", &format!("/api/streams/{id}"), None, None).await.ok()?;
        (r.body["status"] == "live").then_some(())
    })
    .await;
    if live.is_none() {
        bail!("the stream did not go live");
    }
    // A few segments in the window, as a viewer arriving mid-stream finds.
    tokio::time::sleep(Duration::from_secs(3 * u64::from(mode.segment_s))).await;
    measure(repo, "skycast", &format!("http://{addr}/live/{id}")).await
}

async fn baseline(repo: &Path, page_origin: &str, mode: &Mode) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let dir = std::env::temp_dir().join(format!("skycast-bench-web-hls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let mut ffmpeg = Command::new("ffmpeg");
    ffmpeg
        .args(source(120, mode))
        .args(["-f", "hls", "-hls_time", &mode.segment_s.to_string(), "-hls_list_size", "0"])
        .args(["-hls_segment_type", "fmp4", "-hls_flags", "program_date_time+independent_segments"])
        .arg(dir.join("index.m3u8"));
    let _ffmpeg = quiet(&mut ffmpeg).spawn()?;
    let served = static_server(dir.clone()).await?;
    let started = Instant::now();
    while !dir.join("index.m3u8").exists() || started.elapsed() < Duration::from_secs(3 * u64::from(mode.segment_s) + 2)
    {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("ffmpeg wrote no playlist");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let src = format!("http://{served}/index.m3u8");
    let url =
        format!("{page_origin}/embed?latency={}&src={}", mode.latency, src.replace(':', "%3A").replace('/', "%2F"));
    let measured = measure(repo, "baseline", &url).await;
    let _ = std::fs::remove_dir_all(&dir);
    measured
}

/// Runs one mode, Skycast then its baseline, and prints its figures.
async fn run_mode(repo: &Path, mode: &Mode, target_s: f64) -> anyhow::Result<()> {
    let (sky_first, sky_latency) = skycast(repo, mode).await?;
    // The baseline's page comes from a stack too (the same app), started anew
    // so the two never share the machine.
    let stack = start_stack(repo).await?;
    let (base_first, base_latency) = baseline(repo, &format!("http://{}", stack.addr), mode).await?;
    drop(stack);
    println!(
        "\n## {} latency, {} s segments: glass to glass (time shown − publisher clock drawn in the frame)",
        mode.latency, mode.segment_s
    );
    println!("{:<58} {:>8} {:>8}", "", "p50 s", "p95 s");
    for (name, v) in [
        ("Skycast: RTMP → node (ladder) → S3 → app player", &sky_latency),
        ("baseline: ffmpeg → HLS on local disk → same player", &base_latency),
    ] {
        println!("{:<58} {:>8.2} {:>8.2}", name, pct(v, 0.5) / 1000.0, pct(v, 0.95) / 1000.0);
    }
    println!(
        "added by Skycast: p50 {:+.2} s, p95 {:+.2} s (target ≤ +0.5 s); Skycast p50 {:.2} s (target ≤ {target_s} s)",
        (pct(&sky_latency, 0.5) - pct(&base_latency, 0.5)) / 1000.0,
        (pct(&sky_latency, 0.95) - pct(&base_latency, 0.95)) / 1000.0,
        pct(&sky_latency, 0.5) / 1000.0,
    );
    println!("first frame (navigation → first frame playing, page load included)");
    println!("{:<58} {:>8} {:>8}", "", "p50 ms", "max ms");
    for (name, v) in [("Skycast live page", &sky_first), ("baseline (embed page, static HLS)", &base_first)] {
        println!("{:<58} {:>8.0} {:>8.0}", name, pct(v, 0.5), v.last().copied().unwrap_or(f64::NAN));
    }
    println!(
        "Skycast first frame p50 vs baseline: {:.2}× (target p50 ≤ 1000 ms)",
        pct(&sky_first, 0.5) / pct(&base_first, 0.5)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("repo")?.to_owned();
    if !repo.join("web/dist/index.html").exists() {
        bail!("web/dist is not built: `make bench` builds it");
    }
    println!("# Skycast web benchmarks (Chromium, hls.js)");
    // One mode alone with SKYCAST_BENCH_LATENCY=standard|low.
    let only = std::env::var("SKYCAST_BENCH_LATENCY").ok();
    for (mode, target_s) in MODES.iter().zip([5.0, 3.0]) {
        if only.as_deref().is_none_or(|o| o == mode.latency) {
            run_mode(&repo, mode, target_s).await?;
        }
    }
    Ok(())
}
