//! One origin, as CloudFront gives in AWS: the web app, the API under
//! `/api/`, and the media under `/cdn/`.
//!
//! The app's pages live under paths the API never uses (`/`, `/live/…`,
//! `/watch/…`, `/u/…`, `/studio…`, `/login`, `/signup`); each is the app's
//! `index.html`, which routes in the browser. Everything else goes to the
//! API, which also answers at its old root paths for one release.

use std::path::Path;

use axum::{Router, http::HeaderValue};
use tower::Layer;
use tower_http::{
    services::{ServeDir, ServeFile},
    set_header::SetResponseHeaderLayer,
};

/// The app's pages: each serves `index.html`.
pub const APP_ROUTES: &[&str] = &[
    "/",
    "/login",
    "/signup",
    "/embed",
    "/studio",
    "/studio/videos",
    "/live/{id}",
    "/watch/{id}",
    "/u/{id}",
    "/relay",
    "/relay/{id}",
];

/// `api` (the API and the CDN) under `/api/` and at its old paths, with the
/// built app in `dist` (`web/dist`, made by `npm run build`).
pub fn router(api: Router, dist: &Path) -> Router {
    let cache = |value: &'static str| {
        SetResponseHeaderLayer::overriding(axum::http::header::CACHE_CONTROL, HeaderValue::from_static(value))
    };
    // The page must be revalidated (it names the current bundle); the
    // bundle's files are named by their content, so they never change.
    let index = cache("no-cache").layer(ServeFile::new(dist.join("index.html")));
    let assets = cache("public, max-age=31536000, immutable").layer(ServeDir::new(dist.join("assets")));
    let mut app = Router::new().nest_service("/api", api.clone());
    for route in APP_ROUTES {
        app = app.route_service(route, index.clone());
    }
    app.nest_service("/assets", assets)
        .route_service("/favicon.svg", cache("public, max-age=86400").layer(ServeFile::new(dist.join("favicon.svg"))))
        .fallback_service(api)
}
