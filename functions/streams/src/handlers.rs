use axum::{
    Json as JsonResponse,
    extract::{FromRequestParts, Path, State},
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use skycast_core::{
    ids,
    limits::Quota,
    page::check_limit,
    store::{Deletion, KeyRotation, StreamIndex},
    stream::{self, Latency, NewStream, Profile, Protocol, Stream, StreamPatch, StreamStatus, Visibility},
    timefmt,
};
use skycast_http::{
    ApiContext, ApiError, ErrorBody,
    auth::{AuthUser, MaybeAuthUser, owner_filter},
    error::ApiResult,
    extract::{Json, Query},
};
use utoipa::{IntoParams, ToSchema};

use crate::{
    listing, quota,
    view::{SessionLinks, StreamPage, StreamView},
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStreamRequest {
    /// 1–200 characters.
    pub title: String,
    /// Up to 5000 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// How the encoder publishes; `srt` by default.
    #[serde(default)]
    pub protocol: Option<Protocol>,
    /// `public` by default.
    #[serde(default)]
    pub visibility: Option<Visibility>,
    /// Record each session as a video; on by default.
    #[serde(default)]
    pub record: Option<bool>,
    /// `ladder` (the encoder's stream plus 480p and 360p, ABR; default) or
    /// `source` (passthrough, one rendition).
    #[serde(default)]
    pub profile: Option<Profile>,
    /// `standard` (2 s segments, viewers ≈ 5 s behind; default) or `low`
    /// (1 s segments, ≈ 3 s; the encoder must send a keyframe every second).
    #[serde(default)]
    pub latency: Option<Latency>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStreamRequest {
    pub title: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<Visibility>,
    pub record: Option<bool>,
    /// Takes effect at the next start.
    pub profile: Option<Profile>,
    /// Takes effect at the next session.
    pub latency: Option<Latency>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListStreamsQuery {
    /// `me` (requires a token), or a user id.
    pub owner: Option<String>,
    pub status: Option<StreamStatus>,
    /// 1–100, default 20.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn not_found() -> ApiError {
    ApiError::not_found("stream")
}

/// A `{id}` path segment that can name a stream. Anything else cannot exist,
/// so it is 404 without a database round trip, the same 404 as a missing or
/// hidden stream.
pub struct StreamId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for StreamId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) if ids::is_id(&id) => Ok(StreamId(id)),
            _ => Err(not_found()),
        }
    }
}

/// Create a stream. The response carries its stream key, shown only to the owner.
#[utoipa::path(post, path = "/streams", tag = "streams", request_body = CreateStreamRequest, security(("bearer" = [])), responses(
    (status = 201, body = StreamView),
    (status = 400, body = ErrorBody),
    (status = 401, body = ErrorBody),
    (status = 429, description = "quota_exceeded: the caller owns as many streams as allowed", body = ErrorBody),
))]
pub async fn create(
    State(ctx): State<ApiContext>,
    caller: AuthUser,
    Json(req): Json<CreateStreamRequest>,
) -> ApiResult<Response> {
    let new = NewStream {
        title: stream::check_title(&req.title)?,
        description: stream::check_description(req.description.as_deref().unwrap_or(""))?,
        protocol: req.protocol.unwrap_or_default(),
        visibility: req.visibility.unwrap_or_default(),
        record: req.record.unwrap_or(true),
        profile: req.profile.unwrap_or_default(),
        latency: req.latency.unwrap_or_default(),
    };
    let now = timefmt::now_rfc3339();
    let id = ids::new_id();
    quota::claim(&ctx, &caller.id, Quota::Streams, &id).await?;
    let s = Stream {
        id,
        owner_id: caller.id,
        owner_username: caller.username,
        title: new.title,
        description: new.description,
        protocol: new.protocol,
        visibility: new.visibility,
        record: new.record,
        profile: new.profile,
        latency: new.latency,
        status: StreamStatus::Idle,
        stream_key: stream::new_stream_key(),
        created_at: now.clone(),
        updated_at: now,
        started_at: None,
        ended_at: None,
        session_id: None,
        hls_url: None,
        thumbnail: false,
        ingest_node_id: None,
        renditions: vec![],
        segments: None,
        duration_s: None,
        bitrate_bps: None,
        health: None,
    };
    if let Err(e) = ctx.stores.streams.create(&s).await {
        quota::release(&ctx, &s.owner_id, Quota::Streams, &s.id).await;
        return Err(e.into());
    }
    tracing::info!(stream_id = %s.id, "stream created");
    Ok((StatusCode::CREATED, JsonResponse(StreamView::new(s, true, SessionLinks::default(), &ctx.config.ingest)))
        .into_response())
}

