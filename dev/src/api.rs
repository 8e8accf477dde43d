//! The whole HTTP API as one router and one OpenAPI document.

use axum::Router;
use skycast_http::ApiContext;
use utoipa::OpenApi;

/// Every HTTP function's routes, merged.
pub fn routes() -> Router<ApiContext> {
    skycast_auth::routes()
        .merge(skycast_streams::routes())
        .merge(skycast_vod::routes())
        .merge(skycast_sessions::routes())
        .merge(skycast_webhooks::routes())
}

/// Every HTTP function's routes with the common layers.
pub fn router(ctx: ApiContext) -> Router {
    skycast_http::app::finish(routes(), ctx)
}

/// The OpenAPI document of the whole API, generated from the code. The
/// committed `openapi.json` must equal this (a test checks).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = skycast_http::openapi::PlatformDoc::openapi();
    doc.merge(skycast_auth::AuthDoc::openapi());
    doc.merge(skycast_streams::StreamsDoc::openapi());
    doc.merge(skycast_vod::VideosDoc::openapi());
    doc.merge(skycast_sessions::SessionsDoc::openapi());
    doc.merge(skycast_webhooks::WebhooksDoc::openapi());
    doc.info = utoipa::openapi::InfoBuilder::new()
        .title("Skycast API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Live streaming backend: accounts, streams, and the videos recorded from them. Errors are \
             {\"error\": {\"code\", \"message\", \"field\"?}}; authenticate with \
             `Authorization: Bearer <access token>`.",
        ))
        .build();
    // Paths are relative to the API's base: the site's /api/ (one origin with
    // the web app and the media, locally and behind CloudFront). `make dev`
    // still answers at its root for one release; API Gateway's own URL serves
    // the paths without a prefix.
    doc.servers = Some(vec![
        utoipa::openapi::ServerBuilder::new()
            .url("/api")
            .description(Some("The site's API: http://127.0.0.1:8080/api locally, https://<site>/api in AWS"))
            .build(),
    ]);
    doc
}

pub fn openapi_json() -> String {
    let mut json = openapi().to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}
