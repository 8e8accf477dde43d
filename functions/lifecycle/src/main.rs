//! The lifecycle Lambda: build clients once, then handle SQS batches.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use skycast_core::store::queue::{SqsSender, WebhookOutbox};
use skycast_lifecycle::Lifecycle;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    skycast_http::telemetry::init();
    let config = skycast_core::Config::from_env()?;
    let sdk = skycast_core::aws::load_sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let recording_jobs_url =
        skycast_core::aws::queue_url(&sqs, "SKYCAST_RECORDING_JOBS_QUEUE_URL", &config.name_prefix, "recording-jobs")
            .await?;
    let messages = Arc::new(SqsSender::new(sqs));
    let lifecycle = Arc::new(Lifecycle {
        stores: skycast_core::store::Stores::dynamo(skycast_core::aws::dynamodb(&sdk), &config.tables),
        webhooks: WebhookOutbox::from_env(messages.clone()),
        messages,
        recording_jobs_url,
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let lifecycle = Arc::clone(&lifecycle);
        async move { Ok::<_, lambda_runtime::Error>(skycast_lifecycle::handle(&lifecycle, event.payload).await) }
    }))
    .await
}
