//! The webhook sender Lambda: build clients once, then handle SQS batches
//! from `webhook-events` (fan-out) and `webhook-deliveries` (sends).

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    skycast_http::telemetry::init();
    let config = skycast_core::Config::from_env()?;
    let sdk = skycast_core::aws::load_sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let deliveries_url = skycast_core::aws::queue_url(
        &sqs,
        "SKYCAST_WEBHOOK_DELIVERIES_QUEUE_URL",
        &config.name_prefix,
        "webhook-deliveries",
    )
    .await?;
    let stores = skycast_core::store::Stores::dynamo(skycast_core::aws::dynamodb(&sdk), &config.tables);
    let sender = Arc::new(skycast_webhook_sender::Sender::new(stores.webhooks, sqs, deliveries_url, &config.webhooks)?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let sender = Arc::clone(&sender);
        async move { Ok::<_, lambda_runtime::Error>(sender.handle(event.payload).await) }
    }))
    .await
}
