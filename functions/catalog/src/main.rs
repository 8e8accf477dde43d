//! The catalog Lambda: build clients once, then handle SQS batches of S3 notifications.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use skycast_catalog::{Catalog, S3Recordings};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    skycast_http::telemetry::init();
    let config = skycast_core::Config::from_env()?;
    let sdk = skycast_core::aws::load_sdk_config().await;
    let catalog = Arc::new(Catalog {
        stores: skycast_core::store::Stores::dynamo(skycast_core::aws::dynamodb(&sdk), &config.tables),
        recordings: Arc::new(S3Recordings {
            client: skycast_core::aws::s3(&sdk),
            bucket: config.buckets.recordings.clone(),
        }),
        webhooks: skycast_core::store::queue::WebhookOutbox::from_env(Arc::new(
            skycast_core::store::queue::SqsSender::new(aws_sdk_sqs::Client::new(&sdk)),
        )),
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let catalog = Arc::clone(&catalog);
        async move { Ok::<_, lambda_runtime::Error>(catalog.handle(event.payload).await) }
    }))
    .await
}
