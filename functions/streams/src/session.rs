//! Going on air: `POST /streams/{id}/start` and `/stop`.
//!
//! A publisher with the stream's key goes live on its own: the ingest node
//! that receives it claims the stream. `start` only arms the stream (a
//! session waiting for its publisher, on whichever node it reaches) and
//! answers with where to publish. `stop` ends the session in the table; the
//! node holding it sees that within seconds and closes its playlists.

use axum::{Json as JsonResponse, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use skycast_core::{
    config::IngestEndpoint,
    ids,
    store::{BeginSession, EndSession, SessionStart},
    stream::{Protocol, Stream, StreamStatus, Visibility},
    timefmt,
};
use skycast_http::{ApiContext, ApiError, ErrorBody, auth::AuthUser, error::ApiResult};
use utoipa::ToSchema;

use crate::{handlers::StreamId, quota, view::SessionLinks};

/// RTMP as OBS asks for it (Settings → Stream → Service "Custom").
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RtmpIngest {
    /// OBS's "Server": `rtmp://host:1935/live`.
    pub server: String,
    /// OBS's "Stream Key". For ffmpeg, publish to `server` + "/" + `stream_key`.
    pub stream_key: String,
}

/// SRT: one URL, the key as both stream id and passphrase (OBS: Server =
/// `url`, Stream Key empty).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SrtIngest {
    pub url: String,
}

/// Where an encoder publishes. Both protocols always work; `protocol`,
/// `url` and `stream_key` repeat the stream's chosen one.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IngestView {
    pub protocol: Protocol,
    pub url: String,
    /// RTMP only: what OBS's Stream Key field takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_key: Option<String>,
    pub rtmp: RtmpIngest,
    pub srt: SrtIngest,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StartResponse {
    pub status: StreamStatus,
    pub session_id: String,
    pub ingest: IngestView,
    /// The master playlist viewers play; it exists once the stream is live.
    pub hls_url: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StopResponse {
    pub status: StreamStatus,
}

pub fn ingest_view(endpoint: &IngestEndpoint, s: &Stream) -> IngestView {
    let rtmp = RtmpIngest { server: endpoint.rtmp_server(), stream_key: s.stream_key.clone() };
    let srt = SrtIngest { url: endpoint.srt_url(&s.stream_key) };
    let (url, stream_key) = match s.protocol {
        Protocol::Srt => (srt.url.clone(), None),
        Protocol::Rtmp => (rtmp.server.clone(), Some(s.stream_key.clone())),
    };
    IngestView { protocol: s.protocol, url, stream_key, rtmp, srt }
}

async fn started(ctx: &ApiContext, s: &Stream) -> ApiResult<StartResponse> {
    let links = SessionLinks::read(ctx, s, Some(&s.owner_id)).await?;
    Ok(StartResponse {
        status: s.status,
        session_id: s.session_id.clone().unwrap_or_default(),
        ingest: ingest_view(&ctx.config.ingest, s),
        hls_url: links.hls_url.unwrap_or_default(),
    })
}

fn no_capacity() -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no_ingest_capacity", "no ingest node is up; try again shortly")
}

/// Arm a session: the stream waits for its publisher (which may also just
/// connect, without this call). Returns where to publish and the HLS URL.
#[utoipa::path(post, path = "/streams/{id}/start", tag = "streams", params(("id" = String, Path)), security(("bearer" = [])), responses(
    (status = 200, body = StartResponse),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 429, description = "quota_exceeded: as many streams on air (or ladder streams) as allowed", body = ErrorBody),
    (status = 503, description = "no_ingest_capacity: no ingest node is up", body = ErrorBody),
))]
pub async fn start(
    State(ctx): State<ApiContext>,
    caller: AuthUser,
    StreamId(id): StreamId,
) -> ApiResult<JsonResponse<StartResponse>> {
    let stream = match ctx.stores.streams.get(&id).await? {
        Some(s) if s.owner_id == caller.id => s,
        _ => return Err(ApiError::not_found("stream")),
    };
    if stream.status.is_on_air() {
        return Ok(JsonResponse(started(&ctx, &stream).await?));
    }
    let quotas = quota::on_air(&stream);
    for (i, q) in quotas.iter().enumerate() {
        if let Err(e) = quota::claim(&ctx, &caller.id, *q, &id).await {
            for taken in &quotas[..i] {
                quota::release(&ctx, &caller.id, *taken, &id).await;
            }
            return Err(e);
        }
    }
    let result = go_on_air(&ctx, &caller, &id).await;
    // Every way out that leaves the stream off air gives the places back.
    if !matches!(&result, Ok(r) if r.status.is_on_air()) {
        for q in quotas {
            quota::release(&ctx, &caller.id, *q, &id).await;
        }
    }
    result.map(JsonResponse)
}

