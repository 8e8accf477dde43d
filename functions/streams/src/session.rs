//! Going on air: `POST /streams/{id}/start` and `/stop`.
//!
//! Start picks a live ingest node, leases a port on it with a conditional
//! write (two starts never share a port, across nodes too), records the
//! session on the stream, and sends the node a `start` command. A start of a
//! stream already on air answers with the running session's URL.

use axum::{Json as JsonResponse, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use skycast_core::{
    events::IngestCommand,
    ids,
    store::{BeginSession, EndSession, IngestNode, PortLease, SessionStart, lease_id, queue::send},
    stream::{Protocol, Stream, StreamStatus, Visibility},
    timefmt,
};
use skycast_http::{ApiContext, ApiError, ErrorBody, auth::AuthUser, error::ApiResult};
use utoipa::ToSchema;

use crate::{handlers::StreamId, quota, view::SessionLinks};

/// What an encoder needs. For OBS: Settings → Stream → Service "Custom",
/// Server = `url`, Stream Key = `stream_key` (RTMP) or empty (SRT carries the
/// key in `url`, as its passphrase).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IngestView {
    pub protocol: Protocol,
    pub url: String,
    /// RTMP only: what OBS's Stream Key field takes. For ffmpeg, publish to
    /// `url` + "/" + `stream_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_key: Option<String>,
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

/// A port lease lasts at most this long without being released.
const LEASE_TTL_S: i64 = 7 * 24 * 3600;

pub fn ingest_view(s: &Stream) -> Option<IngestView> {
    let (host, port) = (s.ingest_host.as_ref()?, s.ingest_port?);
    Some(match s.protocol {
        Protocol::Srt => IngestView {
            protocol: s.protocol,
            url: format!("srt://{host}:{port}?passphrase={}&pbkeylen=16", s.stream_key),
            stream_key: None,
        },
        Protocol::Rtmp => IngestView {
            protocol: s.protocol,
            url: format!("rtmp://{host}:{port}/live"),
            stream_key: Some(s.stream_key.clone()),
        },
    })
}

async fn started(ctx: &ApiContext, s: &Stream) -> ApiResult<StartResponse> {
    let ingest = ingest_view(s).ok_or_else(ApiError::internal)?;
    let links = SessionLinks::read(ctx, s, Some(&s.owner_id)).await?;
    Ok(StartResponse {
        status: s.status,
        session_id: s.session_id.clone().unwrap_or_default(),
        ingest,
        hls_url: links.hls_url.unwrap_or_default(),
    })
}

fn no_capacity() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "no_ingest_capacity",
        "no ingest node has a free port; try again shortly",
    )
}

/// Leases a free port for `protocol` on `node`, trying them from a random offset.
async fn lease_port(
    ctx: &ApiContext,
    node: &IngestNode,
    protocol: Protocol,
    stream_id: &str,
    session_id: &str,
) -> ApiResult<Option<u16>> {
    let now = timefmt::unix_now();
    let Some((low, high)) = node.ports(protocol) else { return Ok(None) };
    let span = u32::from(high - low) + 1;
    let offset = u32::from_str_radix(&ids::sha256_hex(session_id)[..8], 16).unwrap_or(0) % span;
    for i in 0..span {
        let port = low + ((offset + i) % span) as u16;
        let lease = PortLease {
            lease_id: lease_id(&node.node_id, protocol, port),
            stream_id: stream_id.to_owned(),
            session_id: session_id.to_owned(),
            expires_at: now + LEASE_TTL_S,
        };
        if ctx.stores.ingest.lease(&lease, now).await? {
            return Ok(Some(port));
        }
    }
    Ok(None)
}

/// Start a session: returns the URL to paste into OBS and the HLS URL.
#[utoipa::path(post, path = "/streams/{id}/start", tag = "streams", params(("id" = String, Path)), security(("bearer" = [])), responses(
    (status = 200, body = StartResponse),
    (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 429, description = "quota_exceeded: as many streams on air (or ladder streams) as allowed", body = ErrorBody),
    (status = 503, description = "no_ingest_capacity", body = ErrorBody),
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
    let result = go_on_air(&ctx, &caller, &id, &stream).await;
    // Every way out that leaves the stream off air gives the places back.
    if !matches!(&result, Ok(r) if r.status.is_on_air()) {
        for q in quotas {
            quota::release(&ctx, &caller.id, *q, &id).await;
        }
    }
    result.map(JsonResponse)
}

