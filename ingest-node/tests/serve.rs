//! `ingest-node serve` as a process, against the platform's tables: a
//! publisher with a stream's key goes live with no API call (the node
//! claims the session in the table), the key is on no command line and in
//! no log, and SIGTERM drains every session (playlists closed, `ended`
//! reported) in ≤ 10 s.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::Value;
use skycast_core::{
    store::Stores,
    stream::{Profile, Protocol, Stream, StreamStatus, Visibility},
};
use skycast_tests::encoder::Obs;

fn free_port(udp: bool) -> u16 {
    if udp {
        std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    } else {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }
}

pub fn stream(owner: &str, key: &str) -> Stream {
    let now = skycast_core::timefmt::now_rfc3339();
    Stream {
        id: skycast_core::ids::new_id(),
        owner_id: owner.into(),
        owner_username: "serve-test".into(),
        title: "served".into(),
        description: String::new(),
        protocol: Protocol::Srt,
        visibility: Visibility::Public,
        record: false,
        profile: Profile::Source,
        latency: Default::default(),
        status: StreamStatus::Idle,
        stream_key: key.into(),
        created_at: now.clone(),
        updated_at: now,
        started_at: None,
        ended_at: None,
        session_id: None,
        hls_url: None,
        thumbnail: false,
        ingest_node_id: None,
        renditions: vec![],
        segments: None,
        duration_s: None,
        bitrate_bps: None,
        health: None,
    }
}

/// A fresh stack's resources, and one stream of `owner`'s in its table.
struct Platform {
    prefix: String,
    sdk: aws_config::SdkConfig,
    config: skycast_core::Config,
    stores: Stores,
    sqs: aws_sdk_sqs::Client,
    /// The stream-events queue's URL.
    events: String,
    key: String,
    stream: Stream,
}

async fn platform(owner: &str, record: bool) -> Platform {
    let prefix = skycast_tests::unique_prefix();
    let sdk = skycast_tests::sdk_config().await;
    skycast_dev::bootstrap::all(&sdk, &skycast_core::resources::Resources::embedded(), &prefix).await.unwrap();
    let config = skycast_core::Config::with_prefix(&prefix);
    let stores = Stores::dynamo(aws_sdk_dynamodb::Client::new(&sdk), &config.tables);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let events_name = skycast_core::config::physical_name(&prefix, "stream-events");
    let events = sqs.get_queue_url().queue_name(events_name).send().await.unwrap().queue_url.unwrap();
    let key = skycast_core::stream::new_stream_key();
    let mut s = stream(owner, &key);
    s.record = record;
    stores.streams.create(&s).await.unwrap();
    Platform { prefix, sdk, config, stores, sqs, events, key, stream: s }
}

