//! `make bench`, ingest part: figures with a baseline from the same run.
//!
//! N concurrent passthrough streams (default 30, 50, 60; `BENCH_STREAMS=a,b`)
//! published by ffmpeg in copy mode from one pre-encoded file, all to the
//! node's one SRT port, into the emulator as S3. Reported:
//! - segment finished by ffmpeg → stored in S3, p50/p95/max, vs N direct
//!   PutObjects of the same size per 2 s on the same emulator: the same load
//!   without the node (target p95 ≤ 150 ms). Publishers go live over 10 s,
//!   their segment boundaries evenly spread, as independent streams' are;
//! - segment finished → named by a stored playlist, p50/p95;
//! - node CPU per stream, ffmpeg excluded, now that the node terminates SRT
//!   itself, vs srt-live-transmit receiving the same N streams (target ≤ 1.5×);
//! - whether every segment was in S3 within 1 s (the capacity criterion:
//!   target ≥ 50 streams on one port);
//! - media end → listed in the S3 playlist for one stream over SRT, vs the
//!   same publish into ffmpeg alone writing HLS to local disk (target ≤ +150 ms),
//!   and publish → live (the first segment listed) the same way;
//! - FFmpeg's CPU per stream for each profile, from a 720p30 publisher, vs
//!   the previous default ladder (720p/480p/360p, veryfast, AAC re-encoded)
//!   run by plain ffmpeg on the same file (target: ladder ≤ 0.2 cores).

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use skycast_ingest::{
    node::{Notice, SessionEvent},
    profile::Profile,
};
use skycast_tests::node_rig::NodeRig;

fn pct(sorted: &[f32], p: f64) -> f32 {
    if sorted.is_empty() {
        return f32::NAN;
    }
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

/// A process's parent and CPU ticks (user + system, 1/100 s), from
/// `/proc/<pid>/stat`; `pid` may be `self`.
fn proc_stat(pid: &str) -> Option<(u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces and ends with ')'.
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let parent = fields.get(1)?.parse().ok()?;
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((parent, ticks))
}

/// CPU seconds this process has used (user + system), children excluded.
fn own_cpu_seconds() -> f64 {
    proc_stat("self").map_or(0.0, |(_, ticks)| ticks as f64 / 100.0)
}

/// A node on the emulator with a fresh live bucket and its own ports.
async fn bench_node(reconnect_window: Duration) -> NodeRig {
    NodeRig::start(|c| {
        c.spool_dir = std::env::temp_dir().join(format!("skycast-bench-spool-{}", skycast_tests::unique_prefix()));
        c.reconnect_window = reconnect_window;
    })
    .await
}

/// The session a publisher just started: its stream and session ids.
async fn next_session(rig: &mut NodeRig) -> anyhow::Result<(String, String)> {
    loop {
        match tokio::time::timeout(Duration::from_secs(20), rig.events.recv()).await {
            Ok(Some(Notice { stream_id, session_id, event: SessionEvent::Waiting })) => {
                return Ok((stream_id, session_id));
            }
            Ok(Some(_)) => {}
            _ => anyhow::bail!("no session started"),
        }
    }
}

async fn source_file(seconds: u32) -> anyhow::Result<PathBuf> {
    let path = std::env::temp_dir().join(format!("skycast-bench-{seconds}s.ts"));
    if !path.exists() {
        let status = tokio::process::Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=1280x720:rate=30",
                "-f",
                "lavfi",
                "-i",
                "sine",
            ])
            .args([
                "-t",
                &seconds.to_string(),
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-b:v",
                "3000k",
                "-g",
                "60",
                "-keyint_min",
                "60",
                "-sc_threshold",
                "0",
            ])
            .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "mpegts"])
            .arg(&path)
            .status()
            .await?;
        anyhow::ensure!(status.success(), "cannot make the source file");
    }
    Ok(path)
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").map(|s| s.local_addr().map(|a| a.port()).unwrap_or(0)).unwrap_or(0)
}

/// The same load shape without the node: every segment period, one PUT of
/// `size` bytes per stream, spread evenly over the period as the streams'
/// segments are; 5 periods.
async fn baseline_put(s3: &aws_sdk_s3::Client, bucket: &str, size: usize, streams: usize) -> anyhow::Result<Vec<f32>> {
    let body = bytes::Bytes::from(vec![7u8; size]);
    let start = tokio::time::Instant::now();
    let tasks: Vec<_> = (0..5 * streams)
        .map(|i| {
            let (s3, bucket, body) = (s3.clone(), bucket.to_owned(), body.clone());
            tokio::spawn(async move {
                tokio::time::sleep_until(start + stagger(i, streams)).await;
                let t = Instant::now();
                s3.put_object()
                    .bucket(bucket)
                    .key(format!("baseline/{i}"))
                    .body(body.into())
                    .send()
                    .await
                    .map(|_| t.elapsed())
            })
        })
        .collect();
    let mut times = Vec::new();
    for t in tasks {
        times.push(t.await??.as_secs_f32() * 1000.0);
    }
    times.sort_by(f32::total_cmp);
    Ok(times)
}

