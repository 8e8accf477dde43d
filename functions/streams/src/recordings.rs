//! `GET /streams/{id}/recordings`: what became of each recorded session.

use axum::{Json as JsonResponse, extract::State};
use serde::{Deserialize, Serialize};
use skycast_core::{
    playback::MediaState,
    recording::{Recording, RecordingStatus},
    stream::is_owner,
};
use skycast_http::{ApiContext, ErrorBody, auth::MaybeAuthUser, error::ApiResult};
use utoipa::ToSchema;

use crate::handlers::{StreamId, visible};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecordingView {
    pub session_id: String,
    pub status: RecordingStatus,
    /// The video it became, once ready.
    pub video_id: Option<String>,
    pub size_bytes: Option<u64>,
    pub duration_s: Option<f64>,
    /// Why the last attempt failed (shown to the owner only).
    pub reason: Option<String>,
    pub attempts: u32,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Recording> for RecordingView {
    fn from(r: Recording) -> Self {
        Self {
            session_id: r.session_id,
            status: r.status,
            video_id: r.video_id,
            size_bytes: r.size_bytes,
            duration_s: r.duration_s,
            reason: r.reason,
            attempts: r.attempts,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecordingList {
    /// Newest session first.
    pub items: Vec<RecordingView>,
}

/// How many recordings a stream lists, newest first.
const MAX_RECORDINGS: usize = 100;

/// The stream's recordings, newest first: processing, ready (with the
/// video's id) or failed (with the reason).
#[utoipa::path(get, path = "/streams/{id}/recordings", tag = "streams", params(("id" = String, Path)), responses(
    (status = 200, body = RecordingList),
    (status = 404, body = ErrorBody),
))]
pub async fn list(
    State(ctx): State<ApiContext>,
    caller: MaybeAuthUser,
    StreamId(id): StreamId,
) -> ApiResult<JsonResponse<RecordingList>> {
    let stream = visible(&ctx, &id, caller.id()).await?;
    let items = ctx.stores.recordings.list(&id, MAX_RECORDINGS).await?;
    if is_owner(&stream, caller.id()) {
        return Ok(JsonResponse(RecordingList { items: items.into_iter().map(RecordingView::from).collect() }));
    }
    // Others see the sessions whose media is public, and no failure reasons:
    // a private recording's id, or an error text, is the owner's alone.
    let sessions: Vec<String> = items.iter().map(|r| r.session_id.clone()).collect();
    let access = ctx.stores.access.get_many(&sessions).await?;
    let public = |r: &Recording| access.get(&r.session_id).is_none_or(|a| a.state == MediaState::Public);
    Ok(JsonResponse(RecordingList {
        items: items
            .into_iter()
            .filter(public)
            .map(|r| RecordingView { reason: None, ..RecordingView::from(r) })
            .collect(),
    }))
}
