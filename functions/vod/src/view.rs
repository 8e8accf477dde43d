//! How a video looks in responses. Public videos link to the CDN; a private
//! video is only ever shown to its owner, with links that expire: presigned
//! S3 URLs for the MP4 and thumbnail, and a signed playback link for the HLS
//! (see [`crate::playback`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use skycast_core::{stream::Visibility, timefmt, video::Video};
use skycast_http::{ApiContext, ApiError, error::ApiResult};
use skycast_streams::OwnerView;
use utoipa::ToSchema;

/// How long the links of a private video work.
pub const PRIVATE_LINK_TTL: Duration = Duration::from_secs(3600);

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

fn unavailable(e: skycast_core::store::StoreError) -> ApiError {
    ApiError::from(e)
}

/// The signed HLS link of a private video, valid until `expires` (unix seconds).
pub fn private_hls_url(ctx: &ApiContext, video_id: &str, expires: i64) -> Option<String> {
    let signer = ctx.playback.as_ref()?;
    let signature = signer.sign(video_id, expires);
    Some(format!(
        "{}/videos/{video_id}/hls/master.m3u8?expires={expires}&signature={signature}",
        ctx.config.api_base_url
    ))
}

pub async fn view(ctx: &ApiContext, v: Video, liked: Option<bool>) -> ApiResult<VideoView> {
    let cdn = &ctx.config.cdn_base_url;
    let (mp4_url, thumbnail_url, hls_url, links_expire_at) = match v.visibility {
        Visibility::Public => (
            format!("{cdn}/{}", v.mp4_key),
            v.thumbnail_key.as_ref().map(|k| format!("{cdn}/{k}")),
            v.hls_key.as_ref().map(|k| format!("{cdn}/{k}")),
            None,
        ),
        Visibility::Private => {
            let bucket = &ctx.config.buckets.recordings;
            let presign = |key: String| async move { ctx.objects.presign_get(bucket, &key, PRIVATE_LINK_TTL).await };
            let mp4 = presign(v.mp4_key.clone()).await.map_err(unavailable)?;
            let thumb = match v.thumbnail_key.clone() {
                Some(k) => Some(presign(k).await.map_err(unavailable)?),
                None => None,
            };
            let expires = timefmt::unix_now() + PRIVATE_LINK_TTL.as_secs() as i64;
            let hls = v.hls_key.as_ref().and_then(|_| private_hls_url(ctx, &v.id, expires));
            let at = time::OffsetDateTime::from_unix_timestamp(expires).ok().map(timefmt::rfc3339);
            (mp4, thumb, hls, at)
        }
    };
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
