//! Least privilege, proven against the emulator with IAM enforced: each
//! function's real code runs signed as a user holding exactly its policy from
//! `infra/permissions.json` (the one Terraform deploys), and
//! - everything it does in its flows is allowed (a missing grant fails a step),
//! - every DynamoDB grant it has is used by those flows (a grant it does not
//!   need fails too),
//! - a write outside its grants is denied, with the admin doing the same
//!   write as the positive control.

use std::sync::{Arc, OnceLock};

use axum::Router;
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use skycast_core::{
    Config,
    auth::JwtKeys,
    config::physical_name,
    events::RecordingJob,
    ids,
    recording::{mp4_key, session_prefix},
    store::{
        IngestNode, Stores,
        queue::{SqsSender, WebhookOutbox},
    },
    timefmt,
};
use skycast_http::ApiContext;
use skycast_ingest::{
    directory::{Claimed, Directory, TableDirectory},
    store::{ObjectStore, S3Store},
};
use skycast_tests::{PASSWORD, TestApi, iam::EnforcedIam, media::store_session};

fn jwt_key() -> String {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(JwtKeys::generate_pkcs8_pem).clone()
}

/// The routers of `role`'s function, signed as `role`.
async fn api_as(iam: &EnforcedIam, role: &str, routes: Router<ApiContext>, tweak: impl FnOnce(&mut Config)) -> TestApi {
    let sdk = iam.sdk(role).await;
    let mut config = Config::with_prefix(&iam.prefix);
    config.jwt_private_key_pem = Some(jwt_key());
    tweak(&mut config);
    let dynamodb = iam.dynamodb(role, &sdk);
    let mut ctx =
        ApiContext::new(config, dynamodb.clone(), aws_sdk_sqs::Client::new(&sdk), skycast_core::aws::s3(&sdk))
            .expect("context")
            .for_role(role);
    ctx.webhooks = outbox_as(iam, &sdk).await;
    TestApi { router: skycast_http::app::finish(routes, ctx.clone()), ctx, dynamodb }
}

/// The stores of `role`, over its guarded DynamoDB client.
async fn stores_as(iam: &EnforcedIam, role: &str) -> (Stores, aws_config::SdkConfig) {
    let sdk = iam.sdk(role).await;
    let config = Config::with_prefix(&iam.prefix);
    (Stores::dynamo(iam.dynamodb(role, &sdk), &config.tables), sdk)
}

/// The `webhook-events` queue, sent to as the role of `sdk`.
async fn outbox_as(iam: &EnforcedIam, sdk: &aws_config::SdkConfig) -> WebhookOutbox {
    let url = queue_url(&iam.sdk("admin").await, &iam.prefix, "webhook-events").await;
    WebhookOutbox::new(Arc::new(SqsSender::new(aws_sdk_sqs::Client::new(sdk))), url)
}

async fn queue_url(sdk: &aws_config::SdkConfig, prefix: &str, logical: &str) -> String {
    let name = physical_name(prefix, logical);
    let out = aws_sdk_sqs::Client::new(sdk).get_queue_url().queue_name(name).send().await.expect("queue URL");
    out.queue_url.expect("a URL")
}

fn ok(r: &skycast_tests::Reply, what: &str) {
    assert!(r.status.is_success(), "{what}: {} {:?}", r.status, r.body);
}

fn batch(bodies: &[Value]) -> aws_lambda_events::event::sqs::SqsEvent {
    skycast_tests::sqs_batch(&bodies.iter().map(Value::to_string).collect::<Vec<_>>())
}

