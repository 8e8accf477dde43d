//! Persistence behind small traits, one per aggregate, with DynamoDB
//! implementations. Handlers take `Arc<dyn …Store>` so their dependencies are
//! explicit and swappable.

mod access;
mod dynamo;
mod ingest;
mod limits;
mod recordings;
mod relay_sessions;
mod streams;
mod tokens;
mod users;
mod videos;
mod webhooks;

pub mod objects;
pub mod queue;

use std::sync::Arc;

use thiserror::Error;

pub use access::{AccessEntry, AccessStore, DynamoAccessStore, VideoAccess};
pub use ingest::{DynamoIngestStore, IngestNode, IngestStore, NODE_FRESH_S};
pub use limits::{Daily, DailyCounters, DynamoLimitStore, LimitStore};
pub use recordings::{Claim, DynamoRecordingStore, Finished, RecordingStore};
pub use relay_sessions::{DynamoRelaySessionStore, Invitation, RelayClaim, RelayFinish, RelaySessionStore};
pub use streams::{
    BeginSession, Deletion, DynamoStreamStore, EndReport, EndSession, KeyRotation, SessionStart, StreamClaim,
    StreamIndex, StreamStore,
};
pub use tokens::{DynamoTokenStore, RefreshFamily, RefreshRecord, Rotation, TokenStore};
pub use users::{CreateUser, DynamoUserStore, UserStore};
pub use videos::{DynamoVideoStore, LikeOutcome, VideoIndex, VideoStore};
pub use webhooks::{DynamoWebhookStore, WebhookStore};

use crate::config::TableNames;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("DynamoDB request failed: {0}")]
    Backend(String),
    #[error("stored item is malformed: {0}")]
    Malformed(String),
}

/// Every store, built over one SDK client.
#[derive(Clone)]
pub struct Stores {
    pub users: Arc<dyn UserStore>,
    pub tokens: Arc<dyn TokenStore>,
    pub streams: Arc<dyn StreamStore>,
    pub ingest: Arc<dyn IngestStore>,
    pub recordings: Arc<dyn RecordingStore>,
    pub videos: Arc<dyn VideoStore>,
    pub access: Arc<dyn AccessStore>,
    pub limits: Arc<dyn LimitStore>,
    pub relay_sessions: Arc<dyn RelaySessionStore>,
    pub webhooks: Arc<dyn WebhookStore>,
    pub ready: Arc<dyn ReadyCheck>,
}

impl Stores {
    pub fn dynamo(client: aws_sdk_dynamodb::Client, tables: &TableNames) -> Self {
        Self {
            users: Arc::new(DynamoUserStore::new(client.clone(), tables.users.clone())),
            tokens: Arc::new(DynamoTokenStore::new(client.clone(), tables.refresh_tokens.clone())),
            streams: Arc::new(DynamoStreamStore::new(client.clone(), tables.streams.clone())),
            ingest: Arc::new(DynamoIngestStore::new(client.clone(), tables.ingest_nodes.clone())),
            recordings: Arc::new(DynamoRecordingStore::new(client.clone(), tables.recordings.clone())),
            videos: Arc::new(DynamoVideoStore::new(client.clone(), tables.videos.clone(), tables.video_likes.clone())),
            access: Arc::new(DynamoAccessStore::new(client.clone(), tables.media_access.clone())),
            limits: Arc::new(DynamoLimitStore::new(client.clone(), tables.limits.clone())),
            relay_sessions: Arc::new(DynamoRelaySessionStore::new(client.clone(), tables.relay_sessions.clone())),
            webhooks: Arc::new(DynamoWebhookStore::new(
                client.clone(),
                tables.webhooks.clone(),
                tables.webhook_deliveries.clone(),
            )),
            ready: Arc::new(dynamo::TablesReady::all(client, tables)),
        }
    }
}

impl Stores {
    /// Readiness as these tables alone (physical names): what a function with
    /// least privilege may describe.
    pub fn ready_for(mut self, client: aws_sdk_dynamodb::Client, tables: Vec<String>) -> Self {
        self.ready = Arc::new(dynamo::TablesReady::new(client, tables));
        self
    }
}

/// Readiness of a dependency, for `GET /ready`.
#[async_trait::async_trait]
pub trait ReadyCheck: Send + Sync {
    /// `Err` names what is not ready.
    async fn check(&self) -> Result<(), String>;
}