/// Every process below `pid` (children, grandchildren), `pid` included.
fn process_tree(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        let out = std::process::Command::new("pgrep").args(["-P", &all[i].to_string()]).output().unwrap();
        all.extend(String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.trim().parse::<u32>().ok()));
        i += 1;
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_goes_live_alone_and_sigterm_drains_with_no_key_anywhere() {
    let Platform { prefix, sdk, config, stores, sqs, events, key, stream: s } = platform("owner-1", false).await;

    let spool = std::env::temp_dir().join(format!("skycast-serve-{prefix}"));
    let log = std::env::temp_dir().join(format!("skycast-serve-{prefix}.log"));
    let health = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (rtmp_port, srt_port) = (free_port(false), free_port(true));
    let node = spawn_node_with(
        &prefix,
        "drain-test",
        &spool,
        skycast_tests::emulator_endpoint(),
        (rtmp_port, srt_port),
        |c| {
            c.env("SKYCAST_INGEST_HEALTH_ADDR", health.to_string())
                .env("RUST_LOG", "debug,aws=info,hyper=info,h2=info,tower=info")
                .stdout(std::fs::File::create(&log).unwrap());
        },
    )
    .0;

    // An encoder that would go on for a minute: the drain must not wait for it.
    let publish_url = format!("srt://127.0.0.1:{srt_port}?streamid={key}&passphrase={key}");
    let mut publisher = Obs::start(&publish_url, 60, "640x360").await.unwrap();
    let mut seen = Vec::<Value>::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen.iter().any(|e| e["type"] == "live") {
        assert!(Instant::now() < deadline, "never went live: {seen:?}");
        // An encoder that started before the node listened gives up: retry it, as OBS does.
        if publisher.has_stopped() {
            publisher = Obs::start(&publish_url, 60, "640x360").await.unwrap();
        }
        let out = sqs
            .receive_message()
            .queue_url(&events)
            .wait_time_seconds(1)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        for m in out.messages() {
            seen.push(serde_json::from_str(m.body().unwrap()).unwrap());
            sqs.delete_message().queue_url(&events).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
        }
    }
    // No API call made: the node claimed the session in the table.
    let claimed = stores.streams.get(&s.id).await.unwrap().unwrap();
    let session_id = claimed.session_id.clone().expect("a session on the stream");
    assert_eq!(claimed.ingest_node_id.as_deref(), Some("drain-test"));
    assert!(claimed.status.is_on_air(), "{:?}", claimed.status);
    assert_eq!(seen.iter().find(|e| e["type"] == "live").unwrap()["session_id"], session_id.as_str());
    // The node is registered with its two ports, and its load by its next heartbeat.
    let me = skycast_tests::eventually(Duration::from_secs(15), || {
        let ingest = stores.ingest.clone();
        async move { ingest.node("drain-test").await.ok().flatten().filter(|n| n.sessions == 1) }
    })
    .await
    .expect("registered, holding one session");
    assert_eq!((me.rtmp_port, me.srt_port), (rtmp_port, srt_port));
    // Its capacity and load, for an admin's `GET /stats`.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    assert_eq!(me.cpus, cpus);
    assert!(me.load_1m.is_some_and(|l| l >= 0.0), "{me:?}");

    // The key is on no command line of the node or its FFmpeg.
    let tree = process_tree(node.id());
    assert!(tree.len() >= 2, "the node runs an ffmpeg: {tree:?}");
    for pid in &tree {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&cmdline).contains(&key), "the stream key is on process {pid}'s command line");
    }

    // What a load balancer probes (SRT's UDP port cannot be).
    assert!(get_says(health, "/health", "ok").await, "GET /health on SKYCAST_INGEST_HEALTH_ADDR");

    let pid = node.id() as i32;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let signalled = Instant::now();
    let mut node = node;
    exits_cleanly_within_10_s(&mut node, signalled).await;
    println!("drained in {:?}", signalled.elapsed());

    // The session ended properly: `ended` reported, playlist closed.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.iter().any(|e| e["type"] == "ended") {
        assert!(Instant::now() < deadline, "no ended event: {seen:?}");
        let out = sqs
            .receive_message()
            .queue_url(&events)
            .wait_time_seconds(1)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        seen.extend(out.messages().iter().map(|m| serde_json::from_str::<Value>(m.body().unwrap()).unwrap()));
    }
    let ended = seen.iter().find(|e| e["type"] == "ended").unwrap();
    assert_eq!((ended["reason"].as_str(), ended["session_id"].as_str()), (Some("stopped"), Some(session_id.as_str())));
    let s3 = skycast_dev::sdk::s3(&sdk);
    let playlist_key = format!("live/{}/{session_id}/source/index.m3u8", s.id);
    let out = s3.get_object().bucket(&config.buckets.live).key(playlist_key).send().await.unwrap();
    let playlist = String::from_utf8(out.body.collect().await.unwrap().into_bytes().to_vec()).unwrap();
    assert!(playlist.ends_with("#EXT-X-ENDLIST\n"), "{playlist}");
    assert!(stores.ingest.node("drain-test").await.unwrap().is_none(), "a drained node leaves the registry");

    // Nothing the node logged (at debug, ffmpeg's lines included) holds the key.
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("srt publisher accepted"), "the log is the node's: {}", &logged[..logged.len().min(500)]);
    assert!(!logged.contains(&key), "the stream key is in the node's log");
    // No FFmpeg outlived the node.
    for pid in tree.iter().skip(1) {
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists() || zombie(*pid), "process {pid} survived");
    }
    publisher.stop().await;
    let _ = std::fs::remove_dir_all(&spool);
    let _ = std::fs::remove_file(&log);
}

/// Waits for the node to exit after SIGTERM (sent at `signalled`): successfully, within 10 s.
async fn exits_cleanly_within_10_s(node: &mut std::process::Child, signalled: Instant) {
    let status = loop {
        if let Some(status) = node.try_wait().unwrap() {
            break status;
        }
        assert!(signalled.elapsed() < Duration::from_secs(10), "still running 10 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status}");
}

fn zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z')))
}

