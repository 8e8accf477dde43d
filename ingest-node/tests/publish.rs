//! The ingest node end to end with real parts: ffmpeg as the encoder ("OBS")
//! pushing over SRT or RTMP, the node's own ffmpeg listener (behind its RTMP
//! gate for RTMP), the emulator as S3.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use skycast_core::stream::Protocol;
use skycast_ingest::{
    config::NodeConfig,
    node::{EndReason, Node, Notice, SessionEvent, SessionSpec, SessionSummary},
    profile::Profile,
    store::S3Store,
};
use tokio::{process::Command, sync::mpsc};

struct Rig {
    node: Arc<Node>,
    events: mpsc::UnboundedReceiver<Notice>,
    s3: aws_sdk_s3::Client,
    bucket: String,
}

async fn rig(reconnect_window: Duration) -> Rig {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let prefix = skycast_tests::unique_prefix();
    let sdk = skycast_tests::sdk_config().await;
    let s3 = skycast_dev::sdk::s3(&sdk);
    let mut config = NodeConfig::with_prefix(&prefix);
    config.spool_dir = std::env::temp_dir().join(format!("skycast-spool-{prefix}"));
    config.reconnect_window = reconnect_window;
    s3.create_bucket().bucket(&config.live_bucket).send().await.expect("bucket");
    let bucket = config.live_bucket.clone();
    let (tx, events) = mpsc::unbounded_channel();
    let store = Arc::new(S3Store::new(s3.clone(), bucket.clone()));
    let node = Node::start(config, store, tx).await.expect("node");
    Rig { node, events, s3, bucket }
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn spec(port: u16, key: &str) -> SessionSpec {
    SessionSpec {
        stream_id: skycast_core::ids::new_id(),
        session_id: skycast_core::ids::new_id(),
        port,
        protocol: Protocol::Srt,
        stream_key: key.to_owned(),
        profile: Profile::Source,
    }
}

fn rtmp_spec(key: &str) -> SessionSpec {
    SessionSpec { protocol: Protocol::Rtmp, ..spec(free_tcp_port(), key) }
}

/// An encoder publishing `seconds` of test pattern and tone over SRT.
async fn publish(port: u16, passphrase: &str, seconds: u32) -> bool {
    publish_to(
        &format!("srt://127.0.0.1:{port}?passphrase={passphrase}&pbkeylen=16&connect_timeout=2000"),
        seconds,
        "640x360",
    )
    .await
}

/// The same over RTMP, as OBS sends it: server `rtmp://host:port/live`, then the key.
async fn publish_rtmp(port: u16, key: &str, seconds: u32) -> bool {
    publish_to(&format!("rtmp://127.0.0.1:{port}/live/{key}"), seconds, "640x360").await
}

/// Publishes `size` frames in real time, retrying while the listener is not
/// up yet; whether everything was delivered.
async fn publish_to(url: &str, seconds: u32, size: &str) -> bool {
    skycast_tests::encoder::publish_when_listening(url, seconds, size).await
}

async fn next_event(
    rig: &mut Rig,
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

async fn get_text(rig: &Rig, key: &str) -> Option<String> {
    let out = rig.s3.get_object().bucket(&rig.bucket).key(key).send().await.ok()?;
    let bytes = out.body.collect().await.ok()?.into_bytes();
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

async fn download_all(rig: &Rig, prefix: &str, dir: &Path) -> Vec<String> {
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
async fn assert_thumbnail(rig: &Rig, prefix: &str) {
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
async fn srt_publish_goes_live_then_ends_with_a_complete_playlist() {
    let _cores = skycast_tests::encoder::realtime_share(1).await;
    let mut rig = rig(Duration::from_secs(3)).await;
    let key = skycast_core::stream::new_stream_key();
    let s = spec(free_udp_port(), &key);
    rig.node.start_session(s.clone()).await.unwrap();
    assert!(
        next_event(&mut rig, &s.session_id, Duration::from_secs(5), |e| matches!(e, SessionEvent::Waiting))
            .await
            .is_some()
    );

    let publisher = {
        let (port, key) = (s.port, key.clone());
        tokio::spawn(async move { publish(port, &key, 8).await })
    };
    assert!(
        next_event(&mut rig, &s.session_id, Duration::from_secs(20), |e| matches!(e, SessionEvent::Live { .. }))
            .await
            .is_some(),
        "never went live"
    );
    let prefix = format!("live/{}/{}", s.stream_id, s.session_id);
    let master = get_text(&rig, &format!("{prefix}/master.m3u8")).await.expect("master playlist stored when live");
    assert!(
        master.contains("CODECS=\"avc1.") && master.contains("mp4a.40.2") && master.contains("RESOLUTION=640x360"),
        "{master}"
    );
    let live = get_text(&rig, &format!("{prefix}/source/index.m3u8")).await.expect("media playlist");
    assert!(live.contains("#EXTINF:") && !live.contains("#EXT-X-ENDLIST"), "{live}");
    // While live: figures for the API, and a still for stream listings.
    let stats = next_event(&mut rig, &s.session_id, Duration::from_secs(12), |e| matches!(e, SessionEvent::Stats(_)))
        .await
        .expect("a stats event while live");
    let SessionEvent::Stats(figures) = stats else { unreachable!() };
    assert!(figures.segments >= 1 && figures.bitrate_bps > 0, "{figures:?}");
    assert_thumbnail(&rig, &prefix).await;

    assert!(publisher.await.unwrap(), "the publisher's ffmpeg failed");
    // The publisher left; after the 3 s reconnect window the session ends by itself.
    let end = next_event(&mut rig, &s.session_id, Duration::from_secs(20), |e| ended(e).is_some())
        .await
        .expect("session ended");
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
async fn a_wrong_passphrase_never_goes_live() {
    let _cores = skycast_tests::encoder::realtime_share(1).await;
    let mut rig = rig(Duration::from_secs(3)).await;
    let s = spec(free_udp_port(), &skycast_core::stream::new_stream_key());
    rig.node.start_session(s.clone()).await.unwrap();
    let wrong = skycast_core::stream::new_stream_key();
    let accepted = publish(s.port, &wrong, 4).await;
    assert!(!accepted, "the listener accepted a publisher without the stream key");
    let live =
        next_event(&mut rig, &s.session_id, Duration::from_secs(3), |e| matches!(e, SessionEvent::Live { .. })).await;
    assert!(live.is_none());
    let summary = rig.node.stop_session(&s.session_id).await.expect("summary");
    assert_eq!((summary.reason.clone(), summary.publishes, summary.segments()), (EndReason::Stopped, 0, 0));
    let listed =
        rig.s3.list_objects_v2().bucket(&rig.bucket).prefix(format!("live/{}", s.stream_id)).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0), "nothing stored for a refused publisher");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_within_the_window_continues_the_session() {
    let _cores = skycast_tests::encoder::realtime_share(1).await;
    // The window covers the gap between the two publishers; the session
    // then ends by itself once the second has gone and every file it sent is
    // in. A stop right after the encoder exits would race a listener that a
    // loaded machine leaves seconds behind, and rightly drop what it holds.
    let mut rig = rig(Duration::from_secs(10)).await;
    let key = skycast_core::stream::new_stream_key();
    let s = spec(free_udp_port(), &key);
    rig.node.start_session(s.clone()).await.unwrap();
    assert!(publish(s.port, &key, 5).await);
    assert!(publish(s.port, &key, 5).await, "the second connection was refused");
    let end = next_event(&mut rig, &s.session_id, Duration::from_secs(40), |e| ended(e).is_some())
        .await
        .expect("session ended");
    let summary = ended(&end).unwrap().clone();
    assert_eq!((summary.reason.clone(), summary.publishes), (EndReason::PublisherGone, 2), "{summary:?}");

    let prefix = format!("live/{}/{}", s.stream_id, s.session_id);
    let dir = tempdir();
    let keys = download_all(&rig, &prefix, &dir).await;
    assert!(keys.iter().any(|k| k.ends_with("source/init_1.mp4")), "the second process's init segment: {keys:?}");
    let playlist = std::fs::read_to_string(dir.join("source/index.m3u8")).unwrap();
    assert_eq!(playlist.matches("#EXT-X-DISCONTINUITY\n").count(), 1, "{playlist}");
    assert!(playlist.ends_with("#EXT-X-ENDLIST\n"));
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
    let key = skycast_core::stream::new_stream_key();
    let mut s = spec(free_udp_port(), &key);
    s.profile = Profile::Ladder;
    rig.node.start_session(s.clone()).await.unwrap();
    let url = format!("srt://127.0.0.1:{}?passphrase={key}&pbkeylen=16&connect_timeout=2000", s.port);
    assert!(publish_to(&url, 6, "1280x720").await, "the 720p publisher failed");
    let end =
        next_event(&mut rig, &s.session_id, Duration::from_secs(30), |e| ended(e).is_some()).await.expect("ended");
    let summary = ended(&end).unwrap().clone();
    assert_eq!(summary.renditions.len(), 3);
    // Even a short session ends with its still stored.
    assert!(summary.thumbnail, "{summary:?}");

    let prefix = format!("live/{}/{}", s.stream_id, s.session_id);
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
    let prefix = skycast_tests::unique_prefix();
    let direct = skycast_dev::sdk::s3(&skycast_tests::sdk_config().await);
    let through_proxy = skycast_dev::sdk::s3(&skycast_dev::sdk::for_endpoint(&proxy.url()).await);
    let mut config = NodeConfig::with_prefix(&prefix);
    config.spool_dir = std::env::temp_dir().join(format!("skycast-spool-{prefix}"));
    config.reconnect_window = Duration::from_secs(2);
    direct.create_bucket().bucket(&config.live_bucket).send().await.unwrap();
    let bucket = config.live_bucket.clone();
    let (tx, events) = mpsc::unbounded_channel();
    let node = Node::start(config, Arc::new(S3Store::new(through_proxy, bucket.clone())), tx).await.unwrap();
    let mut rig = Rig { node, events, s3: direct, bucket };

    let key = skycast_core::stream::new_stream_key();
    let s = spec(free_udp_port(), &key);
    rig.node.start_session(s.clone()).await.unwrap();
    let publisher = {
        let (port, key) = (s.port, key.clone());
        tokio::spawn(async move { publish(port, &key, 28).await })
    };
    assert!(
        next_event(&mut rig, &s.session_id, Duration::from_secs(20), |e| matches!(e, SessionEvent::Live { .. }))
            .await
            .is_some()
    );
    proxy.pause();
    tokio::time::sleep(Duration::from_secs(20)).await; // the outage itself, not a wait for a result
    proxy.resume();
    assert!(publisher.await.unwrap(), "the encoder noticed the outage");
    let end =
        next_event(&mut rig, &s.session_id, Duration::from_secs(60), |e| ended(e).is_some()).await.expect("ended");
    let summary = ended(&end).unwrap().clone();

    let prefix = format!("live/{}/{}", s.stream_id, s.session_id);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtmp_with_the_key_goes_live_and_ends_with_a_complete_playlist() {
    let _cores = skycast_tests::encoder::realtime_share(1).await;
    let mut rig = rig(Duration::from_secs(3)).await;
    let key = skycast_core::stream::new_stream_key();
    let s = rtmp_spec(&key);
    rig.node.start_session(s.clone()).await.unwrap();
    let publisher = {
        let (port, key) = (s.port, key.clone());
        tokio::spawn(async move { publish_rtmp(port, &key, 8).await })
    };
    assert!(
        next_event(&mut rig, &s.session_id, Duration::from_secs(20), |e| matches!(e, SessionEvent::Live { .. }))
            .await
            .is_some(),
        "never went live over RTMP"
    );
    let prefix = format!("live/{}/{}", s.stream_id, s.session_id);
    let master = get_text(&rig, &format!("{prefix}/master.m3u8")).await.expect("master playlist");
    assert!(master.contains("CODECS=\"avc1.") && master.contains("mp4a.40.2"), "{master}");
    assert!(publisher.await.unwrap(), "the RTMP publisher's ffmpeg failed");
    let end = next_event(&mut rig, &s.session_id, Duration::from_secs(20), |e| ended(e).is_some())
        .await
        .expect("session ended");
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
async fn rtmp_with_a_wrong_key_is_refused_and_the_right_one_still_gets_in() {
    let _cores = skycast_tests::encoder::realtime_share(1).await;
    let mut rig = rig(Duration::from_secs(30)).await;
    let key = skycast_core::stream::new_stream_key();
    let s = rtmp_spec(&key);
    rig.node.start_session(s.clone()).await.unwrap();
    let wrong = skycast_core::stream::new_stream_key();
    assert!(!publish_rtmp(s.port, &wrong, 4).await, "the gate let a wrong stream key publish");
    // FFmpeg alone would have taken it: nothing may have been made of it.
    let listed =
        rig.s3.list_objects_v2().bucket(&rig.bucket).prefix(format!("live/{}", s.stream_id)).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0), "nothing stored for a refused publisher");
    assert!(
        next_event(&mut rig, &s.session_id, Duration::from_secs(1), |e| matches!(e, SessionEvent::Live { .. }))
            .await
            .is_none()
    );
    // The session still waits for its streamer, who has the key.
    assert!(publish_rtmp(s.port, &key, 4).await, "the right key was refused after a wrong one");
    let summary = rig.node.stop_session(&s.session_id).await.expect("summary");
    assert_eq!((summary.reason.clone(), summary.publishes), (EndReason::Stopped, 1));
    assert!(summary.segments() >= 1, "{summary:?}");
}
