//! How a stream looks in responses: owner-only fields appear only for the owner.

use serde::{Deserialize, Serialize};
use skycast_core::stream::{Protocol, Stream, StreamStatus, Visibility};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OwnerView {
    pub id: String,
    pub username: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StreamView {
    pub id: String,
    pub owner: OwnerView,
    pub title: String,
    pub description: String,
    pub protocol: Protocol,
    pub visibility: Visibility,
    pub record: bool,
    pub status: StreamStatus,
    /// Set while the stream is live.
    pub hls_url: Option<String>,
    pub thumbnail_url: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    /// Only for the owner. The secret an encoder publishes with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_key: Option<String>,
}

impl StreamView {
    pub fn new(s: Stream, owner_sees: bool) -> Self {
        Self {
            owner: OwnerView { id: s.owner_id, username: s.owner_username },
            stream_key: owner_sees.then_some(s.stream_key),
            id: s.id,
            title: s.title,
            description: s.description,
            protocol: s.protocol,
            visibility: s.visibility,
            record: s.record,
            status: s.status,
            hls_url: s.hls_url,
            thumbnail_url: s.thumbnail_url,
            created_at: s.created_at,
            updated_at: s.updated_at,
            started_at: s.started_at,
            ended_at: s.ended_at,
        }
    }

    pub fn for_caller(s: Stream, caller: Option<&str>) -> Self {
        let owner = skycast_core::stream::is_owner(&s, caller);
        Self::new(s, owner)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StreamPage {
    pub items: Vec<StreamView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}
