//! Recording with real parts: a stored session (real ffmpeg output with a
//! reconnect) in the emulator's S3, the recorder assembling its MP4, SQS
//! with its dead-letter queue, the catalog making videos of the MP4s, and
//! FFmpeg checking what came out.

use std::{sync::Arc, time::Duration};

use serde_json::json;
use skycast_core::{
    events::RecordingJob,
    ids,
    recording::{mp4_key, session_prefix, thumbnail_key},
    resources::Resources,
    timefmt,
};
use skycast_recorder::{JobError, Outcome, QueueDefault, Recorder, SqsRedelivery, s3::S3Media};
use skycast_tests::{
    Account, TestApi, eventually,
    media::{decode_errors, probe, store_session, top_level_boxes},
};

pub(crate) struct Rig {
    pub(crate) api: TestApi,
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) sqs: aws_sdk_sqs::Client,
    pub(crate) owner: Account,
    pub(crate) stream_id: String,
}

impl Rig {
    pub(crate) fn live(&self) -> String {
        self.api.ctx.config.buckets.live.clone()
    }
    pub(crate) fn recordings(&self) -> String {
        self.api.ctx.config.buckets.recordings.clone()
    }

    fn recorder(&self, redelivery: Arc<dyn skycast_recorder::Redelivery>) -> Recorder {
        Recorder {
            recordings: self.api.ctx.stores.recordings.clone(),
            media: Arc::new(S3Media::new(self.s3.clone(), self.live(), self.recordings())),
            redelivery,
            max_receives: 3,
            lease: Duration::from_secs(900),
            backoff: Duration::ZERO,
            counters: None,
            webhooks: skycast_core::store::queue::WebhookOutbox::off(),
        }
    }

    async fn queue(&self, logical: &str) -> String {
        let name = skycast_core::config::physical_name(&self.api.ctx.config.name_prefix, logical);
        self.sqs.get_queue_url().queue_name(name).send().await.unwrap().queue_url.unwrap()
    }

    /// A new session of the rig's stream, stored as the node stores it.
    async fn session(&self, skip: &[&str], playlist: Option<&str>) -> (String, RecordingJob) {
        let session_id = ids::new_id();
        let folder = format!("{}/source", session_prefix(&self.stream_id, &session_id));
        store_session(&self.s3, &self.live(), &folder, skip, playlist).await;
        let job = RecordingJob::Record {
            stream_id: self.stream_id.clone(),
            session_id: session_id.clone(),
            at: timefmt::now_rfc3339(),
            rendition: "source".into(),
        };
        (session_id, job)
    }

    async fn mp4_to_file(&self, session_id: &str) -> std::path::PathBuf {
        let out = self
            .s3
            .get_object()
            .bucket(self.recordings())
            .key(mp4_key(&self.stream_id, session_id))
            .send()
            .await
            .unwrap();
        let bytes = out.body.collect().await.unwrap().into_bytes();
        let path = std::env::temp_dir().join(format!("skycast-{session_id}.mp4"));
        std::fs::write(&path, &bytes).unwrap();
        path
    }

    async fn versions(&self, key: &str) -> usize {
        let out = self.s3.list_object_versions().bucket(self.recordings()).prefix(key).send().await.unwrap();
        out.versions().len()
    }

    /// A session recorded and catalogued: its video's id.
    pub(crate) async fn recorded_video(&self) -> String {
        let (session_id, job) = self.session(&[], None).await;
        assert!(matches!(self.recorder(Arc::new(QueueDefault)).record(&job, 1).await, Ok(Outcome::Recorded(_))));
        let catalog = skycast_catalog::Catalog {
            stores: self.api.ctx.stores.clone(),
            webhooks: skycast_core::store::queue::WebhookOutbox::off(),
            recordings: Arc::new(skycast_catalog::S3Recordings { client: self.s3.clone(), bucket: self.recordings() }),
        };
        let created = catalog.catalog(&mp4_key(&self.stream_id, &session_id)).await.unwrap();
        assert_eq!(created, skycast_catalog::Outcome::Created(session_id.clone()));
        session_id
    }

    async fn recording(&self, session_id: &str) -> serde_json::Value {
        let r = self.api.get(&format!("/streams/{}/recordings", self.stream_id), Some(&self.owner.access)).await;
        r.body["items"].as_array().unwrap().iter().find(|i| i["session_id"] == session_id).cloned().unwrap_or_default()
    }
}

/// Every table, queue and bucket of the declaration, for a test of its own.
pub(crate) async fn rig() -> Rig {
    rig_with(|_| {}).await
}