/// Arms the session: the part of a start that the quota places were claimed for.
async fn go_on_air(ctx: &ApiContext, caller: &AuthUser, id: &str) -> ApiResult<StartResponse> {
    if ctx.stores.ingest.live_nodes(timefmt::unix_now()).await?.is_empty() {
        return Err(no_capacity());
    }
    let session_id = ids::new_id();
    let start = SessionStart {
        session_id: session_id.clone(),
        hls_url: format!("{}/live/{id}/{session_id}/master.m3u8", ctx.config.cdn_base_url),
    };
    let now = timefmt::now_rfc3339();
    let stream = match ctx.stores.streams.begin_session(id, &caller.id, &start, &now).await? {
        BeginSession::Started(s) => *s,
        // A concurrent start (or a publisher) won: answer with its session.
        BeginSession::AlreadyOnAir(s) => return started(ctx, &s).await,
        BeginSession::NotFound => return Err(ApiError::not_found("stream")),
    };
    // A private stream's session is private before any node makes any of
    // its media. Its visibility as this write saw it: a PATCH that raced the
    // start either came before (and is in `stream`) or writes the same entry.
    if stream.visibility == Visibility::Private
        && let Err(e) = ctx.stores.access.set_stream(id, &session_id, Visibility::Private).await
    {
        tracing::error!(error = %e, "cannot make the session private; rolling the start back");
        let _ = ctx.stores.streams.end_session(id, &caller.id, &now).await;
        return Err(e.into());
    }
    tracing::info!(stream_id = %id, %session_id, "session armed");
    started(ctx, &stream).await
}

/// End the session. Once the node has closed its playlists, a stream that
/// records gets a recording of it (`GET /streams/{id}/recordings`) and a video.
#[utoipa::path(post, path = "/streams/{id}/stop", tag = "streams", params(("id" = String, Path)), security(("bearer" = [])), responses(
    (status = 200, body = StopResponse),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 409, description = "stream_not_started", body = ErrorBody),
))]
pub async fn stop(
    State(ctx): State<ApiContext>,
    caller: AuthUser,
    StreamId(id): StreamId,
) -> ApiResult<JsonResponse<StopResponse>> {
    let now = timefmt::now_rfc3339();
    let old = match ctx.stores.streams.end_session(&id, &caller.id, &now).await? {
        EndSession::Ended(old) => *old,
        EndSession::NotOnAir(s) if s.status == StreamStatus::Ended => {
            return Ok(JsonResponse(StopResponse { status: StreamStatus::Ended }));
        }
        EndSession::NotOnAir(_) => return Err(ApiError::conflict("stream_not_started", "the stream is not on air")),
        EndSession::NotFound => return Err(ApiError::not_found("stream")),
    };
    // The node holding the session sees it ended and closes its playlists.
    tracing::info!(stream_id = %id, session_id = old.session_id.as_deref().unwrap_or_default(),
        node = old.ingest_node_id.as_deref().unwrap_or("none"), "session stopped");
    for q in quota::on_air(&old) {
        quota::release(&ctx, &caller.id, *q, &id).await;
    }
    Ok(JsonResponse(StopResponse { status: StreamStatus::Ended }))
}
