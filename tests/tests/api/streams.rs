use std::collections::HashSet;

use aws_sdk_dynamodb::types::AttributeValue;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use skycast_tests::{Account, TestApi, api};

#[tokio::test]
async fn create_applies_defaults_and_shows_the_key_to_the_owner_only() {
    let api = api().await;
    let a = api.register("streamer").await;
    let s = api.create_stream(&a, json!({"title": "  Evening show  "})).await;
    assert_eq!(s["title"], "Evening show");
    assert_eq!(s["protocol"], "srt");
    assert_eq!(s["visibility"], "public");
    assert_eq!(s["record"], true);
    assert_eq!(s["status"], "idle");
    assert_eq!((s["profile"].as_str(), s["latency"].as_str()), (Some("ladder"), Some("standard")));
    assert_eq!(s["owner"], json!({"id": a.id, "username": "streamer"}));
    let key = s["stream_key"].as_str().unwrap();
    assert!(key.len() >= 22, "≥ 128 bits");
    assert!(key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "URL-safe");

    let id = s["id"].as_str().unwrap();
    let anon = api.get(&format!("/streams/{id}"), None).await;
    assert_eq!(anon.status, StatusCode::OK);
    assert!(anon.body.get("stream_key").is_none());
    assert_eq!(anon.body["owner"]["username"], "streamer");
    let b = api.register("viewer").await;
    assert!(api.get(&format!("/streams/{id}"), Some(&b.access)).await.body.get("stream_key").is_none());
    assert_eq!(api.get(&format!("/streams/{id}"), Some(&a.access)).await.body["stream_key"], key);
}