pub(crate) async fn rig_with(tweak: impl FnOnce(&mut skycast_core::Config)) -> Rig {
    let api = skycast_tests::api_with(tweak).await;
    let sdk = skycast_tests::sdk_config().await;
    let (s3, sqs) = (skycast_dev::sdk::s3(&sdk), aws_sdk_sqs::Client::new(&sdk));
    let prefix = api.ctx.config.name_prefix.clone();
    skycast_dev::bootstrap::queues(&sqs, &Resources::embedded(), &prefix).await.unwrap();
    skycast_dev::bootstrap::buckets(&s3, &sqs, &Resources::embedded(), &prefix).await.unwrap();
    let owner = api.register("recorder").await;
    let stream = api.create_stream(&owner, json!({"title": "Friday speedrun", "description": "any% glitchless"})).await;
    let stream_id = stream["id"].as_str().unwrap().to_owned();
    Rig { api, s3, sqs, owner, stream_id }
}

#[tokio::test]
async fn a_session_with_a_reconnect_becomes_one_faststart_mp4_that_ffmpeg_decodes() {
    let rig = rig().await;
    let (session_id, job) = rig.session(&[], None).await;
    let recorder = rig.recorder(Arc::new(QueueDefault));
    let Ok(Outcome::Recorded(done)) = recorder.record(&job, 1).await else { panic!("not recorded") };
    assert_eq!((done.segments, done.generations), (5, 2));

    let path = rig.mp4_to_file(&session_id).await;
    assert_eq!(top_level_boxes(&path), ["ftyp", "moov", "mdat"], "moov before mdat");
    let file = path.to_string_lossy();
    let p = probe(&file).await;
    assert_eq!(p.codecs, ["h264", "aac"]);
    // The segments' EXTINFs add up to 10 s.
    assert!((p.duration_s - 10.0).abs() < 0.3, "duration {}", p.duration_s);
    assert_eq!(decode_errors(&file).await, "", "ffmpeg decodes every frame without a complaint");

    // The thumbnail went beside it, and the recording says what it is.
    let thumb = rig
        .s3
        .get_object()
        .bucket(rig.recordings())
        .key(thumbnail_key(&rig.stream_id, &session_id))
        .send()
        .await
        .unwrap();
    assert_eq!(thumb.body.collect().await.unwrap().into_bytes().as_ref(), b"\xff\xd8\xff\xe0 a still");
    let r = rig.recording(&session_id).await;
    assert_eq!((r["status"].as_str(), r["video_id"].as_str()), (Some("ready"), Some(session_id.as_str())), "{r}");
    assert_eq!(r["size_bytes"].as_u64(), Some(std::fs::metadata(&path).unwrap().len()));
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn a_node_that_crashed_before_listing_its_last_segments_loses_nothing() {
    let rig = rig().await;
    // The last playlist the node stored: three segments, no ENDLIST. The two
    // after the reconnect are stored but not listed (ffmpeg itself would
    // treat this playlist as live and keep its last three segments).
    let crashed = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:EVENT\n\
                   #EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2.000000,\nseg_000000.m4s\n#EXTINF:2.000000,\nseg_000001.m4s\n\
                   #EXTINF:2.000000,\nseg_000002.m4s\n";
    let (session_id, job) = rig.session(&[], Some(crashed)).await;
    let Ok(Outcome::Recorded(done)) = rig.recorder(Arc::new(QueueDefault)).record(&job, 1).await else {
        panic!("not recorded")
    };
    assert_eq!((done.segments, done.generations), (5, 2), "the unlisted tail found its own init");
    let path = rig.mp4_to_file(&session_id).await;
    let file = path.to_string_lossy();
    assert!((probe(&file).await.duration_s - 10.0).abs() < 0.3);
    assert_eq!(decode_errors(&file).await, "");
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn duplicate_and_concurrent_deliveries_make_one_mp4_one_recording_and_one_video() {
    let rig = rig().await;
    let recorder = rig.recorder(Arc::new(QueueDefault));

    // The same job three times, one after another.
    let (first, job) = rig.session(&[], None).await;
    assert!(matches!(recorder.record(&job, 1).await, Ok(Outcome::Recorded(_))));
    assert!(matches!(recorder.record(&job, 1).await, Ok(Outcome::AlreadyDone)));
    assert!(matches!(recorder.record(&job, 2).await, Ok(Outcome::AlreadyDone)));

    // Twice at once: one records, the other finds it claimed (or done).
    let (second, job) = rig.session(&[], None).await;
    let (a, b) = tokio::join!(recorder.record(&job, 1), recorder.record(&job, 1));
    let recorded = [&a, &b].iter().filter(|r| matches!(r, Ok(Outcome::Recorded(_)))).count();
    assert_eq!(recorded, 1, "{a:?} {b:?}");
    assert!([&a, &b].iter().all(|r| matches!(r, Ok(_) | Err(JobError::Busy))), "{a:?} {b:?}");

    for session in [&first, &second] {
        assert_eq!(rig.versions(&mp4_key(&rig.stream_id, session)).await, 1, "one MP4 version");
    }
    let r = rig.api.get(&format!("/streams/{}/recordings", rig.stream_id), None).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2, "{:?}", r.body);

    // The recordings bucket announced each MP4 on catalog-events; each
    // notification is handled twice (at-least-once): one video per session.
    let catalog = skycast_catalog::Catalog {
        stores: rig.api.ctx.stores.clone(),
        webhooks: skycast_core::store::queue::WebhookOutbox::off(),
        recordings: Arc::new(skycast_catalog::S3Recordings { client: rig.s3.clone(), bucket: rig.recordings() }),
    };
    let queue = rig.queue("catalog-events").await;
    let mut bodies: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while bodies.iter().filter(|b| b.contains(".mp4")).count() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "an S3 notification per MP4: {bodies:?}");
        let out = rig
            .sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        bodies.extend(out.messages().iter().filter_map(|m| m.body().map(str::to_owned)));
    }
    let batch = batch_of(&bodies);
    for _ in 0..2 {
        assert!(catalog.handle(batch.clone()).await.batch_item_failures.is_empty());
    }
    let videos = rig.api.get(&format!("/videos?stream_id={}", rig.stream_id), None).await;
    let mut ids: Vec<&str> =
        videos.body["items"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap()).collect();
    ids.sort();
    let mut want = [first.as_str(), second.as_str()];
    want.sort();
    assert_eq!(ids, want, "{:?}", videos.body);
    let v = &videos.body["items"][0];
    assert_eq!((v["title"].as_str(), v["owner"]["username"].as_str()), (Some("Friday speedrun"), Some("recorder")));
    assert!((v["duration_s"].as_f64().unwrap() - 10.0).abs() < 0.3);
}

