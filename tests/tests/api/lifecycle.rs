//! Start/stop and the lifecycle function against the emulator, with a
//! registered (stand-in) ingest node whose command queue the test reads.

use http::{Method, StatusCode};
use serde_json::{Value, json};
use skycast_core::{events::StreamEvent, store::IngestNode, timefmt};
use skycast_lifecycle::Lifecycle;
use skycast_tests::{Account, TestApi, api};

struct Rig {
    api: TestApi,
    sqs: aws_sdk_sqs::Client,
    queue: String,
    /// Where the lifecycle function sends recording jobs.
    jobs: String,
    owner: Account,
}

impl Rig {
    fn lifecycle(&self) -> Lifecycle {
        Lifecycle {
            stores: self.api.ctx.stores.clone(),
            messages: self.api.ctx.messages.clone(),
            recording_jobs_url: self.jobs.clone(),
        }
    }
}

/// An API with one registered node offering SRT `ports` and no RTMP.
async fn rig(ports: (u16, u16)) -> Rig {
    rig_with(ports, (0, 0)).await
}

/// An API with one registered node offering these SRT and RTMP ports.
async fn rig_with(ports: (u16, u16), rtmp: (u16, u16)) -> Rig {
    // Room for the races below: quotas are tested on their own (limits.rs).
    let api = skycast_tests::api_with(|c| c.limits.on_air_per_user = 10).await;
    let sqs = aws_sdk_sqs::Client::new(&skycast_tests::sdk_config().await);
    let name = format!("{}-commands", skycast_tests::unique_prefix());
    let queue = sqs.create_queue().queue_name(name).send().await.unwrap().queue_url.unwrap();
    let name = format!("{}-jobs", skycast_tests::unique_prefix());
    let jobs = sqs.create_queue().queue_name(name).send().await.unwrap().queue_url.unwrap();
    register_node(&api, &queue, ports, rtmp).await;
    let owner = api.register("caster").await;
    Rig { api, sqs, queue, jobs, owner }
}

/// A stand-in ingest node offering these SRT and RTMP ports, reading `queue`.
pub(crate) async fn register_node(api: &TestApi, queue: &str, ports: (u16, u16), rtmp: (u16, u16)) {
    let now = timefmt::unix_now();
    let node = IngestNode {
        node_id: "node-a".into(),
        public_host: "ingest.example".into(),
        srt_port_low: ports.0,
        srt_port_high: ports.1,
        rtmp_port_low: rtmp.0,
        rtmp_port_high: rtmp.1,
        command_queue_url: queue.to_owned(),
        heartbeat_at: now,
        expires_at: now + 120,
    };
    api.ctx.stores.ingest.register(&node).await.unwrap();
}

async fn commands(rig: &Rig) -> Vec<Value> {
    let out = rig.sqs.receive_message().queue_url(&rig.queue).max_number_of_messages(10).send().await.unwrap();
    out.messages().iter().map(|m| serde_json::from_str(m.body().unwrap()).unwrap()).collect()
}

async fn start(rig: &Rig, id: &str) -> skycast_tests::Reply {
    rig.api.call(Method::POST, &format!("/streams/{id}/start"), Some(&rig.owner.access), None).await
}