/// `ingest-node serve` for `prefix` as `node_id`, on its own free ports.
fn spawn_node(prefix: &str, node_id: &str, spool: &std::path::Path) -> (skycast_tests::encoder::ChildGuard, u16, u16) {
    spawn_node_via(prefix, node_id, spool, skycast_tests::emulator_endpoint(), (free_port(false), free_port(true)))
}

/// The same, reaching AWS at `endpoint`, on the given RTMP and SRT ports.
fn spawn_node_via(
    prefix: &str,
    node_id: &str,
    spool: &std::path::Path,
    endpoint: &str,
    ports: (u16, u16),
) -> (skycast_tests::encoder::ChildGuard, u16, u16) {
    spawn_node_with(prefix, node_id, spool, endpoint, ports, |_| {})
}

/// The same, with what `tweak` adds to the command (more environment, where its log goes).
fn spawn_node_with(
    prefix: &str,
    node_id: &str,
    spool: &std::path::Path,
    endpoint: &str,
    (rtmp_port, srt_port): (u16, u16),
    tweak: impl FnOnce(&mut std::process::Command),
) -> (skycast_tests::encoder::ChildGuard, u16, u16) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ingest-node"));
    command
        .arg("serve")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("SKYCAST_NAME_PREFIX", prefix)
        .env("SKYCAST_SPOOL_DIR", spool)
        .env("SKYCAST_NODE_ID", node_id)
        .env("SKYCAST_RTMP_PORT", rtmp_port.to_string())
        .env("SKYCAST_SRT_PORT", srt_port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    tweak(&mut command);
    let child = command.spawn().expect("start ingest-node");
    (skycast_tests::encoder::ChildGuard(child), rtmp_port, srt_port)
}

