//! The videos API against the emulator: listing with filters, sorting and
//! cursors, tags, views and likes under concurrency, private videos' links
//! (played by FFmpeg over real HTTP), and delete removing every object.

use http::{Method, StatusCode};
use serde_json::{Value, json};
use skycast_core::{
    ids,
    recording::{mp4_key, session_prefix, thumbnail_key},
    stream::Visibility,
    timefmt,
    video::Video,
};
use skycast_tests::{Account, TestApi, api};

use crate::recording::{self, rig_with};

/// A video of `owner`'s, written as the catalog writes one.
pub(crate) async fn video(
    api: &TestApi,
    owner: &Account,
    title: &str,
    description: &str,
    visibility: Visibility,
) -> String {
    let id = ids::new_id();
    let stream_id = ids::new_id();
    let now = timefmt::now_rfc3339();
    let v = Video {
        id: id.clone(),
        owner_id: owner.id.clone(),
        owner_username: owner.username.clone(),
        stream_id: stream_id.clone(),
        session_id: id.clone(),
        title: title.into(),
        description: description.into(),
        visibility,
        tags: vec![],
        duration_s: 60.0,
        size_bytes: 1000,
        mp4_key: format!("recordings/{stream_id}/{id}.mp4"),
        thumbnail_key: None,
        hls_key: Some(format!("{}/master.m3u8", session_prefix(&stream_id, &id))),
        view_count: 0,
        like_count: 0,
        created_at: now.clone(),
        updated_at: now,
        deleting: false,
        deleted_at: None,
    };
    assert!(api.ctx.stores.videos.create(&v).await.unwrap());
    id
}