/// When the `i`-th of `streams` starts within a 2 s segment period: evenly
/// spread, as independent streams' segment boundaries are. Publishers that
/// all start in one instant would measure 40 ffmpeg start-ups at once and
/// segments finishing in lockstep, which no real node sees.
fn stagger(i: usize, streams: usize) -> Duration {
    let period = Duration::from_secs(2);
    (period / streams.max(1) as u32) * (i % streams.max(1)) as u32 + period * (i / streams.max(1)) as u32
}

/// Publishers go live over this many segment periods (10 s), in a random
/// order of phases. Fifty encoders starting within one period on this one
/// machine measured a hundred process start-ups (theirs and the node's
/// FFmpegs) starving everything, which is neither a node's steady state nor
/// how streamers arrive.
const RAMP_PERIODS: u32 = 5;

/// When each of `streams` publishers starts, in order: phases evenly spread
/// over a segment period ([`stagger`]), starts over [`RAMP_PERIODS`].
fn ramp(streams: usize) -> Vec<Duration> {
    let mut at: Vec<Duration> =
        (0..streams).map(|i| stagger(i, streams) + Duration::from_secs(2) * (i as u32 % RAMP_PERIODS)).collect();
    at.sort();
    at
}

async fn run(streams: usize, source: &std::path::Path, seconds: u32) -> anyhow::Result<()> {
    let mut rig = bench_node(Duration::from_secs(1)).await;
    let mut urls = Vec::new();
    for _ in 0..streams {
        let (_, key) = rig.add_stream(Profile::Source);
        urls.push(rig.srt_url(&key));
    }
    let cpu0 = own_cpu_seconds();
    let wall0 = Instant::now();
    let mut publishers = Vec::new();
    let start = tokio::time::Instant::now();
    for (url, at) in urls.iter().zip(ramp(streams)) {
        tokio::time::sleep_until(start + at).await;
        publishers.push(skycast_tests::encoder::obs_from_file(url, source).spawn()?);
    }
    let mut failed = 0;
    for mut p in publishers {
        if !p.wait().await?.success() {
            failed += 1;
        }
    }
    let (cpu, wall) = (own_cpu_seconds() - cpu0, wall0.elapsed().as_secs_f64());
    let mut summaries = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while summaries.len() < streams && Instant::now() < deadline {
        if let Ok(Some(Notice { event: SessionEvent::Ended(s), .. })) =
            tokio::time::timeout(Duration::from_secs(1), rig.events.recv()).await
        {
            summaries.push(s);
        }
    }
    let mut stored: Vec<f32> =
        summaries.iter().flat_map(|s| s.renditions.iter().flat_map(|(_, r)| r.stored_ms.clone())).collect();
    let mut listed: Vec<f32> =
        summaries.iter().flat_map(|s| s.renditions.iter().flat_map(|(_, r)| r.listed_ms.clone())).collect();
    stored.sort_by(f32::total_cmp);
    listed.sort_by(f32::total_cmp);
    let bytes: u64 = summaries.iter().flat_map(|s| s.renditions.iter().map(|(_, r)| r.bytes)).sum();
    let avg_segment = if stored.is_empty() { 0 } else { bytes as usize / stored.len() };
    let baseline = baseline_put(&rig.s3, &rig.bucket, avg_segment.max(1), streams).await?;
    let segments_expected = streams * (seconds as usize / 2);
    println!(
        "\n## {streams} passthrough streams × {seconds} s (publishers failed: {failed}; sessions ended: {}; segments {}/~{segments_expected})",
        summaries.len(),
        stored.len()
    );
    println!("{:<44} {:>9} {:>9} {:>9}", "", "p50 ms", "p95 ms", "max ms");
    println!(
        "{:<44} {:>9.1} {:>9.1} {:>9.1}",
        "segment finished → stored in S3",
        pct(&stored, 0.5),
        pct(&stored, 0.95),
        stored.last().copied().unwrap_or(f32::NAN)
    );
    println!(
        "{:<44} {:>9.1} {:>9.1} {:>9.1}",
        "segment finished → named by a stored playlist",
        pct(&listed, 0.5),
        pct(&listed, 0.95),
        listed.last().copied().unwrap_or(f32::NAN)
    );
    println!(
        "{:<44} {:>9.1} {:>9.1} {:>9.1}",
        format!("baseline: {streams} PutObject of {} KB per 2 s", avg_segment / 1024),
        pct(&baseline, 0.5),
        pct(&baseline, 0.95),
        baseline.last().copied().unwrap_or(f32::NAN)
    );
    println!(
        "stored p95 vs baseline p95: {:.2}×; every segment stored within 1 s: {}",
        pct(&stored, 0.95) / pct(&baseline, 0.95),
        stored.last().is_some_and(|m| *m <= 1000.0)
    );
    println!(
        "node CPU (this process, ffmpeg excluded): {:.3} cores over {:.1} s = {:.4} cores/stream",
        cpu / wall,
        wall,
        cpu / wall / streams as f64
    );
    rig.node.shutdown(Duration::from_secs(60)).await;
    let relay = relay_cores(streams, source).await?;
    let node_per_stream = cpu / wall / streams as f64;
    println!(
        "baseline: srt-live-transmit relaying the same {streams} streams: {relay:.4} cores/stream; node vs it: {:.2}× (target ≤ 1.5×; before one port: 0.002 cores/stream without terminating SRT)",
        node_per_stream / relay
    );
    Ok(())
}

