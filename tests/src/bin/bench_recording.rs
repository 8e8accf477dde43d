//! `make bench`, recording part: figures with a baseline from the same run.
//!
//! - Assembly: the same 720p fMP4 HLS of 1, 10 and 60 minutes (made here by
//!   ffmpeg: one minute encoded at 6 Mbit/s, then looped with `-c copy`),
//!   turned into a faststart MP4 by the recorder's code (`skycast-assemble`)
//!   and by `ffmpeg -i index.m3u8 -c copy -movflags +faststart`, both from
//!   the page cache: throughput (MB of segments per second), the ratio, and
//!   each process's peak RSS (targets: ≥ 1.0× ffmpeg's throughput; ≤ 32 MB,
//!   flat from 1 to 60 minutes).
//! - Stream end → video ready: a 10-minute session in the emulator's S3,
//!   recorded and catalogued in-process, against a plain copy of the same
//!   bytes through the same endpoint (GET every segment, one multipart
//!   upload of them): target ≤ 1.5×.
//!
//! `BENCH_RECORDING_MINUTES=1,10,60` picks the assembly lengths;
//! `BENCH_S3_MINUTES=10` the S3 session's. Media is kept in
//! `target/bench-media/` between runs.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::json;
use skycast_core::{events::RecordingJob, ids, recording::mp4_key, timefmt};
use skycast_recorder::{QueueDefault, Recorder, s3::S3Media};

/// Wall time and peak RSS (bytes) of a child process.
fn run_measured(cmd: &mut Command) -> anyhow::Result<(Duration, u64)> {
    let start = Instant::now();
    let child = cmd.stdout(std::process::Stdio::null()).spawn().context("spawn")?;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value to be overwritten.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child, with valid pointers.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let elapsed = start.elapsed();
    if pid < 0 || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("{cmd:?} failed ({status})");
    }
    Ok((elapsed, usage.ru_maxrss as u64 * 1024))
}

fn ffmpeg(args: &[&str]) -> anyhow::Result<()> {
    let status =
        Command::new("ffmpeg").args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"]).args(args).status()?;
    if !status.success() {
        bail!("ffmpeg {args:?} failed");
    }
    Ok(())
}

/// A `minutes`-long CMAF HLS rendition as the node stores it, made once.
fn session(media: &Path, minutes: u32) -> anyhow::Result<PathBuf> {
    let dir = media.join(format!("{minutes}min"));
    if dir.join("index.m3u8").exists() {
        return Ok(dir);
    }
    // Matroska, not MPEG-TS: its AAC needs no ADTS filter, which drops
    // every packet after the first loop of `-stream_loop`.
    let source = media.join("one-minute-720p.mkv");
    if !source.exists() {
        println!("  encoding one minute of 720p30 at 6 Mbit/s…");
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "60",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "6M",
            "-maxrate",
            "6M",
            "-bufsize",
            "12M",
            "-g",
            "60",
            "-keyint_min",
            "60",
            "-sc_threshold",
            "0",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-f",
            "matroska",
            &source.to_string_lossy(),
        ])?;
    }
    println!("  making the {minutes}-minute session…");
    let partial = media.join(format!("{minutes}min.partial"));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial)?;
    let loops = (minutes - 1).to_string();
    ffmpeg(&[
        "-stream_loop",
        &loops,
        "-i",
        &source.to_string_lossy(),
        "-c",
        "copy",
        "-f",
        "hls",
        "-hls_time",
        "2",
        "-hls_segment_type",
        "fmp4",
        "-hls_playlist_type",
        "vod",
        "-hls_fmp4_init_filename",
        "init.mp4",
        "-hls_segment_filename",
        &partial.join("seg_%06d.m4s").to_string_lossy(),
        &partial.join("index.m3u8").to_string_lossy(),
    ])?;
    std::fs::rename(&partial, &dir)?;
    Ok(dir)
}

