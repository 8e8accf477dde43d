//! The ingest node end to end with real parts: real encoders (ffmpeg as
//! OBS, GStreamer, srt-live-transmit) publishing to the node's one SRT and
//! one RTMP port, the node terminating both and feeding FFmpeg through a
//! pipe, the emulator as S3. Stream keys come from a fixed directory here;
//! `serve.rs` runs the node against the platform's tables.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use skycast_core::stream::Latency;
use skycast_ingest::{
    node::{EndReason, SessionEvent, SessionSummary},
    profile::Profile,
};
use skycast_tests::node_rig::NodeRig;
use tokio::process::Command;

async fn rig(reconnect_window: Duration) -> NodeRig {
    // The node's own account of a failing test (a passing test's is not shown).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("skycast_ingest=info"));
    let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter(filter).try_init();
    NodeRig::start(|c| c.reconnect_window = reconnect_window).await
}

/// Publishes `size` frames in real time, retrying while nobody accepts the
/// connection; whether everything was delivered.
async fn publish_to(url: &str, seconds: u32, size: &str) -> bool {
    skycast_tests::encoder::publish_when_listening(url, seconds, size).await
}

/// The session the first publisher of `stream_id` started.
async fn session_of(rig: &mut NodeRig, stream_id: &str, limit: Duration) -> Option<String> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, rig.events.recv()).await {
            Ok(Some(n)) if n.stream_id == stream_id && matches!(n.event, SessionEvent::Waiting) => {
                return Some(n.session_id);
            }
            Ok(Some(_)) => continue,
            _ => return None,
        }
    }
}

/// hls-parser (npm) in strict mode accepts every playlist given (RFC 8216).
async fn assert_strict_hls(files: &[&Path]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new("node")
        .arg(root.join("tests/hls/check.mjs"))
        .args(files)
        .output()
        .await
        .expect("node (make installs it, and hls-parser into tests/hls)");
    assert!(
        out.status.success(),
        "hls-parser strict mode refused a playlist: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Nothing at all stored for the stream.
async fn nothing_stored(rig: &NodeRig, stream_id: &str) -> bool {
    let listed = rig.s3.list_objects_v2().bucket(&rig.bucket).prefix(format!("live/{stream_id}")).send().await.unwrap();
    listed.key_count() == Some(0)
}

async fn next_event(
    rig: &mut NodeRig,
    session: &str,
    limit: Duration,
    want: impl Fn(&SessionEvent) -> bool,
) -> Option<SessionEvent> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, rig.events.recv()).await {
            Ok(Some(n)) if n.session_id == session && want(&n.event) => return Some(n.event),
            Ok(Some(_)) => continue,
            _ => return None,
        }
    }
}

