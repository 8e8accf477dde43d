//! The long-running parts of the platform, in-process for `make dev`: the
//! ingest node (registered, listening on its RTMP and SRT ports) and the
//! SQS triggers of the event functions: lifecycle (`stream-events`) and the
//! recorder (`recording-jobs`) and the catalog (`catalog-events`, where the
//! recordings bucket announces new MP4s), polled as Lambda's event source
//! mappings do.

use std::{path::Path, sync::Arc};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use std::time::Duration;

use skycast_catalog::{Catalog, S3Recordings};
use skycast_core::{
    Config,
    config::physical_name,
    resources::Resources,
    store::{
        Stores,
        queue::{SqsSender, WebhookOutbox},
    },
};
use skycast_ingest::{config::NodeConfig, control, store::S3Store};
use skycast_lifecycle::Lifecycle;
use skycast_recorder::{Recorder, SqsRedelivery, s3::S3Media};
use tokio::task::JoinHandle;

pub struct Services {
    /// `None` when another node serves (`SKYCAST_DEV_INGEST=off`: LocalStack's compose runs one).
    ingest: Option<control::Service>,
    triggers: Vec<JoinHandle<()>>,
}

impl Services {
    /// The relay's sockets, served on the same port as everything else.
    pub fn relay_routes(&self) -> Option<axum::Router> {
        self.ingest.as_ref().and_then(|i| i.relay.clone()).map(|hub| hub.routes())
    }

    /// The node's Prometheus metrics (`/metrics`), served on the same port.
    pub fn metrics_routes(&self) -> Option<axum::Router> {
        self.ingest.as_ref().map(control::Service::metrics_routes)
    }

    /// Ends every session (playlists closed, `ended` sent), then stops.
    pub async fn shutdown(self) {
        if let Some(ingest) = self.ingest {
            ingest.shutdown().await;
        }
        for t in self.triggers {
            t.abort();
        }
    }
}

async fn queue_url(sqs: &aws_sdk_sqs::Client, prefix: &str, logical: &str) -> anyhow::Result<String> {
    let out = sqs.get_queue_url().queue_name(physical_name(prefix, logical)).send().await?;
    out.queue_url.ok_or_else(|| anyhow::anyhow!("queue {logical} has no URL"))
}

/// The `webhook-events` queue of this stack, for every function that announces.
pub async fn webhook_outbox(sqs: &aws_sdk_sqs::Client, prefix: &str) -> anyhow::Result<WebhookOutbox> {
    let url = queue_url(sqs, prefix, "webhook-events").await?;
    Ok(WebhookOutbox::new(Arc::new(SqsSender::new(sqs.clone())), url))
}

