//! The relay sessions API against the emulator: who may create, see,
//! finish and operate a session, invitations under concurrency, and the
//! errors a script gets for bad input.

use http::{Method, StatusCode};
use serde_json::json;
use skycast_tests::api;

#[tokio::test]
async fn a_session_is_created_seen_by_its_people_only_and_finished_once() {
    let api = api().await;
    let alice = api.register("relay_alice").await;
    let bob = api.register("relay_bob").await;
    let carol = api.register("relay_carol").await;

    let client_id = "9B2F8A5E-3C1D-4E6F-8A7B-0C9D8E7F6A5B";
    let r = api.post("/sessions", Some(&alice.access), json!({"client_id": client_id, "operators": [bob.id]})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let b = &r.body;
    let id = b["session_id"].as_str().unwrap().to_owned();
    assert_eq!(b["client_id"], client_id.to_ascii_lowercase());
    assert_eq!(b["status"], "waiting");
    assert_eq!(b["creator_id"], alice.id.as_str());
    assert_eq!(b["ws_url"], format!("ws://127.0.0.1:8080/ws/stream/{id}/{}", client_id.to_ascii_lowercase()));
    assert_eq!(b["operator_ws_url"], format!("ws://127.0.0.1:8080/ws/stream/{id}/{}", alice.id));
    assert_eq!(b["invited"], json!([bob.id]));
    assert_eq!(b["operators"], json!([]));
    assert_eq!(b["max_operators"], 10);
    let key = b["stream_key"].as_str().unwrap();
    assert!(key.len() >= 43, "a 256-bit key");
    // The key is stored only as its hash.
    let stored = api.ctx.stores.relay_sessions.get(&id).await.unwrap().unwrap();
    assert_ne!(stored.key_hash, key);
    assert!(stored.key_matches(key));

    // The creator and the invited operator see it (without the key); nobody else does.
    for who in [&alice, &bob] {
        let r = api.get(&format!("/sessions/{id}"), Some(&who.access)).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert!(r.body.get("stream_key").is_none(), "the key is shown once");
        assert_eq!(r.body["operator_ws_url"], format!("ws://127.0.0.1:8080/ws/stream/{id}/{}", who.id));
    }
    let hidden = api.get(&format!("/sessions/{id}"), Some(&carol.access)).await;
    assert_eq!((hidden.status, hidden.code()), (StatusCode::NOT_FOUND, "not_found"));
    assert_eq!(api.get(&format!("/sessions/{id}/operators"), Some(&carol.access)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(api.get(&format!("/sessions/{id}"), None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(api.get("/sessions/not-an-id", Some(&alice.access)).await.status, StatusCode::NOT_FOUND);
    let ops = api.get(&format!("/sessions/{id}/operators"), Some(&bob.access)).await;
    assert_eq!(ops.body, json!({"operators": [], "invited": [bob.id], "status": "waiting"}));

    // The creator's list.
    let other = api.post("/sessions", Some(&alice.access), json!({})).await;
    assert_eq!(other.status, StatusCode::CREATED);
    assert!(
        ids_in(&api.get("/sessions", Some(&alice.access)).await.body)
            .starts_with(&[other.body["session_id"].as_str().unwrap().to_owned(), id.clone()])
    );
    assert!(ids_in(&api.get("/sessions", Some(&carol.access)).await.body).is_empty());

    // Only the creator finishes it; again is fine; the record says why.
    let path = format!("/sessions/{id}");
    assert_eq!(api.call(Method::DELETE, &path, Some(&carol.access), None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(api.call(Method::DELETE, &path, Some(&bob.access), None).await.status, StatusCode::NOT_FOUND);
    for _ in 0..2 {
        assert_eq!(api.call(Method::DELETE, &path, Some(&alice.access), None).await.status, StatusCode::NO_CONTENT);
    }
    let done = api.get(&path, Some(&alice.access)).await;
    assert_eq!(
        (done.body["status"].as_str(), done.body["finish_reason"].as_str()),
        (Some("finished"), Some("deleted"))
    );
    let finished_at = done.body["finished_at"].clone();
    assert!(finished_at.is_string());
    api.call(Method::DELETE, &path, Some(&alice.access), None).await;
    assert_eq!(api.get(&path, Some(&alice.access)).await.body["finished_at"], finished_at, "the first finish stands");
}

fn ids_in(list: &serde_json::Value) -> Vec<String> {
    list["items"].as_array().unwrap().iter().map(|s| s["session_id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn bad_input_gets_a_clear_error() {
    let api = api().await;
    let alice = api.register("relay_bad_alice").await;
    let cases = [
        (json!({"client_id": "not-a-uuid"}), "invalid_client_id", "client_id"),
        (json!({"operators": ["0190f5c2-0000-7000-8000-000000000000"]}), "unknown_user", "operators"),
        (json!({"surprise": true}), "", ""),
    ];
    for (body, code, field) in cases {
        let r = api.post("/sessions", Some(&alice.access), body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {:?}", r.body);
        if !code.is_empty() {
            assert_eq!((r.code(), r.field()), (code, field), "{body}");
        }
    }
    // Positive control: the same requests, fixed, pass.
    let ok =
        api.post("/sessions", Some(&alice.access), json!({"client_id": "9b2f8a5e-3c1d-4e6f-8a7b-0c9d8e7f6a5b"})).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{:?}", ok.body);
    let client = ok.body["client_id"].as_str().unwrap();
    let id = ok.body["session_id"].as_str().unwrap();
    let r = api.call(Method::PUT, &format!("/sessions/{id}/operators/{client}"), Some(&alice.access), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "client_cannot_operate"));
    assert_eq!(api.post("/sessions", None, json!({})).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn invitations_are_the_creators_and_concurrent_ones_all_land() {
    let api = api().await;
    let alice = api.register("relay_inv_alice").await;
    let mallory = api.register("relay_inv_mallory").await;
    let mut guests = Vec::new();
    for i in 0..6 {
        guests.push(api.register(&format!("relay_inv_guest{i}")).await);
    }
    let r = api.post("/sessions", Some(&alice.access), json!({})).await;
    let id = r.body["session_id"].as_str().unwrap().to_owned();

    // Six invitations at once: none is lost (a set, not a read-modify-write).
    let invites = guests.iter().map(|g| {
        let path = format!("/sessions/{id}/operators/{}", g.id);
        let token = alice.access.clone();
        let api = &api;
        async move { api.call(Method::PUT, &path, Some(&token), None).await.status }
    });
    let statuses = futures_util::future::join_all(invites).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::NO_CONTENT), "{statuses:?}");
    let mut want: Vec<String> = guests.iter().map(|g| g.id.clone()).collect();
    want.sort();
    let ops = api.get(&format!("/sessions/{id}/operators"), Some(&guests[0].access)).await;
    assert_eq!(ops.body["invited"], json!(want));

    // Again: no change. Someone else's session: 404, nothing changes.
    let path = format!("/sessions/{id}/operators/{}", guests[0].id);
    assert_eq!(api.call(Method::PUT, &path, Some(&alice.access), None).await.status, StatusCode::NO_CONTENT);
    let theirs = format!("/sessions/{id}/operators/{}", mallory.id);
    assert_eq!(api.call(Method::PUT, &theirs, Some(&mallory.access), None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(api.call(Method::DELETE, &path, Some(&mallory.access), None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(api.get(&format!("/sessions/{id}"), Some(&mallory.access)).await.status, StatusCode::NOT_FOUND);

    // Uninvited, a guest no longer sees it.
    assert_eq!(api.call(Method::DELETE, &path, Some(&alice.access), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(api.get(&format!("/sessions/{id}"), Some(&guests[0].access)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(api.get(&format!("/sessions/{id}"), Some(&guests[1].access)).await.status, StatusCode::OK);
    // Unknown users cannot be invited.
    let nobody = format!("/sessions/{id}/operators/0190f5c2-0000-7000-8000-000000000000");
    let r = api.call(Method::PUT, &nobody, Some(&alice.access), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "unknown_user"));
}
