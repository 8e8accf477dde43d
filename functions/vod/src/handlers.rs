use axum::{
    Json as JsonResponse,
    extract::{FromRequestParts, Path, State},
    http::{StatusCode, request::Parts},
};
use serde::Deserialize;
use skycast_core::{
    ids,
    page::{check_limit, filtered_page},
    recording::session_prefix,
    store::{LikeOutcome, VideoAccess, VideoIndex},
    stream::Visibility,
    timefmt,
    video::{self, Video, VideoPatch},
    webhook::{self, EventType},
};
use skycast_http::{
    ApiContext, ApiError, ErrorBody,
    auth::{AuthUser, MaybeAuthUser, owner_filter},
    client::ClientAddr,
    error::ApiResult,
    extract::{Json, Query},
    limits,
};
use utoipa::{IntoParams, ToSchema};

use crate::view::{LikeView, VideoPage, VideoView, view};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    /// Newest first.
    #[default]
    Recent,
    /// Most viewed first.
    Popular,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListVideosQuery {
    /// `me` (requires a token), or a user id.
    pub owner: Option<String>,
    /// Videos recorded from this stream.
    pub stream_id: Option<String>,
    /// Videos with this tag.
    pub tag: Option<String>,
    /// Words that each begin a word of the title or description.
    pub q: Option<String>,
    /// `recent` (default) or `popular`.
    pub sort: Option<Sort>,
    /// 1–100, default 20.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateVideoRequest {
    pub title: Option<String>,
    pub description: Option<String>,
    /// Replaces the tags: at most 20, each at most 32 letters, digits, `-`
    /// or `_` (spaces become `-`), stored lowercase without duplicates.
    pub tags: Option<Vec<String>>,
    pub visibility: Option<Visibility>,
}

fn not_found() -> ApiError {
    ApiError::not_found("video")
}

/// A `{id}` that can name a video; anything else is the same 404 as a
/// missing or hidden one, without a database round trip.
pub struct VideoId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for VideoId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) if ids::is_id(&id) => Ok(VideoId(id)),
            _ => Err(not_found()),
        }
    }
}

pub(crate) async fn visible(ctx: &ApiContext, id: &str, caller: Option<&str>) -> ApiResult<Video> {
    match ctx.stores.videos.get(id).await? {
        Some(v) if video::is_visible_to(&v, caller) => Ok(v),
        _ => Err(not_found()),
    }
}

async fn liked_by(ctx: &ApiContext, id: &str, caller: Option<&str>) -> ApiResult<Option<bool>> {
    match caller {
        Some(user) => Ok(Some(ctx.stores.videos.has_liked(id, user).await?)),
        None => Ok(None),
    }
}

/// List videos: public ones, and the caller's private ones.
#[utoipa::path(get, path = "/videos", tag = "videos", params(ListVideosQuery), responses(
    (status = 200, body = VideoPage),
    (status = 400, body = ErrorBody),
    (status = 401, description = "owner=me without a token, or an invalid token", body = ErrorBody),
))]
pub async fn list(
    State(ctx): State<ApiContext>,
    caller: MaybeAuthUser,
    Query(q): Query<ListVideosQuery>,
) -> ApiResult<JsonResponse<VideoPage>> {
    let limit = check_limit(q.limit)?;
    let caller_id = caller.id().map(str::to_owned);
    let owner = owner_filter(q.owner.as_deref(), &caller)?;
    let stream_id = match q.stream_id.as_deref() {
        Some(id) if ids::is_id(id) => Some(id.to_owned()),
        Some(_) => {
            return Err(
                ApiError::bad_request("validation_failed", "stream_id is not a stream id").with_field("stream_id")
            );
        }
        None => None,
    };
    let tag =
        q.tag.as_deref().map(video::normalize_tag).transpose().map_err(|e| ApiError::from(e).with_field("tag"))?;
    let terms = q.q.as_deref().map(video::search_terms).transpose()?;
    // The index that narrows most; the other filters apply per item.
    let index = match (q.sort.unwrap_or_default(), &owner, &stream_id) {
        (Sort::Popular, _, _) => VideoIndex::Popular,
        (Sort::Recent, _, Some(s)) => VideoIndex::ByStream(s.clone()),
        (Sort::Recent, Some(o), None) => VideoIndex::ByOwner(o.clone()),
        (Sort::Recent, None, None) => VideoIndex::Recent,
    };
    let listing = format!(
        "videos?owner={}&stream_id={}&tag={}&q={}&sort={:?}",
        owner.as_deref().unwrap_or(""),
        stream_id.as_deref().unwrap_or(""),
        tag.as_deref().unwrap_or(""),
        q.q.as_deref().unwrap_or(""),
        q.sort.unwrap_or_default()
    );
    let seal = skycast_http::listing::seal(&ctx, &listing, caller_id.as_deref())?;
    let cursor =
        skycast_http::listing::open(&seal, q.cursor.as_deref(), &index.cursor_attributes(), |c| index.accepts(c))?;
    let who = caller_id.clone();
    let keep = move |v: &Video| {
        video::is_visible_to(v, who.as_deref())
            && owner.as_ref().is_none_or(|o| &v.owner_id == o)
            && stream_id.as_ref().is_none_or(|s| &v.stream_id == s)
            && tag.as_ref().is_none_or(|t| v.tags.contains(t))
            && terms.as_ref().is_none_or(|t| video::matches_search(v, t))
    };
    let store = ctx.stores.videos.as_ref();
    let page =
        filtered_page(|start, n| store.query(&index, start, n), keep, |v| index.cursor_after(v), cursor, limit, &seal)
            .await?;
    let mut items = Vec::with_capacity(page.items.len());
    for v in page.items {
        items.push(view(&ctx, v, None).await?);
    }
    Ok(JsonResponse(VideoPage { items, next_cursor: page.next_cursor }))
}

