//! What the relay on this node records in the platform's table, and what it
//! learns from it: a socket for a session this node does not relay yet
//! claims it; the client's arrival, each operator's first arrival, what was
//! relayed and the end are written as they happen; and every
//! [`WATCH_EVERY`] the node reads its sessions back, to end the ones their
//! creator finished (`DELETE /sessions/{id}`) and to learn new invitations.
//!
//! Behind a trait so the sockets are tested without the table.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use skycast_core::{
    relay_session::RelaySession,
    store::{IngestStore, RelayClaim, RelayFinish, RelaySessionStore, StoreError},
    timefmt,
};
use skycast_relay::Finish;
use tokio::sync::{mpsc, oneshot};

/// How often the node reads its sessions back: how long `DELETE` takes to
/// close their sockets, at most (plus a request).
pub const WATCH_EVERY: Duration = Duration::from_secs(2);
/// How often what a session relayed is written while it lives.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Who relays a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This node (the record as it now is; it may be finished).
    Here(Box<RelaySession>),
    /// Another node, alive, holds it; its HTTP port is at `http_addr`
    /// (`host:port`), when it registered one.
    Elsewhere {
        node_id: String,
        http_addr: Option<String>,
    },
    NotFound,
}

#[derive(Debug, thiserror::Error)]
#[error("relay sessions table: {0}")]
pub struct RecordsError(pub String);

impl From<StoreError> for RecordsError {
    fn from(e: StoreError) -> Self {
        Self(e.to_string())
    }
}

/// A change to record, in the order it happened on the node.
#[derive(Debug)]
pub enum RelayEvent {
    Started {
        session_id: String,
    },
    OperatorJoined {
        session_id: String,
        user_id: String,
    },
    Progress {
        session_id: String,
        messages: u64,
        bytes: u64,
    },
    Finished {
        session_id: String,
        reason: Finish,
        messages: u64,
        bytes: u64,
    },
    /// Answered once everything sent before it is recorded (or given up on).
    Flush(oneshot::Sender<()>),
}

#[async_trait]
pub trait SessionRecords: Send + Sync {
    /// The node these records are written as.
    fn node_id(&self) -> &str;
    async fn get(&self, session_id: &str) -> Result<Option<RelaySession>, RecordsError>;
    /// Takes the session for this node (see [`Claim`]).
    async fn claim(&self, session_id: &str) -> Result<Claim, RecordsError>;
    /// Records one event (idempotent: it may be sent again).
    async fn record(&self, event: &RelayEvent) -> Result<(), RecordsError>;
    /// The records of these sessions.
    async fn current(&self, session_ids: &[&str]) -> Result<Vec<RelaySession>, RecordsError>;
}

/// The platform's tables.
pub struct TableRecords {
    pub sessions: Arc<dyn RelaySessionStore>,
    pub nodes: Arc<dyn IngestStore>,
    pub node_id: String,
}

#[async_trait]
impl SessionRecords for TableRecords {
    fn node_id(&self) -> &str {
        &self.node_id
    }

    async fn get(&self, session_id: &str) -> Result<Option<RelaySession>, RecordsError> {
        Ok(self.sessions.get(session_id).await?)
    }

    async fn claim(&self, session_id: &str) -> Result<Claim, RecordsError> {
        let held = match self.sessions.claim(session_id, &self.node_id, None).await? {
            RelayClaim::Claimed(s) => return Ok(Claim::Here(Box::new(s))),
            RelayClaim::NotFound => return Ok(Claim::NotFound),
            RelayClaim::Held(s) => s,
        };
        let Some(holder) = held.node_id.clone() else { return Ok(Claim::NotFound) };
        // A node that stopped beating is gone: its sessions are anyone's.
        // (A scan of a handful of items: the node may scan the registry, not read one.)
        let nodes = self.nodes.live_nodes(timefmt::unix_now()).await?;
        if let Some(node) = nodes.iter().find(|n| n.node_id == holder) {
            let http_addr = node.http_port.map(|port| format!("{}:{port}", node.public_host));
            return Ok(Claim::Elsewhere { node_id: holder, http_addr });
        }
        tracing::info!(session_id, %holder, "relay session's node is gone: taking it over");
        Ok(match self.sessions.claim(session_id, &self.node_id, Some(&holder)).await? {
            RelayClaim::Claimed(s) => Claim::Here(Box::new(s)),
            // Another node took it over first: the next socket finds it there.
            RelayClaim::Held(s) => Claim::Elsewhere { node_id: s.node_id.unwrap_or_default(), http_addr: None },
            RelayClaim::NotFound => Claim::NotFound,
        })
    }