use skycast_tests::sqs_batch as batch_of;

#[tokio::test]
async fn a_job_that_keeps_failing_ends_failed_in_the_dead_letter_queue_and_spares_its_batch_mates() {
    let rig = rig().await;
    let jobs = rig.queue("recording-jobs").await;
    let dlq = rig.queue("recording-jobs-dlq").await;
    let recorder = Arc::new(rig.recorder(Arc::new(SqsRedelivery { client: rig.sqs.clone(), queue_url: jobs.clone() })));
    // Lambda's event source mapping, as `make dev` runs it.
    let trigger = tokio::spawn(skycast_dev::services::sqs_trigger(
        rig.sqs.clone(),
        jobs.clone(),
        skycast_dev::services::Mapping::serial(10),
        {
            let recorder = Arc::clone(&recorder);
            move |batch| {
                let recorder = Arc::clone(&recorder);
                async move { recorder.handle(batch).await }
            }
        },
    ));

    let (poisoned, bad) = rig.session(&["seg_000002.m4s"], None).await;
    let (fine, good) = rig.session(&[], None).await;
    let batch = [serde_json::to_string(&bad).unwrap(), serde_json::to_string(&good).unwrap()];
    for body in batch {
        rig.sqs.send_message().queue_url(&jobs).message_body(body).send().await.unwrap();
    }

    let dead = eventually(Duration::from_secs(60), || async {
        let out = rig.sqs.receive_message().queue_url(&dlq).send().await.ok()?;
        out.messages().first().and_then(|m| m.body().map(str::to_owned))
    })
    .await;
    trigger.abort();
    let dead = dead.expect("the poisoned job reached the dead-letter queue");
    assert!(dead.contains(&poisoned));
    let r = rig.recording(&poisoned).await;
    assert_eq!((r["status"].as_str(), r["attempts"].as_u64()), (Some("failed"), Some(3)), "{r}");
    assert!(r["reason"].as_str().unwrap().contains("segment seg_000002.m4s is missing"), "{r}");
    assert_eq!(rig.recording(&fine).await["status"], "ready");
    assert_eq!(rig.versions(&mp4_key(&rig.stream_id, &poisoned)).await, 0, "nothing half-written");
}
