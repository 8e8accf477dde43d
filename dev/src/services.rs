//! The long-running parts of the platform, in-process for `make dev`: the
//! ingest node (registered, taking commands from `ingest-commands`) and the
//! SQS trigger of the lifecycle function (polling `stream-events`).

use std::{path::Path, sync::Arc};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use skycast_core::{Config, config::physical_name, store::Stores};
use skycast_ingest::{config::NodeConfig, control, store::S3Store};
use tokio::task::JoinHandle;

pub struct Services {
    ingest: control::Service,
    lifecycle: JoinHandle<()>,
}

impl Services {
    /// Ends every session (playlists closed, `ended` sent), then stops.
    pub async fn shutdown(self) {
        self.ingest.shutdown().await;
        self.lifecycle.abort();
    }
}

async fn queue_url(sqs: &aws_sdk_sqs::Client, prefix: &str, logical: &str) -> anyhow::Result<String> {
    let out = sqs.get_queue_url().queue_name(physical_name(prefix, logical)).send().await?;
    out.queue_url.ok_or_else(|| anyhow::anyhow!("queue {logical} has no URL"))
}

pub async fn start(
    sdk: &aws_config::SdkConfig,
    config: &Config,
    stores: &Stores,
    root: &Path,
) -> anyhow::Result<Services> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let commands = queue_url(&sqs, &config.name_prefix, "ingest-commands").await?;
    let events = queue_url(&sqs, &config.name_prefix, "stream-events").await?;

    let mut node_config = NodeConfig::from_env()?;
    if std::env::var_os("SKYCAST_SPOOL_DIR").is_none() {
        node_config.spool_dir = root.join(".dev/spool");
    }
    let node_id = std::env::var("SKYCAST_NODE_ID").unwrap_or_else(|_| "local".into());
    let store = Arc::new(S3Store::new(crate::sdk::s3(sdk), node_config.live_bucket.clone()));
    let queues = control::Queues { commands, events: events.clone() };
    let ingest = control::serve(node_config, node_id, queues, store, stores.ingest.clone(), sqs.clone()).await?;
    let lifecycle = tokio::spawn(lifecycle_trigger(stores.clone(), sqs, events));
    Ok(Services { ingest, lifecycle })
}

/// What Lambda's SQS event source mapping does: batches to the handler,
/// deleting what it did not report as failed.
async fn lifecycle_trigger(stores: Stores, sqs: aws_sdk_sqs::Client, queue_url: String) {
    loop {
        let out = match sqs
            .receive_message()
            .queue_url(&queue_url)
            .wait_time_seconds(20)
            .max_number_of_messages(10)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "cannot read stream-events; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                continue;
            }
        };
        let received = out.messages.unwrap_or_default();
        if received.is_empty() {
            continue;
        }
        let mut batch = SqsEvent::default();
        for m in &received {
            let mut message = SqsMessage::default();
            message.message_id = m.message_id.clone();
            message.receipt_handle = m.receipt_handle.clone();
            message.body = m.body.clone();
            batch.records.push(message);
        }
        let response = skycast_lifecycle::handle(&stores, batch).await;
        let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        for m in &received {
            if failed.contains(&m.message_id().unwrap_or_default()) {
                continue;
            }
            if let Some(handle) = m.receipt_handle() {
                let _ = sqs.delete_message().queue_url(&queue_url).receipt_handle(handle).send().await;
            }
        }
    }
}