/// A video. Private videos are 404 to everyone but their owner, who gets links that expire.
#[utoipa::path(get, path = "/videos/{id}", tag = "videos", params(("id" = String, Path)), responses(
    (status = 200, body = VideoView),
    (status = 404, body = ErrorBody),
))]
pub async fn get_one(
    State(ctx): State<ApiContext>,
    caller: MaybeAuthUser,
    VideoId(id): VideoId,
) -> ApiResult<JsonResponse<VideoView>> {
    let v = visible(&ctx, &id, caller.id()).await?;
    let liked = liked_by(&ctx, &id, caller.id()).await?;
    Ok(JsonResponse(view(&ctx, v, liked).await?))
}

/// Change title, description, tags or visibility.
#[utoipa::path(patch, path = "/videos/{id}", tag = "videos", params(("id" = String, Path)), request_body = UpdateVideoRequest, security(("bearer" = [])), responses(
    (status = 200, body = VideoView),
    (status = 400, body = ErrorBody),
    (status = 401, body = ErrorBody),
    (status = 404, description = "no such video, or not the caller's", body = ErrorBody),
))]
pub async fn update(
    State(ctx): State<ApiContext>,
    caller: AuthUser,
    VideoId(id): VideoId,
    Json(req): Json<UpdateVideoRequest>,
) -> ApiResult<JsonResponse<VideoView>> {
    let patch = VideoPatch::new(req.title.as_deref(), req.description.as_deref(), req.tags.as_deref(), req.visibility)?;
    if patch.is_empty() {
        return Err(ApiError::bad_request(
            "validation_failed",
            "nothing to update: give title, description, tags or visibility",
        ));
    }
    if req.visibility == Some(Visibility::Private) {
        // Restrict first: should the video's own write then fail, its media
        // is private early, never public late.
        let v = visible(&ctx, &id, Some(&caller.id)).await?;
        if v.owner_id != caller.id {
            return Err(not_found());
        }
        ctx.stores.access.set_video(&v.stream_id, &v.session_id, VideoAccess::Private).await?;
    }
    let v = ctx.stores.videos.update(&id, &caller.id, &patch, &timefmt::now_rfc3339()).await?.ok_or_else(not_found)?;
    if req.visibility.is_some() {
        // The edge follows the session's access entry (private was written
        // first, above, bumping its epoch to void every link handed out
        // before); public is written after.
        if req.visibility == Some(Visibility::Public) {
            ctx.stores.access.set_video(&v.stream_id, &v.session_id, VideoAccess::Public).await?;
        }
        // The CDN follows the objects' tag; if this fails the PATCH answers
        // 503 and sending it again finishes the job.
        let public = v.visibility == Visibility::Public;
        for key in std::iter::once(&v.mp4_key).chain(&v.thumbnail_key) {
            ctx.objects.tag_visibility(&ctx.config.buckets.recordings, key, public).await?;
        }
    }
    let event = webhook::video_event(EventType::VideoUpdated, &v, &v.updated_at);
    ctx.webhooks.publish(&v.owner_id, event).await?;
    let liked = liked_by(&ctx, &id, Some(&caller.id)).await?;
    Ok(JsonResponse(view(&ctx, v, liked).await?))
}