/// List streams, newest first. Others' private streams never appear.
#[utoipa::path(get, path = "/streams", tag = "streams", params(ListStreamsQuery), responses(
    (status = 200, body = StreamPage),
    (status = 400, body = ErrorBody),
    (status = 401, description = "owner=me without a token, or an invalid token", body = ErrorBody),
))]
pub async fn list(
    State(ctx): State<ApiContext>,
    caller: MaybeAuthUser,
    Query(q): Query<ListStreamsQuery>,
) -> ApiResult<JsonResponse<StreamPage>> {
    let limit = check_limit(q.limit)?;
    let caller_id = caller.id().map(str::to_owned);
    let owner = owner_filter(q.owner.as_deref(), &caller)?;
    let index = match (&owner, q.status) {
        (Some(o), _) => StreamIndex::ByOwner(o.clone()),
        (None, Some(st)) => StreamIndex::ByStatus(st.as_str().to_owned()),
        (None, None) => StreamIndex::All,
    };
    let listing =
        format!("streams?owner={}&status={}", owner.as_deref().unwrap_or(""), q.status.map_or("", |s| s.as_str()));
    let seal = skycast_http::listing::seal(&ctx, &listing, caller_id.as_deref())?;
    let cursor =
        skycast_http::listing::open(&seal, q.cursor.as_deref(), &index.cursor_attributes(), |c| index.accepts(c))?;
    let status = q.status;
    let who = caller_id.clone();
    let keep = move |s: &Stream| stream::is_visible_to(s, who.as_deref()) && status.is_none_or(|st| s.status == st);
    let page = listing::page(ctx.stores.streams.as_ref(), &index, keep, cursor, limit, &seal).await?;
    Ok(JsonResponse(StreamPage {
        items: StreamView::read_all(&ctx, page.items, caller_id.as_deref()).await?,
        next_cursor: page.next_cursor,
    }))
}

pub(crate) async fn visible(ctx: &ApiContext, id: &str, caller: Option<&str>) -> ApiResult<Stream> {
    match ctx.stores.streams.get(id).await? {
        Some(s) if stream::is_visible_to(&s, caller) => Ok(s),
        _ => Err(not_found()),
    }
}

/// A stream. Private streams are 404 to everyone but their owner.
#[utoipa::path(get, path = "/streams/{id}", tag = "streams", params(("id" = String, Path)), responses(
    (status = 200, body = StreamView),
    (status = 404, body = ErrorBody),
))]
pub async fn get_one(
    State(ctx): State<ApiContext>,
    caller: MaybeAuthUser,
    StreamId(id): StreamId,
) -> ApiResult<JsonResponse<StreamView>> {
    let s = visible(&ctx, &id, caller.id()).await?;
    Ok(JsonResponse(StreamView::read(&ctx, s, caller.id()).await?))
}

/// Change title, description, visibility or recording.
#[utoipa::path(patch, path = "/streams/{id}", tag = "streams", params(("id" = String, Path)), request_body = UpdateStreamRequest, security(("bearer" = [])), responses(
    (status = 200, body = StreamView),
    (status = 400, body = ErrorBody),
    (status = 401, body = ErrorBody),
    (status = 404, description = "no such stream, or not the caller's", body = ErrorBody),
))]
pub async fn update(
    State(ctx): State<ApiContext>,
    caller: AuthUser,
    StreamId(id): StreamId,
    Json(req): Json<UpdateStreamRequest>,
) -> ApiResult<JsonResponse<StreamView>> {
    let patch = StreamPatch {
        title: req.title.as_deref().map(stream::check_title).transpose()?,
        description: req.description.as_deref().map(stream::check_description).transpose()?,
        visibility: req.visibility,
        record: req.record,
        profile: req.profile,
        latency: req.latency,
    };
    if patch.is_empty() {
        return Err(ApiError::bad_request(
            "validation_failed",
            "nothing to update: give title, description, visibility, record, profile or latency",
        ));
    }
    // Restrict first: should the stream's own write then fail, its media is
    // private early, never public late. The session it covered then.
    let restricted = if patch.visibility == Some(Visibility::Private) {
        match ctx.stores.streams.get(&id).await? {
            Some(s) if s.owner_id == caller.id => {
                set_media(&ctx, &id, s.session_id.as_deref(), Visibility::Private).await?;
                Some(s.session_id)
            }
            _ => return Err(not_found()),
        }
    } else {
        None
    };
    let s = ctx.stores.streams.update(&id, &caller.id, &patch, &timefmt::now_rfc3339()).await?.ok_or_else(not_found)?;
    // Loosen after (or restrict the session a racing start began). If this
    // write fails the PATCH answers 503, and sending it again finishes the job.
    if let Some(visibility) = patch.visibility
        && restricted.as_ref() != Some(&s.session_id)
    {
        set_media(&ctx, &s.id, s.session_id.as_deref(), visibility).await?;
    }
    Ok(JsonResponse(StreamView::read(&ctx, s, Some(&caller.id)).await?))
}

