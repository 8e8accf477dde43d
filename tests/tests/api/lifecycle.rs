//! Start/stop, a node's claim of a stream, and the lifecycle function
//! against the emulator, with a registered (stand-in) ingest node.

use http::{Method, StatusCode};
use serde_json::{Value, json};
use skycast_core::{events::StreamEvent, store::IngestNode, timefmt};
use skycast_ingest::{
    directory::{Claimed, Directory, StreamInfo, TableDirectory},
    profile::Profile,
};
use skycast_lifecycle::Lifecycle;
use skycast_tests::{Account, TestApi, api};

struct Rig {
    api: TestApi,
    sqs: aws_sdk_sqs::Client,
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
            webhooks: skycast_core::store::queue::WebhookOutbox::off(),
        }
    }

    /// The node's view of the tables, as `node_id`.
    fn directory(&self) -> TableDirectory {
        TableDirectory {
            stores: self.api.ctx.stores.clone(),
            cdn_base_url: self.api.ctx.config.cdn_base_url.clone(),
            limits: self.api.ctx.config.limits.clone(),
        }
    }
}

/// An API with one registered node.
async fn rig() -> Rig {
    rig_with(|_| {}).await
}

async fn rig_with(tweak: impl FnOnce(&mut skycast_core::Config)) -> Rig {
    // Room for the races below: quotas are tested on their own (limits.rs).
    let api = skycast_tests::api_with(|c| {
        c.limits.on_air_per_user = 10;
        tweak(c);
    })
    .await;
    let sqs = aws_sdk_sqs::Client::new(&skycast_tests::sdk_config().await);
    let name = format!("{}-jobs", skycast_tests::unique_prefix());
    let jobs = sqs.create_queue().queue_name(name).send().await.unwrap().queue_url.unwrap();
    register_node(&api).await;
    let owner = api.register("caster").await;
    Rig { api, sqs, jobs, owner }
}

/// A stand-in ingest node, heartbeating now.
pub(crate) async fn register_node(api: &TestApi) {
    let now = timefmt::unix_now();
    let node = IngestNode {
        node_id: "node-a".into(),
        public_host: "10.0.0.1".into(),
        rtmp_port: 1935,
        srt_port: 9000,
        http_port: None,
        sessions: 0,
        cpus: 2,
        load_1m: Some(0.5),
        heartbeat_at: now,
        expires_at: now + 120,
    };
    api.ctx.stores.ingest.register(&node).await.unwrap();
}

async fn start(rig: &Rig, id: &str) -> skycast_tests::Reply {
    rig.api.call(Method::POST, &format!("/streams/{id}/start"), Some(&rig.owner.access), None).await
}

