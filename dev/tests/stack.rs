//! `skycast-dev` as a user runs it: a real process serving on a real port,
//! its own emulator, and Ctrl-C (SIGINT) stopping all of it within seconds.

use std::time::{Duration, Instant};

use tokio::io::AsyncBufReadExt;

use serde_json::json;
use skycast_tests::{
    dev_stack::{self, DevStack},
    raw_http::request,
};

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

/// `skycast-dev` from this build, started as `make dev` would (see `skycast_tests::dev_stack`).
async fn start_stack(extra_env: &[(&str, String)]) -> DevStack {
    dev_stack::start(std::path::Path::new(env!("CARGO_BIN_EXE_skycast-dev")), extra_env)
        .await
        .expect("start skycast-dev")
}

#[tokio::test]
async fn dev_stack_serves_the_api_and_stops_cleanly_on_ctrl_c() {
    let DevStack { mut child, addr, root, emulator_port, http_port } = start_stack(&[]).await;

    let key = root.join(".dev/jwt-ed25519.pem");
    assert!(key.exists(), "a development signing key is generated on first start");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }

    let body = json!({"username": "devuser", "email": "dev@example.com", "password": skycast_tests::PASSWORD});
    let reg = request(&addr, "POST", "/auth/register", None, Some(&body)).await.unwrap();
    assert_eq!(reg.status, 201, "{}", reg.head);
    let token = reg.body["access_token"].as_str().unwrap().to_owned();
    let s = request(&addr, "POST", "/streams", Some(&token), Some(&json!({"title": "dev"}))).await.unwrap();
    assert_eq!(s.status, 201);
    let got = request(&addr, "GET", &format!("/streams/{}", s.body["id"].as_str().unwrap()), None, None).await.unwrap();
    assert_eq!(got.body["title"], "dev");
    let doc = request(&addr, "GET", "/openapi.json", None, None).await.unwrap();
    assert_eq!(doc.body["info"]["title"], "Skycast API");
    // One origin: the app's pages, the API under /api/ (and at its old paths).
    let listed = request(&addr, "GET", "/api/streams", None, None).await.unwrap();
    assert_eq!((listed.status, listed.body["items"].is_array()), (200, true), "{}", listed.head);
    let missing = request(&addr, "GET", "/api/nope", None, None).await.unwrap();
    assert_eq!((missing.status, missing.body["error"]["code"].as_str()), (404, Some("not_found")));
    let missing = request(&addr, "GET", "/nope", None, None).await.unwrap();
    assert_eq!((missing.status, missing.body["error"]["code"].as_str()), (404, Some("not_found")));
    assert!(missing.head.to_ascii_lowercase().contains("x-request-id:"));

    // Ctrl-C: the whole stack, emulator included, is gone within seconds.
    let pid = child.id() as i32;
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "skycast-dev still running 10 s after SIGINT");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status}");
    let gone =
        skycast_tests::eventually(Duration::from_secs(5), || async { (!port_open(emulator_port)).then_some(()) }).await;
    assert!(gone.is_some(), "the emulator outlived the stack");
    assert!(!port_open(http_port));
    let _ = std::fs::remove_dir_all(&root);
}

/// The path part of a URL on this stack (`http://host:port/path` → `/path`).
fn path_of(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap_or(url);
    rest.find('/').map(|i| rest[i..].to_owned()).unwrap_or_else(|| "/".into())
}

