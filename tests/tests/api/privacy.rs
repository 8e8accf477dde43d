//! Private media stays private at the CDN: the local `/cdn/` runs the edge's
//! decision (the CloudFront Function's, held to the same vectors) on every
//! request. Each refusal here has its positive control: the same URL, or the
//! owner's, plays.

use http::{Method, StatusCode};
use serde_json::{Value, json};
use skycast_core::{ids, timefmt};
use skycast_tests::{
    TestApi,
    media::{decode_errors, probe},
};

use crate::{
    lifecycle::register_node,
    recording::{Rig, rig_with},
    videos::cdn_tags,
};

/// The request path of a URL the API handed out (`{cdn}/…` → `/cdn/…`).
fn cdn_path(api: &TestApi, url: &str) -> String {
    let base = api.ctx.config.cdn_base_url.trim_end_matches("/cdn");
    url.strip_prefix(base).unwrap_or_else(|| panic!("{url} is not under {base}")).to_owned()
}

async fn status(api: &TestApi, path: &str) -> StatusCode {
    api.get(path, None).await.status
}

/// A media URL of the same session, another file: `…/master.m3u8` → `…/{file}`.
fn sibling(url: &str, file: &str) -> String {
    format!("{}/{file}", url.rsplit_once('/').unwrap().0)
}

async fn put_live(rig: &Rig, key: &str, body: &str) {
    rig.s3.put_object().bucket(rig.live()).key(key).body(body.as_bytes().to_vec().into()).send().await.unwrap();
}

