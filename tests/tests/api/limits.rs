//! Abuse limits and quotas against the emulator: each limit refuses with 429,
//! `Retry-After` and its name, and each has its positive control (another
//! address, another user, or the same one once a place is free).

use std::net::SocketAddr;

use http::{Method, StatusCode};
use serde_json::{Value, json};
use skycast_core::stream::Visibility;
use skycast_tests::{PASSWORD, Reply, TestApi, api_with};

use crate::lifecycle::register_node;

fn addr(n: u8) -> Option<SocketAddr> {
    Some(SocketAddr::from(([10, 9, 8, n], 5000)))
}

async fn login(api: &TestApi, from: Option<SocketAddr>, username: &str, password: &str) -> Reply {
    let body = json!({"username": username, "password": password});
    api.call_from(from, Method::POST, "/auth/login", None, Some(body)).await
}

/// One window for a whole test: rates count in fixed windows, and a
/// window's end falling mid-test would reset a count the test relies on.
const ONE_WINDOW: i64 = 1 << 32;

/// `c`'s rates, each in [`ONE_WINDOW`].
fn in_one_window(c: &mut skycast_core::config::Config) {
    let l = &mut c.limits;
    for rate in [
        &mut l.login_failures_per_address,
        &mut l.login_failures_per_account_address,
        &mut l.login_failures_per_account,
        &mut l.registrations_per_address,
        &mut l.views_per_address,
    ] {
        rate.window_s = ONE_WINDOW;
    }
}

fn assert_limited(r: &Reply, limit: &str, window_s: u64) {
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
    assert_eq!(r.body["error"]["limit"], limit, "{:?}", r.body);
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=window_s).contains(&retry), "Retry-After {retry}");
}