#[tokio::test]
async fn start_leases_a_port_sends_the_command_and_is_idempotent() {
    let rig = rig((7000, 7009)).await;
    let s = rig.api.create_stream(&rig.owner, json!({"title": "show", "profile": "ladder"})).await;
    let id = s["id"].as_str().unwrap();
    let r = start(&rig, id).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let url = r.body["ingest"]["url"].as_str().unwrap();
    let port: u16 = url.split(':').nth(2).unwrap().split('?').next().unwrap().parse().unwrap();
    assert!((7000..=7009).contains(&port));
    assert_eq!(
        url,
        format!("srt://ingest.example:{port}?passphrase={}&pbkeylen=16", s["stream_key"].as_str().unwrap())
    );
    let session = r.body["session_id"].as_str().unwrap();
    assert!(r.body["hls_url"].as_str().unwrap().ends_with(&format!("/live/{id}/{session}/master.m3u8")));

    let sent = commands(&rig).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0]["type"].as_str(), sent[0]["port"].as_u64(), sent[0]["profile"].as_str()),
        (Some("start"), Some(port as u64), Some("ladder"))
    );
    assert_eq!(sent[0]["session_id"], session);

    let again = start(&rig, id).await;
    assert_eq!(again.body["session_id"], session, "same session, same URL");
    assert!(commands(&rig).await.is_empty(), "no second start command");
    let owner_view = rig.api.get(&format!("/streams/{id}"), Some(&rig.owner.access)).await;
    assert_eq!(owner_view.body["ingest"]["url"], url);
    assert_eq!(owner_view.body["status"], "waiting");

    let other = rig.api.register("other").await;
    let r = rig.api.call(Method::POST, &format!("/streams/{id}/start"), Some(&other.access), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "only the owner starts");
    let r = rig.api.call(Method::POST, &format!("/streams/{id}/stop"), Some(&other.access), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "only the owner stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_starts_share_nothing() {
    // One stream started 5 times at once: one session.
    let rig = rig((7100, 7109)).await;
    let s = rig.api.create_stream(&rig.owner, json!({"title": "race"})).await;
    let id = s["id"].as_str().unwrap().to_owned();
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let (api, token, id) = (rig.api.clone(), rig.owner.access.clone(), id.clone());
            tokio::spawn(
                async move { api.call(Method::POST, &format!("/streams/{id}/start"), Some(&token), None).await },
            )
        })
        .collect();
    let mut sessions = std::collections::HashSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        sessions.insert(r.body["session_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(sessions.len(), 1, "{sessions:?}");

    // Four streams racing for two ports: two start, two get 503.
    let tight = self::rig((7200, 7201)).await;
    let mut tasks = Vec::new();
    for i in 0..4 {
        let s = tight.api.create_stream(&tight.owner, json!({"title": format!("s{i}")})).await;
        let (api, token, id) = (tight.api.clone(), tight.owner.access.clone(), s["id"].as_str().unwrap().to_owned());
        tasks.push(tokio::spawn(async move {
            api.call(Method::POST, &format!("/streams/{id}/start"), Some(&token), None).await
        }));
    }
    let mut ports = Vec::new();
    let mut refused = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            StatusCode::OK => ports.push(r.body["ingest"]["url"].as_str().unwrap().to_owned()),
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(r.code(), "no_ingest_capacity");
                refused += 1;
            }
            other => panic!("unexpected {other}: {:?}", r.body),
        }
    }
    ports.sort();
    ports.dedup();
    assert_eq!((ports.len(), refused), (2, 2), "{ports:?}");
}

#[tokio::test]
async fn no_live_node_means_503() {
    let api = api().await;
    let a = api.register("nonode").await;
    for protocol in ["srt", "rtmp"] {
        let s = api.create_stream(&a, json!({"title": "x", "protocol": protocol})).await;
        let id = s["id"].as_str().unwrap();
        let r = api.call(Method::POST, &format!("/streams/{id}/start"), Some(&a.access), None).await;
        assert_eq!((r.status, r.code()), (StatusCode::SERVICE_UNAVAILABLE, "no_ingest_capacity"), "{protocol}");
        let r = api.call(Method::POST, &format!("/streams/{id}/stop"), Some(&a.access), None).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "stream_not_started"));
    }
}

