//! The videos function: the VOD catalog (what recorded sessions become),
//! views, likes and tags; private videos play from the CDN with a token.

mod handlers;
mod view;

use axum::{
    Router,
    routing::{get, post, put},
};
use skycast_http::ApiContext;
use utoipa::OpenApi;

pub use handlers::{ListVideosQuery, Sort, UpdateVideoRequest};
pub use view::{LikeView, VideoPage, VideoView};

pub fn routes() -> Router<ApiContext> {
    Router::new()
        .route("/videos", get(handlers::list))
        .route("/videos/{id}", get(handlers::get_one).patch(handlers::update).delete(handlers::delete))
        .route("/videos/{id}/views", post(handlers::add_view))
        .route("/videos/{id}/like", put(handlers::like).delete(handlers::unlike))
}

#[derive(OpenApi)]
#[openapi(
    paths(handlers::list, handlers::get_one, handlers::update, handlers::delete, handlers::add_view, handlers::like, handlers::unlike),
    components(schemas(VideoView, VideoPage, LikeView, UpdateVideoRequest, Sort)),
    tags((name = "videos", description = "Videos on demand: recorded sessions, their views, likes and tags"))
)]
pub struct VideosDoc;
