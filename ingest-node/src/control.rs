//! How the node meets the platform: it registers itself (a heartbeat item
//! with a TTL), takes `start`/`stop` commands from its SQS queue, and reports
//! its sessions on `stream-events`.

use std::{sync::Arc, time::Duration};

use skycast_core::{
    events::{IngestCommand, StreamEvent},
    store::{IngestNode, IngestStore, queue::MessageSender, queue::send},
    timefmt,
};
use tokio::sync::mpsc;

use crate::{
    node::{EndReason, Node, Notice, SessionEvent, SessionSpec},
    profile::Profile,
};

pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// Keeps the node's registration fresh until the task is dropped.
pub async fn heartbeat(store: Arc<dyn IngestStore>, mut node: IngestNode) {
    loop {
        let now = timefmt::unix_now();
        node.heartbeat_at = now;
        node.expires_at = now + 120;
        if let Err(e) = store.register(&node).await {
            tracing::warn!(error = %e, "heartbeat not stored");
        }
        tokio::time::sleep(HEARTBEAT).await;
    }
}

fn end_reason(r: &EndReason) -> String {
    match r {
        EndReason::Stopped => "stopped".into(),
        EndReason::PublisherGone => "publisher_gone".into(),
        EndReason::NoPublisher => "no_publisher".into(),
        EndReason::Failed(why) => format!("failed: {why}"),
    }
}

/// The wire form of a session event.
pub fn stream_event(n: &Notice) -> StreamEvent {
    let (stream_id, session_id, at) = (n.stream_id.clone(), n.session_id.clone(), timefmt::now_rfc3339());
    match &n.event {
        SessionEvent::Waiting => StreamEvent::Waiting { stream_id, session_id, at },
        SessionEvent::Live { renditions } => {
            StreamEvent::Live { stream_id, session_id, at, renditions: renditions.clone() }
        }
        SessionEvent::Stats(figures) => StreamEvent::Stats { stream_id, session_id, at, figures: figures.clone() },
        SessionEvent::Ended(s) => StreamEvent::Ended {
            stream_id,
            session_id,
            at,
            renditions: s.renditions.iter().map(|(n, _)| n.clone()).collect(),
            figures: s.figures(),
            reason: end_reason(&s.reason),
        },
    }
}

/// Sends every session event to `queue_url`, in order, retrying failures.
pub async fn publish_events(
    mut notices: mpsc::UnboundedReceiver<Notice>,
    sender: Arc<dyn MessageSender>,
    queue_url: String,
) {
    while let Some(n) = notices.recv().await {
        let event = stream_event(&n);
        let mut delay = Duration::from_millis(200);
        while let Err(e) = send(sender.as_ref(), &queue_url, &event).await {
            tracing::warn!(error = %e, "stream event not sent; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    }
}

/// Acts on one command. An `Err` leaves the message on the queue (retried,
/// then dead-lettered) with the reason logged.
pub async fn apply(node: &Arc<Node>, body: &str) -> Result<(), String> {
    let command: IngestCommand = serde_json::from_str(body).map_err(|e| format!("not an ingest command: {e}"))?;
    tracing::info!(?command, "command");
    match command {
        IngestCommand::Start { stream_id, session_id, port, protocol, stream_key, profile, .. } => {
            let profile = match profile.as_str() {
                "source" => Profile::Source,
                "ladder" => Profile::Ladder,
                other => return Err(format!("unknown profile {other:?}")),
            };
            if !(10..=79).contains(&stream_key.len()) {
                // SRT's passphrase rule; every key the API makes is 32 characters.
                return Err("stream key is not 10–79 characters".into());
            }
            node.start_session(SessionSpec { stream_id, session_id, port, protocol, stream_key, profile })
                .await
                .map_err(|e| format!("cannot start the session: {e}"))
        }
        IngestCommand::Stop { session_id, .. } => {
            // Stopping waits for the last uploads; do not hold up the queue.
            let node = Arc::clone(node);
            tokio::spawn(async move { node.stop_session(&session_id).await });
            Ok(())
        }
    }
}

/// Long-polls the command queue and applies commands until the task is dropped.
pub async fn take_commands(node: Arc<Node>, sqs: aws_sdk_sqs::Client, queue_url: String) {
    loop {
        let received =
            sqs.receive_message().queue_url(&queue_url).wait_time_seconds(20).max_number_of_messages(10).send().await;
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "cannot read commands; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        for m in messages {
            let body = m.body().unwrap_or_default();
            match apply(&node, body).await {
                Ok(()) => {
                    if let Some(handle) = m.receipt_handle() {
                        let _ = sqs.delete_message().queue_url(&queue_url).receipt_handle(handle).send().await;
                    }
                }
                Err(reason) => {
                    tracing::error!(message_id = m.message_id().unwrap_or_default(), %reason, "command refused; it goes to the DLQ after its retries")
                }
            }
        }
    }
}

/// A node serving the platform: registered with a heartbeat, taking commands
/// from its queue, reporting its sessions.
pub struct Service {
    pub node: Arc<Node>,
    heartbeat: tokio::task::JoinHandle<()>,
    commands: tokio::task::JoinHandle<()>,
    events: tokio::task::JoinHandle<()>,
}

/// Where a serving node takes commands and reports events.
pub struct Queues {
    pub commands: String,
    pub events: String,
}

pub async fn serve(
    config: crate::config::NodeConfig,
    node_id: String,
    queues: Queues,
    store: Arc<dyn crate::store::ObjectStore>,
    registry: Arc<dyn IngestStore>,
    sqs: aws_sdk_sqs::Client,
) -> std::io::Result<Service> {
    let registration = IngestNode {
        node_id,
        public_host: config.public_host.clone(),
        srt_port_low: config.srt_ports.0,
        srt_port_high: config.srt_ports.1,
        rtmp_port_low: config.rtmp_ports.0,
        rtmp_port_high: config.rtmp_ports.1,
        command_queue_url: queues.commands.clone(),
        heartbeat_at: 0,
        expires_at: 0,
    };
    tracing::info!(node_id = %registration.node_id, host = %registration.public_host,
        srt_ports = %format!("{}-{}", registration.srt_port_low, registration.srt_port_high),
        rtmp_ports = %format!("{}-{}", registration.rtmp_port_low, registration.rtmp_port_high), "ingest node serving");
    let (tx, notices) = mpsc::unbounded_channel();
    let node = Node::start(config, store, tx).await?;
    let sender = Arc::new(skycast_core::store::queue::SqsSender::new(sqs.clone()));
    Ok(Service {
        events: tokio::spawn(publish_events(notices, sender, queues.events)),
        heartbeat: tokio::spawn(heartbeat(registry, registration)),
        commands: tokio::spawn(take_commands(node.clone(), sqs, queues.commands)),
        node,
    })
}

impl Service {
    /// Stops taking commands, ends every session (playlists closed with
    /// ENDLIST), and returns once their `ended` events are sent.
    pub async fn shutdown(self) {
        self.commands.abort();
        self.heartbeat.abort();
        self.node.shutdown().await;
        // The node's last reference goes, closing its event channel: the
        // publisher sends what is left and returns.
        drop(self.node);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.events).await;
    }
}
