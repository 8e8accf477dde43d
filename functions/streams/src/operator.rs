//! What operators and streamers read of the platform (issue 15): the live
//! streams, a stream's manifest (every rendition as the CDN serves it, with
//! its figures and the stream's health) and the platform's figures, with
//! node detail for admins. Each answers only with what the caller may see:
//! a private stream is in none of them for anyone but its owner.

use axum::{Json as JsonResponse, extract::State};
use serde::Serialize;
use skycast_core::{
    health::StreamHealth,
    recording::session_prefix,
    store::{DailyCounters, StreamIndex},
    stream::{self, Stream, StreamStatus},
    timefmt,
};
use skycast_http::{
    ApiContext, ApiError, ErrorBody,
    auth::{AuthUser, MaybeAuthUser},
    client::ClientAddr,
    error::ApiResult,
    extract::Query,
    limits,
};
use skycast_media::hls::{FfmpegPlaylist, parse_master};
use utoipa::ToSchema;

use crate::{
    handlers::{ListStreamsQuery, StreamId},
    view::{SessionLinks, StreamPage},
};

/// Live streams the caller may see, newest first: every public one, and
/// the caller's own private ones, with their live figures.
#[utoipa::path(get, path = "/streams/active", tag = "streams", params(ListStreamsQuery), responses(
    (status = 200, body = StreamPage),
    (status = 400, body = ErrorBody),
))]
pub async fn active(
    state: State<ApiContext>,
    caller: MaybeAuthUser,
    Query(mut q): Query<ListStreamsQuery>,
) -> ApiResult<JsonResponse<StreamPage>> {
    q.status = Some(StreamStatus::Live);
    if q.owner.is_some() {
        return Err(
            ApiError::bad_request("validation_failed", "use GET /streams?owner=…&status=live").with_field("owner")
        );
    }
    crate::handlers::list(state, caller, Query(q)).await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RenditionManifest {
    /// `source`, `480p`, `360p`.
    pub name: String,
    /// Its media playlist, as players fetch it (with a token for a private stream's owner).
    pub playlist_url: Option<String>,
    /// RFC 6381, e.g. `["avc1.64001f", "mp4a.40.2"]`.
    pub codecs: Vec<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Peak bits per second, as the master playlist declares it.
    pub bandwidth: u64,
    pub average_bandwidth: Option<u64>,
    /// Segments its playlist lists now.
    pub segments: usize,
    /// Seconds those segments span: the DVR window while live (at most the
    /// node's, 2 h by default), the whole session once ended.
    pub window_s: f64,
    pub target_duration_s: Option<u32>,
    /// When its newest segment ends (program date-time), when known.
    pub last_segment_at: Option<String>,
    /// Its playlist is complete (`#EXT-X-ENDLIST`).
    pub ended: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Manifest {
    pub stream_id: String,
    pub session_id: Option<String>,
    pub status: StreamStatus,
    /// The master playlist, as players fetch it.
    pub master_url: Option<String>,
    pub renditions: Vec<RenditionManifest>,
    /// Only for the owner, while live (see `GET /streams/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<StreamHealth>,
}

/// The longest playlist read: a 2 h window of 2 s segments is about 250 KB.
const PLAYLIST_LIMIT: usize = 1024 * 1024;

/// A stream's current (or last) session as the CDN serves it: every
/// rendition's playlist URL, codecs, picture size, bandwidth, segment count,
/// window and newest segment, and (for the owner) its health. A private
/// stream's manifest is its owner's alone (404 to anyone else).
#[utoipa::path(get, path = "/streams/{id}/manifest", tag = "streams", params(("id" = String, Path)), responses(
    (status = 200, body = Manifest),
    (status = 404, description = "no such stream, or the caller may not see it", body = ErrorBody),
    (status = 429, description = "too many operator reads from this address; see Retry-After", body = ErrorBody),
))]
pub async fn manifest(
    State(ctx): State<ApiContext>,
    caller: MaybeAuthUser,
    ClientAddr(addr): ClientAddr,
    StreamId(id): StreamId,
) -> ApiResult<JsonResponse<Manifest>> {
    // Each costs a read of every playlist: bounded per address.
    limits::take(&ctx, &ctx.config.limits.operator_reads_per_address, &addr).await?;
    let s = crate::handlers::visible(&ctx, &id, caller.id()).await?;
    let owner = stream::is_owner(&s, caller.id());
    let links = SessionLinks::read(&ctx, &s, caller.id()).await?;
    let health = s.health.clone().filter(|_| owner && s.status == StreamStatus::Live);
    let renditions = match (&links.hls_url, s.session_id.as_deref()) {
        (Some(master_url), Some(session)) => renditions(&ctx, &s, session, master_url).await?,
        _ => Vec::new(),
    };
    Ok(JsonResponse(Manifest {
        stream_id: s.id,
        session_id: s.session_id,
        status: s.status,
        master_url: links.hls_url,
        renditions,
        health,
    }))
}