fn folder_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(dir)? {
        total += e?.metadata()?.len();
    }
    Ok(total)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn assembly(media: &Path, minutes: &[u32]) -> anyhow::Result<()> {
    let ours = std::env::current_exe()?.with_file_name("skycast-assemble");
    println!("\n## Assembly of a 720p fMP4 HLS into a faststart MP4, from the page cache (best of 2, interleaved)");
    println!("  targets: throughput ≥ 1.0× ffmpeg -c copy; peak RSS ≤ 32 MB, flat with length");
    println!(
        "{:>7} {:>9} {:>12} {:>12} {:>8} {:>10} {:>10}",
        "minutes", "input MB", "ours MB/s", "ffmpeg MB/s", "ratio", "ours RSS", "ffmpeg RSS"
    );
    for &m in minutes {
        let dir = session(media, m)?;
        let input = folder_bytes(&dir)?;
        let out_ours = media.join("out-ours.mp4");
        let out_ffmpeg = media.join("out-ffmpeg.mp4");
        // Warm the page cache, as both runs after it read from it.
        run_measured(Command::new(&ours).arg(&dir).arg(&out_ours))?;
        let (mut best_ours, mut best_ffmpeg) = ((Duration::MAX, 0), (Duration::MAX, 0));
        for _ in 0..2 {
            let r = run_measured(Command::new(&ours).arg(&dir).arg(&out_ours))?;
            best_ours = (best_ours.0.min(r.0), best_ours.1.max(r.1));
            let _ = std::fs::remove_file(&out_ours);
            let r = run_measured(
                Command::new("ffmpeg")
                    .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i"])
                    .arg(dir.join("index.m3u8"))
                    .args(["-c", "copy", "-movflags", "+faststart"])
                    .arg(&out_ffmpeg),
            )?;
            best_ffmpeg = (best_ffmpeg.0.min(r.0), best_ffmpeg.1.max(r.1));
            let _ = std::fs::remove_file(&out_ffmpeg);
        }
        let ours_rate = mb(input) / best_ours.0.as_secs_f64();
        let ffmpeg_rate = mb(input) / best_ffmpeg.0.as_secs_f64();
        println!(
            "{:>7} {:>9.0} {:>12.0} {:>12.0} {:>7.2}× {:>8.1} MB {:>8.1} MB",
            m,
            mb(input),
            ours_rate,
            ffmpeg_rate,
            ours_rate / ffmpeg_rate,
            mb(best_ours.1),
            mb(best_ffmpeg.1)
        );
    }
    Ok(())
}

