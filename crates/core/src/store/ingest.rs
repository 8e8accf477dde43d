//! Ingest nodes: each registers itself with a heartbeat (and a TTL), which
//! is how others know it is alive, and how a dead one's sessions are found.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use serde::{Deserialize, Serialize};

use super::{
    StoreError,
    dynamo::{backend, from_item, s, to_item},
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestNode {
    pub node_id: String,
    /// Host encoders reach this node at (behind a load balancer: its own address).
    pub public_host: String,
    pub rtmp_port: u16,
    pub srt_port: u16,
    /// The node's HTTP port (health, the relay's sockets), reached at
    /// `public_host` by the other nodes, which forward relay sockets here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_port: Option<u16>,
    /// Sessions it holds, as of its last heartbeat.
    #[serde(default)]
    pub sessions: u32,
    /// Its CPUs: what it has for transcoding, where each live session runs
    /// an FFmpeg.
    #[serde(default)]
    pub cpus: u32,
    /// Its 1-minute load average at the last heartbeat: at `cpus` or more,
    /// its sessions compete for CPU. `None` where the system does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_1m: Option<f64>,
    /// Unix seconds of the last heartbeat.
    pub heartbeat_at: i64,
    /// TTL attribute: a node that stops beating disappears.
    pub expires_at: i64,
}

/// A node counts as up while its last heartbeat is this recent.
pub const NODE_FRESH_S: i64 = 30;

#[async_trait]
pub trait IngestStore: Send + Sync {
    async fn register(&self, node: &IngestNode) -> Result<(), StoreError>;
    /// Nodes whose heartbeat is fresh at `now`.
    async fn live_nodes(&self, now: i64) -> Result<Vec<IngestNode>, StoreError>;
    async fn node(&self, node_id: &str) -> Result<Option<IngestNode>, StoreError>;
    /// Takes a node's registration out (a clean shutdown).
    async fn deregister(&self, node_id: &str) -> Result<(), StoreError>;
}

pub struct DynamoIngestStore {
    client: Client,
    nodes_table: String,
}

impl DynamoIngestStore {
    pub fn new(client: Client, nodes_table: String) -> Self {
        Self { client, nodes_table }
    }
}

#[async_trait]
impl IngestStore for DynamoIngestStore {
    async fn register(&self, node: &IngestNode) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.nodes_table)
            .set_item(Some(to_item(node)?))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn live_nodes(&self, now: i64) -> Result<Vec<IngestNode>, StoreError> {
        // A handful of items: a scan is the simple, honest read.
        let out =
            self.client.scan().table_name(&self.nodes_table).consistent_read(true).send().await.map_err(backend)?;
        let nodes =
            out.items.unwrap_or_default().into_iter().map(from_item::<IngestNode>).collect::<Result<Vec<_>, _>>()?;
        Ok(nodes.into_iter().filter(|n| n.heartbeat_at >= now - NODE_FRESH_S).collect())
    }

    async fn node(&self, node_id: &str) -> Result<Option<IngestNode>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.nodes_table)
            .key("node_id", s(node_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        out.item.map(from_item).transpose()
    }

    async fn deregister(&self, node_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.nodes_table)
            .key("node_id", s(node_id))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }
}
