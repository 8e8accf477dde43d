//! The auth function: accounts and tokens.
//!
//! `POST /auth/register`, `/auth/login`, `/auth/refresh`, `/auth/logout`,
//! `GET /auth/me`, and the public key set at `/.well-known/jwks.json`.

mod cookie;
mod handlers;
mod tokens;

use axum::{
    Router,
    routing::{get, post},
};
use skycast_http::ApiContext;
use utoipa::OpenApi;

pub use cookie::RefreshTokenIn;
pub use handlers::{LoginRequest, LogoutRequest, RefreshRequest, RegisterRequest, TokenResponse};

/// This function's routes; [`skycast_http::app::finish`] adds the common ones.
pub fn routes() -> Router<ApiContext> {
    Router::new()
        .route("/auth/register", post(handlers::register))
        .route("/auth/login", post(handlers::login))
        .route("/auth/refresh", post(handlers::refresh))
        .route("/auth/logout", post(handlers::logout))
        .route("/auth/me", get(handlers::me))
        .route("/.well-known/jwks.json", get(handlers::jwks))
}

#[derive(OpenApi)]
#[openapi(
    paths(handlers::register, handlers::login, handlers::refresh, handlers::logout, handlers::me, handlers::jwks),
    components(schemas(RegisterRequest, LoginRequest, RefreshRequest, LogoutRequest, TokenResponse, RefreshTokenIn, skycast_core::user::UserView)),
    tags((name = "auth", description = "Accounts, access and refresh tokens"))
)]
pub struct AuthDoc;