/// Stores a rendition folder under `prefix/` in `bucket`, a few objects at once.
async fn upload(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str, dir: &Path) -> anyhow::Result<()> {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    stream::iter(files)
        .map(|path| async move {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let body = tokio::fs::read(&path).await?;
            s3.put_object().bucket(bucket).key(format!("{prefix}/{name}")).body(body.into()).send().await?;
            anyhow::Ok(())
        })
        .buffer_unordered(8)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

/// The baseline: the same segments read from S3 and written back as one
/// object with a multipart upload, the plainest copy of the same bytes.
async fn plain_copy(s3: &aws_sdk_s3::Client, from: &str, prefix: &str, to: &str, key: &str) -> anyhow::Result<u64> {
    let mut names = Vec::new();
    let mut pages = s3.list_objects_v2().bucket(from).prefix(format!("{prefix}/")).into_paginator().send();
    while let Some(page) = pages.next().await {
        names.extend(page?.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
    }
    names.sort();
    let upload = s3.create_multipart_upload().bucket(to).key(key).send().await?;
    let id = upload.upload_id().unwrap_or_default().to_owned();
    let mut reads = stream::iter(names)
        .map(|k| async move {
            anyhow::Ok(s3.get_object().bucket(from).key(k).send().await?.body.collect().await?.into_bytes())
        })
        .buffered(3);
    let (mut part, mut parts, mut total) = (Vec::with_capacity(6 << 20), Vec::new(), 0u64);
    loop {
        let next = reads.next().await.transpose()?;
        if let Some(bytes) = &next {
            part.extend_from_slice(bytes);
            total += bytes.len() as u64;
        }
        if part.len() >= 6 << 20 || (next.is_none() && !part.is_empty()) {
            let n = parts.len() as i32 + 1;
            let body = std::mem::replace(&mut part, Vec::with_capacity(6 << 20));
            let out =
                s3.upload_part().bucket(to).key(key).upload_id(&id).part_number(n).body(body.into()).send().await?;
            parts.push(
                aws_sdk_s3::types::CompletedPart::builder()
                    .set_e_tag(out.e_tag().map(str::to_owned))
                    .part_number(n)
                    .build(),
            );
        }
        if next.is_none() {
            break;
        }
    }
    let done = aws_sdk_s3::types::CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
    s3.complete_multipart_upload().bucket(to).key(key).upload_id(&id).multipart_upload(done).send().await?;
    Ok(total)
}

async fn end_to_video(media: &Path, minutes: u32) -> anyhow::Result<()> {
    println!("\n## Stream end → video ready, {minutes}-minute 720p session, through the emulator's S3 (best of 2)");
    let dir = session(media, minutes)?;
    let api = skycast_tests::api().await;
    let sdk = skycast_tests::sdk_config().await;
    let s3 = skycast_dev::sdk::s3(&sdk);
    let config = api.ctx.config.clone();
    for bucket in [&config.buckets.live, &config.buckets.recordings] {
        s3.create_bucket().bucket(bucket).send().await?;
    }
    let owner = api.register("bencher").await;
    let stream = api.create_stream(&owner, json!({"title": "Bench"})).await;
    let stream_id = stream["id"].as_str().unwrap_or_default().to_owned();
    let recorder = Recorder {
        recordings: api.ctx.stores.recordings.clone(),
        media: Arc::new(S3Media::new(s3.clone(), config.buckets.live.clone(), config.buckets.recordings.clone())),
        redelivery: Arc::new(QueueDefault),
        max_receives: 3,
        lease: Duration::from_secs(900),
        backoff: Duration::ZERO,
        counters: None,
        webhooks: skycast_core::store::queue::WebhookOutbox::off(),
    };
    let catalog = skycast_catalog::Catalog {
        stores: api.ctx.stores.clone(),
        webhooks: skycast_core::store::queue::WebhookOutbox::off(),
        recordings: Arc::new(skycast_catalog::S3Recordings {
            client: s3.clone(),
            bucket: config.buckets.recordings.clone(),
        }),
    };
    let (mut ours, mut copy, mut bytes) = (Duration::MAX, Duration::MAX, 0);
    for round in 0..2 {
        let session_id = ids::new_id();
        let prefix = format!("live/{stream_id}/{session_id}/source");
        upload(&s3, &config.buckets.live, &prefix, &dir).await?;
        let job = RecordingJob::Record {
            stream_id: stream_id.clone(),
            session_id: session_id.clone(),
            at: timefmt::now_rfc3339(),
            rendition: "source".into(),
        };
        let t = Instant::now();
        match recorder.record(&job, 1).await {
            Ok(skycast_recorder::Outcome::Recorded(_)) => {}
            other => bail!("recording failed: {other:?}"),
        }
        catalog.catalog(&mp4_key(&stream_id, &session_id)).await.map_err(anyhow::Error::msg)?;
        ours = ours.min(t.elapsed());
        let t = Instant::now();
        bytes = plain_copy(&s3, &config.buckets.live, &prefix, &config.buckets.recordings, &format!("copy-{round}"))
            .await?;
        copy = copy.min(t.elapsed());
    }
    println!("  target: ≤ 1.5× the plain copy");
    println!("{:<28} {:>9} {:>9}", "", "seconds", "MB/s");
    println!("{:<28} {:>9.2} {:>9.0}", "record + catalog (ours)", ours.as_secs_f64(), mb(bytes) / ours.as_secs_f64());
    println!("{:<28} {:>9.2} {:>9.0}", "plain copy of the bytes", copy.as_secs_f64(), mb(bytes) / copy.as_secs_f64());
    println!("{:<28} {:>8.2}×", "ratio", ours.as_secs_f64() / copy.as_secs_f64());
    Ok(())
}

fn minutes(var: &str, default: &str) -> Vec<u32> {
    std::env::var(var)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|m| m.trim().parse().ok())
        .filter(|m| *m > 0)
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let media = skycast_tests::project_root().join("target/bench-media");
    std::fs::create_dir_all(&media)?;
    println!("# Skycast recording benchmarks");
    assembly(&media, &minutes("BENCH_RECORDING_MINUTES", "1,10,60"))?;
    for m in minutes("BENCH_S3_MINUTES", "10") {
        end_to_video(&media, m).await?;
    }
    Ok(())
}
