//! How a stream looks in responses: owner-only fields appear only for the owner.

use serde::{Deserialize, Serialize};
use skycast_core::stream::{Profile, Protocol, Stream, StreamStatus, Visibility};

use crate::session::{IngestView, ingest_view};
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
    pub profile: Profile,
    pub status: StreamStatus,
    /// The current (or last) session's master playlist.
    pub hls_url: Option<String>,
    /// A still of the current (or last) session, renewed every 10 s while live.
    pub thumbnail_url: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    /// Renditions, segment count and seconds of the current or last session.
    pub renditions: Vec<String>,
    pub segments: Option<u64>,
    pub duration_s: Option<f64>,
    /// Average bitrate of the top rendition, audio included; updated every 10 s while live.
    pub bitrate_bps: Option<u64>,
    /// Only for the owner. The secret an encoder publishes with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_key: Option<String>,
    /// Only for the owner, while on air: where the encoder connects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingest: Option<IngestView>,
}

impl StreamView {
    pub fn new(s: Stream, owner_sees: bool) -> Self {
        let ingest = (owner_sees && s.status.is_on_air()).then(|| ingest_view(&s)).flatten();
        // The storage layout puts `thumb.jpg` beside the master playlist.
        let thumbnail_url = s
            .thumbnail
            .then(|| s.hls_url.as_deref().and_then(|u| u.rsplit_once('/')).map(|(base, _)| format!("{base}/thumb.jpg")))
            .flatten();
        Self {
            thumbnail_url,
            bitrate_bps: s.bitrate_bps,
            ingest,
            profile: s.profile,
            renditions: s.renditions,
            segments: s.segments,
            duration_s: s.duration_s,
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