#[tokio::test]
async fn a_streamer_goes_live_through_the_api_and_viewers_get_hls() {
    let _cores = skycast_tests::encoder::realtime_share(1).await;
    let srt_port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let rtmp_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut stack =
        start_stack(&[("SKYCAST_SRT_PORT", srt_port.to_string()), ("SKYCAST_RTMP_PORT", rtmp_port.to_string())]).await;
    let addr = stack.addr.clone();
    let body = json!({"username": "caster", "email": "caster@example.com", "password": skycast_tests::PASSWORD});
    let token = request(&addr, "POST", "/auth/register", None, Some(&body)).await.unwrap().body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = Some(token.as_str());
    let created = request(&addr, "POST", "/streams", t, Some(&json!({"title": "Live now"}))).await.unwrap();
    let id = created.body["id"].as_str().unwrap().to_owned();

    // The node registers itself with a heartbeat; start succeeds once it has.
    let start = skycast_tests::eventually(Duration::from_secs(15), || {
        let addr = addr.clone();
        let id = id.clone();
        let token = token.clone();
        async move {
            request(&addr, "POST", &format!("/streams/{id}/start"), Some(&token), None)
                .await
                .ok()
                .filter(|r| r.status == 200)
        }
    })
    .await
    .expect("start");
    let url = start.body["ingest"]["url"].as_str().unwrap().to_owned();
    assert_eq!(start.body["status"], "waiting");
    let key = created.body["stream_key"].as_str().unwrap();
    assert_eq!(url, format!("srt://127.0.0.1:{srt_port}?streamid={key}&passphrase={key}"));
    let hls_url = start.body["hls_url"].as_str().unwrap().to_owned();
    let again = request(&addr, "POST", &format!("/streams/{id}/start"), t, None).await.unwrap();
    assert_eq!(
        (again.status, again.body["ingest"]["url"].as_str()),
        (200, Some(url.as_str())),
        "a repeated start returns the same URL"
    );
    assert_eq!(again.body["session_id"], start.body["session_id"]);

    // No port pool to run out of: another stream arms too.
    let other = request(&addr, "POST", "/streams", t, Some(&json!({"title": "Second"}))).await.unwrap();
    let second = request(&addr, "POST", &format!("/streams/{}/start", other.body["id"].as_str().unwrap()), t, None)
        .await
        .unwrap();
    assert_eq!(second.status, 200, "{}", second.body);
    // The key cannot change while the stream is on air.
    let rotate = request(&addr, "POST", &format!("/streams/{id}/key"), t, None).await.unwrap();
    assert_eq!(rotate.status, 409);

    let publisher = tokio::spawn({
        let url = url.clone();
        async move { publish_when_listening(&url, 8).await }
    });
    let live = stream_when(&addr, &id, Duration::from_secs(25), |r| r.body["status"] == "live")
        .await
        .expect("the stream went live");
    // Adaptive by default: the encoder's own on top, two rungs below.
    assert_eq!(live.body["renditions"], json!(["source", "480p", "360p"]));
    assert!(live.body.get("ingest").is_none() && live.body.get("stream_key").is_none(), "viewers see no credentials");
    let listed = request(&addr, "GET", "/streams?status=live", None, None).await.unwrap();
    assert_eq!(listed.body["items"][0]["id"], id.as_str());

    // Viewers: the master and media playlists through the local CDN.
    let master = request(&addr, "GET", &path_of(&hls_url), None, None).await.unwrap();
    assert_eq!(master.status, 200, "{}", master.head);
    assert!(
        master.head.to_ascii_lowercase().contains("content-type: application/vnd.apple.mpegurl"),
        "{}",
        master.head
    );
    let media_url = hls_url.replace("master.m3u8", "source/index.m3u8");
    // Listings get a still of the stream within seconds, served by the CDN.
    let with_thumbnail = stream_when(&addr, &id, Duration::from_secs(10), |r| r.body["thumbnail_url"].is_string())
        .await
        .expect("a thumbnail while live");
    assert!(with_thumbnail.body["bitrate_bps"].as_u64().is_some_and(|b| b > 0), "{}", with_thumbnail.body);
    let thumbnail = request(&addr, "GET", &path_of(with_thumbnail.body["thumbnail_url"].as_str().unwrap()), None, None)
        .await
        .unwrap();
    assert_eq!(thumbnail.status, 200, "{}", thumbnail.head);
    assert!(thumbnail.head.to_ascii_lowercase().contains("content-type: image/jpeg"), "{}", thumbnail.head);

    // Its owner sees what the node sees of the encoder's stream (renewed every 10 s).
    let health = skycast_tests::eventually(Duration::from_secs(15), || async {
        let r = request(&addr, "GET", &format!("/streams/{id}"), t, None).await.ok()?;
        r.body.get("health").cloned()
    })
    .await
    .expect("the owner sees the stream's health while live");
    assert_eq!(health["status"], "good", "OBS-like settings (2 s keyframes, AAC): {health}");
    assert!(health["audio"] == true && health["frame_rate"].as_f64().is_some_and(|f| f > 25.0), "{health}");
    let manifest = request(&addr, "GET", &format!("/streams/{id}/manifest"), None, None).await.unwrap();
    assert_eq!(manifest.body["renditions"].as_array().map(Vec::len), Some(3), "{}", manifest.body);
    assert!(manifest.body.get("health").is_none(), "viewers do not see it");

    // The node's metrics while the stream is live, as Prometheus scrapes them.
    let scrape = raw_get(&addr, "/metrics").await;
    let samples = skycast_tests::metric_samples(&scrape);
    let value = |name: &str, labels: &str| samples.get(&(name.to_owned(), labels.to_owned())).copied();
    assert_eq!(
        value("skycast_node_sessions", ""),
        Some(1.0),
        "the live session (an armed one runs nowhere yet): {scrape}"
    );
    assert_eq!(value("skycast_node_publishers", "protocol=\"srt\""), Some(1.0), "{scrape}");
    assert!(value("skycast_node_bytes_in_total", "protocol=\"srt\"").is_some_and(|b| b > 100_000.0), "{scrape}");
    assert!(value("skycast_node_segments_stored_total", "").is_some_and(|n| n >= 3.0), "{scrape}");
    assert!(value("skycast_node_upload_seconds_count", "").is_some_and(|n| n >= 3.0), "{scrape}");
    assert!(value("skycast_node_heartbeat_age_seconds", "").is_some_and(|a| a < 30.0), "{scrape}");
    for name in [
        "skycast_node_spool_bytes",
        "skycast_node_spool_oldest_age_seconds",
        "skycast_node_ffmpeg_restarts_total",
        "skycast_node_s3_errors_total",
    ] {
        assert!(value(name, "").is_some(), "{name} in {scrape}");
    }

    assert!(publisher.await.unwrap(), "the encoder's ffmpeg failed");
    let stop = request(&addr, "POST", &format!("/streams/{id}/stop"), t, None).await.unwrap();
    assert_eq!((stop.status, stop.body["status"].as_str()), (200, Some("ended")));
    // Live stats set figures too: wait for the final ones of `ended`.
    let ended =
        stream_when(&addr, &id, Duration::from_secs(20), |r| r.body["duration_s"].as_f64().is_some_and(|d| d >= 6.0))
            .await
            .expect("the session's final figures arrive");
    assert_eq!(ended.body["status"], "ended");
    assert!(ended.body["duration_s"].as_f64().unwrap() >= 6.0, "{}", ended.body);
    let media = raw_get(&addr, &path_of(&media_url)).await;
    assert!(media.ends_with("#EXT-X-ENDLIST\n"), "{media}");
    let again = request(&addr, "POST", &format!("/streams/{id}/stop"), t, None).await.unwrap();
    assert_eq!((again.status, again.body["status"].as_str()), (200, Some("ended")), "stop is idempotent");

    // A new session starts.
    let restart = request(&addr, "POST", &format!("/streams/{id}/start"), t, None).await.unwrap();
    assert_eq!(restart.status, 200, "{}", restart.body);
    assert_ne!(restart.body["session_id"], start.body["session_id"]);

    // RTMP, as OBS takes it: the Server URL and the key in its own field.
    let rtmp =
        request(&addr, "POST", "/streams", t, Some(&json!({"title": "Over RTMP", "protocol": "rtmp"}))).await.unwrap();
    let rtmp_id = rtmp.body["id"].as_str().unwrap().to_owned();
    let rtmp_start = request(&addr, "POST", &format!("/streams/{rtmp_id}/start"), t, None).await.unwrap();
    assert_eq!(rtmp_start.status, 200, "{}", rtmp_start.body);
    let server = rtmp_start.body["ingest"]["url"].as_str().unwrap().to_owned();
    assert_eq!(server, format!("rtmp://127.0.0.1:{rtmp_port}/live"));
    let key = rtmp_start.body["ingest"]["stream_key"].as_str().unwrap().to_owned();
    let rtmp_publisher = tokio::spawn(async move { publish_when_listening(&format!("{server}/{key}"), 6).await });
    stream_when(&addr, &rtmp_id, Duration::from_secs(25), |r| r.body["status"] == "live")
        .await
        .expect("the RTMP stream went live");
    assert!(rtmp_publisher.await.unwrap(), "the RTMP encoder's ffmpeg failed");

    // SAFETY: signalling our own child.
    unsafe { libc::kill(stack.child.id() as i32, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(15);
    while stack.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "skycast-dev did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = std::fs::remove_dir_all(&stack.root);
}

/// Publishes to exactly the URL the API handed out, as OBS would, retrying
/// while nobody listens (the node may still be starting).
async fn publish_when_listening(url: &str, seconds: u32) -> bool {
    skycast_tests::encoder::publish_when_listening(url, seconds, "640x360").await
}

#[tokio::test]
async fn a_broadcast_with_a_reconnect_becomes_one_video_within_seconds_of_its_end() {
    let _cores = skycast_tests::encoder::realtime_share(1).await;
    let srt_port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let stack = start_stack(&[("SKYCAST_SRT_PORT", srt_port.to_string())]).await;
    let addr = stack.addr.clone();
    let body = json!({"username": "vlogger", "email": "vlogger@example.com", "password": skycast_tests::PASSWORD});
    let token = request(&addr, "POST", "/auth/register", None, Some(&body)).await.unwrap().body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = Some(token.as_str());
    let created = request(&addr, "POST", "/streams", t, Some(&json!({"title": "Replay me", "description": "a VOD"})))
        .await
        .unwrap();
    let id = created.body["id"].as_str().unwrap().to_owned();
    // A webhook on this machine (`make dev` allows loopback receivers) hears it all.
    let receiver = skycast_tests::webhook_receiver::Receiver::answering(&[]).await;
    let hook = request(&addr, "POST", "/webhooks", t, Some(&json!({"url": receiver.url}))).await.unwrap();
    assert_eq!(hook.status, 201, "{:?}", hook.body);
    let secret = hook.body["secret"].as_str().unwrap().to_owned();
    let start = skycast_tests::eventually(Duration::from_secs(15), || async {
        request(&addr, "POST", &format!("/streams/{id}/start"), t, None).await.ok().filter(|r| r.status == 200)
    })
    .await
    .expect("start");
    let url = start.body["ingest"]["url"].as_str().unwrap().to_owned();
    let session = start.body["session_id"].as_str().unwrap().to_owned();

    // 20 s over SRT in two parts: the encoder drops after 10 s and comes back.
    assert!(publish_when_listening(&url, 10).await, "first publisher");
    assert!(publish_when_listening(&url, 10).await, "second publisher, after the reconnect");
    let stop = request(&addr, "POST", &format!("/streams/{id}/stop"), t, None).await.unwrap();
    assert_eq!(stop.status, 200);
    let stopped = Instant::now();

    // The recording, then the video, within seconds.
    let recordings = format!("/streams/{id}/recordings");
    let ready = skycast_tests::eventually(Duration::from_secs(60), || async {
        let r = request(&addr, "GET", &recordings, None, None).await.ok()?;
        let item = r.body["items"][0].clone();
        (item["status"] == "ready").then_some(item)
    })
    .await
    .expect("the recording became ready");
    let video = skycast_tests::eventually(Duration::from_secs(30), || async {
        let r = request(&addr, "GET", &format!("/videos?stream_id={id}"), None, None).await.ok()?;
        r.body["items"].as_array().and_then(|a| a.first().cloned())
    })
    .await
    .expect("the video is in the catalog");
    eprintln!("stop → video listed: {:.1} s", stopped.elapsed().as_secs_f64());
    assert_eq!((ready["session_id"].as_str(), video["id"].as_str()), (Some(session.as_str()), Some(session.as_str())));
    assert_eq!((video["title"].as_str(), video["description"].as_str()), (Some("Replay me"), Some("a VOD")));

    // The MP4 through the CDN: h264 + aac, both parts, moov first, clean decode.
    let mp4 = video["mp4_url"].as_str().unwrap();
    let p = skycast_tests::media::probe(mp4).await;
    assert_eq!(p.codecs, ["h264", "aac"]);
    let duration = video["duration_s"].as_f64().unwrap();
    assert!((16.0..=22.0).contains(&p.duration_s), "both parts of 10 s each are in it: {} s", p.duration_s);
    assert!((p.duration_s - duration).abs() < 2.0, "within one segment of what the catalog says ({duration})");
    let local = stack.root.join("video.mp4");
    let status = tokio::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i", mp4, "-c", "copy", "-f", "mp4"])
        .arg(&local)
        .status()
        .await
        .unwrap();
    assert!(status.success());
    assert_eq!(skycast_tests::media::decode_errors(mp4).await, "");
    let raw = request(&addr, "GET", &path_of(mp4), None, None).await.unwrap();
    assert!(raw.head.to_ascii_lowercase().contains("content-type: video/mp4"), "{}", raw.head);

    // The thumbnail and the VOD HLS too.
    let thumb = request(&addr, "GET", &path_of(video["thumbnail_url"].as_str().unwrap()), None, None).await.unwrap();
    assert!(thumb.status == 200 && thumb.head.to_ascii_lowercase().contains("image/jpeg"), "{}", thumb.head);
    let hls = video["hls_url"].as_str().unwrap();
    let media = raw_get(&addr, &path_of(&hls.replace("master.m3u8", "source/index.m3u8"))).await;
    assert!(media.ends_with("#EXT-X-ENDLIST\n") && media.contains("#EXT-X-DISCONTINUITY"), "{media}");

    // Private now: the CDN no longer serves it; its owner gets expiring links.
    let private = request(&addr, "PATCH", &format!("/videos/{session}"), t, Some(&json!({"visibility": "private"})))
        .await
        .unwrap();
    assert_eq!(private.status, 200);
    assert_eq!(request(&addr, "GET", &path_of(mp4), None, None).await.unwrap().status, 404);
    let mine = request(&addr, "GET", &format!("/videos/{session}"), t, None).await.unwrap();
    assert_eq!(skycast_tests::media::decode_errors(mine.body["hls_url"].as_str().unwrap()).await, "");

    // Every step reached the webhook, signed with its secret, each change once
    // (a duplicate would carry the same event id).
    let wanted = ["stream.waiting", "stream.live", "stream.ended", "recording.ready", "video.created", "video.updated"];
    let events = skycast_tests::eventually(Duration::from_secs(15), || async {
        let got = receiver.received();
        let types: Vec<String> = got.iter().map(|r| r.json()["type"].as_str().unwrap_or_default().to_owned()).collect();
        wanted.iter().all(|w| types.iter().any(|t| t == w)).then_some(got)
    })
    .await
    .unwrap_or_else(|| panic!("every event: {:?}", receiver.received().iter().map(|r| r.json()).collect::<Vec<_>>()));
    let now = skycast_core::timefmt::unix_now();
    for r in &events {
        let sig = r.header("skycast-signature");
        assert!(skycast_core::webhook::verify_signature(sig, &secret, &r.body, now, 300), "signed: {sig}");
        let e = r.json();
        let same: std::collections::BTreeSet<String> = events
            .iter()
            .filter(|o| o.json()["type"] == e["type"])
            .map(|o| o.json()["id"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(same.len(), 1, "one event id per change: {e}");
    }
    let of = |kind: &str| events.iter().map(|r| r.json()).find(|e| e["type"] == kind).unwrap();
    assert_eq!(of("stream.live")["data"]["session_id"], session.as_str());
    assert!(of("stream.live")["data"].get("stream_key").is_none(), "no secrets in events");
    assert_eq!(of("stream.ended")["data"]["reason"], "stopped");
    assert_eq!(of("recording.ready")["data"]["video_id"], session.as_str());
    assert_eq!(of("video.created")["data"]["id"], session.as_str());
    assert_eq!(of("video.updated")["data"]["visibility"], "private");
    drop(stack);
}

/// `GET /streams/{id}` (as anyone) once `ready` holds, polled until `limit`.
async fn stream_when(
    addr: &str,
    id: &str,
    limit: Duration,
    ready: impl Fn(&skycast_tests::raw_http::RawReply) -> bool,
) -> Option<skycast_tests::raw_http::RawReply> {
    skycast_tests::eventually(limit, || async {
        request(addr, "GET", &format!("/streams/{id}"), None, None).await.ok().filter(|r| ready(r))
    })
    .await
}

/// The body of a GET as text (playlists are not JSON).
async fn raw_get(addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()
}

/// The web app in Chromium (web/e2e/, Playwright) against this stack, with
/// FFmpeg publishing: sign-up to replay, privacy, shortcuts. Screenshots of
/// every page at desktop and phone width land in target/web-screenshots/.
#[tokio::test]
async fn the_web_app_works_in_a_real_browser() {
    // The browser, the encoder and a transcoding ladder: the whole machine.
    let _cores = skycast_tests::encoder::realtime_share(u32::MAX).await;
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned();
    let dist = repo.join("web/dist");
    assert!(dist.join("index.html").exists(), "web/dist is not built: `make test` builds it (npm run build in web/)");
    let DevStack { child: _child, addr, .. } = start_stack(&[("SKYCAST_WEB_DIST", dist.display().to_string())]).await;
    let page = raw_get(&addr, "/studio").await;
    assert!(page.contains("<div id=\"app\">"), "the app's page: {page}");
    let out = tokio::process::Command::new("node")
        .args(["--test", "--test-concurrency=1", "web/e2e/"])
        .current_dir(&repo)
        .env("SKYCAST_BASE_URL", format!("http://{addr}"))
        .env("SKYCAST_SCREENSHOTS", repo.join("target/web-screenshots"))
        .kill_on_drop(true)
        .output()
        .await
        .expect("run node");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the browser tests failed:\n{text}");
    assert!(text.contains("# pass 3") && text.contains("# fail 0"), "every browser test ran and passed:\n{text}");
}

/// `examples/relay_client.py` (Python, `websockets`) against this stack: it
/// creates a session and streams a file through it (header first) to an
/// operator running the same script, who gets the file byte for byte; then
/// the session is deleted and the operator is told it finished.
#[tokio::test]
async fn the_python_example_streams_a_file_to_an_operator() {
    let DevStack { child: _child, addr, .. } = start_stack(&[]).await;
    let body = json!({"username": "relay_py", "email": "relay_py@example.com", "password": skycast_tests::PASSWORD});
    assert_eq!(request(&addr, "POST", "/auth/register", None, Some(&body)).await.unwrap().status, 201);
    let dir = std::env::temp_dir().join(format!("skycast-relay-py-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (file, copy) = (dir.join("sent.bin"), dir.join("received.bin"));
    // 1 MiB that is not the same block repeated: order matters.
    let sent: Vec<u8> = (0..1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&file, &sent).unwrap();

    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned();
    let script = |args: &[&str]| {
        let mut c = tokio::process::Command::new(skycast_tests::moto_python());
        c.arg(repo.join("examples/relay_client.py"))
            .args(args)
            .env("SKYCAST_PASSWORD", skycast_tests::PASSWORD)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        c
    };
    let api = format!("http://{addr}/api");
    let (file_arg, copy_arg) = (file.display().to_string(), copy.display().to_string());
    let mut streamer = script(&[
        "stream",
        "--api",
        &api,
        "--username",
        "relay_py",
        "--wait-operators",
        "1",
        "--header-bytes",
        "4096",
        &file_arg,
    ])
    .spawn()
    .expect("python");
    // The streamer says which session it made.
    let mut lines = tokio::io::BufReader::new(streamer.stdout.take().unwrap()).lines();
    let session = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.strip_prefix("session: ") {
                return rest.split_whitespace().next().map(str::to_owned);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .expect("the streamer printed its session");
    let operator = script(&["operate", "--api", &api, "--username", "relay_py", &session, "--out", &copy_arg])
        .spawn()
        .expect("python");
    let operated =
        tokio::time::timeout(Duration::from_secs(60), operator.wait_with_output()).await.expect("operator ends");
    let operated = operated.unwrap();
    let streamed =
        tokio::time::timeout(Duration::from_secs(30), streamer.wait_with_output()).await.expect("streamer ends");
    let streamed = streamed.unwrap();
    let said = |o: &std::process::Output| {
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    };
    assert!(streamed.status.success(), "streamer: {}", said(&streamed));
    assert!(operated.status.success(), "operator: {}", said(&operated));
    assert!(said(&operated).contains("session finished"), "the operator was told: {}", said(&operated));
    let received = std::fs::read(&copy).unwrap();
    assert_eq!(received.len(), sent.len(), "every byte arrived");
    assert!(received == sent, "in order");
    let _ = std::fs::remove_dir_all(&dir);
}