pub async fn start(
    sdk: &aws_config::SdkConfig,
    config: &Config,
    stores: &Stores,
    root: &Path,
    http_port: u16,
) -> anyhow::Result<Services> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let events = queue_url(&sqs, &config.name_prefix, "stream-events").await?;

    let mut node_config = NodeConfig::from_env()?;
    if std::env::var_os("SKYCAST_SPOOL_DIR").is_none() {
        node_config.spool_dir = root.join(".dev/spool");
    }
    if std::env::var_os("SKYCAST_NODE_ID").is_none() {
        node_config.node_id = "local".into();
    }
    node_config.cdn_base_url = config.cdn_base_url.clone();
    // The relay's sockets are on the one port everything is on.
    node_config.http_port = Some(http_port);
    let store = Arc::new(S3Store::new(crate::sdk::s3(sdk), node_config.live_bucket.clone()));
    let relay = Some(control::RelaySetup {
        config: skycast_ingest::relay::RelayConfig::from_settings(&config.relay),
        jwt: Arc::new(config.jwt_keys()?),
    });
    let ingest = if std::env::var("SKYCAST_DEV_INGEST").is_ok_and(|v| v == "off") {
        tracing::info!("SKYCAST_DEV_INGEST=off: no ingest node in this process; another one takes the publishers");
        None
    } else {
        Some(
            control::serve(
                node_config,
                events.clone(),
                store,
                stores.clone(),
                config.limits.clone(),
                sqs.clone(),
                relay,
            )
            .await?,
        )
    };
    let jobs = queue_url(&sqs, &config.name_prefix, "recording-jobs").await?;
    let webhooks = webhook_outbox(&sqs, &config.name_prefix).await?;
    let lifecycle = Arc::new(Lifecycle {
        stores: stores.clone(),
        messages: Arc::new(SqsSender::new(sqs.clone())),
        recording_jobs_url: jobs.clone(),
        webhooks: webhooks.clone(),
    });
    let spec = &Resources::embedded().queues["recording-jobs"];
    let recorder = Arc::new(Recorder {
        recordings: stores.recordings.clone(),
        media: Arc::new(S3Media::new(
            crate::sdk::s3(sdk),
            config.buckets.live.clone(),
            config.buckets.recordings.clone(),
        )),
        redelivery: Arc::new(SqsRedelivery { client: sqs.clone(), queue_url: jobs.clone() }),
        max_receives: spec.max_receive_count,
        lease: Duration::from_secs(u64::from(spec.visibility_timeout_s)),
        backoff: Duration::from_secs(2),
        counters: Some(skycast_core::store::DailyCounters::new(stores.limits.clone())),
        webhooks: webhooks.clone(),
    });
    let catalog_events = queue_url(&sqs, &config.name_prefix, "catalog-events").await?;
    let catalog = Arc::new(Catalog {
        stores: stores.clone(),
        recordings: Arc::new(S3Recordings { client: crate::sdk::s3(sdk), bucket: config.buckets.recordings.clone() }),
        webhooks,
    });
    let deliveries = queue_url(&sqs, &config.name_prefix, "webhook-deliveries").await?;
    let webhook_events = queue_url(&sqs, &config.name_prefix, "webhook-events").await?;
    let sender = Arc::new(skycast_webhook_sender::Sender::new(
        stores.webhooks.clone(),
        sqs.clone(),
        deliveries.clone(),
        &config.webhooks,
    )?);
    let mut triggers = webhook_triggers(&sqs, &sender, webhook_events, deliveries);
    triggers.extend([
        tokio::spawn(sqs_trigger(sqs.clone(), catalog_events, Mapping::serial(10), move |batch| {
            let catalog = Arc::clone(&catalog);
            async move { catalog.handle(batch).await }
        })),
        tokio::spawn(sqs_trigger(sqs.clone(), events, Mapping::serial(10), move |batch| {
            let lifecycle = Arc::clone(&lifecycle);
            async move { skycast_lifecycle::handle(&lifecycle, batch).await }
        })),
        tokio::spawn(sqs_trigger(sqs, jobs, Mapping::serial(1), move |batch| {
            let recorder = Arc::clone(&recorder);
            async move { recorder.handle(batch).await }
        })),
    ]);
    Ok(Services { ingest, triggers })
}

/// The webhook sender on its two queues. Deliveries run many batches at
/// once, as Lambda runs many invocations: a receiver that hangs holds its
/// own batch for the timeout, never the queue.
pub fn webhook_triggers(
    sqs: &aws_sdk_sqs::Client,
    sender: &Arc<skycast_webhook_sender::Sender>,
    events_url: String,
    deliveries_url: String,
) -> Vec<JoinHandle<()>> {
    [(events_url, WEBHOOK_EVENT_INVOCATIONS), (deliveries_url, WEBHOOK_DELIVERY_INVOCATIONS)]
        .into_iter()
        .map(|(url, invocations)| {
            let sender = Arc::clone(sender);
            tokio::spawn(sqs_trigger(sqs.clone(), url, Mapping { batch_size: 10, invocations }, move |batch| {
                let sender = Arc::clone(&sender);
                async move { sender.handle(batch).await }
            }))
        })
        .collect()
}

