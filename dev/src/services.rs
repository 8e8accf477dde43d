//! The long-running parts of the platform, in-process for `make dev`: the
//! ingest node (registered, taking commands from `ingest-commands`) and the
//! SQS trigger of the lifecycle function (polling `stream-events`).

use std::{path::Path, sync::Arc};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use skycast_core::{
    Config,
    config::physical_name,
    store::{IngestNode, Stores, queue::SqsSender},
};
use skycast_ingest::{config::NodeConfig, control, node::Node, store::S3Store};
use tokio::task::JoinHandle;

pub struct Services {
    node: Arc<Node>,
    tasks: Vec<JoinHandle<()>>,
}

impl Services {
    /// Ends every session (closing playlists, sending `ended`), then stops.
    pub async fn shutdown(self) {
        self.node.shutdown().await;
        // Give the last events a moment to reach the queue and be applied.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        for t in self.tasks {
            t.abort();
        }
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
    let registration = IngestNode {
        node_id: std::env::var("SKYCAST_NODE_ID").unwrap_or_else(|_| "local".into()),
        public_host: node_config.public_host.clone(),
        srt_port_low: node_config.srt_ports.0,
        srt_port_high: node_config.srt_ports.1,
        command_queue_url: commands.clone(),
        heartbeat_at: 0,
        expires_at: 0,
    };
    let (registration_host, registration_ports) =
        (registration.public_host.clone(), format!("{}-{}", registration.srt_port_low, registration.srt_port_high));
    let store = Arc::new(S3Store::new(crate::sdk::s3(sdk), node_config.live_bucket.clone()));
    let (tx, notices) = tokio::sync::mpsc::unbounded_channel();
    let node = Node::start(node_config, store, tx).await?;
    let sender = Arc::new(SqsSender::new(sqs.clone()));
    let tasks = vec![
        tokio::spawn(control::publish_events(notices, sender, events.clone())),
        tokio::spawn(control::heartbeat(stores.ingest.clone(), registration)),
        tokio::spawn(control::take_commands(node.clone(), sqs.clone(), commands)),
        tokio::spawn(lifecycle_trigger(stores.clone(), sqs, events)),
    ];
    tracing::info!(host = %registration_host, ports = %registration_ports, "ingest node up (SRT)");
    Ok(Services { node, tasks })
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