    async fn record(&self, event: &RelayEvent) -> Result<(), RecordsError> {
        let node = self.node_id.as_str();
        // `false` (a condition did not hold) is an outcome, not a failure: the
        // change was recorded before, or the session is another node's now.
        match event {
            RelayEvent::Started { session_id } => {
                self.sessions.started(session_id, node, &timefmt::now_rfc3339()).await?;
            }
            RelayEvent::OperatorJoined { session_id, user_id } => {
                self.sessions.operator_joined(session_id, node, user_id).await?;
            }
            RelayEvent::Progress { session_id, messages, bytes } => {
                self.sessions.progress(session_id, node, *messages, *bytes).await?;
            }
            RelayEvent::Finished { session_id, reason, messages, bytes } => {
                let finish = RelayFinish {
                    at: timefmt::now_rfc3339(),
                    reason: reason.as_str().to_owned(),
                    messages: *messages,
                    bytes: *bytes,
                };
                self.sessions.finished(session_id, node, &finish).await?;
            }
            RelayEvent::Flush(_) => {}
        }
        Ok(())
    }

    async fn current(&self, session_ids: &[&str]) -> Result<Vec<RelaySession>, RecordsError> {
        Ok(self.sessions.many(session_ids).await?)
    }
}

/// Writers of events: each session's events go to one of them, in order,
/// while sessions do not wait for each other (a node stopping with hundreds
/// of sessions records their ends in parallel).
const WRITERS: usize = 8;

/// Records every event, each session's in order, on [`WRITERS`] writers.
pub async fn record_events(records: Arc<dyn SessionRecords>, mut events: mpsc::UnboundedReceiver<RelayEvent>) {
    let writers: Vec<mpsc::UnboundedSender<RelayEvent>> = (0..WRITERS)
        .map(|_| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(write_events(records.clone(), rx));
            tx
        })
        .collect();
    while let Some(event) = events.recv().await {
        let session_id = match &event {
            RelayEvent::Started { session_id }
            | RelayEvent::OperatorJoined { session_id, .. }
            | RelayEvent::Progress { session_id, .. }
            | RelayEvent::Finished { session_id, .. } => session_id,
            RelayEvent::Flush(_) => {
                // Flushed once every writer has written what it had.
                let mut waits = Vec::new();
                for w in &writers {
                    let (done, wait) = oneshot::channel();
                    if w.send(RelayEvent::Flush(done)).is_ok() {
                        waits.push(wait);
                    }
                }
                if let RelayEvent::Flush(done) = event {
                    tokio::spawn(async move {
                        for w in waits {
                            let _ = w.await;
                        }
                        let _ = done.send(());
                    });
                }
                continue;
            }
        };
        let shard = session_id.bytes().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(usize::from(b))) % WRITERS;
        let _ = writers[shard].send(event);
    }
}

/// One writer: its events in order, each failure retried a few times (a
/// lost progress report is replaced by the next; the end is retried longest).
async fn write_events(records: Arc<dyn SessionRecords>, mut events: mpsc::UnboundedReceiver<RelayEvent>) {
    while let Some(event) = events.recv().await {
        if let RelayEvent::Flush(done) = event {
            let _ = done.send(());
            continue;
        }
        let attempts = if matches!(event, RelayEvent::Finished { .. }) { 8 } else { 4 };
        let mut delay = Duration::from_millis(200);
        for attempt in 1..=attempts {
            match records.record(&event).await {
                Ok(()) => break,
                Err(e) if attempt == attempts => {
                    tracing::warn!(error = %e, ?event, "relay event not recorded; giving up")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "relay event not recorded; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}
