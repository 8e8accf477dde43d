//! The lifecycle Lambda: build clients once, then handle SQS batches.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    skycast_http::telemetry::init();
    let config = skycast_core::Config::from_env()?;
    let sdk = skycast_core::aws::load_sdk_config().await;
    let stores = Arc::new(skycast_core::store::Stores::dynamo(skycast_core::aws::dynamodb(&sdk), &config.tables));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let stores = Arc::clone(&stores);
        async move { Ok::<_, lambda_runtime::Error>(skycast_lifecycle::handle(&stores, event.payload).await) }
    }))
    .await
}
