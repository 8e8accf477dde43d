//! The streams function: a streamer's streams, their keys, and the public
//! directory of streams.

mod handlers;
mod listing;
mod operator;
mod quota;
mod recordings;
mod session;
mod view;
mod viewers;

use axum::{
    Router,
    routing::{get, post},
};
use skycast_http::ApiContext;
use utoipa::OpenApi;

pub use handlers::{CreateStreamRequest, ListStreamsQuery, UpdateStreamRequest};
pub use operator::{Manifest, NodeStats, PlatformStats, RenditionManifest};
pub use recordings::{RecordingList, RecordingView};
pub use session::{IngestView, RtmpIngest, SrtIngest, StartResponse, StopResponse};
pub use view::{OwnerView, StreamPage, StreamView};
pub use viewers::{HeartbeatRequest, ViewerCount};

pub fn routes() -> Router<ApiContext> {
    Router::new()
        .route("/streams", post(handlers::create).get(handlers::list))
        .route("/streams/{id}", get(handlers::get_one).patch(handlers::update).delete(handlers::delete))
        .route("/streams/{id}/key", post(handlers::rotate_key))
        .route("/streams/{id}/start", post(session::start))
        .route("/streams/{id}/stop", post(session::stop))
        .route("/streams/{id}/recordings", get(recordings::list))
        .route("/streams/{id}/viewers", post(viewers::heartbeat))
        .route("/streams/active", get(operator::active))
        .route("/streams/{id}/manifest", get(operator::manifest))
        .route("/stats", get(operator::stats))
}

#[derive(OpenApi)]
#[openapi(
    paths(handlers::create, handlers::list, handlers::get_one, handlers::update, handlers::delete, handlers::rotate_key, session::start, session::stop, recordings::list, viewers::heartbeat, operator::active, operator::manifest, operator::stats),
    components(schemas(
        CreateStreamRequest, UpdateStreamRequest, StreamView, OwnerView, StreamPage,
        skycast_core::stream::Protocol, skycast_core::stream::Visibility, skycast_core::stream::StreamStatus,
        skycast_core::stream::Profile, skycast_core::stream::Latency, skycast_core::recording::RecordingStatus, recordings::RecordingView, recordings::RecordingList, session::StartResponse, session::StopResponse, viewers::HeartbeatRequest, viewers::ViewerCount, session::IngestView, session::RtmpIngest, session::SrtIngest,
        operator::Manifest, operator::RenditionManifest, operator::PlatformStats, operator::NodeStats,
        skycast_core::health::StreamHealth, skycast_core::health::Warning, skycast_core::health::SrtLink,
    )),
    tags((name = "streams", description = "Streams, their keys, and the directory of streams"))
)]
pub struct StreamsDoc;