/// Delete a video: its item, its MP4 and thumbnail, and its HLS.
#[utoipa::path(delete, path = "/videos/{id}", tag = "videos", params(("id" = String, Path)), security(("bearer" = [])), responses(
    (status = 204, description = "deleted, with every object"),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 503, description = "storage failed part way; the video stays hidden, and deleting again finishes", body = ErrorBody),
))]
pub async fn delete(State(ctx): State<ApiContext>, caller: AuthUser, VideoId(id): VideoId) -> ApiResult<StatusCode> {
    // Hidden first, so a failure part way never shows a video whose objects are gone.
    let v = ctx.stores.videos.mark_deleting(&id, &caller.id, &timefmt::now_rfc3339()).await?.ok_or_else(not_found)?;
    // Unplayable at the edge at once, even from a cache or an old link.
    ctx.stores.access.set_video(&v.stream_id, &v.session_id, VideoAccess::Gone).await?;
    let session = session_prefix(&v.stream_id, &v.session_id);
    let recordings = format!("recordings/{}/{}.", v.stream_id, v.session_id);
    let removed = ctx.objects.delete_prefix(&ctx.config.buckets.recordings, &recordings).await?
        + ctx.objects.delete_prefix(&ctx.config.buckets.live, &format!("{session}/")).await?;
    // Before the item goes: a DELETE sent again after a failure here finds
    // the video still marked and announces it again, with the same event id
    // and time: one delivery per endpoint, however often it is sent.
    let deleted_at = v.deleted_at.clone().unwrap_or_else(timefmt::now_rfc3339);
    let event = webhook::video_event(EventType::VideoDeleted, &v, &deleted_at);
    ctx.webhooks.publish(&v.owner_id, event).await?;
    ctx.stores.videos.delete(&id, &caller.id).await?;
    tracing::info!(video_id = %id, objects = removed, "video deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Count a view: once per viewer per video within `SKYCAST_LIMIT_VIEW_DEDUP_S`.
#[utoipa::path(post, path = "/videos/{id}/views", tag = "videos", params(("id" = String, Path)), responses(
    (status = 204, description = "counted, or already counted for this viewer lately"),
    (status = 404, body = ErrorBody),
    (status = 429, description = "too many view requests from this address; see Retry-After", body = ErrorBody),
))]
pub async fn add_view(
    State(ctx): State<ApiContext>,
    caller: MaybeAuthUser,
    ClientAddr(addr): ClientAddr,
    VideoId(id): VideoId,
) -> ApiResult<StatusCode> {
    limits::take(&ctx, &ctx.config.limits.views_per_address, &addr).await?;
    visible(&ctx, &id, caller.id()).await?;
    // One viewer (the user, or the address without a token) counts once per
    // window per video, so a loop cannot inflate the count.
    let viewer = caller.id().map_or_else(|| format!("addr:{addr}"), |u| format!("user:{u}"));
    let now = timefmt::unix_now();
    let window = ctx.config.limits.view_dedup_s;
    if !ctx.stores.limits.first_sight(&format!("seen#view#{id}#{viewer}"), now + window, now).await? {
        return Ok(StatusCode::NO_CONTENT);
    }
    if ctx.stores.videos.add_view(&id).await? { Ok(StatusCode::NO_CONTENT) } else { Err(not_found()) }
}

async fn like_view(ctx: &ApiContext, id: &str, liked: bool) -> ApiResult<JsonResponse<LikeView>> {
    let v = ctx.stores.videos.get(id).await?.ok_or_else(not_found)?;
    Ok(JsonResponse(LikeView { liked, like_count: v.like_count }))
}

/// Like a video; liking it again changes nothing.
#[utoipa::path(put, path = "/videos/{id}/like", tag = "videos", params(("id" = String, Path)), security(("bearer" = [])), responses(
    (status = 200, body = LikeView),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
pub async fn like(
    State(ctx): State<ApiContext>,
    caller: AuthUser,
    VideoId(id): VideoId,
) -> ApiResult<JsonResponse<LikeView>> {
    visible(&ctx, &id, Some(&caller.id)).await?;
    match ctx.stores.videos.like(&id, &caller.id, &timefmt::now_rfc3339()).await? {
        LikeOutcome::NotFound => Err(not_found()),
        LikeOutcome::Changed | LikeOutcome::Unchanged => like_view(&ctx, &id, true).await,
    }
}

/// Take a like back; without one, nothing changes.
#[utoipa::path(delete, path = "/videos/{id}/like", tag = "videos", params(("id" = String, Path)), security(("bearer" = [])), responses(
    (status = 200, body = LikeView),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
))]
pub async fn unlike(
    State(ctx): State<ApiContext>,
    caller: AuthUser,
    VideoId(id): VideoId,
) -> ApiResult<JsonResponse<LikeView>> {
    visible(&ctx, &id, Some(&caller.id)).await?;
    match ctx.stores.videos.unlike(&id, &caller.id).await? {
        LikeOutcome::NotFound => Err(not_found()),
        LikeOutcome::Changed | LikeOutcome::Unchanged => like_view(&ctx, &id, false).await,
    }
}