#[tokio::test]
async fn bad_logins_are_cut_off_without_locking_the_owner_or_others_out() {
    let api = api_with(in_one_window).await;
    let (alice, _bob) = (api.register("alice").await, api.register("bob").await);
    let attacker = addr(1);
    let mut codes = Vec::new();
    for i in 0..30 {
        let r = login(&api, attacker, "alice", &format!("guess number {i}")).await;
        codes.push(r.status.as_u16());
        if i == 29 {
            assert_limited(&r, "login_failures_per_account_address", ONE_WINDOW as u64);
        }
    }
    assert_eq!(codes.iter().filter(|&&c| c == 401).count(), 10, "ten guesses, then refused: {codes:?}");
    assert_eq!(codes.iter().filter(|&&c| c == 429).count(), 20);
    // Over the limit, even the right password from there is refused: a
    // guesser cannot test more passwords by looking for a 200.
    assert_eq!(login(&api, attacker, "alice", PASSWORD).await.status, StatusCode::TOO_MANY_REQUESTS);
    // Alice herself, and Bob, from their own addresses, log in.
    let r = login(&api, addr(2), "alice", PASSWORD).await;
    assert_eq!((r.status, r.body["user"]["id"].as_str()), (StatusCode::OK, Some(alice.id.as_str())));
    assert_eq!(login(&api, addr(3), "bob", PASSWORD).await.status, StatusCode::OK);

    // One address spraying many accounts hits the per-address limit.
    let sprayer = addr(4);
    for i in 0..30 {
        assert_eq!(
            login(&api, sprayer, &format!("nobody{i}"), "wrong password").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_limited(&login(&api, sprayer, "bob", PASSWORD).await, "login_failures_per_address", ONE_WINDOW as u64);
    assert_eq!(login(&api, addr(5), "bob", PASSWORD).await.status, StatusCode::OK, "bob elsewhere is fine");
}

#[tokio::test]
async fn registrations_are_limited_per_address() {
    let api = api_with(|c| {
        in_one_window(c);
        c.limits.registrations_per_address.max = 3;
    })
    .await;
    let register = |name: String, from| {
        let body = json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD});
        let api = &api;
        async move { api.call_from(from, Method::POST, "/auth/register", None, Some(body)).await }
    };
    for i in 0..3 {
        assert_eq!(register(format!("farm{i}"), addr(1)).await.status, StatusCode::CREATED);
    }
    assert_limited(&register("farm3".into(), addr(1)).await, "registrations_per_address", ONE_WINDOW as u64);
    assert_eq!(register("honest".into(), addr(2)).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn stats_and_manifests_are_limited_per_address() {
    let api = api_with(|c| {
        c.limits.operator_reads_per_address.window_s = ONE_WINDOW;
        c.limits.operator_reads_per_address.max = 3;
    })
    .await;
    let owner = api.register("operator").await;
    let stream = api.create_stream(&owner, json!({"title": "read a lot", "visibility": "public"})).await;
    let manifest = format!("/streams/{}/manifest", stream["id"].as_str().unwrap());
    let read = |path: &'static str, from| {
        let (api, token, manifest) = (&api, owner.access.clone(), manifest.clone());
        async move {
            let path = if path == "manifest" { manifest.as_str() } else { path };
            api.call_from(from, Method::GET, path, Some(&token), None).await
        }
    };
    // Both kinds count against one budget.
    assert_eq!(read("/stats", addr(1)).await.status, StatusCode::OK);
    assert_eq!(read("manifest", addr(1)).await.status, StatusCode::OK);
    assert_eq!(read("/stats", addr(1)).await.status, StatusCode::OK);
    assert_limited(&read("manifest", addr(1)).await, "operator_reads_per_address", ONE_WINDOW as u64);
    assert_limited(&read("/stats", addr(1)).await, "operator_reads_per_address", ONE_WINDOW as u64);
    // Another address has its own.
    assert_eq!(read("/stats", addr(2)).await.status, StatusCode::OK);
    assert_eq!(read("manifest", addr(2)).await.status, StatusCode::OK);
}

/// In AWS the API sits behind CloudFront: every request's peer is an edge
/// server. The edge names the viewer, and the API believes it only with the
/// distribution's origin secret (crates/http/src/client.rs).
#[tokio::test]
async fn behind_the_edge_each_viewer_has_its_own_budget_and_none_can_forge_one() {
    const SECRET: &str = "the-distributions-origin-secret";
    let api = api_with(|c| {
        in_one_window(c);
        c.limits.registrations_per_address.max = 2;
        c.edge_secret = Some(SECRET.into());
    })
    .await;
    let edge_server = addr(200);
    let register = |name: &str, secret: Option<&str>, viewer: &str| {
        let body = json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD});
        let mut req = http::Request::builder()
            .method(Method::POST)
            .uri("/auth/register")
            .extension(axum::extract::ConnectInfo(edge_server.expect("address")))
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("x-skycast-viewer-address", viewer);
        if let Some(s) = secret {
            req = req.header("x-skycast-edge-secret", s);
        }
        let req = req.body(axum::body::Body::from(body.to_string())).expect("request");
        let api = &api;
        async move { api.send(req).await }
    };
    // One viewer, through the edge: its own budget, spent.
    for name in ["edge1", "edge2"] {
        assert_eq!(register(name, Some(SECRET), "203.0.113.1").await.status, StatusCode::CREATED);
    }
    assert_limited(
        &register("edge3", Some(SECRET), "203.0.113.1").await,
        "registrations_per_address",
        ONE_WINDOW as u64,
    );
    // Positive control: another viewer behind the same edge server is not pooled with it.
    assert_eq!(register("edge4", Some(SECRET), "203.0.113.2").await.status, StatusCode::CREATED);
    // A client naming a fresh address each time, without the secret or with a
    // wrong one, is counted as the connection it is: cut off after two.
    assert_eq!(register("forged1", None, "198.51.100.1").await.status, StatusCode::CREATED);
    assert_eq!(register("forged2", Some("guess"), "198.51.100.2").await.status, StatusCode::CREATED);
    assert_limited(&register("forged3", None, "198.51.100.3").await, "registrations_per_address", ONE_WINDOW as u64);
}

