//! How a stream looks in responses: owner-only fields appear only for the owner.

use serde::{Deserialize, Serialize};
use skycast_core::{
    config::IngestEndpoint,
    playback::{Access, LIVE_TOKEN_TTL_S, MediaState, media_url},
    recording::session_prefix,
    stream::{Latency, Profile, Protocol, Stream, StreamStatus, Visibility, is_owner},
    timefmt,
};
use skycast_http::{ApiContext, error::ApiResult};

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
    /// `standard` or `low`: how close to live the player should sit.
    pub latency: Latency,
    pub status: StreamStatus,
    /// The current (or last) session's master playlist. For a private
    /// stream, only its owner sees it, with a token valid for an hour: read the
    /// stream again for a fresh one.
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
    /// While live: distinct viewers whose players reported in the last 30–60 s.
    pub viewer_count: Option<u64>,
    /// Only for the owner. The secret an encoder publishes with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_key: Option<String>,
    /// Only for the owner: where the encoder publishes (OBS's two fields, or
    /// the SRT URL), whether or not the stream is on air.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingest: Option<IngestView>,
    /// Only for the owner, while live: what the ingest node sees of the
    /// encoder's stream (bitrate, frame rate, keyframe interval, audio, SRT
    /// link) and plain warnings; renewed every 10 s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<skycast_core::health::StreamHealth>,
}

/// The current (or last) session's playback links, as one caller may see them.
#[derive(Debug, Clone, Default)]
pub struct SessionLinks {
    pub hls_url: Option<String>,
    pub thumbnail_url: Option<String>,
}

impl SessionLinks {
    /// Public media: plain CDN URLs. Private media: the owner's URLs carry a
    /// token (renewed on every read of the stream); nobody else sees any.
    pub fn for_stream(ctx: &ApiContext, s: &Stream, owner: bool, access: Access) -> Self {
        // A session nobody published to keeps its id but has nothing to play.
        let Some(session) = s.session_id.as_deref().filter(|_| s.hls_url.is_some()) else { return Self::default() };
        let prefix = session_prefix(&s.id, session);
        let token = match access.state {
            MediaState::Public => None,
            MediaState::Private if owner => match ctx.playback.as_ref() {
                Some(signer) => {
                    Some(signer.token(&s.id, session, timefmt::unix_now() + LIVE_TOKEN_TTL_S, access.epoch))
                }
                None => return Self::default(),
            },
            _ => return Self::default(),
        };
        let cdn = &ctx.config.cdn_base_url;
        Self {
            hls_url: Some(media_url(cdn, &format!("{prefix}/master.m3u8"), token.as_deref())),
            thumbnail_url: s.thumbnail.then(|| media_url(cdn, &format!("{prefix}/thumb.jpg"), token.as_deref())),
        }
    }

    /// The links of `s` for `caller`, reading its session's access.
    pub async fn read(ctx: &ApiContext, s: &Stream, caller: Option<&str>) -> ApiResult<Self> {
        let access = match s.session_id.as_deref() {
            Some(session) => ctx.stores.access.get(session).await?,
            None => Access::PUBLIC,
        };
        Ok(Self::for_stream(ctx, s, is_owner(s, caller), access))
    }
}

impl StreamView {
    pub fn new(s: Stream, owner_sees: bool, links: SessionLinks, endpoint: &IngestEndpoint) -> Self {
        let ingest = owner_sees.then(|| ingest_view(endpoint, &s));
        let health = s.health.filter(|_| owner_sees && s.status == StreamStatus::Live);
        Self {
            health,
            thumbnail_url: links.thumbnail_url,
            hls_url: links.hls_url,
            bitrate_bps: s.bitrate_bps,
            viewer_count: None,
            ingest,
            profile: s.profile,
            latency: s.latency,
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
            created_at: s.created_at,
            updated_at: s.updated_at,
            started_at: s.started_at,
            ended_at: s.ended_at,
        }
    }

    /// The stream as `caller` may see it, its session's access read.
    pub async fn read(ctx: &ApiContext, s: Stream, caller: Option<&str>) -> ApiResult<Self> {
        let links = SessionLinks::read(ctx, &s, caller).await?;
        let owner = is_owner(&s, caller);
        let viewers = crate::viewers::counts(ctx, std::slice::from_ref(&s)).await?;
        let mut view = Self::new(s, owner, links, &ctx.config.ingest);
        view.viewer_count = viewers.get(&view.id).copied();
        Ok(view)
    }

    /// Several streams as `caller` may see them, with one read of access.
    pub async fn read_all(ctx: &ApiContext, streams: Vec<Stream>, caller: Option<&str>) -> ApiResult<Vec<Self>> {
        let sessions: Vec<String> = streams.iter().filter_map(|s| s.session_id.clone()).collect();
        let access = ctx.stores.access.get_many(&sessions).await?;
        let viewers = crate::viewers::counts(ctx, &streams).await?;
        Ok(streams
            .into_iter()
            .map(|s| {
                let a = s.session_id.as_ref().and_then(|id| access.get(id)).copied().unwrap_or(Access::PUBLIC);
                let owner = is_owner(&s, caller);
                let links = SessionLinks::for_stream(ctx, &s, owner, a);
                let mut view = Self::new(s, owner, links, &ctx.config.ingest);
                view.viewer_count = viewers.get(&view.id).copied();
                view
            })
            .collect())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StreamPage {
    pub items: Vec<StreamView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}