#[tokio::test]
async fn create_validates_input() {
    let api = api().await;
    let a = api.register("validator").await;
    let cases = [
        (json!({"title": ""}), "title"),
        (json!({"title": "   "}), "title"),
        (json!({"title": "t".repeat(201)}), "title"),
        (json!({"title": "ok", "description": "d".repeat(5001)}), "description"),
        (json!({"title": "ok", "protocol": "webrtc"}), "protocol"),
        (json!({"title": "ok", "visibility": "secret"}), "visibility"),
        (json!({"title": "ok", "record": "yes"}), "record"),
        (json!({"title": "ok", "latency": "ultra"}), "latency"),
        (json!({"title": "ok", "owner_id": "someone"}), "owner_id"),
        (json!({}), "title"),
    ];
    for (body, field) in cases {
        let r = api.post("/streams", Some(&a.access), body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(r.field(), field, "{body}: {:?}", r.body);
    }
    let ok = api.create_stream(&a, json!({"title": "t".repeat(200), "description": "d".repeat(5000), "protocol": "rtmp", "visibility": "private", "record": false, "latency": "low"})).await;
    assert_eq!(
        (ok["protocol"].as_str(), ok["visibility"].as_str(), ok["record"].as_bool(), ok["latency"].as_str()),
        (Some("rtmp"), Some("private"), Some(false), Some("low"))
    );
    assert_eq!(api.post("/streams", None, json!({"title": "x"})).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn private_streams_are_404_to_everyone_but_the_owner() {
    let api = api().await;
    let a = api.register("privy").await;
    let b = api.register("nosy").await;
    let s = api.create_stream(&a, json!({"title": "secret", "visibility": "private"})).await;
    let path = format!("/streams/{}", s["id"].as_str().unwrap());
    assert_eq!(api.get(&path, None).await.status, StatusCode::NOT_FOUND);
    let r = api.get(&path, Some(&b.access)).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    assert_eq!(api.get(&path, Some(&a.access)).await.status, StatusCode::OK);
    // Unknown and malformed ids look the same.
    assert_eq!(api.get("/streams/00000000-0000-7000-8000-000000000000", None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(api.get("/streams/not-an-id", None).await.status, StatusCode::NOT_FOUND);
}

fn ids(v: &Value) -> Vec<String> {
    v["items"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect()
}

async fn all_pages(api: &TestApi, query: &str, token: Option<&str>) -> (Vec<String>, usize) {
    let mut out = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let sep = if query.contains('?') { '&' } else { '?' };
        let path = match &cursor {
            Some(c) => format!("{query}{sep}cursor={c}"),
            None => query.to_owned(),
        };
        let r = api.get(&path, token).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.body);
        pages += 1;
        out.extend(ids(&r.body));
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(pages < 50, "pagination does not end");
    }
    (out, pages)
}

#[tokio::test]
async fn listing_pages_newest_first_without_gaps_or_repeats() {
    let api = api().await;
    let a = api.register("pager").await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(api.create_stream(&a, json!({"title": format!("s{i}")})).await["id"].as_str().unwrap().to_owned());
    }
    created.reverse();
    let (seen, pages) = all_pages(&api, "/streams?limit=2", None).await;
    assert_eq!(seen, created, "newest first, each once");
    assert_eq!(pages, 3);
    let first = api.get("/streams", None).await;
    assert_eq!(ids(&first.body).len(), 5, "default limit 20 covers all");
    assert!(first.body["next_cursor"].is_null());
}

#[tokio::test]
async fn listings_hide_others_private_streams_across_pages() {
    let api = api().await;
    let a = api.register("mixed").await;
    let b = api.register("outsider").await;
    let mut public = Vec::new();
    let mut all = Vec::new();
    for i in 0..9 {
        let visibility = if i % 3 == 0 { "public" } else { "private" };
        let id = api.create_stream(&a, json!({"title": format!("m{i}"), "visibility": visibility})).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        if visibility == "public" {
            public.push(id.clone());
        }
        all.push(id);
    }
    public.reverse();
    all.reverse();
    for token in [None, Some(b.access.as_str())] {
        let (seen, _) = all_pages(&api, "/streams?limit=2", token).await;
        assert_eq!(seen, public, "{token:?}");
        let (seen, _) = all_pages(&api, &format!("/streams?owner={}&limit=2", a.id), token).await;
        assert_eq!(seen, public);
        let (seen, _) = all_pages(&api, "/streams?status=idle&limit=1", token).await;
        assert_eq!(seen, public);
    }
    // The owner sees everything of theirs, including private ones.
    let (seen, _) = all_pages(&api, "/streams?owner=me&limit=4", Some(&a.access)).await;
    assert_eq!(seen, all);
    let (seen, _) = all_pages(&api, "/streams?limit=3", Some(&a.access)).await;
    assert_eq!(seen, all);
    let r = api.get("/streams?owner=me", Some(&b.access)).await;
    assert!(ids(&r.body).is_empty());
}

#[tokio::test]
async fn listing_filters_and_their_errors() {
    let api = api().await;
    let a = api.register("filterer").await;
    let s = api.create_stream(&a, json!({"title": "one"})).await;
    let live = api.get("/streams?status=live", None).await;
    assert!(ids(&live.body).is_empty());
    let idle = api.get("/streams?status=idle", None).await;
    assert_eq!(ids(&idle.body), vec![s["id"].as_str().unwrap().to_owned()]);
    for (q, field) in [
        ("/streams?limit=0", "limit"),
        ("/streams?limit=101", "limit"),
        ("/streams?limit=ten", "limit"),
        ("/streams?status=streaming", "status"),
        ("/streams?cursor=%%%", "cursor"),
        ("/streams?cursor=eyJ4IjoieSJ9", "cursor"),
        ("/streams?owner=someone", "owner"),
        ("/streams?colour=red", "colour"),
    ] {
        let r = api.get(q, None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}: {:?}", r.body);
        assert_eq!(r.field(), field, "{q}: {:?}", r.body);
    }
    assert_eq!(api.get("/streams?owner=me", None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(api.get("/streams?limit=100", None).await.status, StatusCode::OK);
    // A cursor from one listing does not fit another.
    let two = api.create_stream(&a, json!({"title": "two"})).await;
    let _ = two;
    let page = api.get("/streams?limit=1", None).await;
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let r = api.get(&format!("/streams?status=idle&cursor={cursor}"), None).await;
    assert_eq!((r.status, r.field()), (StatusCode::BAD_REQUEST, "cursor"));

    // Same shape, another partition: one owner's cursor on another's listing,
    // or a forged one. DynamoDB would reject the start key; we must say 400.
    let b = api.register("other-owner").await;
    api.create_stream(&b, json!({"title": "b1"})).await;
    api.create_stream(&b, json!({"title": "b2"})).await;
    let page = api.get(&format!("/streams?owner={}&limit=1", b.id), None).await;
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let r = api.get(&format!("/streams?owner={}&cursor={cursor}", a.id), None).await;
    assert_eq!((r.status, r.field()), (StatusCode::BAD_REQUEST, "cursor"), "{:?}", r.body);
    use base64::Engine;
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"collection":"users","id":"x"}"#);
    let r = api.get(&format!("/streams?cursor={forged}"), None).await;
    assert_eq!((r.status, r.field()), (StatusCode::BAD_REQUEST, "cursor"), "{:?}", r.body);

    // Sealed: a cursor is good only for its listing and its caller. A
    // well-formed key for this very listing, not made by the API, is refused,
    // and so is a real cursor that another caller replays.
    let page = api.get(&format!("/streams?owner={}&limit=1", b.id), None).await;
    let cursor = page.body["next_cursor"].as_str().unwrap().to_owned();
    let ok = api.get(&format!("/streams?owner={}&limit=1&cursor={cursor}", b.id), None).await;
    assert_eq!(ok.status, StatusCode::OK, "positive control: the cursor works for its caller");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&cursor).unwrap();
    let last_id = page.body["items"][0]["id"].as_str().unwrap();
    assert!(!String::from_utf8_lossy(&raw).contains(last_id), "a cursor cannot be read for ids");
    let mut flipped = raw.clone();
    flipped[20] ^= 1;
    let flipped = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(flipped);
    let probe_id = skycast_core::ids::new_id();
    let probing = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!(r#"{{"id":"{probe_id}","owner_id":"{}"}}"#, b.id));
    for (why, c, token) in [
        ("a key of the caller's choosing", probing, None),
        ("a cursor with one bit changed", flipped, None),
        ("another caller's cursor", cursor.clone(), Some(a.access.as_str())),
    ] {
        let r = api.get(&format!("/streams?owner={}&limit=1&cursor={c}", b.id), token).await;
        assert_eq!((r.status, r.code(), r.field()), (StatusCode::BAD_REQUEST, "invalid_query", "cursor"), "{why}");
    }
}

async fn patch(api: &TestApi, who: &Account, id: &str, body: Value) -> skycast_tests::Reply {
    api.call(Method::PATCH, &format!("/streams/{id}"), Some(&who.access), Some(body)).await
}

#[tokio::test]
async fn only_the_owner_updates_or_deletes() {
    let api = api().await;
    let a = api.register("author").await;
    let b = api.register("vandal").await;
    let s = api.create_stream(&a, json!({"title": "mine"})).await;
    let id = s["id"].as_str().unwrap();

    let r = patch(&api, &b, id, json!({"title": "pwned"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "another user's stream is 404, not 403");
    let r = api.call(Method::DELETE, &format!("/streams/{id}"), Some(&b.access), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = api.call(Method::POST, &format!("/streams/{id}/key"), Some(&b.access), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(api.get(&format!("/streams/{id}"), None).await.body["title"], "mine");

    let r =
        patch(&api, &a, id, json!({"title": "renamed", "visibility": "private", "record": false, "description": "d"}))
            .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        (r.body["title"].as_str(), r.body["visibility"].as_str(), r.body["record"].as_bool()),
        (Some("renamed"), Some("private"), Some(false))
    );
    assert_eq!(r.body["stream_key"], s["stream_key"], "owner sees the key in the update");
    assert_ne!(r.body["updated_at"], s["updated_at"]);
    let r = patch(&api, &a, id, json!({"latency": "low", "profile": "source"})).await;
    assert_eq!((r.body["latency"].as_str(), r.body["profile"].as_str()), (Some("low"), Some("source")), "{:?}", r.body);
    assert_eq!(api.get(&format!("/streams/{id}"), Some(&a.access)).await.body["latency"], "low", "stored");
    assert_eq!(patch(&api, &b, id, json!({"latency": "standard"})).await.status, StatusCode::NOT_FOUND);
    for (body, field) in [
        (json!({"title": ""}), "title"),
        (json!({"description": "d".repeat(5001)}), "description"),
        (json!({"status": "live"}), "status"),
        (json!({"latency": "instant"}), "latency"),
    ] {
        let r = patch(&api, &a, id, body).await;
        assert_eq!((r.status, r.field()), (StatusCode::BAD_REQUEST, field), "{:?}", r.body);
    }
    assert_eq!(patch(&api, &a, id, json!({})).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        api.call(Method::PATCH, &format!("/streams/{id}"), None, Some(json!({"title": "x"}))).await.status,
        StatusCode::UNAUTHORIZED
    );

    let r = api.call(Method::DELETE, &format!("/streams/{id}"), Some(&a.access), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(api.get(&format!("/streams/{id}"), Some(&a.access)).await.status, StatusCode::NOT_FOUND);
    let r = api.call(Method::DELETE, &format!("/streams/{id}"), Some(&a.access), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        patch(&api, &a, id, json!({"title": "ghost"})).await.status,
        StatusCode::NOT_FOUND,
        "no resurrection by update"
    );
}

async fn set_status(api: &TestApi, id: &str, status: &str) {
    // The ingest node sets status in a later issue; here the test plays its part.
    api.dynamodb
        .update_item()
        .table_name(&api.ctx.config.tables.streams)
        .key("id", AttributeValue::S(id.into()))
        .update_expression("SET #s = :s")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":s", AttributeValue::S(status.into()))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn key_rotation_replaces_the_key_but_not_while_on_air() {
    let api = api().await;
    let a = api.register("rotatekey").await;
    let s = api.create_stream(&a, json!({"title": "k"})).await;
    let id = s["id"].as_str().unwrap();
    let path = format!("/streams/{id}/key");
    let mut keys = HashSet::from([s["stream_key"].as_str().unwrap().to_owned()]);
    for _ in 0..3 {
        let r = api.call(Method::POST, &path, Some(&a.access), None).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert!(keys.insert(r.body["stream_key"].as_str().unwrap().to_owned()), "a new key each time");
    }
    for status in ["live", "waiting"] {
        set_status(&api, id, status).await;
        let r = api.call(Method::POST, &path, Some(&a.access), None).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "stream_on_air"), "{status}");
    }
    set_status(&api, id, "ended").await;
    assert_eq!(api.call(Method::POST, &path, Some(&a.access), None).await.status, StatusCode::OK);
    assert_eq!(api.call(Method::POST, &path, None, None).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn live_streams_are_listed_by_status() {
    let api = api().await;
    let a = api.register("golive").await;
    let s1 = api.create_stream(&a, json!({"title": "on"})).await;
    let _s2 = api.create_stream(&a, json!({"title": "off"})).await;
    set_status(&api, s1["id"].as_str().unwrap(), "live").await;
    let r = api.get("/streams?status=live", None).await;
    assert_eq!(ids(&r.body), vec![s1["id"].as_str().unwrap().to_owned()]);
    let r = api.get("/streams?owner=me&status=idle", Some(&a.access)).await;
    assert_eq!(ids(&r.body).len(), 1);
}
