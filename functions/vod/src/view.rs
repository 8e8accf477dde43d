//! How a video looks in responses. Public videos link to the CDN with plain
//! URLs; a private video is only ever shown to its owner, whose CDN links
//! carry a media token (see `skycast_core::playback`).

use serde::{Deserialize, Serialize};
use skycast_core::{
    playback::{media_url, vod_token_ttl_s},
    stream::Visibility,
    timefmt,
    video::Video,
};
use skycast_http::{ApiContext, ApiError, error::ApiResult};
use skycast_streams::OwnerView;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VideoView {
    /// The id of the session it was recorded from, too.
    pub id: String,
    pub title: String,
    pub description: String,
    pub owner: OwnerView,
    pub visibility: Visibility,
    /// Lowercase; at most 20 of at most 32 characters.
    pub tags: Vec<String>,
    pub duration_s: f64,
    pub size_bytes: u64,
    /// Progressive MP4 (moov first): plays while it downloads.
    pub mp4_url: String,
    /// The session's HLS, complete with ENDLIST: every rendition.
    pub hls_url: Option<String>,
    pub thumbnail_url: Option<String>,
    /// When the links of a private video stop working (absent for public ones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links_expire_at: Option<String>,
    pub view_count: u64,
    pub like_count: u64,
    /// Whether the caller likes it (absent without a token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liked: Option<bool>,
    pub stream_id: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VideoPage {
    pub items: Vec<VideoView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LikeView {
    pub liked: bool,
    pub like_count: u64,
}

pub async fn view(ctx: &ApiContext, v: Video, liked: Option<bool>) -> ApiResult<VideoView> {
    let cdn = &ctx.config.cdn_base_url;
    // A private video's links carry a token of its session's current epoch,
    // long enough to play it to the end; making it private again, or deleting
    // it, voids them at once.
    let (token, links_expire_at) = match v.visibility {
        Visibility::Public => (None, None),
        Visibility::Private => {
            let signer = ctx.playback.as_ref().ok_or_else(ApiError::internal)?;
            let access = ctx.stores.access.get(&v.session_id).await?;
            let expires = timefmt::unix_now() + vod_token_ttl_s(v.duration_s);
            let at = time::OffsetDateTime::from_unix_timestamp(expires).ok().map(timefmt::rfc3339);
            (Some(signer.token(&v.stream_id, &v.session_id, expires, access.epoch)), at)
        }
    };
    let url = |key: &str| media_url(cdn, key, token.as_deref());
    let (mp4_url, thumbnail_url, hls_url) =
        (url(&v.mp4_key), v.thumbnail_key.as_deref().map(url), v.hls_key.as_deref().map(url));
    Ok(VideoView {
        id: v.id,
        title: v.title,
        description: v.description,
        owner: OwnerView { id: v.owner_id, username: v.owner_username },
        visibility: v.visibility,
        tags: v.tags,
        duration_s: v.duration_s,
        size_bytes: v.size_bytes,
        mp4_url,
        hls_url,
        thumbnail_url,
        links_expire_at,
        view_count: v.view_count,
        like_count: v.like_count,
        liked,
        stream_id: v.stream_id,
        created_at: v.created_at,
        updated_at: v.updated_at,
    })
}
