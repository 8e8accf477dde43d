//! The recorder Lambda: build clients once, then handle SQS batches.

use std::{sync::Arc, time::Duration};

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use skycast_core::{resources::Resources, store::DynamoRecordingStore};
use skycast_recorder::{Recorder, SqsRedelivery, s3::S3Media};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    skycast_http::telemetry::init();
    let config = skycast_core::Config::from_env()?;
    let sdk = skycast_core::aws::load_sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue_url =
        skycast_core::aws::queue_url(&sqs, "SKYCAST_RECORDING_JOBS_QUEUE_URL", &config.name_prefix, "recording-jobs")
            .await?;
    let spec = &Resources::embedded().queues["recording-jobs"];
    let recorder = Arc::new(Recorder {
        recordings: Arc::new(DynamoRecordingStore::new(
            skycast_core::aws::dynamodb(&sdk),
            config.tables.recordings.clone(),
        )),
        media: Arc::new(S3Media::new(
            skycast_core::aws::s3(&sdk),
            config.buckets.live.clone(),
            config.buckets.recordings.clone(),
        )),
        webhooks: skycast_core::store::queue::WebhookOutbox::from_env(Arc::new(
            skycast_core::store::queue::SqsSender::new(sqs.clone()),
        )),
        redelivery: Arc::new(SqsRedelivery { client: sqs, queue_url }),
        max_receives: spec.max_receive_count,
        lease: Duration::from_secs(u64::from(spec.visibility_timeout_s)),
        backoff: Duration::from_secs(10),
        counters: Some(skycast_core::store::DailyCounters::new(Arc::new(skycast_core::store::DynamoLimitStore::new(
            skycast_core::aws::dynamodb(&sdk),
            config.tables.limits.clone(),
        )))),
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let recorder = Arc::clone(&recorder);
        async move { Ok::<_, lambda_runtime::Error>(recorder.handle(event.payload).await) }
    }))
    .await
}