/// Cores per stream srt-live-transmit (libsrt's own relay) uses receiving
/// `streams` publishes of `source` at once, each on its own listener, to
/// nowhere: the cost of terminating SRT alone.
async fn relay_cores(streams: usize, source: &std::path::Path) -> anyhow::Result<f64> {
    let mut relays = Vec::new();
    let mut urls = Vec::new();
    for _ in 0..streams {
        let port = free_udp_port();
        let mut relay = tokio::process::Command::new("srt-live-transmit");
        relay
            .args(["-q".to_owned(), format!("srt://127.0.0.1:{port}?mode=listener"), "file://con".to_owned()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        relays.push(relay.spawn()?);
        urls.push(format!("srt://127.0.0.1:{port}"));
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // the relays listen
    let started = Instant::now();
    let mut publishers = Vec::new();
    let start = tokio::time::Instant::now();
    for (url, at) in urls.iter().zip(ramp(streams)) {
        tokio::time::sleep_until(start + at).await;
        publishers.push(skycast_tests::encoder::obs_from_file(url, source).spawn()?);
    }
    let mut seen = std::collections::HashMap::new();
    for mut p in publishers {
        loop {
            sample_children("srt-live-transmit", &mut seen);
            if let Ok(status) = tokio::time::timeout(Duration::from_millis(250), p.wait()).await {
                status?;
                break;
            }
        }
    }
    sample_children("srt-live-transmit", &mut seen);
    let wall = started.elapsed().as_secs_f64();
    for mut r in relays {
        let _ = r.kill().await;
    }
    Ok(seen.values().sum::<u64>() as f64 / 100.0 / wall / streams as f64)
}

/// CPU ticks of each process whose parent is this one and whose command
/// line contains `needle`, as last seen (a process's ticks only grow).
fn sample_children(needle: &str, seen: &mut std::collections::HashMap<u32, u64>) {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else { return };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(pid) = name.parse::<u32>() else { continue };
        let Some((parent, ticks)) = proc_stat(&name) else { continue };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if parent == me && String::from_utf8_lossy(&cmdline).contains(needle) {
            seen.insert(pid, ticks);
        }
    }
}

/// Cores the node's FFmpeg listener used while one stream of `profile`
/// was published in real time from `source`.
async fn profile_cores(profile: Profile, source: &std::path::Path) -> anyhow::Result<f64> {
    let rig = bench_node(Duration::from_secs(1)).await;
    let (_, key) = rig.add_stream(profile);
    let url = rig.srt_url(&key);
    let started = Instant::now();
    let mut publisher = skycast_tests::encoder::obs_from_file(&url, source).spawn()?;
    let mut seen = std::collections::HashMap::new();
    loop {
        sample_children("/ingest/", &mut seen);
        if let Ok(Ok(status)) = tokio::time::timeout(Duration::from_millis(250), publisher.wait()).await {
            anyhow::ensure!(status.success(), "the publisher failed");
            break;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    rig.node.shutdown(Duration::from_secs(60)).await;
    Ok(seen.values().sum::<u64>() as f64 / 100.0 / wall)
}

/// The previous default ladder, by plain ffmpeg from the same file in real
/// time to local disk: the baseline the ladder profile is measured against.
async fn old_ladder_cores(source: &std::path::Path) -> anyhow::Result<f64> {
    let out = std::env::temp_dir().join(format!("skycast-bench-oldladder-{}", std::process::id()));
    std::fs::create_dir_all(&out)?;
    let filter =
        "[0:v]split=3[v0][v1][v2];[v0]scale=w=1280:h=720[o0];[v1]scale=w=854:h=480[o1];[v2]scale=w=640:h=360[o2]";
    let started = Instant::now();
    let mut child = tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-i"])
        .arg(source)
        .args(["-filter_complex", filter])
        .args(["-map", "[o0]", "-map", "0:a", "-map", "[o1]", "-map", "0:a", "-map", "[o2]", "-map", "0:a"])
        .args(["-b:v:0", "2800k", "-b:v:1", "1200k", "-b:v:2", "700k", "-c:v", "libx264", "-preset", "veryfast"])
        .args(["-profile:v", "main", "-pix_fmt", "yuv420p", "-sc_threshold", "0"])
        .args(["-force_key_frames", "expr:gte(t,n_forced*2)", "-c:a", "aac", "-ac", "2"])
        .args(["-var_stream_map", "v:0,a:0 v:1,a:1 v:2,a:2", "-f", "hls", "-hls_time", "2"])
        .args(["-hls_segment_type", "fmp4", "-hls_playlist_type", "event", "-hls_segment_filename"])
        .arg(out.join("%v_%06d.m4s"))
        .arg(out.join("%v.m3u8"))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().unwrap_or(0).to_string();
    let mut ticks = 0;
    loop {
        if let Some((_, t)) = proc_stat(&pid) {
            ticks = t;
        }
        if let Ok(status) = tokio::time::timeout(Duration::from_millis(250), child.wait()).await {
            anyhow::ensure!(status?.success(), "the baseline ffmpeg failed");
            break;
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    Ok(ticks as f64 / 100.0 / started.elapsed().as_secs_f64())
}

/// When each segment of a playlist was first seen, by its media end time:
/// `(cumulative end in s, seen at)`. `fetch` returns the playlist text.
fn note_listed(text: &str, seen: &mut Vec<(f64, Instant)>) {
    let mut end = 0.0;
    let mut k = 0;
    for line in text.lines() {
        if let Some(d) = line.strip_prefix("#EXTINF:") {
            end += d.trim_end_matches(',').parse::<f64>().unwrap_or(0.0);
            if k == seen.len() {
                seen.push((end, Instant::now()));
            }
            k += 1;
        }
    }
}

/// Seconds from each segment's media end (publisher start + its end time,
/// in real time under -re) to its listing; the first segment is left out
/// (it carries the publisher's connection set-up).
fn lateness(publisher_start: Instant, seen: &[(f64, Instant)]) -> Vec<f32> {
    let mut v: Vec<f32> = seen
        .iter()
        .skip(1)
        .map(|(end, at)| (at.duration_since(publisher_start).as_secs_f64() - end) as f32 * 1000.0)
        .collect();
    v.sort_by(f32::total_cmp);
    v
}

/// Media end → listed: one passthrough stream published over SRT through the
/// node into S3, against the same publish into ffmpeg alone writing HLS to
/// local disk.
async fn media_end_to_listed(source: &std::path::Path) -> anyhow::Result<(Vec<f32>, Vec<f32>)> {
    // Baseline: the same SRT publish into a plain ffmpeg listener that
    // writes HLS to local disk, its playlist polled.
    let dir = std::env::temp_dir().join(format!("skycast-bench-local-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (port, key) = (free_udp_port(), skycast_core::stream::new_stream_key());
    let mut listener = tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
        .arg(format!("srt://127.0.0.1:{port}?mode=listener&transtype=live&pbkeylen=16&passphrase={key}"))
        .args(["-map", "0:v:0", "-map", "0:a:0?", "-c", "copy", "-bsf:a", "aac_adtstoasc", "-f", "hls"])
        .args(["-hls_time", "2", "-hls_segment_type", "fmp4", "-hls_playlist_type", "event"])
        .arg(dir.join("index.m3u8"))
        // It reports the publisher leaving with its URL, passphrase and all.
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    tokio::time::sleep(Duration::from_millis(500)).await; // the listener binds
    let started = Instant::now();
    let url = format!("srt://127.0.0.1:{port}?passphrase={key}&pbkeylen=16");
    let _publisher = skycast_tests::encoder::obs_from_file(&url, source).spawn()?;
    let mut seen = Vec::new();
    loop {
        note_listed(&std::fs::read_to_string(dir.join("index.m3u8")).unwrap_or_default(), &mut seen);
        if let Ok(status) = tokio::time::timeout(Duration::from_millis(5), listener.wait()).await {
            anyhow::ensure!(status?.success(), "the baseline listener failed");
            break;
        }
    }
    seen.pop(); // cut when the publisher left, not at a keyframe
    let baseline = lateness(started, &seen);
    let _ = std::fs::remove_dir_all(&dir);

    // The node: SRT in, S3 out, its playlist polled in the bucket.
    let mut rig = bench_node(Duration::from_secs(60)).await;
    let (_, key) = rig.add_stream(Profile::Source);
    let url = rig.srt_url(&key);
    let started = Instant::now();
    let mut publisher = skycast_tests::encoder::obs_from_file(&url, source).spawn()?;
    let (stream_id, session_id) = next_session(&mut rig).await?;
    let playlist = format!("live/{stream_id}/{session_id}/source/index.m3u8");
    let (s3, bucket) = (rig.s3.clone(), rig.bucket.clone());
    let mut seen = Vec::new();
    let mut done_at = None;
    while done_at.is_none_or(|t: Instant| t.elapsed() < Duration::from_secs(1)) {
        if let Ok(out) = s3.get_object().bucket(&bucket).key(&playlist).send().await
            && let Ok(body) = out.body.collect().await
        {
            note_listed(&String::from_utf8_lossy(&body.into_bytes()), &mut seen);
        }
        if done_at.is_none() && matches!(publisher.try_wait(), Ok(Some(_))) {
            done_at = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    rig.node.stop_session(&session_id).await;
    seen.pop(); // cut when the publisher left, not at a keyframe
    if std::env::var_os("BENCH_VERBOSE").is_some() {
        eprintln!("node lateness per segment (ms): {:?}", lateness(started, &seen));
    }
    Ok((lateness(started, &seen), baseline))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds = 20;
    let source = source_file(seconds).await?;
    let counts: Vec<usize> = std::env::var("BENCH_STREAMS")
        .unwrap_or_else(|_| "30,50,60".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    println!("# Skycast ingest benchmarks ({} build)", if cfg!(debug_assertions) { "debug" } else { "release" });
    if std::env::var("EXP_ONLY").is_ok() {
        for n in counts.clone() {
            run(n, &source, seconds).await?;
        }
        return Ok(());
    }
    if std::env::var("EXP_ONLY").is_ok() {
        for n in counts.clone() {
            run(n, &source, seconds).await?;
        }
        return Ok(());
    }
    println!("\n## Media end → listed, one passthrough stream ({seconds} s, real time)");
    let (node, local) = media_end_to_listed(&source).await?;
    println!("{:<50} {:>9} {:>9} {:>9}", "", "p50 ms", "p95 ms", "max ms");
    for (name, v) in [("SRT → node → S3 playlist", &node), ("baseline: SRT → ffmpeg alone → local disk", &local)]
    {
        println!(
            "{:<50} {:>9.0} {:>9.0} {:>9.0}",
            name,
            pct(v, 0.5),
            pct(v, 0.95),
            v.last().copied().unwrap_or(f32::NAN)
        );
    }
    println!(
        "added by the node and S3: p50 {:+.0} ms, p95 {:+.0} ms (target ≤ +150 ms)",
        pct(&node, 0.5) - pct(&local, 0.5),
        pct(&node, 0.95) - pct(&local, 0.95)
    );
    // The first segment's lateness is publish → live: the first segment listed.
    let (first_node, first_local) =
        (node.first().copied().unwrap_or(f32::NAN), local.first().copied().unwrap_or(f32::NAN));
    println!(
        "publish → live (first segment listed): node {first_node:.0} ms, baseline {first_local:.0} ms: {:+.0} ms",
        first_node - first_local
    );
    for n in counts {
        run(n, &source, seconds).await?;
    }
    println!("\n## FFmpeg CPU per stream, by profile (720p30 source at 3 Mbps, {seconds} s in real time)");
    let source_cores = profile_cores(Profile::Source, &source).await?;
    let ladder_cores = profile_cores(Profile::Ladder, &source).await?;
    let old = old_ladder_cores(&source).await?;
    println!("{:<58} {:>7.3} cores", "source (copy; keyframes decoded for thumbnails)", source_cores);
    println!("{:<58} {:>7.3} cores (target ≤ 0.2)", "ladder (source + 480p + 360p)", ladder_cores);
    println!("{:<58} {:>7.3} cores", "baseline: previous ladder (720p/480p/360p veryfast), ffmpeg", old);
    println!("ladder vs baseline: {:.2}×", ladder_cores / old);
    Ok(())
}
