//! The edge-sync Lambda: build the KeyValueStore client once, then apply
//! batches of the media-access table's stream.

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{LambdaEvent, service_fn};
use skycast_edge_sync::{EdgeSync, kvs::KeyValueStore};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    skycast_http::telemetry::init();
    let arn = std::env::var("SKYCAST_EDGE_KVS_ARN")
        .map_err(|_| "set SKYCAST_EDGE_KVS_ARN: the CloudFront KeyValueStore the media edge reads")?;
    let sdk = skycast_core::aws::load_sdk_config().await;
    let store = KeyValueStore { client: aws_sdk_cloudfrontkeyvaluestore::Client::new(&sdk), arn };
    let sync = Arc::new(EdgeSync { store });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let sync = Arc::clone(&sync);
        async move { Ok::<_, lambda_runtime::Error>(sync.handle(event.payload).await) }
    }))
    .await
}