async fn get_text(rig: &NodeRig, key: &str) -> Option<String> {
    let out = rig.s3.get_object().bucket(&rig.bucket).key(key).send().await.ok()?;
    let bytes = out.body.collect().await.ok()?.into_bytes();
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

async fn download_all(rig: &NodeRig, prefix: &str, dir: &Path) -> Vec<String> {
    let listed = rig.s3.list_objects_v2().bucket(&rig.bucket).prefix(prefix).send().await.unwrap();
    let mut keys = Vec::new();
    for obj in listed.contents() {
        let key = obj.key().unwrap().to_owned();
        let out = rig.s3.get_object().bucket(&rig.bucket).key(&key).send().await.unwrap();
        let path = dir.join(key.trim_start_matches(prefix).trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, out.body.collect().await.unwrap().into_bytes()).unwrap();
        keys.push(key);
    }
    keys
}

/// Decodes the whole HLS rendition with ffmpeg; returns its complaints.
async fn decode_errors(playlist: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-i"])
        .arg(playlist)
        .args(["-f", "null", "-"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "ffmpeg could not decode {}", playlist.display());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `thumb.jpg` appears beside the master playlist: a JPEG, short-cached.
async fn assert_thumbnail(rig: &NodeRig, prefix: &str) {
    let key = format!("{prefix}/thumb.jpg");
    let found = skycast_tests::eventually(Duration::from_secs(15), || {
        let (s3, bucket, key) = (rig.s3.clone(), rig.bucket.clone(), key.clone());
        async move { s3.get_object().bucket(bucket).key(key).send().await.ok() }
    })
    .await
    .expect("a thumbnail is stored");
    assert_eq!((found.content_type(), found.cache_control()), (Some("image/jpeg"), Some("public, max-age=10")));
    let bytes = found.body.collect().await.unwrap().into_bytes();
    assert!(bytes.starts_with(&[0xff, 0xd8]) && bytes.len() > 1000, "not a JPEG: {} bytes", bytes.len());
}

fn ended(e: &SessionEvent) -> Option<&SessionSummary> {
    match e {
        SessionEvent::Ended(s) => Some(s),
        _ => None,
    }
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("skycast-hls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srt_publish_goes_live_without_any_call_then_ends_with_a_complete_playlist() {
    let _cores = skycast_tests::encoder::realtime_share(1).await;
    let mut rig = rig(Duration::from_secs(3)).await;
    let (stream_id, key) = rig.add_stream(Profile::Source);
    let publisher = {
        let url = rig.srt_url(&key);
        tokio::spawn(async move { publish_to(&url, 8, "640x360").await })
    };
    let session =
        session_of(&mut rig, &stream_id, Duration::from_secs(15)).await.expect("the publisher made a session");
    assert!(
        next_event(&mut rig, &session, Duration::from_secs(20), |e| matches!(e, SessionEvent::Live { .. }))
            .await
            .is_some(),
        "never went live"
    );
    let prefix = format!("live/{stream_id}/{session}");
    let master = get_text(&rig, &format!("{prefix}/master.m3u8")).await.expect("master playlist stored when live");
    assert!(
        master.contains("CODECS=\"avc1.") && master.contains("mp4a.40.2") && master.contains("RESOLUTION=640x360"),
        "{master}"
    );
    let live = get_text(&rig, &format!("{prefix}/source/index.m3u8")).await.expect("media playlist");
    assert!(live.contains("#EXTINF:") && !live.contains("#EXT-X-ENDLIST"), "{live}");
    // Dated segments (players and latency measurement need it), and a
    // target duration that never changes: strict RFC 8216, live and at the end.
    assert!(live.contains("#EXT-X-PROGRAM-DATE-TIME:20"), "{live}");
    let live_dir = tempdir();
    std::fs::write(live_dir.join("master.m3u8"), &master).unwrap();
    std::fs::write(live_dir.join("index.m3u8"), &live).unwrap();
    assert_strict_hls(&[&live_dir.join("master.m3u8"), &live_dir.join("index.m3u8")]).await;
    let target = live.lines().find(|l| l.starts_with("#EXT-X-TARGETDURATION:")).unwrap().to_owned();
    // While live: figures for the API, and a still for stream listings.
    let stats = next_event(&mut rig, &session, Duration::from_secs(12), |e| matches!(e, SessionEvent::Stats(_)))
        .await
        .expect("a stats event while live");
    let SessionEvent::Stats(figures) = stats else { unreachable!() };
    assert!(figures.segments >= 1 && figures.bitrate_bps > 0, "{figures:?}");
    assert_thumbnail(&rig, &prefix).await;

    assert!(publisher.await.unwrap(), "the publisher's ffmpeg failed");
    // The publisher left; after the 3 s reconnect window the session ends by itself.
    let end =
        next_event(&mut rig, &session, Duration::from_secs(20), |e| ended(e).is_some()).await.expect("session ended");
    let summary = ended(&end).unwrap().clone();
    assert_eq!(summary.reason, EndReason::PublisherGone);
    assert_eq!(summary.publishes, 1);
    assert!(summary.thumbnail);
    assert!((6.0..=10.0).contains(&summary.duration()), "duration {}", summary.duration());

    let dir = tempdir();
    let keys = download_all(&rig, &prefix, &dir).await;
    let playlist = std::fs::read_to_string(dir.join("source/index.m3u8")).unwrap();
    assert!(playlist.ends_with("#EXT-X-ENDLIST\n"), "{playlist}");
    assert!(!playlist.contains("#EXT-X-DISCONTINUITY\n"), "{playlist}");
    assert!(playlist.contains(&format!("{target}\n")), "the target duration is the live one: {playlist}");
    assert_strict_hls(&[&dir.join("source/index.m3u8")]).await;
    let _ = std::fs::remove_dir_all(&live_dir);
    for line in playlist.lines().filter(|l| l.ends_with(".m4s")) {
        assert!(keys.iter().any(|k| k.ends_with(&format!("source/{line}"))), "{line} listed but not stored");
    }
    let listed = playlist.lines().filter(|l| l.ends_with(".m4s")).count() as u64;
    assert_eq!(listed, summary.segments());
    let errors = decode_errors(&dir.join("source/index.m3u8")).await;
    assert!(errors.is_empty(), "decode errors: {errors}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_or_passphrase_over_srt_never_gets_in() {
    let _cores = skycast_tests::encoder::realtime_share(1).await;
    let mut rig = rig(Duration::from_secs(3)).await;
    let (stream_id, key) = rig.add_stream(Profile::Source);
    let port = rig.ports.srt.port();
    let unknown = skycast_core::stream::new_stream_key();
    let outcome = skycast_tests::encoder::obs_when_listening(
        &format!("srt://127.0.0.1:{port}?streamid={unknown}&passphrase={unknown}"),
        3,
        "640x360",
        Duration::ZERO,
    )
    .await;
    assert_ne!(outcome, skycast_tests::encoder::Outcome::Delivered, "an unknown key was let in");
    let outcome = skycast_tests::encoder::obs_when_listening(
        &format!("srt://127.0.0.1:{port}?streamid={key}&passphrase=not-the-stream-key"),
        3,
        "640x360",
        Duration::ZERO,
    )
    .await;
    assert_ne!(outcome, skycast_tests::encoder::Outcome::Delivered, "the key without its passphrase was let in");
    assert!(session_of(&mut rig, &stream_id, Duration::from_secs(1)).await.is_none(), "no session was made");
    assert!(nothing_stored(&rig, &stream_id).await, "nothing stored for a refused publisher");
    // Positive control: the same stream with its key and passphrase.
    assert!(publish_to(&rig.srt_url(&key), 3, "640x360").await, "the right key was refused");
    assert!(session_of(&mut rig, &stream_id, Duration::from_secs(5)).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_within_the_window_continues_the_session() {
    let _cores = skycast_tests::encoder::realtime_share(1).await;
    // The window covers the gap between the two publishers; the session
    // then ends by itself once the second has gone and every file it sent is in.
    let mut rig = rig(Duration::from_secs(10)).await;
    let (stream_id, key) = rig.add_stream(Profile::Source);
    assert!(publish_to(&rig.srt_url(&key), 5, "640x360").await);
    // The second time over RTMP: one stream, either protocol.
    assert!(publish_to(&rig.rtmp_url(&key), 5, "640x360").await, "the second connection was refused");
    let session = session_of(&mut rig, &stream_id, Duration::from_secs(1)).await.expect("a session");
    let end =
        next_event(&mut rig, &session, Duration::from_secs(40), |e| ended(e).is_some()).await.expect("session ended");
    let summary = ended(&end).unwrap().clone();
    assert_eq!((summary.reason.clone(), summary.publishes), (EndReason::PublisherGone, 2), "{summary:?}");

    let prefix = format!("live/{stream_id}/{session}");
    let dir = tempdir();
    let keys = download_all(&rig, &prefix, &dir).await;
    assert!(keys.iter().any(|k| k.ends_with("source/init_1.mp4")), "the second process's init segment: {keys:?}");
    let playlist = std::fs::read_to_string(dir.join("source/index.m3u8")).unwrap();
    assert_eq!(playlist.matches("#EXT-X-DISCONTINUITY\n").count(), 1, "{playlist}");
    assert!(playlist.ends_with("#EXT-X-ENDLIST\n"));
    assert_strict_hls(&[&dir.join("source/index.m3u8")]).await;
    assert!((8.0..=12.0).contains(&summary.duration()), "both parts listed: {}", summary.duration());
    let errors = decode_errors(&dir.join("source/index.m3u8")).await;
    assert!(errors.is_empty(), "decode errors: {errors}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ladder_profile_serves_every_rung_with_aligned_segments() {
    // Three rungs transcoded in real time: the whole machine.
    let _cores = skycast_tests::encoder::realtime_share(2).await;
    let mut rig = rig(Duration::from_secs(2)).await;
    let (stream_id, key) = rig.add_stream(Profile::Ladder);
    assert!(publish_to(&rig.srt_url(&key), 6, "1280x720").await, "the 720p publisher failed");
    let session = session_of(&mut rig, &stream_id, Duration::from_secs(1)).await.expect("a session");
    let end = next_event(&mut rig, &session, Duration::from_secs(30), |e| ended(e).is_some()).await.expect("ended");
    let summary = ended(&end).unwrap().clone();
    assert_eq!(summary.renditions.len(), 3);
    // Even a short session ends with its still stored.
    assert!(summary.thumbnail, "{summary:?}");

    let prefix = format!("live/{stream_id}/{session}");
    let master = get_text(&rig, &format!("{prefix}/master.m3u8")).await.unwrap();
    // The source on top as sent; lower rungs encoded (Main profile), never upscaled.
    for (name, res, codec) in
        [("source", "1280x720", "avc1."), ("480p", "854x480", "avc1.4d"), ("360p", "640x360", "avc1.4d")]
    {
        assert!(master.contains(&format!("RESOLUTION={res},CODECS=\"{codec}")), "{name}: {master}");
        assert!(master.contains(&format!("{name}/index.m3u8")), "{master}");
    }
    // Keyframes aligned: every rung has the same segment boundaries.
    let mut durations = Vec::new();
    for name in ["source", "480p", "360p"] {
        let p = get_text(&rig, &format!("{prefix}/{name}/index.m3u8")).await.unwrap();
        assert!(p.ends_with("#EXT-X-ENDLIST\n"));
        durations.push(p.lines().filter(|l| l.starts_with("#EXTINF")).map(String::from).collect::<Vec<_>>());
    }
    assert!(durations[0].len() >= 2);
    assert_eq!(durations[0], durations[1]);
    assert_eq!(durations[1], durations[2]);
    assert_thumbnail(&rig, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_outage_mid_stream_loses_nothing() {
    let _cores = skycast_tests::encoder::realtime_share(1).await;
    // The node reaches S3 only through a proxy the test can pause.
    let proxy = skycast_tests::proxy::PausableProxy::start(
        skycast_tests::emulator_endpoint().trim_start_matches("http://").to_owned(),
    )
    .await
    .unwrap();
    let through_proxy = skycast_dev::sdk::s3(&skycast_dev::sdk::for_endpoint(&proxy.url()).await);
    let mut rig =
        NodeRig::start_storing_through(|c| c.reconnect_window = Duration::from_secs(2), Some(through_proxy)).await;
    let (stream_id, key) = rig.add_stream(Profile::Source);
    let publisher = {
        let url = rig.srt_url(&key);
        tokio::spawn(async move { publish_to(&url, 28, "640x360").await })
    };
    let session = session_of(&mut rig, &stream_id, Duration::from_secs(15)).await.expect("a session");
    assert!(
        next_event(&mut rig, &session, Duration::from_secs(20), |e| matches!(e, SessionEvent::Live { .. }))
            .await
            .is_some()
    );
    proxy.pause();
    tokio::time::sleep(Duration::from_secs(20)).await; // the outage itself, not a wait for a result
    proxy.resume();
    assert!(publisher.await.unwrap(), "the encoder noticed the outage");
    let end = next_event(&mut rig, &session, Duration::from_secs(60), |e| ended(e).is_some()).await.expect("ended");
    let summary = ended(&end).unwrap().clone();

    let prefix = format!("live/{stream_id}/{session}");
    let dir = tempdir();
    let keys = download_all(&rig, &prefix, &dir).await;
    let playlist = std::fs::read_to_string(dir.join("source/index.m3u8")).unwrap();
    assert!(playlist.ends_with("#EXT-X-ENDLIST\n"), "{playlist}");
    let listed: Vec<&str> = playlist.lines().filter(|l| l.ends_with(".m4s")).collect();
    let expected: Vec<String> = (0..listed.len()).map(|n| format!("seg_{n:06}.m4s")).collect();
    assert_eq!(listed, expected, "every segment listed once, in order, none missing");
    for l in &listed {
        assert!(keys.iter().any(|k| k.ends_with(&format!("source/{l}"))), "{l} listed but not stored");
    }
    assert!((24.0..=31.0).contains(&summary.duration()), "all 28 s are there: {}", summary.duration());
    let errors = decode_errors(&dir.join("source/index.m3u8")).await;
    assert!(errors.is_empty(), "decode errors: {errors}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The target duration and the segments' lengths of a session's playlist.
async fn segment_lengths(rig: &NodeRig, prefix: &str) -> (String, Vec<f64>) {
    let playlist = get_text(rig, &format!("{prefix}/source/index.m3u8")).await.expect("playlist");
    let target = playlist.lines().find(|l| l.starts_with("#EXT-X-TARGETDURATION:")).unwrap_or_default().to_owned();
    let lengths = playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .filter_map(|l| l.trim_end_matches(',').parse().ok())
        .collect();
    (target, lengths)
}

/// A low-latency stream is cut in 1 s segments; a standard one, from the
/// same encoder (a keyframe every second), in 2 s ones: the positive control.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_latency_stream_is_cut_in_one_second_segments() {
    let _cores = skycast_tests::encoder::realtime_share(1).await;
    let mut rig = rig(Duration::from_secs(1)).await;
    let (low, low_key) = rig.add_stream_with(Profile::Source, Latency::Low);
    let (standard, standard_key) = rig.add_stream_with(Profile::Source, Latency::Standard);
    for key in [&low_key, &standard_key] {
        let url = rig.rtmp_url(key);
        tokio::spawn(async move {
            tokio::process::Command::new("ffmpeg")
                .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
                .args(["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30:duration=7"])
                .args(["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency"])
                .args(["-g", "30", "-keyint_min", "30", "-sc_threshold", "0", "-f", "flv", &url])
                .stdin(std::process::Stdio::null())
                .status()
                .await
        });
    }
    // Both sessions, then both ends (events of the two interleave).
    let mut sessions = std::collections::HashMap::new();
    let mut ends = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while ends < 2 {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Ok(Some(n)) = tokio::time::timeout(left, rig.events.recv()).await else { panic!("sessions: {sessions:?}") };
        match n.event {
            SessionEvent::Waiting => {
                sessions.insert(n.stream_id.clone(), format!("live/{}/{}", n.stream_id, n.session_id));
            }
            ref e if ended(e).is_some() => ends += 1,
            _ => {}
        }
    }
    let (target, lengths) = segment_lengths(&rig, &sessions[&low]).await;
    assert_eq!(target, "#EXT-X-TARGETDURATION:1");
    assert!(lengths.len() >= 5, "{lengths:?}");
    assert!(lengths.iter().all(|&l| l <= 1.05), "every segment a second or less: {lengths:?}");
    let (target, lengths) = segment_lengths(&rig, &sessions[&standard]).await;
    assert_eq!(target, "#EXT-X-TARGETDURATION:2");
    assert!(lengths[..lengths.len() - 1].iter().all(|&l| l > 1.5), "2 s segments: {lengths:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtmp_as_obs_sends_it_goes_live_and_ends_with_a_complete_playlist() {
    let _cores = skycast_tests::encoder::realtime_share(1).await;
    let mut rig = rig(Duration::from_secs(3)).await;
    let (stream_id, key) = rig.add_stream(Profile::Source);
    let publisher = {
        let url = rig.rtmp_url(&key);
        tokio::spawn(async move { publish_to(&url, 8, "640x360").await })
    };
    let session = session_of(&mut rig, &stream_id, Duration::from_secs(15)).await.expect("a session");
    assert!(
        next_event(&mut rig, &session, Duration::from_secs(20), |e| matches!(e, SessionEvent::Live { .. }))
            .await
            .is_some(),
        "never went live over RTMP"
    );
    let prefix = format!("live/{stream_id}/{session}");
    let master = get_text(&rig, &format!("{prefix}/master.m3u8")).await.expect("master playlist");
    assert!(master.contains("CODECS=\"avc1.") && master.contains("mp4a.40.2"), "{master}");
    assert!(publisher.await.unwrap(), "the RTMP publisher's ffmpeg failed");
    let end =
        next_event(&mut rig, &session, Duration::from_secs(20), |e| ended(e).is_some()).await.expect("session ended");
    let summary = ended(&end).unwrap().clone();
    assert_eq!((summary.reason.clone(), summary.publishes), (EndReason::PublisherGone, 1));
    assert!((6.0..=10.0).contains(&summary.duration()), "duration {}", summary.duration());

    let dir = tempdir();
    download_all(&rig, &prefix, &dir).await;
    let playlist = std::fs::read_to_string(dir.join("source/index.m3u8")).unwrap();
    assert!(playlist.ends_with("#EXT-X-ENDLIST\n"), "{playlist}");
    let errors = decode_errors(&dir.join("source/index.m3u8")).await;
    assert!(errors.is_empty(), "decode errors: {errors}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_and_a_wrong_key_on_the_rtmp_port_do_not_keep_the_right_key_out() {
    let _cores = skycast_tests::encoder::realtime_share(1).await;
    let mut rig = rig(Duration::from_secs(30)).await;
    let (stream_id, key) = rig.add_stream(Profile::Source);
    // Three sockets that connect and say nothing, held open throughout.
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(tokio::net::TcpStream::connect(rig.ports.rtmp).await.unwrap());
    }
    let wrong = skycast_core::stream::new_stream_key();
    assert!(!publish_to(&rig.rtmp_url(&wrong), 3, "640x360").await, "a wrong stream key was let in");
    assert!(nothing_stored(&rig, &stream_id).await, "nothing stored for a refused publisher");
    let started = std::time::Instant::now();
    let publisher = {
        let url = rig.rtmp_url(&key);
        tokio::spawn(async move { publish_to(&url, 6, "640x360").await })
    };
    let session = session_of(&mut rig, &stream_id, Duration::from_secs(15)).await.expect("the right key got in");
    next_event(&mut rig, &session, Duration::from_secs(15), |e| matches!(e, SessionEvent::Live { .. }))
        .await
        .expect("live within 15 s with idle sockets open");
    println!("live {:?} after connecting, beside 3 idle sockets", started.elapsed());
    assert!(publisher.await.unwrap());
    drop(idle);
    let summary = rig.node.stop_session(&session).await.expect("summary");
    assert_eq!((summary.reason.clone(), summary.publishes), (EndReason::Stopped, 1));
    assert!(summary.segments() >= 1, "{summary:?}");
}

/// GStreamer as the encoder: `srtsink` or `rtmp2sink`, H.264 and AAC.
async fn gstreamer(sink: &str, seconds: u32) -> bool {
    let frames = (seconds * 30).to_string();
    let (mux, sink) =
        if sink.starts_with("srtsink") { ("mpegtsmux alignment=7", sink) } else { ("flvmux streamable=true", sink) };
    let pipeline = format!(
        "videotestsrc num-buffers={frames} is-live=true ! video/x-raw,format=I420,width=640,height=360,framerate=30/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! h264parse config-interval=-1 ! mux. \
         audiotestsrc is-live=true num-buffers={audio} ! audioconvert ! voaacenc ! aacparse ! mux. \
         {mux} name=mux ! {sink}",
        audio = seconds * 47,
    );
    let out = Command::new("gst-launch-1.0")
        .args(["-q", "-e"])
        .args(pipeline.split_whitespace())
        .kill_on_drop(true)
        .output()
        .await
        .expect("gst-launch-1.0 (make installs GStreamer)");
    if !out.status.success() {
        eprintln!("gst-launch-1.0: {}", String::from_utf8_lossy(&out.stderr));
    }
    out.status.success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gstreamer_publishes_over_srt_and_rtmp() {
    let _cores = skycast_tests::encoder::realtime_share(2).await;
    let mut rig = rig(Duration::from_secs(1)).await;
    for protocol in ["srt", "rtmp"] {
        let (stream_id, key) = rig.add_stream(Profile::Source);
        let sink = match protocol {
            "srt" => format!("srtsink uri={}&latency=200", rig.srt_url(&key)),
            _ => format!("rtmp2sink location={}", rig.rtmp_url(&key)),
        };
        assert!(gstreamer(&sink, 6).await, "GStreamer could not publish over {protocol}");
        let session = session_of(&mut rig, &stream_id, Duration::from_secs(5)).await.expect("a session");
        let end = next_event(&mut rig, &session, Duration::from_secs(20), |e| ended(e).is_some())
            .await
            .expect("session ended");
        let summary = ended(&end).unwrap().clone();
        assert!(summary.segments() >= 2, "{protocol}: {summary:?}");
        let prefix = format!("live/{stream_id}/{session}");
        let dir = tempdir();
        download_all(&rig, &prefix, &dir).await;
        // It decodes; GStreamer's sinks cut the last AAC frame at end of
        // stream (a frame, not what the node did): at most one complaint.
        let errors = decode_errors(&dir.join("source/index.m3u8")).await;
        let frames_lost = errors.lines().filter(|l| l.starts_with("Error while decoding")).count();
        assert!(frames_lost <= 1, "{protocol} decode errors: {errors}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srt_live_transmit_publishes() {
    let _cores = skycast_tests::encoder::realtime_share(1).await;
    let mut rig = rig(Duration::from_secs(1)).await;
    let (stream_id, key) = rig.add_stream(Profile::Source);
    // srt-live-transmit relays a local UDP feed to the node, as a contribution encoder's SRT gateway does.
    let feed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut relay = Command::new("srt-live-transmit")
        .args(["-q".to_owned(), format!("udp://127.0.0.1:{feed}"), rig.srt_url(&key)])
        .kill_on_drop(true)
        .spawn()
        .expect("srt-live-transmit (make installs srt-tools)");
    assert!(publish_to(&format!("udp://127.0.0.1:{feed}?pkt_size=1316"), 6, "640x360").await);
    let session = session_of(&mut rig, &stream_id, Duration::from_secs(5)).await.expect("a session");
    let _ = relay.kill().await;
    let end =
        next_event(&mut rig, &session, Duration::from_secs(20), |e| ended(e).is_some()).await.expect("session ended");
    let summary = ended(&end).unwrap().clone();
    assert!(summary.segments() >= 2, "{summary:?}");
}

/// `n` connections to the RTMP port that send garbage (or nothing) and go.
async fn rtmp_garbage(port: u16, n: usize) -> usize {
    use tokio::io::AsyncWriteExt;
    let mut refused = 0;
    for batch in 0..n.div_ceil(100) {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..100.min(n - batch * 100) {
            tasks.spawn(async move {
                let Ok(mut c) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else { return false };
                // Not RTMP at all; a valid version byte then junk; nothing.
                let junk: Vec<u8> = match i % 3 {
                    0 => b"GET / HTTP/1.1\r\n\r\n".to_vec(),
                    1 => std::iter::once(3u8).chain((0..4000).map(|j| (j * 7 + i) as u8)).collect(),
                    _ => Vec::new(),
                };
                let _ = c.write_all(&junk).await;
                true
            });
        }
        while let Some(r) = tasks.join_next().await {
            refused += usize::from(!r.unwrap_or(false));
        }
    }
    refused
}

/// `n` datagrams of garbage, some shaped like an SRT handshake's header, to the SRT port.
fn srt_garbage(port: u16, n: usize) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..n {
        let mut packet: Vec<u8> = (0..(64 + i % 1300)).map(|j| (j * 13 + i) as u8).collect();
        if i % 2 == 0 {
            // Control bit and handshake type set: it reaches libsrt's handshake code.
            packet[..4].copy_from_slice(&[0x80, 0, 0, 0]);
        }
        let _ = socket.send_to(&packet, ("127.0.0.1", port));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_garbage_handshakes_leave_the_node_healthy_and_a_live_publisher_unaffected() {
    let _cores = skycast_tests::encoder::realtime_share(1).await;
    let mut rig = rig(Duration::from_secs(2)).await;
    let (stream_id, key) = rig.add_stream(Profile::Source);
    let publisher = {
        let url = rig.srt_url(&key);
        tokio::spawn(async move { publish_to(&url, 10, "640x360").await })
    };
    let session = session_of(&mut rig, &stream_id, Duration::from_secs(15)).await.expect("a session");
    next_event(&mut rig, &session, Duration::from_secs(20), |e| matches!(e, SessionEvent::Live { .. }))
        .await
        .expect("live");
    // While it is live: 1000 garbage RTMP connections and 1000 garbage SRT packets.
    srt_garbage(rig.ports.srt.port(), 1000);
    let refused = rtmp_garbage(rig.ports.rtmp.port(), 1000).await;
    assert_eq!(refused, 0, "the RTMP port kept accepting connections");
    assert!(publisher.await.unwrap(), "the live publisher was disturbed");
    let end = next_event(&mut rig, &session, Duration::from_secs(20), |e| ended(e).is_some()).await.expect("ended");
    let summary = ended(&end).unwrap().clone();
    assert_eq!((summary.reason.clone(), summary.publishes), (EndReason::PublisherGone, 1), "{summary:?}");
    assert!((8.0..=12.0).contains(&summary.duration()), "every second of it: {}", summary.duration());
    // The node is healthy: a new publisher, over each protocol, goes live.
    for url in [NodeRig::rtmp_url, NodeRig::srt_url] {
        let (stream_id, key) = rig.add_stream(Profile::Source);
        let target = url(&rig, &key);
        let publisher = tokio::spawn(async move { publish_to(&target, 4, "640x360").await });
        let session =
            session_of(&mut rig, &stream_id, Duration::from_secs(15)).await.expect("a session after the flood");
        next_event(&mut rig, &session, Duration::from_secs(15), |e| matches!(e, SessionEvent::Live { .. }))
            .await
            .expect("live after the flood");
        assert!(publisher.await.unwrap());
    }
}

/// The health a live session reports (a `stats` event with one), as the API shows it.
async fn health_of(rig: &mut NodeRig, session: &str) -> skycast_core::health::StreamHealth {
    let stats = next_event(
        rig,
        session,
        Duration::from_secs(25),
        |e| matches!(e, SessionEvent::Stats(f) if f.health.is_some()),
    )
    .await
    .expect("a stats event with the stream's health");
    let SessionEvent::Stats(figures) = stats else { unreachable!() };
    *figures.health.expect("health")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_warns_of_a_5_s_keyframe_interval_and_of_a_stream_without_audio_and_shows_srt_link_figures() {
    use skycast_tests::encoder::{TestMedia, publish_media_when_listening};
    let _cores = skycast_tests::encoder::realtime_share(1).await;
    let mut rig = rig(Duration::from_secs(3)).await;

    // Keyframes every 150 frames at 30 fps: every 5 s, where OBS's default is 2 s.
    let (stream_id, key) = rig.add_stream(Profile::Source);
    let url = rig.srt_url(&key);
    let long_gop = TestMedia { seconds: 16, keyframe_every: 150, ..TestMedia::default() };
    let publisher = tokio::spawn(async move { publish_media_when_listening(&url, &long_gop).await });
    let session = session_of(&mut rig, &stream_id, Duration::from_secs(20)).await.expect("a session");
    let health = health_of(&mut rig, &session).await;
    let codes: Vec<&str> = health.warnings.iter().map(|w| w.code.as_str()).collect();
    assert_eq!(codes, ["keyframe_interval"], "{health:?}");
    assert!(health.warnings[0].message.starts_with("keyframe every 5 s; set 2 s in OBS"), "{health:?}");
    assert_eq!(health.status, "warning");
    assert!(health.audio && health.audio_codec.as_deref() == Some("mp4a.40.2"), "{health:?}");
    assert!(health.frame_rate.is_some_and(|f| (29.0..=31.0).contains(&f)), "{health:?}");
    assert_eq!((health.width, health.height), (Some(640), Some(360)));
    assert!(health.ingest_bitrate_bps > 500_000, "{health:?}");
    // SRT's own view of the link: a loopback round trip, nothing lost for good.
    let link = health.srt.as_ref().expect("an SRT publisher's link figures");
    assert!((0.0..100.0).contains(&link.rtt_ms), "{link:?}");
    assert!(link.loss_percent < 5.0, "{link:?}");
    assert!(publisher.await.unwrap(), "the publisher's ffmpeg failed");

    // Keyframes every 2 s, and no sound at all, over RTMP: only the audio is
    // flagged (the positive control for the keyframe rule), and TCP has no
    // link figures to show.
    let (stream_id, key) = rig.add_stream(Profile::Source);
    let url = rig.rtmp_url(&key);
    let silent = TestMedia { seconds: 8, audio: false, ..TestMedia::default() };
    let publisher = tokio::spawn(async move { publish_media_when_listening(&url, &silent).await });
    let session = session_of(&mut rig, &stream_id, Duration::from_secs(20)).await.expect("a session");
    let health = health_of(&mut rig, &session).await;
    let codes: Vec<&str> = health.warnings.iter().map(|w| w.code.as_str()).collect();
    assert_eq!(codes, ["no_audio"], "{health:?}");
    assert!(!health.audio && health.audio_codec.is_none());
    assert!(health.keyframe_interval_s.is_some_and(|k| k <= 2.5), "{health:?}");
    assert_eq!(health.srt, None);
    assert!(publisher.await.unwrap(), "the publisher's ffmpeg failed");
}