#[tokio::test]
async fn start_arms_the_stream_and_shows_both_protocols_and_is_idempotent() {
    let rig = rig().await;
    let s = rig.api.create_stream(&rig.owner, json!({"title": "show", "profile": "ladder"})).await;
    let id = s["id"].as_str().unwrap();
    let key = s["stream_key"].as_str().unwrap();
    // The owner sees where to publish before anything is started: a
    // publisher needs no API call.
    let idle = rig.api.get(&format!("/streams/{id}"), Some(&rig.owner.access)).await.body;
    assert_eq!(idle["ingest"]["rtmp"], json!({"server": "rtmp://127.0.0.1:1935/live", "stream_key": key}));
    assert_eq!(idle["ingest"]["srt"]["url"], format!("srt://127.0.0.1:9000?streamid={key}&passphrase={key}"));
    assert_eq!(idle["ingest"]["url"], idle["ingest"]["srt"]["url"], "the stream's own protocol, as before");
    assert!(rig.api.get(&format!("/streams/{id}"), None).await.body.get("ingest").is_none(), "only for the owner");

    let r = start(&rig, id).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "waiting");
    assert_eq!(r.body["ingest"], idle["ingest"]);
    let session = r.body["session_id"].as_str().unwrap();
    assert!(r.body["hls_url"].as_str().unwrap().ends_with(&format!("/live/{id}/{session}/master.m3u8")));
    let stored = rig.api.ctx.stores.streams.get(id).await.unwrap().unwrap();
    assert_eq!(stored.ingest_node_id, None, "armed: no node holds it until a publisher arrives");

    let again = start(&rig, id).await;
    assert_eq!(again.body["session_id"], session, "same session");

    let other = rig.api.register("other").await;
    let r = rig.api.call(Method::POST, &format!("/streams/{id}/start"), Some(&other.access), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "only the owner starts");
    let r = rig.api.call(Method::POST, &format!("/streams/{id}/stop"), Some(&other.access), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "only the owner stops");

    let rtmp = rig.api.create_stream(&rig.owner, json!({"title": "rtmp", "protocol": "rtmp"})).await;
    let r = start(&rig, rtmp["id"].as_str().unwrap()).await;
    assert_eq!(r.body["ingest"]["url"], "rtmp://127.0.0.1:1935/live");
    assert_eq!(r.body["ingest"]["stream_key"], rtmp["stream_key"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_starts_make_one_session() {
    let rig = rig().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_claims_a_stream_once_by_its_current_key_and_lets_go_when_stopped() {
    let rig = rig().await;
    let directory = rig.directory();
    let s = rig.api.create_stream(&rig.owner, json!({"title": "obs alone", "visibility": "private"})).await;
    let (id, key) = (s["id"].as_str().unwrap(), s["stream_key"].as_str().unwrap().to_owned());
    let info = directory.find(&key).await.unwrap().expect("the key finds its stream");
    let owner_id = rig.owner.id.clone();
    assert_eq!(
        info,
        StreamInfo { stream_id: id.to_owned(), owner_id, profile: Profile::Ladder, latency: Default::default() },
        "adaptive by default"
    );
    assert!(directory.find(&skycast_core::stream::new_stream_key()).await.unwrap().is_none());

    // Two nodes race for one publisher's stream (OBS alone, no start): one wins.
    let (a, b) = tokio::join!(directory.claim(&info, &key, "node-a"), directory.claim(&info, &key, "node-b"));
    let (a, b) = (a.unwrap(), b.unwrap());
    let (winner, session) = match (&a, &b) {
        (Claimed::Session(s), Claimed::Held) => ("node-a", s.clone()),
        (Claimed::Held, Claimed::Session(s)) => ("node-b", s.clone()),
        other => panic!("one claim wins, the other is held: {other:?}"),
    };
    let stream = rig.api.ctx.stores.streams.get(id).await.unwrap().unwrap();
    assert_eq!((stream.status.as_str(), stream.ingest_node_id.as_deref()), ("waiting", Some(winner)));
    assert_eq!(stream.session_id.as_deref(), Some(session.as_str()));
    // A private stream's node-made session is private before any media exists.
    let access = rig.api.ctx.stores.access.get(&session).await.unwrap();
    assert_eq!(access.state.as_str(), "private");
    // A duplicate claim by the winner (its publisher again) does not make a new session.
    assert_eq!(directory.claim(&info, &key, winner).await.unwrap(), Claimed::Held);
    assert!(directory.wanted(id, &session, winner).await.unwrap());
    assert!(!directory.wanted(id, &session, "node-z").await.unwrap(), "only its holder runs it");

    // The owner stops it: the node sees it is no longer wanted.
    let r = rig.api.call(Method::POST, &format!("/streams/{id}/stop"), Some(&rig.owner.access), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!directory.wanted(id, &session, winner).await.unwrap());

    // A rotated key claims nothing, and the old key finds nothing.
    let r = rig.api.call(Method::POST, &format!("/streams/{id}/key"), Some(&rig.owner.access), None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(directory.claim(&info, &key, "node-a").await.unwrap(), Claimed::Refused);
    assert!(directory.find(&key).await.unwrap().is_none());
    let new_key = r.body["stream_key"].as_str().unwrap();
    // With the new key, after the stop: a fresh session.
    let Claimed::Session(next) = directory.claim(&info, new_key, "node-a").await.unwrap() else {
        panic!("the new key claims the stopped stream")
    };
    assert_ne!(next, session);
}

#[tokio::test]
async fn a_publisher_takes_the_session_start_armed_and_a_stop_before_it_wins() {
    let rig = rig().await;
    let directory = rig.directory();
    let s = rig.api.create_stream(&rig.owner, json!({"title": "armed"})).await;
    let (id, key) = (s["id"].as_str().unwrap(), s["stream_key"].as_str().unwrap().to_owned());
    let armed = start(&rig, id).await.body["session_id"].as_str().unwrap().to_owned();
    let info = directory.find(&key).await.unwrap().unwrap();
    assert_eq!(directory.claim(&info, &key, "node-a").await.unwrap(), Claimed::Session(armed.clone()));

    // Armed, then stopped before any publisher came: the armed session never runs.
    let s = rig.api.create_stream(&rig.owner, json!({"title": "stopped first"})).await;
    let (id, key) = (s["id"].as_str().unwrap(), s["stream_key"].as_str().unwrap().to_owned());
    let armed = start(&rig, id).await.body["session_id"].as_str().unwrap().to_owned();
    let r = rig.api.call(Method::POST, &format!("/streams/{id}/stop"), Some(&rig.owner.access), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let info = directory.find(&key).await.unwrap().unwrap();
    match directory.claim(&info, &key, "node-a").await.unwrap() {
        Claimed::Session(s) => assert_ne!(s, armed, "a publisher after the stop gets a session of its own"),
        other => panic!("{other:?}"),
    }
    assert!(!directory.wanted(id, &armed, "node-a").await.unwrap());
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
    let rig = rig().await;
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

    // Ended: the stream starts again, with a new session.
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
    let rig = rig().await;
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
    let rig = rig().await;
    let s = rig.api.create_stream(&rig.owner, json!({"title": "quiet"})).await;
    let id = s["id"].as_str().unwrap();
    let session = start(&rig, id).await.body["session_id"].as_str().unwrap().to_owned();
    let path = format!("/streams/{id}");

    // While a session is on air, the stream stays.
    let r = rig.api.call(Method::DELETE, &path, Some(&rig.owner.access), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "stream_on_air"));
    let other = rig.api.register("intruder").await;
    let r = rig.api.call(Method::DELETE, &path, Some(&other.access), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "others learn nothing, not even that it is on air");

    // The waiting timeout: nobody published, so there is nothing to replay.
    let mut timeout: Value = serde_json::from_str(&event("ended", id, &session)).unwrap();
    timeout["reason"] = json!("no_publisher");
    timeout["segments"] = json!(0);
    timeout["duration_s"] = json!(0.0);
    let response = skycast_lifecycle::handle(&rig.lifecycle(), batch(&[timeout.to_string()])).await;
    assert!(response.batch_item_failures.is_empty());
    let body = rig.api.get(&path, None).await.body;
    assert_eq!(body["status"], "idle", "{body}");
    assert!(body["hls_url"].is_null() && body["started_at"].is_null(), "{body}");

    // The stream can start again or be deleted.
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
    let rig = rig().await;
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

#[tokio::test]
async fn a_publisher_alone_takes_its_owners_place_on_air_and_is_refused_past_the_quota() {
    let api = skycast_tests::api_with(|c| c.limits.on_air_per_user = 1).await;
    register_node(&api).await;
    let owner = api.register("quota").await;
    let directory = TableDirectory {
        stores: api.ctx.stores.clone(),
        cdn_base_url: api.ctx.config.cdn_base_url.clone(),
        limits: api.ctx.config.limits.clone(),
    };
    let a = api.create_stream(&owner, json!({"title": "first", "profile": "source"})).await;
    let b = api.create_stream(&owner, json!({"title": "second", "profile": "source"})).await;
    let key = |s: &Value| s["stream_key"].as_str().unwrap().to_owned();
    let info_a = directory.find(&key(&a)).await.unwrap().unwrap();
    assert!(matches!(directory.claim(&info_a, &key(&a), "node-a").await.unwrap(), Claimed::Session(_)));
    // The one place is taken by a session no API call made: neither a
    // second publisher nor a `start` gets past it.
    let info_b = directory.find(&key(&b)).await.unwrap().unwrap();
    assert_eq!(directory.claim(&info_b, &key(&b), "node-a").await.unwrap(), Claimed::OverQuota);
    let b_id = b["id"].as_str().unwrap();
    let r = api.call(Method::POST, &format!("/streams/{b_id}/start"), Some(&owner.access), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::TOO_MANY_REQUESTS, "quota_exceeded"));
    assert_eq!(api.ctx.stores.streams.get(b_id).await.unwrap().unwrap().status.as_str(), "idle");
    // Its end gives the place back (the lifecycle), and the other goes live.
    let a_id = a["id"].as_str().unwrap();
    let r = api.call(Method::POST, &format!("/streams/{a_id}/stop"), Some(&owner.access), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(matches!(directory.claim(&info_b, &key(&b), "node-a").await.unwrap(), Claimed::Session(_)));
}

fn from(n: u8) -> Option<std::net::SocketAddr> {
    Some(std::net::SocketAddr::from(([10, 7, 0, n], 4000)))
}

#[tokio::test]
async fn live_viewers_count_once_each_under_concurrency_and_one_address_cannot_inflate_it() {
    // One presence window for the whole test: a window's end falling mid-test
    // would split the heartbeats the test counts (the windows' arithmetic is
    // unit-tested in skycast_core::presence).
    let rig = rig_with(|c| c.limits.presence.window_s = 1 << 32).await;
    let s = rig.api.create_stream(&rig.owner, json!({"title": "watched"})).await;
    let id = s["id"].as_str().unwrap().to_owned();
    let session = start(&rig, &id).await.body["session_id"].as_str().unwrap().to_owned();
    let path = format!("/streams/{id}/viewers");
    let beat = |who: Option<std::net::SocketAddr>, token: Option<String>, viewer: &str| {
        let (api, path, body) = (&rig.api, path.clone(), json!({"viewer_id": viewer}));
        async move { api.call_from(who, Method::POST, &path, token.as_deref(), Some(body)).await }
    };
    let count = || async { rig.api.get(&format!("/streams/{id}"), None).await.body["viewer_count"].clone() };

    // Not live yet: a heartbeat counts nothing.
    let r = beat(from(1), None, "early").await;
    assert_eq!((r.status, r.body["viewer_count"].as_u64()), (StatusCode::OK, Some(0)));
    skycast_lifecycle::handle(&rig.lifecycle(), batch(&[event("live", &id, &session)])).await;
    assert_eq!(count().await, json!(0), "live, nobody reported yet");

    // 20 signed-in viewers, each reporting twice, all at once: 20.
    let mut fans = Vec::new();
    for i in 0..20 {
        fans.push(rig.api.register(&format!("fan{i}")).await);
    }
    let beats = fans.iter().flat_map(|f| [0, 1].map(|_| beat(from(2), Some(f.access.clone()), "ignored")));
    let replies = futures_util::future::join_all(beats).await;
    assert!(
        replies.iter().all(|r| r.status == StatusCode::OK),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(count().await, json!(20));

    // Anonymous viewers: a tab is its address and its id; one address making
    // up 15 ids counts as 10, and repeats count nothing.
    for i in 0..15 {
        beat(from(3), None, &format!("tab-{i}")).await;
    }
    beat(from(3), None, "tab-0").await;
    assert_eq!(count().await, json!(30));
    // Positive control: another address is another viewer.
    assert_eq!(beat(from(4), None, "tab-0").await.body["viewer_count"].as_u64(), Some(31));
    let listed = rig.api.get("/streams?status=live", None).await.body;
    let item = listed["items"].as_array().unwrap().iter().find(|s| s["id"] == id.as_str()).cloned().unwrap();
    assert_eq!(item["viewer_count"], json!(31), "listings show it too");

    // Ended: no count, and heartbeats count nothing.
    skycast_lifecycle::handle(&rig.lifecycle(), batch(&[event("ended", &id, &session)])).await;
    assert_eq!(count().await, Value::Null);
    assert_eq!(beat(from(5), None, "late").await.body["viewer_count"].as_u64(), Some(0));
}

#[tokio::test]
async fn a_private_streams_viewers_are_its_owner_only_and_heartbeats_are_rate_limited() {
    let rig = rig_with(|c| {
        c.limits.heartbeats_per_address =
            skycast_core::limits::Rate { name: "heartbeats_per_address", max: 3, window_s: 1 << 32 }
    })
    .await;
    let s = rig.api.create_stream(&rig.owner, json!({"title": "secret", "visibility": "private"})).await;
    let id = s["id"].as_str().unwrap().to_owned();
    let session = start(&rig, &id).await.body["session_id"].as_str().unwrap().to_owned();
    skycast_lifecycle::handle(&rig.lifecycle(), batch(&[event("live", &id, &session)])).await;
    let path = format!("/streams/{id}/viewers");
    let other = rig.api.register("other").await;
    let r = rig.api.call_from(from(1), Method::POST, &path, Some(&other.access), Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "another user cannot see it, nor report watching it");
    let r = rig.api.call_from(from(1), Method::POST, &path, Some(&rig.owner.access), Some(json!({}))).await;
    assert_eq!((r.status, r.body["viewer_count"].as_u64()), (StatusCode::OK, Some(1)), "its owner can");
    let bad =
        rig.api.call_from(from(2), Method::POST, &path, Some(&rig.owner.access), Some(json!({"viewer": 1}))).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{:?}", bad.body);
    let r = rig.api.call_from(from(1), Method::POST, &path, Some(&rig.owner.access), Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::OK, "the third from one address");
    let r = rig.api.call_from(from(1), Method::POST, &path, Some(&rig.owner.access), Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "the fourth from one address: {:?}", r.body);
    assert_eq!(r.body["error"]["limit"], "heartbeats_per_address");
    let r = rig.api.call_from(from(3), Method::POST, &path, Some(&rig.owner.access), Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::OK, "another address is not held back");
}

/// A `stats` report with the node's look at the encoder's stream.
fn stats_with_health(id: &str, session: &str) -> String {
    let measured = skycast_core::health::Measured {
        ingest_bitrate_bps: 3_000_000,
        frame_rate: Some(30.0),
        keyframe_interval_s: Some(5.0),
        video_codec: Some("avc1.64000b".into()),
        audio_codec: None,
        width: Some(160),
        height: Some(90),
        srt: None,
    };
    let mut v: Value = serde_json::from_str(&stats(id, session, 3, true)).unwrap();
    v["health"] = serde_json::to_value(skycast_core::health::assess(&measured, &timefmt::now_rfc3339())).unwrap();
    v.to_string()
}

#[tokio::test]
async fn active_streams_manifests_and_stats_show_each_caller_only_what_it_may_see() {
    let rig = rig_with(|c| c.admins = vec!["boss".into()]).await;
    let api = &rig.api;
    let viewer = api.register("onlooker").await;
    let boss = api.register("boss").await;
    let s3 = skycast_dev::sdk::s3(&skycast_tests::sdk_config().await);
    let bucket = api.ctx.config.buckets.live.clone();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let mut live = Vec::new();
    for (title, visibility) in [("open", "public"), ("secret", "private")] {
        let s = api.create_stream(&rig.owner, json!({"title": title, "visibility": visibility})).await;
        let id = s["id"].as_str().unwrap().to_owned();
        let session = start(&rig, &id).await.body["session_id"].as_str().unwrap().to_owned();
        skycast_tests::media::store_session(&s3, &bucket, &format!("live/{id}/{session}/source"), &[], None).await;
        let events = [event("live", &id, &session), stats_with_health(&id, &session)];
        let r = skycast_lifecycle::handle(&rig.lifecycle(), batch(&events)).await;
        assert!(r.batch_item_failures.is_empty());
        live.push((id, session));
    }
    let (public, private) = (&live[0].0, &live[1].0);

    // Active streams: the private one is its owner's alone.
    let ids = |r: &skycast_tests::Reply| -> Vec<String> {
        r.body["items"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect()
    };
    for who in [None, Some(viewer.access.as_str())] {
        let r = api.get("/streams/active", who).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(ids(&r), std::slice::from_ref(public), "a private stream never leaks into /streams/active");
        assert!(r.body["items"][0].get("health").is_none() && r.body["items"][0].get("stream_key").is_none());
    }
    let mine = api.get("/streams/active", Some(&rig.owner.access)).await;
    assert_eq!(ids(&mine).len(), 2);
    assert!(mine.body["items"].as_array().unwrap().iter().all(|s| s["health"]["status"] == "warning"));
    assert_eq!(mine.body["items"][0]["bitrate_bps"], 2_500_000);

    // The manifest: anyone for the public stream (without health), the owner alone for the private one.
    let m = api.get(&format!("/streams/{public}/manifest"), None).await;
    assert_eq!(m.status, StatusCode::OK, "{:?}", m.body);
    let r0 = &m.body["renditions"][0];
    assert_eq!(r0["name"], "source");
    assert_eq!(r0["codecs"], json!(["avc1.64000b", "mp4a.40.2"]));
    assert_eq!(
        (r0["width"].as_u64(), r0["height"].as_u64(), r0["bandwidth"].as_u64()),
        (Some(160), Some(90), Some(200_000))
    );
    assert!(r0["segments"].as_u64().is_some_and(|n| n > 0) && r0["window_s"].as_f64().is_some_and(|w| w > 0.0), "{r0}");
    assert!(r0["playlist_url"].as_str().unwrap().ends_with("/source/index.m3u8"));
    assert!(m.body.get("health").is_none(), "health is the streamer's");
    for who in [None, Some(viewer.access.as_str())] {
        let r = api.get(&format!("/streams/{private}/manifest"), who).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "a private manifest is 404 to others");
    }
    let own = api.get(&format!("/streams/{private}/manifest"), Some(&rig.owner.access)).await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(own.body["health"]["warnings"][0]["code"], "keyframe_interval");
    assert!(own.body["master_url"].as_str().unwrap().contains("/t/"), "the owner's private URLs carry a token");
    assert_eq!(api.get("/streams/not-an-id/manifest", None).await.status, StatusCode::NOT_FOUND);

    // Stats: counts for anyone signed in; node detail for admins only.
    assert_eq!(api.get("/stats", None).await.status, StatusCode::UNAUTHORIZED);
    let st = api.get("/stats", Some(&viewer.access)).await;
    assert_eq!(st.status, StatusCode::OK, "{:?}", st.body);
    assert_eq!((st.body["live_streams"].as_u64(), st.body["sessions_today"].as_u64()), (Some(2), Some(2)));
    assert_eq!(st.body["ingest_bitrate_bps"], 5_000_000);
    assert!(st.body.get("node_detail").is_none(), "no node detail for a non-admin");
    assert!(!st.body.to_string().contains("secret"), "no private stream by name");
    let admin = api.get("/stats", Some(&boss.access)).await;
    assert_eq!(admin.body["node_detail"][0]["node_id"], "node-a");
    assert!(admin.body["node_detail"][0]["heartbeat_age_s"].as_i64().is_some_and(|a| a < 60));
    assert_eq!(
        (admin.body["node_detail"][0]["cpus"].as_u64(), admin.body["node_detail"][0]["load_1m"].as_f64()),
        (Some(2), Some(0.5))
    );
    // A duplicate `live` is not a second session.
    let (id, session) = &live[0];
    skycast_lifecycle::handle(&rig.lifecycle(), batch(&[event("live", id, session)])).await;
    assert_eq!(api.get("/stats", Some(&viewer.access)).await.body["sessions_today"], 2);
}
