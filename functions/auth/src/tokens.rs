//! Issuing token pairs and rotating refresh tokens.

use skycast_core::{
    auth::refresh,
    ids,
    store::{RefreshFamily, RefreshRecord, Rotation},
    timefmt::unix_now,
    user::{User, UserView},
};
use skycast_http::{ApiContext, ApiError};

use crate::handlers::TokenResponse;

/// A new login: a new refresh-token family and its first token.
pub async fn issue_for_login(ctx: &ApiContext, user: &User) -> Result<TokenResponse, ApiError> {
    let family = RefreshFamily {
        id: ids::new_id(),
        user_id: user.id.clone(),
        revoked: false,
        // A login lasts at most the refresh TTL, however often it is refreshed.
        expires_at: unix_now() + ctx.config.refresh_token_ttl.as_secs() as i64,
    };
    let issued = refresh::issue();
    let record = RefreshRecord {
        hash: issued.hash,
        user_id: user.id.clone(),
        family_id: family.id.clone(),
        spent: false,
        expires_at: family.expires_at,
    };
    ctx.stores.tokens.create_family(&family, &record).await?;
    pair(ctx, user, issued.token)
}

fn pair(ctx: &ApiContext, user: &User, refresh_token: String) -> Result<TokenResponse, ApiError> {
    let access_token = ctx.jwt.issue(&user.id, &user.username).map_err(|e| {
        tracing::error!(error = %e, "cannot sign access token");
        ApiError::internal()
    })?;
    Ok(TokenResponse {
        user: UserView::from(user),
        access_token,
        refresh_token,
        token_type: "Bearer".into(),
        expires_in: ctx.jwt.ttl().as_secs(),
    })
}

fn invalid() -> ApiError {
    ApiError::unauthorized("refresh token is invalid or expired").with_code("invalid_refresh_token")
}

/// Spends `presented` and returns a new pair. A token presented twice means
/// it leaked or a client misbehaves: the whole family is revoked.
pub async fn rotate(ctx: &ApiContext, presented: &str) -> Result<TokenResponse, ApiError> {
    let hash = refresh::hash_presented(presented).ok_or_else(invalid)?;
    let tokens = &ctx.stores.tokens;
    let record = tokens.get_token(&hash).await?.ok_or_else(invalid)?;
    if record.expires_at <= unix_now() {
        return Err(invalid());
    }
    if record.spent {
        tracing::warn!(family = %record.family_id, user = %record.user_id, "spent refresh token replayed; revoking its family");
        tokens.revoke_family(&record.family_id).await?;
        return Err(invalid());
    }
    let family = tokens.get_family(&record.family_id).await?.ok_or_else(invalid)?;
    if family.revoked {
        return Err(invalid());
    }
    let user = ctx.stores.users.get(&record.user_id).await?.ok_or_else(invalid)?;
    let issued = refresh::issue();
    let next = RefreshRecord {
        hash: issued.hash,
        user_id: record.user_id.clone(),
        family_id: record.family_id.clone(),
        spent: false,
        expires_at: family.expires_at,
    };
    match tokens.rotate(&hash, &next).await? {
        Rotation::Rotated => pair(ctx, &user, issued.token),
        Rotation::Refused => {
            // Spent concurrently by another request: the same replay.
            tracing::warn!(family = %record.family_id, "refresh token spent concurrently; revoking its family");
            tokens.revoke_family(&record.family_id).await?;
            Err(invalid())
        }
    }
}

/// Ends the login a refresh token belongs to, if it belongs to `user_id`.
pub async fn revoke(ctx: &ApiContext, user_id: &str, presented: &str) -> Result<(), ApiError> {
    let Some(hash) = refresh::hash_presented(presented) else { return Ok(()) };
    let record = ctx.stores.tokens.get_token(&hash).await?;
    if let Some(record) = record.filter(|r| r.user_id == user_id) {
        ctx.stores.tokens.revoke_family(&record.family_id).await?;
    }
    Ok(())
}