/// Stream events until one matches, or the deadline passes; each applied
/// by the lifecycle function (when given), as Lambda would.
async fn event_where(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    seen: &mut Vec<Value>,
    limit: Duration,
    lifecycle: Option<&skycast_lifecycle::Lifecycle>,
    want: impl Fn(&Value) -> bool,
) -> Option<Value> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(e) = seen.iter().find(|e| want(e)) {
            return Some(e.clone());
        }
        if Instant::now() > deadline {
            return None;
        }
        let out =
            sqs.receive_message().queue_url(queue).wait_time_seconds(1).max_number_of_messages(10).send().await.ok()?;
        for m in out.messages() {
            if let Some(lc) = lifecycle
                && let Ok(event) = serde_json::from_str(m.body().unwrap_or_default())
            {
                skycast_lifecycle::apply(lc, &event).await.expect("the lifecycle applies the node's events");
            }
            seen.push(serde_json::from_str(m.body().unwrap_or_default()).unwrap_or_default());
            let _ = sqs
                .delete_message()
                .queue_url(queue)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_session_is_ended_by_another_and_its_publisher_goes_live_there() {
    let Platform { prefix, sdk, config, stores, sqs, events, key, stream: s } = platform("owner-2", true).await;
    let jobs_name = skycast_core::config::physical_name(&prefix, "recording-jobs");
    let jobs = sqs.get_queue_url().queue_name(jobs_name).send().await.unwrap().queue_url.unwrap();
    let lifecycle = skycast_lifecycle::Lifecycle {
        stores: stores.clone(),
        messages: std::sync::Arc::new(skycast_core::store::queue::SqsSender::new(sqs.clone())),
        recording_jobs_url: jobs,
        webhooks: skycast_core::store::queue::WebhookOutbox::off(),
    };
    let lc = Some(&lifecycle);
    let spool = std::env::temp_dir().join(format!("skycast-kill-{prefix}"));
    let (mut a, _, a_srt) = spawn_node(&prefix, "node-a", &spool.join("a"));
    let (b, _, b_srt) = spawn_node(&prefix, "node-b", &spool.join("b"));

    let url = |port: u16| format!("srt://127.0.0.1:{port}?streamid={key}&passphrase={key}");
    let mut publisher = Obs::start(&url(a_srt), 60, "640x360").await.unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let live = loop {
        if let Some(live) =
            event_where(&sqs, &events, &mut seen, Duration::from_secs(1), lc, |e| e["type"] == "live").await
        {
            break live;
        }
        assert!(Instant::now() < deadline, "never went live on node A: {seen:?}");
        if publisher.has_stopped() {
            publisher = Obs::start(&url(a_srt), 60, "640x360").await.unwrap();
        }
    };
    let session = live["session_id"].as_str().unwrap().to_owned();
    assert_eq!(stores.streams.get(&s.id).await.unwrap().unwrap().ingest_node_id.as_deref(), Some("node-a"));
    // A few segments in, the node dies without a word.
    let stats = event_where(&sqs, &events, &mut seen, Duration::from_secs(25), lc, |e| {
        e["type"] == "stats" && e["segments"].as_u64().is_some_and(|n| n >= 3)
    })
    .await;
    assert!(stats.is_some(), "node A reported figures");
    a.kill().unwrap();
    let killed = Instant::now();
    publisher.stop().await;

    // The other node ends the session from what is in S3, within 90 s.
    let ended = event_where(&sqs, &events, &mut seen, Duration::from_secs(90), lc, |e| {
        e["type"] == "ended" && e["session_id"] == session.as_str()
    })
    .await
    .expect("the dead node's session ended within 90 s");
    println!("ended {:?} after the kill", killed.elapsed());
    assert_eq!(ended["reason"], "failed: ingest node lost");
    let segments = ended["segments"].as_u64().unwrap();
    assert!(segments >= 2, "{ended}");
    let s3 = skycast_dev::sdk::s3(&sdk);
    let folder = format!("live/{}/{session}/source", s.id);
    let out = s3.get_object().bucket(&config.buckets.live).key(format!("{folder}/index.m3u8")).send().await.unwrap();
    let playlist = String::from_utf8(out.body.collect().await.unwrap().into_bytes().to_vec()).unwrap();
    assert!(playlist.ends_with("#EXT-X-ENDLIST\n"), "{playlist}");
    let listed: Vec<&str> = playlist.lines().filter(|l| l.ends_with(".m4s")).collect();
    let stored =
        s3.list_objects_v2().bucket(&config.buckets.live).prefix(format!("{folder}/seg_")).send().await.unwrap();
    assert_eq!(listed.len() as u64, segments);
    assert_eq!(
        listed.len(),
        stored.key_count().unwrap_or(0) as usize,
        "every stored segment is in the recording's playlist"
    );
    // The platform makes its recording: the lifecycle queued the job, and
    // the recorder turns what node A stored into the MP4.
    let recording = stores.recordings.get(&s.id, &session).await.unwrap().expect("a recording of the lost session");
    assert!(recording.job_sent, "{recording:?}");
    let recorder = skycast_recorder::Recorder {
        recordings: stores.recordings.clone(),
        media: std::sync::Arc::new(skycast_recorder::s3::S3Media::new(
            s3.clone(),
            config.buckets.live.clone(),
            config.buckets.recordings.clone(),
        )),
        redelivery: std::sync::Arc::new(skycast_recorder::QueueDefault),
        max_receives: 3,
        lease: Duration::from_secs(900),
        backoff: Duration::ZERO,
        counters: None,
        webhooks: skycast_core::store::queue::WebhookOutbox::off(),
    };
    let job = skycast_core::events::RecordingJob::Record {
        stream_id: s.id.clone(),
        session_id: session.clone(),
        at: skycast_core::timefmt::now_rfc3339(),
        rendition: "source".into(),
    };
    let recorded = recorder.record(&job, 1).await;
    assert!(matches!(recorded, Ok(skycast_recorder::Outcome::Recorded(_))), "recorder: {recorded:?}");
    let ready = stores.recordings.get(&s.id, &session).await.unwrap().unwrap();
    assert_eq!(ready.status.as_str(), "ready", "{ready:?}");
    let mp4_s = ready.duration_s.unwrap_or_default();
    assert!((mp4_s - ended["duration_s"].as_f64().unwrap()).abs() < 1.0, "the MP4 holds what was stored: {mp4_s} s");

    // The encoder, sent by the load balancer to the node that is left, goes live there.
    let publisher = Obs::start(&url(b_srt), 30, "640x360").await.unwrap();
    let again = event_where(&sqs, &events, &mut seen, Duration::from_secs(30), lc, |e| {
        e["type"] == "live" && e["session_id"] != session.as_str()
    })
    .await;
    assert!(again.is_some(), "the publisher went live on node B: {seen:?}");
    let held = stores.streams.get(&s.id).await.unwrap().unwrap();
    assert_eq!(held.ingest_node_id.as_deref(), Some("node-b"));
    publisher.stop().await;
    drop(b);
    let _ = std::fs::remove_dir_all(&spool);
}

/// Every file under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(files_under(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_an_s3_outage_exits_in_10_s_and_the_restart_loses_nothing() {
    let Platform { prefix, sdk, config, sqs, events, key, stream: s, .. } = platform("owner-3", false).await;
    let spool = std::env::temp_dir().join(format!("skycast-outage-{prefix}"));
    // The node reaches AWS only through a proxy the test can cut.
    let proxy = skycast_tests::proxy::PausableProxy::start(
        skycast_tests::emulator_endpoint().trim_start_matches("http://").to_owned(),
    )
    .await
    .unwrap();
    let ports = (free_port(false), free_port(true));
    let (mut node, _, srt) = spawn_node_via(&prefix, "outage-node", &spool, &proxy.url(), ports);
    let url = format!("srt://127.0.0.1:{srt}?streamid={key}&passphrase={key}");
    let mut publisher = Obs::start(&url, 60, "640x360").await.unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let live = loop {
        if let Some(e) =
            event_where(&sqs, &events, &mut seen, Duration::from_secs(1), None, |e| e["type"] == "live").await
        {
            break e;
        }
        assert!(Instant::now() < deadline, "never went live: {seen:?}");
        if publisher.has_stopped() {
            publisher = Obs::start(&url, 60, "640x360").await.unwrap();
        }
    };
    let went_live = Instant::now();
    let session = live["session_id"].as_str().unwrap().to_owned();

    // S3 (and everything else) goes away; segments keep coming, into the spool.
    proxy.pause();
    tokio::time::sleep(Duration::from_secs(5)).await; // the outage itself, not a wait for a result
    // SAFETY: signalling our own child.
    unsafe { libc::kill(node.id() as i32, libc::SIGTERM) };
    let signalled = Instant::now();
    let published_for = went_live.elapsed();
    loop {
        if node.try_wait().unwrap().is_some() {
            break;
        }
        assert!(signalled.elapsed() < Duration::from_secs(10), "still running 10 s after SIGTERM during the outage");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("drained in {:?} with S3 down", signalled.elapsed());
    publisher.stop().await;
    let waiting = files_under(&spool);
    assert!(waiting.iter().any(|f| f.to_string_lossy().ends_with(".m4s")), "segments wait in the spool: {waiting:?}");
    assert!(
        !seen.iter().any(|e| e["type"] == "ended"),
        "no `ended` while segments are missing: the recording would miss them"
    );

    // S3 is back; the node restarts on the same spool: it stores what waited
    // there and ends the session with all of it.
    proxy.resume();
    let (_node, _, _) = spawn_node_via(&prefix, "outage-node", &spool, skycast_tests::emulator_endpoint(), ports);
    let ended = event_where(&sqs, &events, &mut seen, Duration::from_secs(30), None, |e| {
        e["type"] == "ended" && e["session_id"] == session.as_str()
    })
    .await
    .expect("the restarted node ends the session");
    let s3 = skycast_dev::sdk::s3(&sdk);
    let folder = format!("live/{}/{session}/source", s.id);
    let out = s3.get_object().bucket(&config.buckets.live).key(format!("{folder}/index.m3u8")).send().await.unwrap();
    let playlist = String::from_utf8(out.body.collect().await.unwrap().into_bytes().to_vec()).unwrap();
    assert!(playlist.ends_with("#EXT-X-ENDLIST\n"), "{playlist}");
    let listed: Vec<&str> = playlist.lines().filter(|l| l.ends_with(".m4s")).collect();
    let expected: Vec<String> = (0..listed.len()).map(|n| format!("seg_{n:06}.m4s")).collect();
    assert_eq!(listed, expected, "every segment listed once, in order, none missing");
    let duration = ended["duration_s"].as_f64().unwrap();
    assert!(
        duration + 3.0 >= published_for.as_secs_f64(),
        "{duration} s listed of {published_for:?} published before the SIGTERM: the outage's segments are there"
    );
    assert!(files_under(&spool).is_empty(), "the spool is empty once everything is stored: {:?}", files_under(&spool));
    let _ = std::fs::remove_dir_all(&spool);
}

/// SIGTERM while relay sessions are live: every socket is told the node is
/// going (close 1001), each session is recorded finished, and the node exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_relay_sessions_cleanly() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let Platform { prefix, stores, .. } = platform("owner-3", false).await;
    let pem = skycast_core::auth::JwtKeys::generate_pkcs8_pem();
    let keys = skycast_core::auth::JwtKeys::from_pkcs8_pem(&pem, "skycast", Duration::from_secs(900)).unwrap();
    let client_id = "5d6e7f80-1a2b-4c3d-8e9f-0a1b2c3d4e5f";
    let now = skycast_core::timefmt::now_rfc3339();
    let alice = "0190f5c2-0000-7000-8000-00000000a11c";
    let (session, key) = skycast_core::relay_session::RelaySession::create(alice, client_id, vec![], &now);
    stores.relay_sessions.create(&session).await.unwrap();

    let spool = std::env::temp_dir().join(format!("skycast-relay-{prefix}"));
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (node, _, _) = spawn_node_with(
        &prefix,
        "relay-drain",
        &spool,
        skycast_tests::emulator_endpoint(),
        (free_port(false), free_port(true)),
        |c| {
            c.env("SKYCAST_NODE_HTTP_ADDR", http.to_string()).env("SKYCAST_JWT_PRIVATE_KEY", &pem);
        },
    );
    let base = format!("ws://{http}");
    let open = |user: &str, credential: String| {
        let url = session.socket_url(&base, user);
        async move { skycast_tests::ws::open(&url, &credential).await.ok() }
    };
    // The node's port opens once it has started.
    let mut client = skycast_tests::eventually(Duration::from_secs(20), || open(client_id, key.clone()))
        .await
        .expect("the client's socket");
    let mut operator = open(alice, keys.issue(alice, "alice").unwrap()).await.expect("the creator operates");
    assert!(get_says(http, "/ready", "ready").await, "GET /ready");
    let active = skycast_tests::eventually(Duration::from_secs(10), || async {
        stores.relay_sessions.get(&session.id).await.ok().flatten().filter(|s| s.operators.len() == 1)
    })
    .await
    .expect("active, one operator");
    assert_eq!(active.status, skycast_core::relay_session::RelayStatus::Active);
    client.send(Message::text("before the end")).await.unwrap();
    let relayed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match operator.next().await {
                Some(Ok(Message::Text(t))) => return t.to_string(),
                Some(Ok(_)) => continue,
                other => panic!("operator: {other:?}"),
            }
        }
    })
    .await
    .expect("relayed");
    assert_eq!(relayed, "before the end");

    let mut node = node;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(node.id() as i32, libc::SIGTERM) };
    let signalled = Instant::now();
    for (who, socket) in [("client", &mut client), ("operator", &mut operator)] {
        let code = loop {
            match tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| u16::from(f.code)),
                Ok(Some(Ok(_))) => continue,
                other => panic!("{who}: no close frame: {other:?}"),
            }
        };
        assert_eq!(code, Some(1001), "{who} told the node is going");
    }
    exits_cleanly_within_10_s(&mut node, signalled).await;
    let finished = stores.relay_sessions.get(&session.id).await.unwrap().unwrap();
    assert_eq!(finished.status, skycast_core::relay_session::RelayStatus::Finished, "{finished:?}");
    assert_eq!(finished.finish_reason.as_deref(), Some("node_shutdown"));
    assert_eq!(finished.messages_relayed, 1);
    println!("relay sessions finished {:?} after SIGTERM", signalled.elapsed());
    let _ = std::fs::remove_dir_all(&spool);
}

/// `GET path` on the node's HTTP port answers 200 with `text` in its body.
async fn get_says(addr: std::net::SocketAddr, path: &'static str, text: &'static str) -> bool {
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let Ok(mut conn) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else { return false };
        let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
        let request = format!("GET {path} HTTP/1.1\r\nhost: node\r\nconnection: close\r\n\r\n");
        if conn.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut reply = String::new();
        let _ = conn.read_to_string(&mut reply);
        reply.starts_with("HTTP/1.1 200") && reply.contains(text)
    })
    .await
    .unwrap_or(false)
}