#[tokio::test]
async fn a_viewer_counts_once_and_a_loop_is_cut_off() {
    let api = api_with(|c| {
        in_one_window(c);
        c.limits.views_per_address.max = 10;
    })
    .await;
    let owner = api.register("owner").await;
    let id = crate::videos::video(&api, &owner, "Watched", "", Visibility::Public).await;
    let view = |from, token: Option<String>| {
        let (api, path) = (&api, format!("/videos/{id}/views"));
        async move { api.call_from(from, Method::POST, &path, token.as_deref(), None).await }
    };
    let count = || async { api.get(&format!("/videos/{id}"), None).await.body["view_count"].as_u64() };
    for _ in 0..5 {
        assert_eq!(view(addr(1), None).await.status, StatusCode::NO_CONTENT);
    }
    assert_eq!(count().await, Some(1), "one anonymous viewer, one view");
    let fan = api.register("fan").await;
    for _ in 0..3 {
        assert_eq!(view(addr(1), Some(fan.access.clone())).await.status, StatusCode::NO_CONTENT);
    }
    assert_eq!(count().await, Some(2), "a signed-in viewer is one viewer, wherever from");
    assert_eq!(view(addr(2), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(count().await, Some(3), "another address is another viewer");
    for _ in 0..2 {
        view(addr(1), None).await;
    }
    assert_limited(&view(addr(1), None).await, "views_per_address", ONE_WINDOW as u64);
    assert_eq!(view(addr(3), None).await.status, StatusCode::NO_CONTENT, "others still view");
}

async fn start(api: &TestApi, token: &str, id: &str) -> Reply {
    api.call(Method::POST, &format!("/streams/{id}/start"), Some(token), None).await
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn one_users_starts_beyond_the_quota_are_refused_while_others_start() {
    let api = api_with(|c| {
        c.limits.on_air_per_user = 24;
        // Ladder is the default profile: the on-air quota is the one that binds here.
        c.limits.ladder_per_user = 24;
        c.limits.streams_per_user = 26;
        // No grace: the missed release below is reconciled at once.
        c.limits.quota_grace_s = 0;
    })
    .await;
    register_node(&api).await;
    let (greedy, other) = (api.register("greedy").await, api.register("other").await);
    let mut streams = Vec::new();
    for i in 0..26 {
        let r = api.call(Method::POST, "/streams", Some(&greedy.access), Some(json!({"title": format!("s{i}")}))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{i}");
        streams.push(id_of(&r.body));
    }
    let r = api.call(Method::POST, "/streams", Some(&greedy.access), Some(json!({"title": "one too many"}))).await;
    assert_limited(&r, "streams", 60);
    assert_eq!(r.body["error"]["code"], "quota_exceeded");

    for id in &streams[..24] {
        assert_eq!(start(&api, &greedy.access, id).await.status, StatusCode::OK);
    }
    let r = start(&api, &greedy.access, &streams[24]).await;
    assert_limited(&r, "on_air", 60);
    assert_eq!(r.body["error"]["code"], "quota_exceeded");
    // A repeated start of a stream on air is no new place.
    assert_eq!(start(&api, &greedy.access, &streams[0]).await.status, StatusCode::OK);
    // Another user is not held back.
    let theirs = api.create_stream(&other, json!({"title": "mine"})).await;
    assert_eq!(start(&api, &other.access, &id_of(&theirs)).await.status, StatusCode::OK);

    // Stopping frees a place; a place whose release was missed (the session
    // ended elsewhere) is found free when the quota is full.
    let stop = api.call(Method::POST, &format!("/streams/{}/stop", streams[0]), Some(&greedy.access), None).await;
    assert_eq!(stop.status, StatusCode::OK);
    assert_eq!(start(&api, &greedy.access, &streams[24]).await.status, StatusCode::OK);
    let now = skycast_core::timefmt::now_rfc3339();
    api.ctx.stores.streams.end_session(&streams[1], &greedy.id, &now).await.unwrap();
    assert_eq!(start(&api, &greedy.access, &streams[25]).await.status, StatusCode::OK, "the stale place was let go");

    // Deleting a stream frees its place among the streams owned.
    let del = api.call(Method::DELETE, &format!("/streams/{}", streams[0]), Some(&greedy.access), None).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let r = api.call(Method::POST, "/streams", Some(&greedy.access), Some(json!({"title": "room again"}))).await;
    assert_eq!(r.status, StatusCode::CREATED);
}

#[tokio::test]
async fn ladder_sessions_have_their_own_quota() {
    let api = api_with(|c| c.limits.ladder_per_user = 1).await;
    register_node(&api).await;
    let caster = api.register("caster").await;
    let ladder = |t: &str| json!({"title": t, "profile": "ladder"});
    let (a, b) = (api.create_stream(&caster, ladder("a")).await, api.create_stream(&caster, ladder("b")).await);
    let plain = api.create_stream(&caster, json!({"title": "plain", "profile": "source"})).await;
    assert_eq!(start(&api, &caster.access, &id_of(&a)).await.status, StatusCode::OK);
    assert_limited(&start(&api, &caster.access, &id_of(&b)).await, "ladder", 60);
    assert_eq!(start(&api, &caster.access, &id_of(&plain)).await.status, StatusCode::OK, "a passthrough one starts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_starts_cannot_free_each_others_places() {
    let api = api_with(|c| c.limits.on_air_per_user = 2).await;
    register_node(&api).await;
    let caster = api.register("racer").await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(id_of(&api.create_stream(&caster, json!({"title": format!("r{i}")})).await));
    }
    let starts = ids.iter().map(|id| start(&api, &caster.access, id));
    let codes: Vec<u16> = futures_util::future::join_all(starts).await.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(codes.iter().filter(|&&c| c == 200).count(), 2, "exactly the quota goes on air: {codes:?}");
    assert_eq!(codes.iter().filter(|&&c| c == 429).count(), 4, "{codes:?}");
}
