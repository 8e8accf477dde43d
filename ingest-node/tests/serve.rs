//! `ingest-node serve` as a process: SQS commands in, events out, and a
//! SIGTERM drain that closes every playlist and reports `ended` in ≤ 10 s.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use skycast_tests::encoder::Obs;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_sessions_and_leaves_no_ffmpeg() {
    let prefix = skycast_tests::unique_prefix();
    let sdk = skycast_tests::sdk_config().await;
    skycast_dev::bootstrap::all(&sdk, &skycast_core::resources::Resources::embedded(), &prefix).await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = |name: &str| {
        let (sqs, name) = (sqs.clone(), skycast_core::config::physical_name(&prefix, name));
        async move { sqs.get_queue_url().queue_name(name).send().await.unwrap().queue_url.unwrap() }
    };
    let (commands, events) = (url("ingest-commands").await, url("stream-events").await);
    let spool = std::env::temp_dir().join(format!("skycast-serve-{prefix}"));
    let health = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let node = skycast_tests::encoder::ChildGuard(
        std::process::Command::new(env!("CARGO_BIN_EXE_ingest-node"))
            .arg("serve")
            .env("AWS_ENDPOINT_URL", skycast_tests::emulator_endpoint())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("SKYCAST_NAME_PREFIX", &prefix)
            .env("SKYCAST_SPOOL_DIR", &spool)
            .env("SKYCAST_NODE_ID", "drain-test")
            .env("SKYCAST_INGEST_HEALTH_ADDR", health.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ingest-node"),
    );

    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let key = skycast_core::stream::new_stream_key();
    let (stream_id, session_id) = (skycast_core::ids::new_id(), skycast_core::ids::new_id());
    let start = json!({"type": "start", "stream_id": stream_id, "session_id": session_id, "at": "now",
                       "protocol": "srt", "port": port, "stream_key": key, "profile": "source"});
    sqs.send_message().queue_url(&commands).message_body(start.to_string()).send().await.unwrap();

    // An encoder that would go on for a minute: the drain must not wait for it.
    let publish_url = format!("srt://127.0.0.1:{port}?passphrase={key}&pbkeylen=16");
    let mut publisher = Obs::start(&publish_url, 60, "640x360").await.unwrap();
    // A caller that started before the listener was up gives up: retry it.
    let mut seen = Vec::<Value>::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen.iter().any(|e| e["type"] == "live") {
        assert!(Instant::now() < deadline, "never went live: {seen:?}");
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

    // What a load balancer probes (SRT's UDP ports cannot be).
    assert!(health_says_ok(health).await, "GET /health on SKYCAST_INGEST_HEALTH_ADDR");

    let pid = node.id() as i32;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let signalled = Instant::now();
    let mut node = node;
    let status = loop {
        if let Some(status) = node.try_wait().unwrap() {
            break status;
        }
        assert!(signalled.elapsed() < Duration::from_secs(10), "still running 10 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status}");
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
    let key = format!("live/{stream_id}/{session_id}/source/index.m3u8");
    let out =
        s3.get_object().bucket(skycast_core::config::physical_name(&prefix, "live")).key(key).send().await.unwrap();
    let playlist = String::from_utf8(out.body.collect().await.unwrap().into_bytes().to_vec()).unwrap();
    assert!(playlist.ends_with("#EXT-X-ENDLIST\n"), "{playlist}");

    // No listener outlived the node.
    let listeners = std::process::Command::new("pgrep")
        .args(["-f", &format!("srt://127.0.0.1:{port}?mode=listener")])
        .output()
        .unwrap();
    assert!(listeners.stdout.is_empty(), "an ffmpeg listener survived: {}", String::from_utf8_lossy(&listeners.stdout));
    publisher.stop().await;
    let _ = std::fs::remove_dir_all(&spool);
}

async fn health_says_ok(addr: std::net::SocketAddr) -> bool {
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let Ok(mut conn) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else { return false };
        let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
        if conn.write_all(b"GET /health HTTP/1.1\r\nhost: node\r\nconnection: close\r\n\r\n").is_err() {
            return false;
        }
        let mut reply = String::new();
        let _ = conn.read_to_string(&mut reply);
        reply.starts_with("HTTP/1.1 200") && reply.ends_with("ok")
    })
    .await
    .unwrap_or(false)
}