/// Fan-outs at once under `make dev` (each is a few store requests).
const WEBHOOK_EVENT_INVOCATIONS: usize = 4;
/// Deliveries batches at once under `make dev`.
const WEBHOOK_DELIVERY_INVOCATIONS: usize = 16;

/// An event source mapping's shape: how many messages a batch holds and how
/// many batches are handled at once (Lambda's maximum concurrency).
#[derive(Debug, Clone, Copy)]
pub struct Mapping {
    pub batch_size: i32,
    pub invocations: usize,
}

impl Mapping {
    /// One batch at a time.
    pub const fn serial(batch_size: i32) -> Self {
        Self { batch_size, invocations: 1 }
    }
}

/// What Lambda's SQS event source mapping does: batches of up to
/// `batch_size` to the handler, with each message's receive count, up to
/// `invocations` batches at once, deleting what a handler did not report as
/// failed. The queue is read again as soon as an invocation is free, not
/// when the slowest batch is done. Aborting the trigger aborts its batches.
pub async fn sqs_trigger<F, Fut>(sqs: aws_sdk_sqs::Client, queue_url: String, mapping: Mapping, handler: F)
where
    F: Fn(SqsEvent) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = SqsBatchResponse> + Send + 'static,
{
    let handler = Arc::new(handler);
    let mut running = tokio::task::JoinSet::new();
    loop {
        // A free invocation first; a handler that panicked is logged (its
        // messages come back after their visibility timeout).
        while let Some(done) = running.try_join_next() {
            log_panic(done);
        }
        while running.len() >= mapping.invocations.max(1) {
            if let Some(done) = running.join_next().await {
                log_panic(done);
            }
        }
        let out = match sqs
            .receive_message()
            .queue_url(&queue_url)
            .wait_time_seconds(20)
            .max_number_of_messages(mapping.batch_size)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                tracing::warn!(queue = %queue_url, error = %aws_sdk_sqs::error::DisplayErrorContext(e), "cannot read the queue; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                continue;
            }
        };
        let received = out.messages.unwrap_or_default();
        if received.is_empty() {
            continue;
        }
        let (sqs, queue_url, handler) = (sqs.clone(), queue_url.clone(), Arc::clone(&handler));
        running.spawn(async move { invoke(&sqs, &queue_url, received, handler.as_ref()).await });
    }
}

fn log_panic(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done
        && e.is_panic()
    {
        tracing::error!(error = %e, "an invocation panicked; its messages are retried");
    }
}

/// One invocation: the batch to the handler, then one request deletes the
/// messages it did not report as failed, as the event source mapping does.
async fn invoke<F, Fut>(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    received: Vec<aws_sdk_sqs::types::Message>,
    handler: &F,
) where
    F: Fn(SqsEvent) -> Fut,
    Fut: std::future::Future<Output = SqsBatchResponse>,
{
    let mut batch = SqsEvent::default();
    for m in &received {
        let mut message = SqsMessage::default();
        message.message_id = m.message_id.clone();
        message.receipt_handle = m.receipt_handle.clone();
        message.body = m.body.clone();
        for (k, v) in m.attributes().into_iter().flatten() {
            message.attributes.insert(k.as_str().to_owned(), v.clone());
        }
        batch.records.push(message);
    }
    let response = handler(batch).await;
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    let done: Vec<_> = received
        .iter()
        .enumerate()
        .filter(|(_, m)| !failed.contains(&m.message_id().unwrap_or_default()))
        .filter_map(|(i, m)| {
            let handle = m.receipt_handle()?;
            aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(handle)
                .build()
                .ok()
        })
        .collect();
    if !done.is_empty() {
        let _ = sqs.delete_message_batch().queue_url(queue_url).set_entries(Some(done)).send().await;
    }
}