/// Leases a port, begins the session and tells the node: the part of a start
/// that the quota places were claimed for.
async fn go_on_air(ctx: &ApiContext, caller: &AuthUser, id: &str, stream: &Stream) -> ApiResult<StartResponse> {
    let nodes = ctx.stores.ingest.live_nodes(timefmt::unix_now()).await?;
    let session_id = ids::new_id();
    // Spread sessions over nodes; each node's ports are tried in turn.
    let first = u32::from_str_radix(&ids::sha256_hex(&session_id)[..8], 16).unwrap_or(0) as usize;
    let mut chosen = None;
    for i in 0..nodes.len() {
        let node = &nodes[(first + i) % nodes.len()];
        if let Some(port) = lease_port(ctx, node, stream.protocol, id, &session_id).await? {
            chosen = Some((node.clone(), port));
            break;
        }
    }
    let Some((node, port)) = chosen else { return Err(no_capacity()) };
    let lease = lease_id(&node.node_id, stream.protocol, port);
    let start = SessionStart {
        session_id: session_id.clone(),
        node_id: node.node_id.clone(),
        host: node.public_host.clone(),
        port,
        hls_url: format!("{}/live/{id}/{session_id}/master.m3u8", ctx.config.cdn_base_url),
    };
    let now = timefmt::now_rfc3339();
    let stream = match ctx.stores.streams.begin_session(id, &caller.id, &start, &now).await? {
        BeginSession::Started(s) => *s,
        BeginSession::AlreadyOnAir(s) => {
            // A concurrent start won: give its port back, answer with its session.
            ctx.stores.ingest.release(&lease, &session_id).await?;
            return started(ctx, &s).await;
        }
        BeginSession::NotFound => {
            ctx.stores.ingest.release(&lease, &session_id).await?;
            return Err(ApiError::not_found("stream"));
        }
    };
    // A private stream's session is private before the node makes any of
    // its media. Its visibility as this write saw it: a PATCH that raced the
    // start either came before (and is in `stream`) or writes the same entry.
    if stream.visibility == Visibility::Private
        && let Err(e) = ctx.stores.access.set_stream(id, &session_id, Visibility::Private).await
    {
        tracing::error!(error = %e, "cannot make the session private; rolling the start back");
        let _ = ctx.stores.streams.end_session(id, &caller.id, &now).await;
        let _ = ctx.stores.ingest.release(&lease, &session_id).await;
        return Err(e.into());
    }
    let command = IngestCommand::Start {
        stream_id: id.to_owned(),
        session_id: session_id.clone(),
        at: now.clone(),
        protocol: stream.protocol,
        port,
        stream_key: stream.stream_key.clone(),
        profile: stream.profile.as_str().to_owned(),
    };
    if let Err(e) = send(ctx.messages.as_ref(), &node.command_queue_url, &command).await {
        tracing::error!(error = %e, "cannot reach the ingest node; rolling the start back");
        let _ = ctx.stores.streams.end_session(id, &caller.id, &now).await;
        let _ = ctx.stores.ingest.release(&lease, &session_id).await;
        return Err(no_capacity());
    }
    tracing::info!(stream_id = %id, %session_id, node = %node.node_id, port, "session started");
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
    stop_on_node(&ctx, &old, &now).await;
    for q in quota::on_air(&old) {
        quota::release(&ctx, &caller.id, *q, &id).await;
    }
    Ok(JsonResponse(StopResponse { status: StreamStatus::Ended }))
}

/// Tells the node to end the session and frees its port. Best effort: the
/// stream is already ended; a node that misses the command ends the session
/// itself when the publisher leaves.
pub async fn stop_on_node(ctx: &ApiContext, old: &Stream, now: &str) {
    let (Some(node_id), Some(port), Some(session_id)) = (&old.ingest_node_id, old.ingest_port, &old.session_id) else {
        return;
    };
    match ctx.stores.ingest.node(node_id).await {
        Ok(Some(node)) => {
            let command =
                IngestCommand::Stop { stream_id: old.id.clone(), session_id: session_id.clone(), at: now.to_owned() };
            if let Err(e) = send(ctx.messages.as_ref(), &node.command_queue_url, &command).await {
                tracing::error!(error = %e, "stop command not sent");
            }
        }
        Ok(None) => tracing::warn!(%node_id, "the session's node is gone"),
        Err(e) => tracing::error!(error = %e, "cannot look up the session's node"),
    }
    if let Err(e) = ctx.stores.ingest.release(&lease_id(node_id, old.protocol, port), session_id).await {
        tracing::error!(error = %e, "port lease not released; it expires on its own");
    }
}
