//! Live viewers: players' heartbeats in, viewer counts out (the rules are
//! in `skycast_core::presence`).

use std::collections::HashMap;

use axum::{Json as JsonResponse, extract::State};
use serde::{Deserialize, Serialize};
use skycast_core::{
    presence::Viewer,
    stream::{Stream, StreamStatus},
    timefmt,
};
use skycast_http::{
    ApiContext, ErrorBody, auth::MaybeAuthUser, client::ClientAddr, error::ApiResult, extract::Json, limits,
};
use utoipa::ToSchema;

use crate::handlers::{StreamId, visible};

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatRequest {
    /// A random id the player keeps for its tab: tells apart anonymous
    /// viewers behind one address (at most 10 of them count).
    #[serde(default)]
    pub viewer_id: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ViewerCount {
    /// Distinct viewers seen in the last 30–60 s; 0 when not live.
    pub viewer_count: u64,
}

/// A player watching a live stream reports every 15 s.
#[utoipa::path(post, path = "/streams/{id}/viewers", tag = "streams", params(("id" = String, Path)), request_body = HeartbeatRequest, responses(
    (status = 200, body = ViewerCount),
    (status = 400, body = ErrorBody),
    (status = 404, body = ErrorBody),
    (status = 429, description = "too many heartbeats from this address; see Retry-After", body = ErrorBody),
))]
pub async fn heartbeat(
    State(ctx): State<ApiContext>,
    caller: MaybeAuthUser,
    ClientAddr(addr): ClientAddr,
    StreamId(id): StreamId,
    Json(req): Json<HeartbeatRequest>,
) -> ApiResult<JsonResponse<ViewerCount>> {
    limits::take(&ctx, &ctx.config.limits.heartbeats_per_address, &addr).await?;
    let s = visible(&ctx, &id, caller.id()).await?;
    if s.status != StreamStatus::Live {
        return Ok(JsonResponse(ViewerCount { viewer_count: 0 }));
    }
    count(&ctx, &s.id, &Viewer::of(caller.id(), &addr, req.viewer_id.as_deref())).await?;
    let viewer_count = counts(&ctx, std::slice::from_ref(&s)).await?.remove(&s.id).unwrap_or(0);
    Ok(JsonResponse(ViewerCount { viewer_count }))
}

/// Counts `viewer` once in the current window. A retry after the marker was
/// written counts nothing more: a lost step under-counts one viewer until
/// the next window, never over-counts.
async fn count(ctx: &ApiContext, stream_id: &str, viewer: &Viewer) -> ApiResult<()> {
    let (p, store, now) = (ctx.config.limits.presence, &ctx.stores.limits, timefmt::unix_now());
    if !store.first_sight(&p.marker_key(stream_id, viewer, now), p.marker_expires(now), now).await? {
        return Ok(());
    }
    if let Viewer::Anonymous { addr, .. } = viewer {
        let from_there = store.add(&p.address_key(stream_id, addr, now), 1, p.counter_expires(now)).await?;
        if from_there > p.anonymous_per_address {
            return Ok(());
        }
    }
    store.add(&p.counter_key(stream_id, p.window(now)), 1, p.counter_expires(now)).await?;
    Ok(())
}

/// The viewer counts of the live ones among `streams`: two counters each,
/// read in one batch.
pub async fn counts(ctx: &ApiContext, streams: &[Stream]) -> ApiResult<HashMap<String, u64>> {
    let (p, now) = (ctx.config.limits.presence, timefmt::unix_now());
    let live: Vec<&str> = streams.iter().filter(|s| s.status == StreamStatus::Live).map(|s| s.id.as_str()).collect();
    if live.is_empty() {
        return Ok(HashMap::new());
    }
    // Each stream's counters (its counted windows), read in one batch.
    let per_stream: Vec<(&str, Vec<String>)> =
        live.iter().map(|id| (*id, p.counted_windows(now).map(|w| p.counter_key(id, w)).to_vec())).collect();
    let keys: Vec<String> = per_stream.iter().flat_map(|(_, k)| k.iter().cloned()).collect();
    let values = ctx.stores.limits.counts(&keys).await?;
    Ok(per_stream
        .into_iter()
        .map(|(id, keys)| {
            let n = keys.iter().map(|k| values.get(k).copied().unwrap_or(0)).max().unwrap_or(0);
            (id.to_owned(), u64::from(n))
        })
        .collect())
}