/// An SDK error that IAM refused (moto's AccessDenied, or the table guard's).
fn denied<E: std::fmt::Debug>(result: Result<impl std::fmt::Debug, E>) -> bool {
    match result {
        Ok(_) => false,
        Err(e) => format!("{e:?}").contains("AccessDenied"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_does_its_work_with_exactly_its_grants_and_nothing_else() {
    let iam = skycast_tests::iam::enforced().await;
    let prefix = iam.prefix.clone();
    let admin = iam.sdk("admin").await;
    let tables = Config::with_prefix(&prefix).tables;
    let (live, recordings) = (physical_name(&prefix, "live"), physical_name(&prefix, "recordings"));

    // auth: accounts and logins, the limits on them, readiness.
    // No reuse grace: the replay below takes the revocation path.
    let auth = api_as(iam, "auth", skycast_auth::routes(), |c| c.refresh_reuse_grace_s = 0).await;
    let body = json!({"username": "owner", "email": "owner@example.com", "password": PASSWORD});
    let r = auth.post("/auth/register", None, body).await;
    ok(&r, "register");
    let (token, refresh) =
        (r.body["access_token"].as_str().unwrap().to_owned(), r.body["refresh_token"].as_str().unwrap().to_owned());
    let owner_id = r.body["user"]["id"].as_str().unwrap().to_owned();
    let bad = auth.post("/auth/login", None, json!({"username": "owner", "password": "wrong password!"})).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    ok(&auth.post("/auth/login", None, json!({"email": "owner@example.com", "password": PASSWORD})).await, "login");
    ok(&auth.get("/auth/me", Some(&token)).await, "me");
    let pair = auth.post("/auth/refresh", None, json!({"refresh_token": refresh})).await;
    ok(&pair, "refresh");
    let replay = auth.post("/auth/refresh", None, json!({"refresh_token": refresh})).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED, "a replay revokes the login");
    let second = auth.post("/auth/login", None, json!({"username": "owner", "password": PASSWORD})).await;
    let logout = json!({"refresh_token": second.body["refresh_token"]});
    ok(&auth.call(Method::POST, "/auth/logout", Some(&token), Some(logout)).await, "logout");
    ok(&auth.get("/ready", None).await, "auth ready");

    // streams: create, list a page on, change, go on air, stop, rotate, delete.
    // One stream on air at a time: a second start takes the quota's full path.
    let streams = api_as(iam, "streams", skycast_streams::routes(), |c| c.limits.on_air_per_user = 1).await;
    let (node_stores, node_sdk) = stores_as(iam, "ingest-node").await;
    let now = timefmt::unix_now();
    let node = IngestNode {
        node_id: "iam-node".into(),
        public_host: "10.0.0.1".into(),
        rtmp_port: 1935,
        srt_port: 9000,
        http_port: None,
        sessions: 0,
        cpus: 2,
        load_1m: Some(0.5),
        heartbeat_at: now,
        expires_at: now + 300,
    };
    node_stores.ingest.register(&node).await.expect("the node registers itself");
    let create = |title: &str, visibility: &str| {
        let body = json!({"title": title, "visibility": visibility});
        let (streams, token) = (&streams, token.clone());
        async move { streams.call(Method::POST, "/streams", Some(&token), Some(body)).await }
    };
    let first = create("first", "public").await;
    ok(&first, "create");
    let s = create("second", "private").await;
    ok(&s, "create private");
    let id = s.body["id"].as_str().unwrap().to_owned();
    let page = streams.get("/streams?owner=me&limit=1", Some(&token)).await;
    ok(&page, "list");
    let cursor = page.body["next_cursor"].as_str().expect("a second page").to_owned();
    ok(&streams.get(&format!("/streams?owner=me&limit=1&cursor={cursor}"), Some(&token)).await, "next page");
    ok(&streams.get("/streams?status=idle", None).await, "list by status");
    ok(&streams.get("/streams", None).await, "list all");
    let path = format!("/streams/{id}");
    ok(&streams.call(Method::PATCH, &path, Some(&token), Some(json!({"title": "renamed"}))).await, "patch");
    let started = streams.call(Method::POST, &format!("{path}/start"), Some(&token), None).await;
    ok(&started, "start");
    let session = started.body["session_id"].as_str().unwrap().to_owned();
    // The node: a publisher's key looked up, the armed (private) session claimed.
    let directory = TableDirectory {
        stores: node_stores.clone(),
        cdn_base_url: "http://cdn.example".into(),
        limits: skycast_core::limits::Limits::default(),
    };
    let key = s.body["stream_key"].as_str().unwrap();
    let info = directory.find(key).await.expect("node reads streams by key").expect("the key's stream");
    let claimed = directory.claim(&info, key, "iam-node").await.expect("node claims the session");
    assert_eq!(claimed, Claimed::Session(session.clone()));
    assert!(directory.wanted(&id, &session, "iam-node").await.expect("node checks its sessions"));
    ok(&streams.get(&path, Some(&token)).await, "get");
    ok(&streams.get("/streams?owner=me", Some(&token)).await, "list with a session");
    let first_id = first.body["id"].as_str().unwrap().to_owned();
    let full = streams.call(Method::POST, &format!("/streams/{first_id}/start"), Some(&token), None).await;
    assert_eq!(full.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", full.body);
    let public = streams.call(Method::PATCH, &path, Some(&token), Some(json!({"visibility": "public"}))).await;
    ok(&public, "made public while on air");
    ok(&streams.get(&format!("{path}/recordings"), None).await, "recordings");

    // lifecycle: the node's events for that session, a recording job out.
    let (lc_stores, lc_sdk) = stores_as(iam, "lifecycle").await;
    let lifecycle = skycast_lifecycle::Lifecycle {
        stores: lc_stores,
        messages: Arc::new(SqsSender::new(aws_sdk_sqs::Client::new(&lc_sdk))),
        recording_jobs_url: queue_url(&admin, &prefix, "recording-jobs").await,
        webhooks: outbox_as(iam, &lc_sdk).await,
    };
    let event = |kind: &str| {
        let mut v = json!({"type": kind, "stream_id": id, "session_id": session, "at": timefmt::now_rfc3339()});
        if kind != "waiting" {
            v["renditions"] = json!(["source"]);
        }
        if kind == "ended" || kind == "stats" {
            v["segments"] = json!(5);
            v["duration_s"] = json!(10.0);
            v["bitrate_bps"] = json!(100_000);
            v["thumbnail"] = json!(true);
        }
        if kind == "ended" {
            v["reason"] = json!("publisher_gone");
        }
        v
    };
    let r = skycast_lifecycle::handle(&lifecycle, batch(&[event("waiting"), event("live"), event("stats")])).await;
    assert!(r.batch_item_failures.is_empty(), "lifecycle on air");
    // streams again: a viewer's heartbeat, and the live stream read and listed with its viewer count.
    let beat = streams.call(Method::POST, &format!("{path}/viewers"), None, Some(json!({"viewer_id": "tab"}))).await;
    ok(&beat, "viewer heartbeat");
    assert_eq!(beat.body["viewer_count"], 1);
    assert_eq!(streams.get(&path, None).await.body["viewer_count"], 1, "read with its viewer count");
    ok(&streams.get("/streams?status=live", None).await, "live listing with viewer counts");

    // The node: its media into the live bucket, its events out.
    let node_store = S3Store::new(skycast_core::aws::s3(&node_sdk), live.clone());
    let folder = format!("{}/source", session_prefix(&id, &session));
    node_store
        .put(&format!("{folder}/probe.txt"), Bytes::from_static(b"x"), "text/plain", "no-cache")
        .await
        .expect("node writes live/");
    let node_sqs = aws_sdk_sqs::Client::new(&node_sdk);
    let events_url = queue_url(&node_sdk, &prefix, "stream-events").await;
    node_sqs
        .send_message()
        .queue_url(&events_url)
        .message_body(event("stats").to_string())
        .send()
        .await
        .expect("node sends events");
    // The node's sweep: the registry, the streams on air, a session's media read back.
    let (sweep_events, _) = tokio::sync::mpsc::unbounded_channel();
    let reaper = skycast_ingest::reaper::Reaper {
        stores: node_stores.clone(),
        store: Arc::new(S3Store::new(skycast_core::aws::s3(&node_sdk), live.clone())),
        events: sweep_events,
        node_id: "iam-node".into(),
        waiting_timeout: std::time::Duration::from_secs(600),
        segment_seconds: 2,
    };
    reaper.sweep(false).await.expect("node sweeps");
    let recovered =
        skycast_ingest::recover::finish_from_store(reaper.store.as_ref(), &session_prefix(&id, &session), 2)
            .await
            .expect("node reads its live media back");
    assert!(recovered.renditions.is_empty(), "a probe is no media");
    ok(&streams.call(Method::POST, &format!("{path}/stop"), Some(&token), None).await, "stop");
    // The session's media, as the node stored it, then the node's `ended`.
    let admin_s3 = skycast_core::aws::s3(&admin);
    store_session(&admin_s3, &live, &folder, &[], None).await;
    // What operators read: the manifest (playlists from live/), the live streams, the platform's figures.
    let manifest = streams.get(&format!("{path}/manifest"), Some(&token)).await;
    ok(&manifest, "manifest");
    assert_eq!(manifest.body["renditions"][0]["name"], "source", "{:?}", manifest.body);
    ok(&streams.get("/streams/active", Some(&token)).await, "active streams");
    ok(&streams.get("/stats", Some(&token)).await, "stats");
    // Delivered twice, as SQS may: the second finds the recording made.
    let r = skycast_lifecycle::handle(&lifecycle, batch(&[event("ended"), event("ended")])).await;
    assert!(r.batch_item_failures.is_empty(), "lifecycle ended");
    ok(&streams.call(Method::POST, &format!("{path}/key"), Some(&token), None).await, "rotate key");
    // sessions: create (inviting a user), list, show, invite, finish; the
    // node claims the session, records its start, an operator and its end,
    // and reads it back; another node finds it held.
    let sessions = api_as(iam, "sessions", skycast_sessions::routes(), |_| {}).await;
    let guest = auth
        .post("/auth/register", None, json!({"username": "guest", "email": "guest@example.com", "password": PASSWORD}))
        .await;
    ok(&guest, "register a guest");
    let guest_id = guest.body["user"]["id"].as_str().unwrap().to_owned();
    let created = sessions.post("/sessions", Some(&token), json!({"operators": [guest_id]})).await;
    ok(&created, "create a relay session");
    let relay_id = created.body["session_id"].as_str().unwrap().to_owned();
    ok(&sessions.get("/sessions", Some(&token)).await, "list relay sessions");
    ok(&sessions.get(&format!("/sessions/{relay_id}"), Some(&token)).await, "show a relay session");
    let invite = format!("/sessions/{relay_id}/operators/{guest_id}");
    ok(&sessions.call(Method::DELETE, &invite, Some(&token), None).await, "uninvite");
    ok(&sessions.call(Method::PUT, &invite, Some(&token), None).await, "invite");
    let records = |node: &str| skycast_ingest::relay_records::TableRecords {
        sessions: node_stores.relay_sessions.clone(),
        nodes: node_stores.ingest.clone(),
        node_id: node.into(),
    };
    use skycast_ingest::relay_records::{Claim, RelayEvent, SessionRecords};
    let here = records("iam-node");
    assert!(matches!(here.claim(&relay_id).await, Ok(Claim::Here(_))), "the node claims the session");
    assert!(
        matches!(records("other-node").claim(&relay_id).await, Ok(Claim::Elsewhere { node_id, .. }) if node_id == "iam-node"),
        "another node finds it held by a live node"
    );
    assert!(here.get(&relay_id).await.expect("node reads a session").is_some());
    for event in [
        RelayEvent::Started { session_id: relay_id.clone() },
        RelayEvent::OperatorJoined { session_id: relay_id.clone(), user_id: guest_id.clone() },
        RelayEvent::Progress { session_id: relay_id.clone(), messages: 1, bytes: 10 },
        RelayEvent::Finished {
            session_id: relay_id.clone(),
            reason: skycast_relay::Finish::Idle,
            messages: 2,
            bytes: 20,
        },
    ] {
        here.record(&event).await.expect("the node records its session");
    }
    assert_eq!(here.current(&[relay_id.as_str()]).await.expect("node reads sessions back").len(), 1);
    ok(&sessions.call(Method::DELETE, &format!("/sessions/{relay_id}"), Some(&token), None).await, "finish");
    ok(&sessions.get("/ready", None).await, "sessions ready");

    node_stores.ingest.deregister("iam-node").await.expect("a draining node leaves the registry");
    ok(&streams.get("/ready", None).await, "streams ready");

    // recorder and catalog: the MP4, then the video.
    let (rec_stores, rec_sdk) = stores_as(iam, "recorder").await;
    let recorder = skycast_recorder::Recorder {
        recordings: rec_stores.recordings.clone(),
        media: Arc::new(skycast_recorder::s3::S3Media::new(
            skycast_core::aws::s3(&rec_sdk),
            live.clone(),
            recordings.clone(),
        )),
        redelivery: Arc::new(skycast_recorder::QueueDefault),
        max_receives: 3,
        lease: std::time::Duration::from_secs(900),
        backoff: std::time::Duration::ZERO,
        counters: Some(skycast_core::store::DailyCounters::new(rec_stores.limits.clone())),
        webhooks: outbox_as(iam, &rec_sdk).await,
    };
    let job = RecordingJob::Record {
        stream_id: id.clone(),
        session_id: session.clone(),
        at: timefmt::now_rfc3339(),
        rendition: "source".into(),
    };
    let recorded = recorder.record(&job, 1).await;
    assert!(matches!(recorded, Ok(skycast_recorder::Outcome::Recorded(_))), "recorder: {recorded:?}");
    let again = recorder.record(&job, 2).await;
    assert!(matches!(again, Ok(skycast_recorder::Outcome::AlreadyDone)), "a repeated job: {again:?}");
    let (cat_stores, cat_sdk) = stores_as(iam, "catalog").await;
    let catalog = skycast_catalog::Catalog {
        stores: cat_stores,
        webhooks: outbox_as(iam, &cat_sdk).await,
        recordings: Arc::new(skycast_catalog::S3Recordings {
            client: skycast_core::aws::s3(&cat_sdk),
            bucket: recordings.clone(),
        }),
    };
    let made = catalog.catalog(&mp4_key(&id, &session)).await;
    assert!(matches!(made, Ok(skycast_catalog::Outcome::Created(_))), "catalog: {made:?}");
    let again = catalog.catalog(&mp4_key(&id, &session)).await;
    assert!(matches!(again, Ok(skycast_catalog::Outcome::Exists(_))), "a repeated notification: {again:?}");

    // vod: the catalog and its counters, visibility, delete.
    let vod = api_as(iam, "vod", skycast_vod::routes(), |_| {}).await;
    let video = format!("/videos/{session}");
    ok(&vod.get("/videos?limit=1", None).await, "list videos");
    ok(&vod.get("/videos?owner=me&tag=x&q=renamed&limit=1", Some(&token)).await, "search videos");
    ok(&vod.get("/videos?sort=popular", None).await, "popular");
    ok(&vod.get(&format!("/videos?stream_id={id}"), None).await, "by stream");
    ok(&vod.call(Method::POST, &format!("{video}/views"), None, None).await, "view");
    ok(&vod.call(Method::PUT, &format!("{video}/like"), Some(&token), None).await, "like");
    ok(&vod.get(&video, Some(&token)).await, "get liked");
    ok(&vod.call(Method::DELETE, &format!("{video}/like"), Some(&token), None).await, "unlike");
    let private =
        vod.call(Method::PATCH, &video, Some(&token), Some(json!({"visibility": "private", "tags": ["x"]}))).await;
    ok(&private, "made private");
    ok(&vod.get("/ready", None).await, "vod ready");
    ok(&vod.call(Method::DELETE, &video, Some(&token), None).await, "delete video");
    ok(&streams.call(Method::DELETE, &format!("/streams/{first_id}"), Some(&token), None).await, "delete stream");

    // webhooks: register, list, show, change, test, read the log, delete;
    // the sender fans an event out (twice, as SQS may) and delivers it.
    let webhooks = api_as(iam, "webhooks", skycast_webhooks::routes(), |c| c.webhooks.allow_loopback = true).await;
    let receiver = skycast_tests::webhook_receiver::Receiver::answering(&[]).await;
    let hook = webhooks.post("/webhooks", Some(&token), json!({"url": receiver.url})).await;
    ok(&hook, "register a webhook");
    let hook_id = hook.body["id"].as_str().unwrap().to_owned();
    ok(&webhooks.get("/webhooks", Some(&token)).await, "list webhooks");
    ok(&webhooks.get(&format!("/webhooks/{hook_id}"), Some(&token)).await, "show a webhook");
    let described = json!({"description": "iam"});
    ok(&webhooks.call(Method::PATCH, &format!("/webhooks/{hook_id}"), Some(&token), Some(described)).await, "patch");
    ok(&webhooks.call(Method::POST, &format!("/webhooks/{hook_id}/test"), Some(&token), None).await, "test");
    let (sender_stores, sender_sdk) = stores_as(iam, "webhook-sender").await;
    let sender = skycast_webhook_sender::Sender::new(
        sender_stores.webhooks.clone(),
        aws_sdk_sqs::Client::new(&sender_sdk),
        queue_url(&admin, &prefix, "webhook-deliveries").await,
        &skycast_core::config::WebhookSettings { allow_loopback: true, ..Default::default() },
    )
    .expect("a sender");
    let event = skycast_core::webhook::WebhookEvent::fresh(
        skycast_core::webhook::EventType::VideoDeleted,
        &timefmt::now_rfc3339(),
        json!({}),
    );
    let envelope = skycast_core::webhook::Envelope { owner_id: owner_id.clone(), event, webhook_id: None };
    for _ in 0..2 {
        let fanned = sender.fan_out(&envelope).await;
        assert!(matches!(fanned, Ok(skycast_webhook_sender::Outcome::FannedOut(_))), "fan-out: {fanned:?}");
    }
    let job = skycast_core::webhook::DeliveryJob {
        webhook_id: hook_id.clone(),
        delivery_id: skycast_core::webhook::delivery_id(&envelope.event),
        event: envelope.event.clone(),
        first: None,
    };
    let sent = sender.deliver(&job, 1).await;
    assert!(matches!(sent, Ok(skycast_webhook_sender::Outcome::Delivered(200))), "delivery: {sent:?}");
    let again = sender.deliver(&job, 2).await;
    assert!(matches!(again, Ok(skycast_webhook_sender::Outcome::Dropped(_))), "a redelivered job: {again:?}");
    ok(&webhooks.get(&format!("/webhooks/{hook_id}/deliveries"), Some(&token)).await, "delivery log");
    ok(&webhooks.get("/ready", None).await, "webhooks ready");
    ok(&webhooks.call(Method::DELETE, &format!("/webhooks/{hook_id}"), Some(&token), None).await, "delete webhook");
    ok(&streams.call(Method::DELETE, &path, Some(&token), None).await, "delete the other");

    // Writes outside each role's grants are refused; the admin's same
    // writes go through (the emulator answers them at all).
    // An item with the key of every table written to here (users: pk; streams, videos: id).
    let stray_video = || {
        let mut item = std::collections::HashMap::new();
        for key in ["id", "pk"] {
            item.insert(key.to_owned(), aws_sdk_dynamodb::types::AttributeValue::S(ids::new_id()));
        }
        item
    };
    let put = |client: aws_sdk_dynamodb::Client, table: String| {
        let item = stray_video();
        async move { client.put_item().table_name(table).set_item(Some(item)).send().await }
    };
    assert!(denied(put(vod.dynamodb.clone(), tables.users.clone()).await), "vod may not write users");
    assert!(denied(put(auth.dynamodb.clone(), tables.streams.clone()).await), "auth may not write streams");
    assert!(denied(put(streams.dynamodb.clone(), tables.videos.clone()).await), "streams may not write videos");
    let r = put(aws_sdk_dynamodb::Client::new(&admin), tables.users.clone()).await;
    assert!(r.is_ok(), "the admin may: {r:?}");
    let s3_put = |sdk: aws_config::SdkConfig, bucket: String, key: &'static str| async move {
        skycast_core::aws::s3(&sdk)
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(Bytes::from_static(b"x").into())
            .send()
            .await
    };
    assert!(denied(s3_put(iam.sdk("streams").await, live.clone(), "live/x").await), "streams may not write media");
    assert!(
        denied(s3_put(node_sdk.clone(), recordings.clone(), "recordings/x.mp4").await),
        "the node may not write recordings"
    );
    assert!(denied(s3_put(node_sdk.clone(), live.clone(), "elsewhere/x").await), "the node writes only under live/");
    assert!(s3_put(admin.clone(), recordings.clone(), "recordings/x.mp4").await.is_ok(), "the admin may");
    let send = |sdk: aws_config::SdkConfig, url: String| async move {
        aws_sdk_sqs::Client::new(&sdk).send_message().queue_url(url).message_body("{}").send().await
    };
    let jobs = queue_url(&admin, &prefix, "recording-jobs").await;
    assert!(denied(send(iam.sdk("streams").await, jobs.clone()).await), "streams may not send recording jobs");
    assert!(denied(send(node_sdk.clone(), jobs.clone()).await), "nor may the node");
    assert!(send(admin.clone(), jobs).await.is_ok(), "the admin may");

    // And no role holds a DynamoDB grant its work did not use.
    for role in [
        "auth",
        "streams",
        "sessions",
        "vod",
        "lifecycle",
        "recorder",
        "catalog",
        "ingest-node",
        "webhooks",
        "webhook-sender",
    ] {
        assert_eq!(iam.unused_table_grants(role), Vec::<String>::new(), "{role} holds grants it never used");
    }
}