async fn start(rig: &Rig, id: &str) -> Value {
    let r = rig.api.call(Method::POST, &format!("/streams/{id}/start"), Some(&rig.owner.access), None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body
}

#[tokio::test]
async fn a_private_live_stream_plays_only_with_its_owners_current_token() {
    let rig = rig_with(|_| {}).await;
    register_node(&rig.api).await;
    let s = rig.api.create_stream(&rig.owner, json!({"title": "secret", "visibility": "private"})).await;
    let id = s["id"].as_str().unwrap();
    let started = start(&rig, id).await;
    let session = started["session_id"].as_str().unwrap();
    // What the node would store.
    let prefix = format!("live/{id}/{session}");
    put_live(&rig, &format!("{prefix}/master.m3u8"), "#EXTM3U\n").await;
    put_live(&rig, &format!("{prefix}/source/seg_000000.m4s"), "segment").await;

    let owners = started["hls_url"].as_str().unwrap();
    assert!(owners.contains("/cdn/t/"), "the owner's URL carries a token: {owners}");
    let (master, segment) = (cdn_path(&rig.api, owners), cdn_path(&rig.api, &sibling(owners, "source/seg_000000.m4s")));
    assert_eq!(status(&rig.api, &master).await, StatusCode::OK, "the owner's URL plays");
    assert_eq!(rig.api.get(&master, None).await.body, "#EXTM3U\n");
    assert_eq!(status(&rig.api, &segment).await, StatusCode::OK, "relative URIs inherit the token");

    let bare = format!("/cdn/{prefix}/master.m3u8");
    assert_eq!(status(&rig.api, &bare).await, StatusCode::NOT_FOUND, "no token, no playback");
    assert_eq!(status(&rig.api, &format!("/cdn/{prefix}/source/seg_000000.m4s")).await, StatusCode::NOT_FOUND);
    let signer = rig.api.ctx.playback.as_ref().unwrap();
    let epoch = rig.api.ctx.stores.access.get(session).await.unwrap().epoch;
    let now = timefmt::unix_now();
    for (why, token) in [
        ("expired", signer.token(id, session, now - 1, epoch)),
        ("another stream's", signer.token(&ids::new_id(), session, now + 600, epoch)),
        ("another session's", signer.token(id, &ids::new_id(), now + 600, epoch)),
        ("an older epoch's", signer.token(id, session, now + 600, epoch.saturating_sub(1))),
        ("garbage", "1.2.abc".to_owned()),
    ] {
        let path = format!("/cdn/t/{token}/{prefix}/master.m3u8");
        assert_eq!(status(&rig.api, &path).await, StatusCode::NOT_FOUND, "{why} token");
    }
    let fresh = signer.token(id, session, now + 600, epoch);
    assert_eq!(status(&rig.api, &format!("/cdn/t/{fresh}/{prefix}/master.m3u8")).await, StatusCode::OK);

    // Nobody else learns of it through the API.
    let stranger = rig.api.register("stranger").await;
    for token in [None, Some(stranger.access.as_str())] {
        assert_eq!(rig.api.get(&format!("/streams/{id}"), token).await.status, StatusCode::NOT_FOUND);
        let live = rig.api.get("/streams?status=waiting", token).await.body;
        assert!(!live.to_string().contains(session), "{live}");
    }

    // Made public: plain URLs play. Private again: every URL handed out
    // before stops at once, the owner's too; a fresh read gives a new one.
    let path = format!("/streams/{id}");
    let r = rig.api.call(Method::PATCH, &path, Some(&rig.owner.access), Some(json!({"visibility": "public"}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(status(&rig.api, &bare).await, StatusCode::OK, "public: the plain URL plays");
    assert!(!r.body["hls_url"].as_str().unwrap().contains("/t/"), "public URLs carry no token");
    let r = rig.api.call(Method::PATCH, &path, Some(&rig.owner.access), Some(json!({"visibility": "private"}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(status(&rig.api, &bare).await, StatusCode::NOT_FOUND);
    assert_eq!(status(&rig.api, &master).await, StatusCode::NOT_FOUND, "the old token is void");
    let renewed = rig.api.get(&path, Some(&rig.owner.access)).await.body;
    let renewed = cdn_path(&rig.api, renewed["hls_url"].as_str().unwrap());
    assert_ne!(renewed, master);
    assert_eq!(status(&rig.api, &renewed).await, StatusCode::OK, "the owner's fresh URL plays");
}

#[tokio::test]
async fn a_public_streams_recording_made_private_is_refused_everywhere_but_to_its_owner() {
    // A real HTTP server, so FFmpeg plays the owner's links as a player would.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let rig = rig_with(|c| c.cdn_base_url = format!("{base}/cdn")).await;
    let server = tokio::spawn(axum::serve(listener, rig.api.router.clone()).into_future());
    let id = rig.recorded_video().await;
    let path = format!("/videos/{id}");

    // Public: plain URLs, and they play. A viewer keeps them.
    let public = rig.api.get(&path, None).await.body;
    let kept: Vec<String> = ["mp4_url", "hls_url", "thumbnail_url"]
        .iter()
        .map(|k| cdn_path(&rig.api, public[k].as_str().unwrap_or_else(|| panic!("{k}: {public}"))))
        .chain([cdn_path(&rig.api, &sibling(public["hls_url"].as_str().unwrap(), "source/seg_000000.m4s"))])
        .collect();
    for url in &kept {
        assert_eq!(status(&rig.api, url).await, StatusCode::OK, "public: {url}");
    }
    assert_eq!(cdn_tags(&rig, &id).await, ["public", "public"]);

    let r = rig.api.call(Method::PATCH, &path, Some(&rig.owner.access), Some(json!({"visibility": "private"}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(cdn_tags(&rig, &id).await, ["private", "private"], "the bucket's second layer follows");
    for url in &kept {
        assert_eq!(status(&rig.api, url).await, StatusCode::NOT_FOUND, "a kept public URL after going private: {url}");
    }

    // Nobody else learns it exists: not the video, its views, likes, the
    // listing, nor the stream's recordings.
    let stranger = rig.api.register("stranger").await;
    let recordings = format!("/streams/{}/recordings", rig.stream_id);
    for token in [None, Some(stranger.access.as_str())] {
        assert_eq!(rig.api.get(&path, token).await.status, StatusCode::NOT_FOUND);
        assert!(!rig.api.get("/videos", token).await.body.to_string().contains(&id));
        assert!(!rig.api.get(&recordings, token).await.body.to_string().contains(&id), "recordings list names it");
        let views = rig.api.call(Method::POST, &format!("{path}/views"), token, None).await;
        assert_eq!(views.status, StatusCode::NOT_FOUND);
    }
    assert!(
        rig.api.get(&recordings, Some(&rig.owner.access)).await.body.to_string().contains(&id),
        "the owner sees it"
    );

    // The owner's links carry a token that outlasts the video, and they play.
    let v = rig.api.get(&path, Some(&rig.owner.access)).await.body;
    // RFC 3339 sorts as time does: compare with the least it may be.
    let least = time_of(timefmt::unix_now() + 3600 + 2 * 10 - 5);
    assert!(v["links_expire_at"].as_str().unwrap() >= least.as_str(), "outlasts the video: {v}");
    let (mp4, hls) = (v["mp4_url"].as_str().unwrap(), v["hls_url"].as_str().unwrap());
    for url in [mp4, hls, v["thumbnail_url"].as_str().unwrap()] {
        assert!(url.starts_with(&format!("{base}/cdn/t/")), "{url}");
    }
    assert_eq!(probe(mp4).await.codecs, ["h264", "aac"]);
    let p = probe(hls).await;
    assert!((p.duration_s - 10.0).abs() < 0.5, "{}", p.duration_s);
    assert_eq!(decode_errors(hls).await, "", "the VOD HLS plays through the tokened segments");

    // Public and private again: the owner's earlier links are void.
    for visibility in ["public", "private"] {
        let body = json!({"visibility": visibility});
        assert_eq!(
            rig.api.call(Method::PATCH, &path, Some(&rig.owner.access), Some(body)).await.status,
            StatusCode::OK
        );
    }
    assert_eq!(status(&rig.api, &cdn_path(&rig.api, mp4)).await, StatusCode::NOT_FOUND);
    assert_eq!(status(&rig.api, &cdn_path(&rig.api, hls)).await, StatusCode::NOT_FOUND);
    let renewed = rig.api.get(&path, Some(&rig.owner.access)).await.body;
    assert_eq!(status(&rig.api, &cdn_path(&rig.api, renewed["hls_url"].as_str().unwrap())).await, StatusCode::OK);
    server.abort();
}

#[tokio::test]
async fn a_deleted_videos_media_is_refused_even_where_objects_linger() {
    let rig = rig_with(|_| {}).await;
    let id = rig.recorded_video().await;
    let path = format!("/videos/{id}");
    let v = rig.api.get(&path, None).await.body;
    let master = cdn_path(&rig.api, v["hls_url"].as_str().unwrap());
    let urls = [
        cdn_path(&rig.api, v["mp4_url"].as_str().unwrap()),
        cdn_path(&rig.api, v["thumbnail_url"].as_str().unwrap()),
        sibling(&master, "source/index.m3u8"),
        sibling(&master, "source/seg_000001.m4s"),
        master,
    ];
    for url in &urls {
        assert_eq!(status(&rig.api, url).await, StatusCode::OK, "before: {url}");
    }
    let r = rig.api.call(Method::DELETE, &path, Some(&rig.owner.access), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // The entry outlives every edge cache, then expires (the edge's store is small).
    let item = rig
        .api
        .dynamodb
        .get_item()
        .table_name(&rig.api.ctx.config.tables.media_access)
        .key("session_id", aws_sdk_dynamodb::types::AttributeValue::S(id.clone()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let expires: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
    assert!(expires > timefmt::unix_now() + 366 * 86400, "kept longer than a year: {expires}");
    // A PATCH that raced the delete, or a late retry, cannot undo it.
    let late = skycast_core::store::VideoAccess::Public;
    let after = rig.api.ctx.stores.access.set_video(&rig.stream_id, &id, late).await.unwrap();
    assert_eq!(after.state, skycast_core::playback::MediaState::Gone, "gone stays gone");
    // As if a straggling upload, or an edge cache, still held every object.
    store_again(&rig, &id).await;
    for url in &urls {
        assert_eq!(status(&rig.api, url).await, StatusCode::NOT_FOUND, "after delete: {url}");
    }
}

async fn store_again(rig: &Rig, session: &str) {
    let folder = format!("live/{}/{session}/source", rig.stream_id);
    skycast_tests::media::store_session(&rig.s3, &rig.live(), &folder, &[], None).await;
    for (key, body) in [
        (skycast_core::recording::mp4_key(&rig.stream_id, session), "mp4"),
        (skycast_core::recording::thumbnail_key(&rig.stream_id, session), "jpg"),
    ] {
        rig.s3
            .put_object()
            .bucket(rig.recordings())
            .key(key)
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap();
    }
}

fn time_of(unix: i64) -> String {
    let now = timefmt::now();
    timefmt::rfc3339(now + std::time::Duration::from_secs((unix - now.unix_timestamp()).max(0) as u64))
}

#[tokio::test]
async fn a_streams_older_sessions_follow_it_private_and_deleted() {
    let rig = rig_with(|_| {}).await;
    // An earlier session that no video was made of (the stream did not
    // record then): its media has no entry of its own.
    let old = ids::new_id();
    let master = format!("/cdn/live/{}/{old}/master.m3u8", rig.stream_id);
    put_live(&rig, &format!("live/{}/{old}/master.m3u8", rig.stream_id), "#EXTM3U\n").await;
    assert_eq!(status(&rig.api, &master).await, StatusCode::OK, "public stream, public sessions");
    let path = format!("/streams/{}", rig.stream_id);
    let patch = |visibility: &str| {
        let body = json!({"visibility": visibility});
        let (api, path, token) = (&rig.api, path.clone(), rig.owner.access.clone());
        async move { api.call(Method::PATCH, &path, Some(&token), Some(body)).await.status }
    };
    assert_eq!(patch("private").await, StatusCode::OK);
    assert_eq!(status(&rig.api, &master).await, StatusCode::NOT_FOUND, "private stream, private old sessions");
    assert_eq!(patch("public").await, StatusCode::OK);
    assert_eq!(status(&rig.api, &master).await, StatusCode::OK, "public again");
    let deleted = rig.api.call(Method::DELETE, &path, Some(&rig.owner.access), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(status(&rig.api, &master).await, StatusCode::NOT_FOUND, "a deleted stream's sessions play no more");
}
