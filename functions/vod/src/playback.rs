//! The HLS of a private video, for its owner's player: playlists served
//! through the API behind a signed, expiring link (players cannot send an
//! `Authorization` header), whose segment and init URLs are presigned S3
//! URLs expiring with the link. The master playlist's variant URIs carry
//! the same signature, relative to it.

use axum::{
    extract::{Path, State},
    http::header,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use skycast_core::{ids, recording::session_prefix, timefmt};
use skycast_http::{ApiContext, ApiError, ErrorBody, error::ApiResult, extract::Query};
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlaybackQuery {
    /// Unix seconds after which the link stops working.
    pub expires: i64,
    pub signature: String,
}

fn invalid() -> ApiError {
    ApiError::not_found("video").with_code("not_found")
}

fn playlist(text: String) -> Response {
    ([(header::CONTENT_TYPE, "application/vnd.apple.mpegurl"), (header::CACHE_CONTROL, "private, max-age=60")], text)
        .into_response()
}

/// Whether a rendition's name is one the node writes (`source`, `480p`…).
fn is_rendition(name: &str) -> bool {
    !name.is_empty() && name.len() <= 32 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A private video's playlists: `master.m3u8`, or `{rendition}/index.m3u8`.
#[utoipa::path(get, path = "/videos/{id}/hls/{path}", tag = "videos", params(("id" = String, Path), ("path" = String, Path, description = "`master.m3u8` or `{rendition}/index.m3u8`"), PlaybackQuery), responses(
    (status = 200, description = "an HLS playlist", content_type = "application/vnd.apple.mpegurl"),
    (status = 404, description = "no such video, or the link is invalid or expired", body = ErrorBody),
))]
pub async fn hls(
    State(ctx): State<ApiContext>,
    Path((id, path)): Path<(String, String)>,
    Query(q): Query<PlaybackQuery>,
) -> ApiResult<Response> {
    let now = timefmt::unix_now();
    let signer = ctx.playback.as_ref().ok_or_else(invalid)?;
    if !ids::is_id(&id) || !signer.verify(&id, q.expires, &q.signature, now) {
        return Err(invalid());
    }
    let video = ctx.stores.videos.get(&id).await?.filter(|v| !v.deleting).ok_or_else(invalid)?;
    let session = session_prefix(&video.stream_id, &video.session_id);
    let live = &ctx.config.buckets.live;
    let auth = format!("expires={}&signature={}", q.expires, q.signature);
    if path == "master.m3u8" {
        let text = ctx.objects.get_text(live, &format!("{session}/master.m3u8")).await?.ok_or_else(invalid)?;
        let signed = text
            .lines()
            .map(|l| if l.is_empty() || l.starts_with('#') { l.to_owned() } else { format!("{l}?{auth}") })
            .collect::<Vec<_>>()
            .join("\n");
        return Ok(playlist(signed + "\n"));
    }
    let rendition = path.strip_suffix("/index.m3u8").filter(|r| is_rendition(r)).ok_or_else(invalid)?;
    let folder = format!("{session}/{rendition}");
    let text = ctx.objects.get_text(live, &format!("{folder}/index.m3u8")).await?.ok_or_else(invalid)?;
    let ttl = std::time::Duration::from_secs((q.expires - now).max(1) as u64);
    let mut out = String::with_capacity(text.len() * 4);
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("#EXT-X-MAP:URI=\"") {
            let (uri, tail) = rest.split_once('"').ok_or_else(invalid)?;
            let url = ctx.objects.presign_get(live, &format!("{folder}/{uri}"), ttl).await?;
            out.push_str(&format!("#EXT-X-MAP:URI=\"{url}\"{tail}\n"));
        } else if line.is_empty() || line.starts_with('#') {
            out.push_str(line);
            out.push('\n');
        } else {
            out.push_str(&ctx.objects.presign_get(live, &format!("{folder}/{line}"), ttl).await?);
            out.push('\n');
        }
    }
    Ok(playlist(out))
}