#[tokio::test]
async fn rtmp_leases_from_its_own_pool_and_hands_out_server_and_key() {
    // The same port number in both pools: UDP and TCP, two leases.
    let rig = rig_with((7400, 7400), (7400, 7400)).await;
    let srt = rig.api.create_stream(&rig.owner, json!({"title": "srt"})).await;
    let rtmp = rig.api.create_stream(&rig.owner, json!({"title": "rtmp", "protocol": "rtmp"})).await;
    let r = start(&rig, srt["id"].as_str().unwrap()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = start(&rig, rtmp["id"].as_str().unwrap()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // What OBS takes: Server, and the key in its own field.
    assert_eq!(r.body["ingest"]["url"], "rtmp://ingest.example:7400/live");
    assert_eq!(r.body["ingest"]["protocol"], "rtmp");
    assert_eq!(r.body["ingest"]["stream_key"], rtmp["stream_key"]);
    let sent = commands(&rig).await;
    let to_node: Vec<(&str, u64)> =
        sent.iter().map(|c| (c["protocol"].as_str().unwrap(), c["port"].as_u64().unwrap())).collect();
    assert_eq!(to_node, [("srt", 7400), ("rtmp", 7400)]);

    // The RTMP pool is full; stopping frees its port for the next stream.
    let second = rig.api.create_stream(&rig.owner, json!({"title": "second", "protocol": "rtmp"})).await;
    let second_id = second["id"].as_str().unwrap();
    assert_eq!(start(&rig, second_id).await.status, StatusCode::SERVICE_UNAVAILABLE);
    let stop_path = format!("/streams/{}/stop", rtmp["id"].as_str().unwrap());
    let r = rig.api.call(Method::POST, &stop_path, Some(&rig.owner.access), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = start(&rig, second_id).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // A node without an RTMP pool takes no RTMP streams.
    let srt_only = rig_with((7410, 7419), (0, 0)).await;
    let s = srt_only.api.create_stream(&srt_only.owner, json!({"title": "r", "protocol": "rtmp"})).await;
    let r = start(&srt_only, s["id"].as_str().unwrap()).await;
    assert_eq!((r.status, r.code()), (StatusCode::SERVICE_UNAVAILABLE, "no_ingest_capacity"));
}

use skycast_tests::sqs_batch as batch;

fn event(kind: &str, id: &str, session: &str) -> String {
    let mut v = json!({"type": kind, "stream_id": id, "session_id": session, "at": timefmt::now_rfc3339()});
    match kind {
        "live" => v["renditions"] = json!(["source"]),
        "ended" => {
            v["renditions"] = json!(["source"]);
            v["segments"] = json!(5);
            v["duration_s"] = json!(10.0);
            v["reason"] = json!("publisher_gone");
        }
        _ => {}
    }
    v.to_string()
}

#[tokio::test]
async fn lifecycle_events_apply_forward_only_and_once() {
    let rig = rig((7300, 7300)).await;
    let s = rig.api.create_stream(&rig.owner, json!({"title": "life"})).await;
    let id = s["id"].as_str().unwrap();
    let session = start(&rig, id).await.body["session_id"].as_str().unwrap().to_owned();
    let status = || async { rig.api.get(&format!("/streams/{id}"), None).await.body };

    // A bad message fails alone; its batch-mates are applied.
    let response =
        skycast_lifecycle::handle(&rig.lifecycle(), batch(&["{not json".into(), event("live", id, &session)])).await;
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["m0"]);
    assert_eq!(status().await["status"], "live");

    // Events of another session never touch this one.
    let stranger = skycast_core::ids::new_id();
    let response = skycast_lifecycle::handle(&rig.lifecycle(), batch(&[event("ended", id, &stranger)])).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(status().await["status"], "live");

    // Ended, delivered twice, then a late `waiting` and `live`: stays ended.
    let end = event("ended", id, &session);
    let response = skycast_lifecycle::handle(
        &rig.lifecycle(),
        batch(&[end.clone(), end, event("waiting", id, &session), event("live", id, &session)]),
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    let body = status().await;
    assert_eq!(
        (body["status"].as_str(), body["segments"].as_u64(), body["duration_s"].as_f64()),
        (Some("ended"), Some(5), Some(10.0))
    );

    // The port came back with the ended event: the stream starts again on it.
    let r = start(&rig, id).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_ne!(r.body["session_id"].as_str(), Some(session.as_str()));
    let parsed: Result<StreamEvent, _> = serde_json::from_str(&event("live", id, &session));
    assert!(parsed.is_ok());
}

fn stats(id: &str, session: &str, segments: u64, thumbnail: bool) -> String {
    json!({
        "type": "stats", "stream_id": id, "session_id": session, "at": timefmt::now_rfc3339(),
        "segments": segments, "duration_s": segments as f64 * 2.0, "bitrate_bps": 2_500_000, "thumbnail": thumbnail,
    })
    .to_string()
}

#[tokio::test]
async fn live_figures_and_the_thumbnail_reach_the_stream_only_while_live() {
    let rig = rig((7500, 7500)).await;
    let s = rig.api.create_stream(&rig.owner, json!({"title": "figures"})).await;
    let id = s["id"].as_str().unwrap();
    let started = start(&rig, id).await.body;
    let session = started["session_id"].as_str().unwrap().to_owned();
    let view = || async { rig.api.get(&format!("/streams/{id}"), None).await.body };

    // Not live yet: figures wait.
    skycast_lifecycle::handle(&rig.lifecycle(), batch(&[stats(id, &session, 1, true)])).await;
    assert!(view().await["segments"].is_null());
    skycast_lifecycle::handle(&rig.lifecycle(), batch(&[event("live", id, &session), stats(id, &session, 4, true)]))
        .await;
    let body = view().await;
    assert_eq!((body["segments"].as_u64(), body["bitrate_bps"].as_u64()), (Some(4), Some(2_500_000)));
    let hls = started["hls_url"].as_str().unwrap();
    assert_eq!(body["thumbnail_url"].as_str(), Some(hls.replace("master.m3u8", "thumb.jpg").as_str()));

    // A late report that predates the thumbnail does not take it back;
    // another session's report changes nothing.
    let stranger = skycast_core::ids::new_id();
    skycast_lifecycle::handle(
        &rig.lifecycle(),
        batch(&[stats(id, &session, 5, false), stats(id, &stranger, 99, false)]),
    )
    .await;
    let body = view().await;
    assert_eq!(body["segments"].as_u64(), Some(5));
    assert!(body["thumbnail_url"].is_string());

    // After the end, a straggling report cannot overwrite the final figures.
    skycast_lifecycle::handle(&rig.lifecycle(), batch(&[event("ended", id, &session), stats(id, &session, 6, true)]))
        .await;
    let body = view().await;
    assert_eq!((body["status"].as_str(), body["segments"].as_u64()), (Some("ended"), Some(5)));
    assert!(body["thumbnail_url"].is_string(), "the last session's still stays with the stream");
}

#[tokio::test]
async fn an_on_air_stream_is_not_deleted_and_a_session_nobody_published_to_goes_back_to_idle() {
    let rig = rig((7600, 7600)).await;
    let s = rig.api.create_stream(&rig.owner, json!({"title": "quiet"})).await;
    let id = s["id"].as_str().unwrap();
    let session = start(&rig, id).await.body["session_id"].as_str().unwrap().to_owned();
    let path = format!("/streams/{id}");

    // While a listener holds a port for it, the stream stays.
    let r = rig.api.call(Method::DELETE, &path, Some(&rig.owner.access), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "stream_on_air"));
    let other = rig.api.register("intruder").await;
    let r = rig.api.call(Method::DELETE, &path, Some(&other.access), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "others learn nothing, not even that it is on air");

    // The node's waiting timeout: nobody published, so there is nothing to replay.
    let mut timeout: Value = serde_json::from_str(&event("ended", id, &session)).unwrap();
    timeout["reason"] = json!("no_publisher");
    timeout["segments"] = json!(0);
    timeout["duration_s"] = json!(0.0);
    let response = skycast_lifecycle::handle(&rig.lifecycle(), batch(&[timeout.to_string()])).await;
    assert!(response.batch_item_failures.is_empty());
    let body = rig.api.get(&path, None).await.body;
    assert_eq!(body["status"], "idle", "{body}");
    assert!(body["hls_url"].is_null() && body["started_at"].is_null(), "{body}");

    // Its port came back, and the stream can start again or be deleted.
    assert_eq!(start(&rig, id).await.status, StatusCode::OK);
    let r = rig.api.call(Method::POST, &format!("{path}/stop"), Some(&rig.owner.access), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = rig.api.call(Method::DELETE, &path, Some(&rig.owner.access), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

async fn jobs(rig: &Rig) -> Vec<Value> {
    let out = rig.sqs.receive_message().queue_url(&rig.jobs).max_number_of_messages(10).send().await.unwrap();
    out.messages().iter().map(|m| serde_json::from_str(m.body().unwrap()).unwrap()).collect()
}

#[tokio::test]
async fn an_ended_session_with_media_gets_one_recording_and_one_job() {
    let rig = rig((7700, 7701)).await;
    let s = rig.api.create_stream(&rig.owner, json!({"title": "recorded"})).await;
    let id = s["id"].as_str().unwrap();
    let session = start(&rig, id).await.body["session_id"].as_str().unwrap().to_owned();
    let end = event("ended", id, &session);
    let response = skycast_lifecycle::handle(&rig.lifecycle(), batch(&[end.clone(), end])).await;
    assert!(response.batch_item_failures.is_empty());
    let sent = jobs(&rig).await;
    assert_eq!(sent.len(), 1, "a duplicate `ended` sends no second job: {sent:?}");
    assert_eq!(
        (
            sent[0]["type"].as_str(),
            sent[0]["stream_id"].as_str(),
            sent[0]["session_id"].as_str(),
            sent[0]["rendition"].as_str()
        ),
        (Some("record"), Some(id), Some(session.as_str()), Some("source"))
    );
    let r = rig.api.get(&format!("/streams/{id}/recordings"), None).await;
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{:?}", r.body);
    assert_eq!(
        (items[0]["session_id"].as_str(), items[0]["status"].as_str()),
        (Some(session.as_str()), Some("processing"))
    );

    // A stream that does not record, and a session nobody published to, get none.
    let quiet = rig.api.create_stream(&rig.owner, json!({"title": "unrecorded", "record": false})).await;
    let quiet_id = quiet["id"].as_str().unwrap();
    let quiet_session = start(&rig, quiet_id).await.body["session_id"].as_str().unwrap().to_owned();
    skycast_lifecycle::handle(&rig.lifecycle(), batch(&[event("ended", quiet_id, &quiet_session)])).await;
    assert!(jobs(&rig).await.is_empty());
    let r = rig.api.get(&format!("/streams/{quiet_id}/recordings"), None).await;
    assert_eq!(r.body["items"], json!([]));

    // A private stream's recordings are as hidden as the stream.
    let r = rig
        .api
        .call(Method::PATCH, &format!("/streams/{id}"), Some(&rig.owner.access), Some(json!({"visibility": "private"})))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(rig.api.get(&format!("/streams/{id}/recordings"), None).await.status, StatusCode::NOT_FOUND);
}
