//! The videos function: the VOD catalog (what recorded sessions become),
//! views, likes and tags, and private videos' playback links.

mod handlers;
mod playback;
mod view;

use axum::{
    Router,
    routing::{get, post, put},
};
use skycast_http::ApiContext;
use utoipa::OpenApi;

pub use handlers::{ListVideosQuery, Sort, UpdateVideoRequest};
pub use view::{LikeView, VideoPage, VideoView, private_hls_url};

pub fn routes() -> Router<ApiContext> {
    Router::new()
        .route("/videos", get(handlers::list))
        .route("/videos/{id}", get(handlers::get_one).patch(handlers::update).delete(handlers::delete))
        .route("/videos/{id}/views", post(handlers::add_view))
        .route("/videos/{id}/like", put(handlers::like).delete(handlers::unlike))
        .route("/videos/{id}/hls/{*path}", get(playback::hls))
}

#[derive(OpenApi)]
#[openapi(
    paths(handlers::list, handlers::get_one, handlers::update, handlers::delete, handlers::add_view, handlers::like, handlers::unlike, playback::hls),
    components(schemas(VideoView, VideoPage, LikeView, UpdateVideoRequest, Sort)),
    tags((name = "videos", description = "Videos on demand: recorded sessions, their views, likes and tags"))
)]
pub struct VideosDoc;