fn ids_of(body: &Value) -> Vec<String> {
    body["items"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn listing_filters_searches_sorts_and_pages() {
    let api = api().await;
    let (alice, bob) = (api.register("alice").await, api.register("bob").await);
    let friday = video(&api, &alice, "Speedrun Friday", "any% glitchless", Visibility::Public).await;
    let pasta = video(&api, &alice, "Cooking pasta", "carbonara, no cream", Visibility::Public).await;
    let secret = video(&api, &alice, "Speedrun practice", "unlisted attempts", Visibility::Private).await;
    let bobs = video(&api, &bob, "Bob's stream", "chatting", Visibility::Public).await;

    // Newest first; others' private videos never appear, the caller's do.
    assert_eq!(ids_of(&api.get("/videos", None).await.body), [bobs.as_str(), pasta.as_str(), friday.as_str()]);
    assert_eq!(
        ids_of(&api.get("/videos", Some(&alice.access)).await.body),
        [bobs.as_str(), secret.as_str(), pasta.as_str(), friday.as_str()]
    );
    assert_eq!(
        ids_of(&api.get("/videos?owner=me", Some(&alice.access)).await.body),
        [secret.as_str(), pasta.as_str(), friday.as_str()]
    );
    assert_eq!(
        ids_of(&api.get(&format!("/videos?owner={}", alice.id), None).await.body),
        [pasta.as_str(), friday.as_str()]
    );

    // Search: every word begins a word of the title or description.
    assert_eq!(ids_of(&api.get("/videos?q=speed", None).await.body), [friday.as_str()]);
    assert_eq!(ids_of(&api.get("/videos?q=speed", Some(&alice.access)).await.body), [secret.as_str(), friday.as_str()]);
    assert_eq!(ids_of(&api.get("/videos?q=CARBON%20cream", None).await.body), [pasta.as_str()]);

    // Tags: normalised on the way in, matched the same way.
    let r = api
        .call(
            Method::PATCH,
            &format!("/videos/{pasta}"),
            Some(&alice.access),
            Some(json!({"tags": ["Italian Food", "RECIPE", "recipe"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["tags"], json!(["italian-food", "recipe"]));
    assert_eq!(ids_of(&api.get("/videos?tag=Recipe", None).await.body), [pasta.as_str()]);
    assert_eq!(ids_of(&api.get("/videos?tag=italian%20food", None).await.body), [pasta.as_str()]);

    // Popular: most viewed first.
    for (id, views) in [(&friday, 3), (&bobs, 1)] {
        for _ in 0..views {
            assert_eq!(
                api.call(Method::POST, &format!("/videos/{id}/views"), None, None).await.status,
                StatusCode::NO_CONTENT
            );
        }
    }
    assert_eq!(ids_of(&api.get("/videos?sort=popular", None).await.body)[..2], [friday.as_str(), bobs.as_str()]);

    // Pages of one, following the cursor, list each video once.
    let (mut seen, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let path = match &cursor {
            Some(c) => format!("/videos?limit=1&cursor={c}"),
            None => "/videos?limit=1".into(),
        };
        let r = api.get(&path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        seen.extend(ids_of(&r.body));
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, [bobs.as_str(), pasta.as_str(), friday.as_str()]);
    let popular_page = api.get("/videos?sort=popular&limit=1", None).await.body;
    let c = popular_page["next_cursor"].as_str().unwrap();
    assert_eq!(ids_of(&api.get(&format!("/videos?sort=popular&limit=1&cursor={c}"), None).await.body), [bobs.as_str()]);

    // Bad input names its field.
    for (path, field) in [
        ("/videos?tag=".to_owned() + &"x".repeat(33), "tag"),
        ("/videos?q=%21%21".to_owned(), "q"),
        ("/videos?owner=nobody".to_owned(), "owner"),
        ("/videos?stream_id=42".to_owned(), "stream_id"),
        (format!("/videos?sort=popular&cursor={c}&limit=1").replace("sort=popular&", ""), "cursor"),
        ("/videos?limit=500".to_owned(), "limit"),
    ] {
        let r = api.get(&path, None).await;
        assert_eq!((r.status, r.field()), (StatusCode::BAD_REQUEST, field), "{path}: {:?}", r.body);
    }
    assert_eq!(api.get("/videos?sort=oldest", None).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn edits_are_the_owners_and_validated() {
    let api = api().await;
    let (alice, bob) = (api.register("alice").await, api.register("bob").await);
    let id = video(&api, &alice, "Old title", "", Visibility::Public).await;
    let path = format!("/videos/{id}");
    let r = api.call(Method::PATCH, &path, Some(&bob.access), Some(json!({"title": "Mine now"}))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "another user's video is not theirs to edit");
    let r = api.call(Method::PATCH, &path, Some(&alice.access), Some(json!({"title": ""}))).await;
    assert_eq!((r.status, r.field()), (StatusCode::BAD_REQUEST, "title"));
    let too_many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
    let r = api.call(Method::PATCH, &path, Some(&alice.access), Some(json!({"tags": too_many}))).await;
    assert_eq!((r.status, r.field()), (StatusCode::BAD_REQUEST, "tags"));
    let r = api.call(Method::PATCH, &path, Some(&alice.access), Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = api
        .call(Method::PATCH, &path, Some(&alice.access), Some(json!({"title": "New title", "description": "d"})))
        .await;
    assert_eq!((r.status, r.body["title"].as_str()), (StatusCode::OK, Some("New title")));
    assert_eq!(
        api.call(Method::PATCH, &path, None, Some(json!({"title": "x"}))).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(api.get("/videos/not-an-id", None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn likes_count_once_per_user_and_counters_are_atomic() {
    let api = api().await;
    let (alice, bob) = (api.register("alice").await, api.register("bob").await);
    let id = video(&api, &alice, "Likeable", "", Visibility::Public).await;
    let like = format!("/videos/{id}/like");
    for _ in 0..2 {
        let r = api.call(Method::PUT, &like, Some(&bob.access), None).await;
        assert_eq!(
            (r.status, r.body["liked"].as_bool(), r.body["like_count"].as_u64()),
            (StatusCode::OK, Some(true), Some(1))
        );
    }
    let r = api.call(Method::PUT, &like, Some(&alice.access), None).await;
    assert_eq!(r.body["like_count"], 2);
    assert_eq!(api.get(&format!("/videos/{id}"), Some(&bob.access)).await.body["liked"], true);
    for _ in 0..2 {
        let r = api.call(Method::DELETE, &like, Some(&bob.access), None).await;
        assert_eq!(
            (r.status, r.body["liked"].as_bool(), r.body["like_count"].as_u64()),
            (StatusCode::OK, Some(false), Some(1))
        );
    }
    assert_eq!(api.call(Method::PUT, &like, None, None).await.status, StatusCode::UNAUTHORIZED);
    let missing = format!("/videos/{}/like", ids::new_id());
    assert_eq!(api.call(Method::PUT, &missing, Some(&bob.access), None).await.status, StatusCode::NOT_FOUND);

    // Twenty views at once, twenty counted; fifty users liking at once, fifty
    // likes: a like that loses a race to another is retried, never dropped.
    let views_path = format!("/videos/{id}/views");
    let views = (0..20).map(|_| api.call(Method::POST, &views_path, None, None));
    assert!(futures_all(views).await.iter().all(|r| r.status == StatusCode::NO_CONTENT));
    let mut fans = Vec::new();
    for i in 0..50 {
        fans.push(api.register(&format!("fan{i}")).await);
    }
    let likes = fans.iter().map(|f| api.call(Method::PUT, &like, Some(&f.access), None));
    assert!(futures_all(likes).await.iter().all(|r| r.status == StatusCode::OK));
    let v = api.get(&format!("/videos/{id}"), None).await.body;
    assert_eq!((v["view_count"].as_u64(), v["like_count"].as_u64()), (Some(20), Some(51)));
}

/// The CDN visibility tag of a video's MP4 and thumbnail.
pub(crate) async fn cdn_tags(rig: &recording::Rig, session_id: &str) -> Vec<String> {
    let mut tags = Vec::new();
    for key in [mp4_key(&rig.stream_id, session_id), thumbnail_key(&rig.stream_id, session_id)] {
        let out = rig.s3.get_object_tagging().bucket(rig.recordings()).key(&key).send().await.unwrap();
        let tag = out.tag_set().iter().find(|t| t.key() == skycast_core::store::objects::VISIBILITY_TAG);
        tags.push(tag.map(|t| t.value().to_owned()).unwrap_or_default());
    }
    tags
}

/// Polled together: the requests race in the emulator.
async fn futures_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    futures_util::future::join_all(futures).await
}

#[tokio::test]
async fn deleting_a_video_removes_its_item_and_every_object() {
    let rig = rig_with(|_| {}).await;
    let id = rig.recorded_video().await;
    let path = format!("/videos/{id}");
    let public = rig.api.get(&path, None).await.body;
    assert!(public["mp4_url"].as_str().unwrap().ends_with(&format!("/recordings/{}/{id}.mp4", rig.stream_id)));
    assert!(public["hls_url"].as_str().unwrap().ends_with(&format!("/live/{}/{id}/master.m3u8", rig.stream_id)));

    let other = rig.api.register("stranger").await;
    assert_eq!(rig.api.call(Method::DELETE, &path, Some(&other.access), None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(rig.api.call(Method::DELETE, &path, Some(&rig.owner.access), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(rig.api.get(&path, Some(&rig.owner.access)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(rig.api.call(Method::DELETE, &path, Some(&rig.owner.access), None).await.status, StatusCode::NOT_FOUND);

    let count = |bucket: String, prefix: String| {
        let s3 = rig.s3.clone();
        async move {
            let out = s3.list_object_versions().bucket(bucket).prefix(prefix).send().await.unwrap();
            out.versions().len() + out.delete_markers().len()
        }
    };
    assert_eq!(count(rig.recordings(), format!("recordings/{}/{id}.", rig.stream_id)).await, 0);
    assert_eq!(count(rig.live(), format!("live/{}/{id}/", rig.stream_id)).await, 0);
}

#[tokio::test]
async fn a_delete_sent_again_announces_the_first_ones_time() {
    use skycast_core::webhook::{self, EventType};
    let rig = rig_with(|_| {}).await;
    let id = rig.recorded_video().await;
    let videos = &rig.api.ctx.stores.videos;
    // A first DELETE that marked the video, then failed part way.
    let first =
        videos.mark_deleting(&id, &rig.owner.id, "2026-12-03T10:00:00.000Z").await.unwrap().expect("the owner's");
    assert!(first.deleting);
    assert_eq!(first.deleted_at.as_deref(), Some("2026-12-03T10:00:00.000Z"));
    let again =
        videos.mark_deleting(&id, &rig.owner.id, "2026-12-03T10:05:00.000Z").await.unwrap().expect("still theirs");
    assert_eq!(again.deleted_at, first.deleted_at, "the first time is kept");
    assert!(videos.mark_deleting(&id, "someone-else", "2026-12-03T10:06:00.000Z").await.unwrap().is_none());
    // Both announce one event at one time: one delivery record per endpoint.
    let announce = |v: &skycast_core::video::Video| {
        webhook::video_event(EventType::VideoDeleted, v, v.deleted_at.as_deref().unwrap_or_default())
    };
    assert_eq!(webhook::delivery_id(&announce(&first)), webhook::delivery_id(&announce(&again)));
    // The DELETE sent again finishes it.
    let path = format!("/videos/{id}");
    assert_eq!(rig.api.call(Method::DELETE, &path, Some(&rig.owner.access), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(rig.api.get(&path, Some(&rig.owner.access)).await.status, StatusCode::NOT_FOUND);
}
