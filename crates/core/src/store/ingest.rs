//! Ingest nodes (each registers itself with a heartbeat) and port leases
//! (a conditional write per port, so two starts never share one).

use async_trait::async_trait;
use aws_sdk_dynamodb::{Client, types::AttributeValue};
use serde::{Deserialize, Serialize};

use crate::stream::Protocol;

use super::{
    StoreError,
    dynamo::{backend, from_item, s, to_item},
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestNode {
    pub node_id: String,
    /// Host encoders connect to.
    pub public_host: String,
    pub srt_port_low: u16,
    pub srt_port_high: u16,
    /// TCP ports for RTMP publishers; `0-0` for a node that takes no RTMP.
    #[serde(default)]
    pub rtmp_port_low: u16,
    #[serde(default)]
    pub rtmp_port_high: u16,
    /// Where this node takes its commands.
    pub command_queue_url: String,
    /// Unix seconds of the last heartbeat.
    pub heartbeat_at: i64,
    /// TTL attribute: a node that stops beating disappears.
    pub expires_at: i64,
}

impl IngestNode {
    /// The node's public ports for `protocol`, inclusive; `None` if it has none.
    pub fn ports(&self, protocol: Protocol) -> Option<(u16, u16)> {
        let (low, high) = match protocol {
            Protocol::Srt => (self.srt_port_low, self.srt_port_high),
            Protocol::Rtmp => (self.rtmp_port_low, self.rtmp_port_high),
        };
        (low > 0 && low <= high).then_some((low, high))
    }
}

/// A node counts as up while its last heartbeat is this recent.
pub const NODE_FRESH_S: i64 = 30;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortLease {
    /// `<node_id>#<protocol>#<port>`
    pub lease_id: String,
    pub stream_id: String,
    pub session_id: String,
    pub expires_at: i64,
}

/// SRT ports are UDP and RTMP ports TCP: the same number is two leases.
pub fn lease_id(node_id: &str, protocol: Protocol, port: u16) -> String {
    format!("{node_id}#{}#{port}", protocol.as_str())
}

#[async_trait]
pub trait IngestStore: Send + Sync {
    async fn register(&self, node: &IngestNode) -> Result<(), StoreError>;
    /// Nodes whose heartbeat is fresh at `now`.
    async fn live_nodes(&self, now: i64) -> Result<Vec<IngestNode>, StoreError>;
    async fn node(&self, node_id: &str) -> Result<Option<IngestNode>, StoreError>;
    /// Takes the lease if the port is free (or its lease expired); `false` if taken.
    async fn lease(&self, lease: &PortLease, now: i64) -> Result<bool, StoreError>;
    /// Frees the lease if it still belongs to `session_id`.
    async fn release(&self, lease_id: &str, session_id: &str) -> Result<(), StoreError>;
}

pub struct DynamoIngestStore {
    client: Client,
    nodes_table: String,
    leases_table: String,
}

impl DynamoIngestStore {
    pub fn new(client: Client, nodes_table: String, leases_table: String) -> Self {
        Self { client, nodes_table, leases_table }
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
            .send()
            .await
            .map_err(backend)?;
        out.item.map(from_item).transpose()
    }

    async fn lease(&self, lease: &PortLease, now: i64) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.leases_table)
            .set_item(Some(to_item(lease)?))
            .condition_expression("attribute_not_exists(lease_id) OR expires_at < :now")
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.as_service_error(), Some(se) if se.is_conditional_check_failed_exception()) => {
                Ok(false)
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn release(&self, lease_id: &str, session_id: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.leases_table)
            .key("lease_id", s(lease_id))
            .condition_expression("session_id = :sid")
            .expression_attribute_values(":sid", s(session_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.as_service_error(), Some(se) if se.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }
}