async fn renditions(
    ctx: &ApiContext,
    s: &Stream,
    session: &str,
    master_url: &str,
) -> ApiResult<Vec<RenditionManifest>> {
    let bucket = &ctx.config.buckets.live;
    let prefix = session_prefix(&s.id, session);
    let Some(master) = ctx.objects.read_text(bucket, &format!("{prefix}/master.m3u8"), PLAYLIST_LIMIT).await? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for v in parse_master(&master) {
        let name = v.uri.trim_end_matches("/index.m3u8").to_owned();
        let text = ctx.objects.read_text(bucket, &format!("{prefix}/{}", v.uri), PLAYLIST_LIMIT).await?;
        let playlist = text.as_deref().map(FfmpegPlaylist::parse);
        let target = text.as_deref().and_then(|t| {
            t.lines().find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:")).and_then(|n| n.trim().parse().ok())
        });
        let segments = playlist.as_ref().map_or(&[][..], |p| p.segments.as_slice());
        let last_segment_at = segments.last().and_then(|last| {
            let start = timefmt::parse_rfc3339_unix_ms(last.program_date_time.as_deref()?)?;
            Some(timefmt::rfc3339_from_unix_ms(start + (last.duration * 1000.0) as i64))
        });
        out.push(RenditionManifest {
            playlist_url: Some(master_url.replace("master.m3u8", &v.uri)),
            codecs: v.codecs,
            width: v.resolution.map(|(w, _)| w),
            height: v.resolution.map(|(_, h)| h),
            bandwidth: v.bandwidth,
            average_bandwidth: v.average_bandwidth,
            segments: segments.len(),
            window_s: (segments.iter().map(|s| s.duration).sum::<f64>() * 1000.0).round() / 1000.0,
            target_duration_s: target,
            last_segment_at,
            ended: playlist.is_some_and(|p| p.ended),
            name,
        });
    }
    Ok(out)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NodeStats {
    pub node_id: String,
    /// Live sessions it runs.
    pub sessions: u32,
    /// Its CPUs: its capacity, as each live session runs an FFmpeg.
    pub cpus: u32,
    /// Its 1-minute load average; at `cpus` or more it is saturated.
    pub load_1m: Option<f64>,
    /// Seconds since its last heartbeat (every 10 s; past 30 s it is taken for dead).
    pub heartbeat_age_s: i64,
    pub public_host: String,
    pub rtmp_port: u16,
    pub srt_port: u16,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformStats {
    /// Live streams, every visibility.
    pub live_streams: u64,
    /// Streams waiting for their encoder.
    pub waiting_streams: u64,
    /// Viewers watching the live streams now (see `viewer_count`).
    pub viewers: u64,
    /// Sum of the live streams' bitrates (top rendition, as last reported).
    pub ingest_bitrate_bps: u64,
    /// Since midnight UTC: sessions that went live, recordings started,
    /// ready and failed.
    pub sessions_today: u64,
    pub recordings_today: u64,
    pub recordings_ready_today: u64,
    pub recordings_failed_today: u64,
    /// Recordings started today not yet ready or failed.
    pub recordings_processing: u64,
    /// Ingest nodes with a fresh heartbeat.
    pub nodes: u64,
    /// Each node's detail: admins only (`SKYCAST_ADMIN_USERNAMES`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_detail: Option<Vec<NodeStats>>,
    pub generated_at: String,
}

/// Reads every stream with `status` (pages of 100; live streams are few).
async fn all_with_status(ctx: &ApiContext, status: StreamStatus) -> ApiResult<Vec<Stream>> {
    let index = StreamIndex::ByStatus(status.as_str().to_owned());
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let (items, next) = ctx.stores.streams.query(&index, start, 100).await?;
        out.extend(items.into_iter().filter(|s| s.status == status));
        match next {
            Some(n) if out.len() < 10_000 => start = Some(n),
            _ => return Ok(out),
        }
    }
}

/// The platform's figures: counts only, so private streams show as numbers,
/// never as streams. Node detail (each node's sessions and heartbeat age)
/// for admins.
#[utoipa::path(get, path = "/stats", tag = "streams", security(("bearer" = [])), responses(
    (status = 200, body = PlatformStats),
    (status = 401, body = ErrorBody),
    (status = 429, description = "too many operator reads from this address; see Retry-After", body = ErrorBody),
))]
pub async fn stats(
    State(ctx): State<ApiContext>,
    caller: AuthUser,
    ClientAddr(addr): ClientAddr,
) -> ApiResult<JsonResponse<PlatformStats>> {
    // Each reads every live and waiting stream: bounded per address.
    limits::take(&ctx, &ctx.config.limits.operator_reads_per_address, &addr).await?;
    let live = all_with_status(&ctx, StreamStatus::Live).await?;
    let waiting = all_with_status(&ctx, StreamStatus::Waiting).await?;
    let viewers = crate::viewers::counts(&ctx, &live).await?;
    // In the order of `Daily::ALL`.
    let [sessions, recordings, ready, failed] = DailyCounters::new(ctx.stores.limits.clone()).today().await?;
    let now = timefmt::unix_now();
    let nodes = ctx.stores.ingest.live_nodes(now).await?;
    let admin = ctx.config.admins.iter().any(|a| *a == caller.username.to_ascii_lowercase());
    let node_detail = admin.then(|| {
        nodes
            .iter()
            .map(|n| NodeStats {
                node_id: n.node_id.clone(),
                sessions: n.sessions,
                cpus: n.cpus,
                load_1m: n.load_1m,
                heartbeat_age_s: (now - n.heartbeat_at).max(0),
                public_host: n.public_host.clone(),
                rtmp_port: n.rtmp_port,
                srt_port: n.srt_port,
            })
            .collect()
    });
    Ok(JsonResponse(PlatformStats {
        live_streams: live.len() as u64,
        waiting_streams: waiting.len() as u64,
        viewers: viewers.values().sum(),
        ingest_bitrate_bps: live.iter().filter_map(|s| s.bitrate_bps).sum(),
        sessions_today: sessions,
        recordings_today: recordings,
        recordings_ready_today: ready,
        recordings_failed_today: failed,
        recordings_processing: recordings.saturating_sub(ready + failed),
        nodes: nodes.len() as u64,
        node_detail,
        generated_at: timefmt::now_rfc3339(),
    }))
}
