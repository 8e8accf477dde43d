//! `make bench`, ingest part: figures with a baseline from the same run.
//!
//! N concurrent passthrough streams (default 20, then 40; `BENCH_STREAMS=a,b`)
//! published by ffmpeg in copy mode from one pre-encoded file, into the node,
//! into the emulator as S3. Reported:
//! - segment finished by ffmpeg → stored in S3, p50/p95/max, vs bursts of N
//!   direct PutObjects of the same size at once on the same emulator: the
//!   same load without the node (target p95 ≤ 150 ms);
//! - segment finished → named by a stored playlist, p50/p95;
//! - node CPU per stream, ffmpeg excluded (target ≤ 0.005 cores/stream);
//! - whether every segment was in S3 within 1 s (the capacity criterion).

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use skycast_ingest::{
    config::NodeConfig,
    node::{Node, SessionEvent, SessionSpec},
    profile::Profile,
    store::S3Store,
};

fn pct(sorted: &[f32], p: f64) -> f32 {
    if sorted.is_empty() {
        return f32::NAN;
    }
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

/// CPU seconds this process has used (user + system), children excluded.
fn own_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0
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

/// The same load shape without the node: bursts of `concurrent` PUTs of
/// `size` bytes at once (the streams' segments finish together), 5 bursts.
async fn baseline_put(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    size: usize,
    concurrent: usize,
) -> anyhow::Result<Vec<f32>> {
    let body = bytes::Bytes::from(vec![7u8; size]);
    let mut times = Vec::new();
    for burst in 0..5 {
        let tasks: Vec<_> = (0..concurrent)
            .map(|i| {
                let (s3, bucket, body) = (s3.clone(), bucket.to_owned(), body.clone());
                tokio::spawn(async move {
                    let t = Instant::now();
                    s3.put_object()
                        .bucket(bucket)
                        .key(format!("baseline/{burst}/{i}"))
                        .body(body.into())
                        .send()
                        .await
                        .map(|_| t.elapsed())
                })
            })
            .collect();
        for t in tasks {
            times.push(t.await??.as_secs_f32() * 1000.0);
        }
    }
    times.sort_by(f32::total_cmp);
    Ok(times)
}

async fn run(streams: usize, source: &std::path::Path, seconds: u32) -> anyhow::Result<()> {
    let prefix = skycast_tests::unique_prefix();
    let sdk = skycast_tests::sdk_config().await;
    let s3 = skycast_dev::sdk::s3(&sdk);
    let mut config = NodeConfig::with_prefix(&prefix);
    config.spool_dir = std::env::temp_dir().join(format!("skycast-bench-spool-{prefix}"));
    config.reconnect_window = Duration::from_secs(1);
    s3.create_bucket().bucket(&config.live_bucket).send().await?;
    let bucket = config.live_bucket.clone();
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let node = Node::start(config, Arc::new(S3Store::new(s3.clone(), bucket.clone())), tx).await?;
    let mut keys = Vec::new();
    for _ in 0..streams {
        let key = skycast_core::stream::new_stream_key();
        let spec = SessionSpec {
            stream_id: skycast_core::ids::new_id(),
            session_id: skycast_core::ids::new_id(),
            port: free_udp_port(),
            protocol: skycast_core::stream::Protocol::Srt,
            stream_key: key.clone(),
            profile: Profile::Source,
        };
        node.start_session(spec.clone()).await?;
        keys.push((spec, key));
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // listeners bind; publishers retry anyway
    let cpu0 = own_cpu_seconds();
    let wall0 = Instant::now();
    let mut publishers = Vec::new();
    for (spec, key) in &keys {
        let url = format!("srt://127.0.0.1:{}?passphrase={key}&pbkeylen=16", spec.port);
        publishers.push(skycast_tests::encoder::obs_from_file(&url, source).spawn()?);
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
        if let Ok(Some(skycast_ingest::node::Notice { event: SessionEvent::Ended(s), .. })) =
            tokio::time::timeout(Duration::from_secs(1), events.recv()).await
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
    let baseline = baseline_put(&s3, &bucket, avg_segment.max(1), streams).await?;
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
        format!("baseline: {streams} PutObject of {} KB at once", avg_segment / 1024),
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
        "node CPU (this process, ffmpeg excluded): {:.3} cores over {:.1} s = {:.4} cores/stream (target ≤ 0.005)",
        cpu / wall,
        wall,
        cpu / wall / streams as f64
    );
    node.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds = 20;
    let source = source_file(seconds).await?;
    let counts: Vec<usize> = std::env::var("BENCH_STREAMS")
        .unwrap_or_else(|_| "20,40".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    println!("# Skycast ingest benchmarks ({} build)", if cfg!(debug_assertions) { "debug" } else { "release" });
    for n in counts {
        run(n, &source, seconds).await?;
    }
    Ok(())
}
