//! Who is calling: bearer access tokens, verified against the JWT keys.

use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts},
};

use crate::{context::ApiContext, error::ApiError};

/// A caller with a valid access token; rejects with 401 otherwise.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: String,
    pub username: String,
}

/// A caller who may be anonymous. A token that is present but invalid is
/// still a 401: a client with an expired token should learn so, not silently
/// see less.
#[derive(Debug, Clone)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

impl MaybeAuthUser {
    pub fn id(&self) -> Option<&str> {
        self.0.as_ref().map(|u| u.id.as_str())
    }
}

fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    let (scheme, token) =
        value.split_once(' ').ok_or_else(|| ApiError::unauthorized("use Authorization: Bearer <token>"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthorized("use Authorization: Bearer <token>"));
    }
    Ok(Some(token.trim()))
}

fn verify(ctx: &ApiContext, token: &str) -> Result<AuthUser, ApiError> {
    let claims = ctx.jwt.verify(token).map_err(|_| ApiError::unauthorized("access token is invalid or expired"))?;
    Ok(AuthUser { id: claims.sub, username: claims.name })
}

impl FromRequestParts<ApiContext> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, ctx: &ApiContext) -> Result<Self, ApiError> {
        match bearer(parts)? {
            Some(token) => verify(ctx, token),
            None => Err(ApiError::unauthorized("authentication required: send Authorization: Bearer <access token>")),
        }
    }
}

impl FromRequestParts<ApiContext> for MaybeAuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, ctx: &ApiContext) -> Result<Self, ApiError> {
        match bearer(parts)? {
            Some(token) => verify(ctx, token).map(|u| MaybeAuthUser(Some(u))),
            None => Ok(MaybeAuthUser(None)),
        }
    }
}

/// An `owner` query parameter: `me` (the caller, who must have a token) or
/// a user id; `None` when absent.
pub fn owner_filter(owner: Option<&str>, caller: &MaybeAuthUser) -> Result<Option<String>, ApiError> {
    match owner {
        Some("me") => caller
            .id()
            .map(|id| Some(id.to_owned()))
            .ok_or_else(|| ApiError::unauthorized("owner=me needs an access token")),
        Some(id) if skycast_core::ids::is_id(id) => Ok(Some(id.to_owned())),
        Some(_) => {
            Err(ApiError::bad_request("validation_failed", "owner must be `me` or a user id").with_field("owner"))
        }
        None => Ok(None),
    }
}