/// The stream's visibility on its media: its own entry, which covers its
/// sessions that have none, and its current or last session's (a video made
/// from a session, once there is one, decides for itself).
async fn set_media(ctx: &ApiContext, stream_id: &str, session: Option<&str>, v: Visibility) -> ApiResult<()> {
    ctx.stores.access.set_stream(stream_id, stream_id, v).await?;
    if let Some(session) = session {
        let access = ctx.stores.access.set_stream(stream_id, session, v).await?;
        tracing::info!(%stream_id, %session, state = access.state.as_str(), "session media access set");
    }
    Ok(())
}

fn on_air() -> ApiError {
    ApiError::conflict("stream_on_air", "the stream is on air; stop it before deleting it")
}

/// Delete a stream. Refused while on air: stop it first.
#[utoipa::path(delete, path = "/streams/{id}", tag = "streams", params(("id" = String, Path)), security(("bearer" = [])), responses(
    (status = 204, description = "deleted"),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 409, description = "stream_on_air: stop the stream first", body = ErrorBody),
))]
pub async fn delete(State(ctx): State<ApiContext>, caller: AuthUser, StreamId(id): StreamId) -> ApiResult<StatusCode> {
    let last_session = match ctx.stores.streams.get(&id).await? {
        Some(s) if s.owner_id == caller.id && s.status.is_on_air() => return Err(on_air()),
        Some(s) if s.owner_id == caller.id => s.session_id,
        _ => return Err(not_found()),
    };
    // Its media (the live HLS of its sessions, kept as recordings) stops
    // playing for anyone, unless a video of a session says otherwise. First,
    // so a failure part way never leaves it playing.
    set_media(&ctx, &id, last_session.as_deref(), Visibility::Private).await?;
    match ctx.stores.streams.delete(&id, &caller.id).await? {
        Deletion::Deleted => {
            quota::release(&ctx, &caller.id, Quota::Streams, &id).await;
            tracing::info!(stream_id = %id, "stream deleted");
            Ok(StatusCode::NO_CONTENT)
        }
        Deletion::NotFound => Err(not_found()),
        Deletion::OnAir => Err(on_air()),
    }
}

/// Replace the stream key; the old one stops working. Refused while on air.
#[utoipa::path(post, path = "/streams/{id}/key", tag = "streams", params(("id" = String, Path)), security(("bearer" = [])), responses(
    (status = 200, body = StreamView),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 409, description = "stream_on_air: stop the stream first", body = ErrorBody),
))]
pub async fn rotate_key(
    State(ctx): State<ApiContext>,
    caller: AuthUser,
    StreamId(id): StreamId,
) -> ApiResult<JsonResponse<StreamView>> {
    let key = stream::new_stream_key();
    match ctx.stores.streams.rotate_key(&id, &caller.id, &key, &timefmt::now_rfc3339()).await? {
        KeyRotation::Rotated(s) => {
            tracing::info!(stream_id = %id, "stream key rotated");
            Ok(JsonResponse(StreamView::read(&ctx, *s, Some(&caller.id)).await?))
        }
        KeyRotation::NotFound => Err(not_found()),
        KeyRotation::OnAir => {
            Err(ApiError::conflict("stream_on_air", "the stream is on air; stop it before rotating its key"))
        }
    }
}
