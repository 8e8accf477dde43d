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
pub async fn issue_for_login(ctx: &ApiContext, user: &User) -> Result<Issued, ApiError> {
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
        spent_at: None,
        expires_at: family.expires_at,
    };
    ctx.stores.tokens.create_family(&family, &record).await?;
    pair(ctx, user, issued.token, family.expires_at)
}

/// A new pair, and when the refresh token expires (Unix seconds).
pub struct Issued {
    pub response: TokenResponse,
    pub refresh_expires_at: i64,
}

fn pair(ctx: &ApiContext, user: &User, refresh_token: String, expires_at: i64) -> Result<Issued, ApiError> {
    let access_token = ctx.jwt.issue(&user.id, &user.username).map_err(|e| {
        tracing::error!(error = %e, "cannot sign access token");
        ApiError::internal()
    })?;
    let response = TokenResponse {
        user: UserView::from(user),
        access_token,
        refresh_token: Some(refresh_token),
        token_type: "Bearer".into(),
        expires_in: ctx.jwt.ttl().as_secs(),
    };
    Ok(Issued { response, refresh_expires_at: expires_at })
}

fn invalid() -> ApiError {
    ApiError::unauthorized("refresh token is invalid or expired").with_code("invalid_refresh_token")
}

/// Spends `presented` and returns a new pair. A token presented again after
/// the reuse grace (`Config::refresh_reuse_grace_s`) means it leaked or a
/// client misbehaves: the whole family is revoked. Within the grace it is
/// honoured again: a page reloaded while its refresh was in flight never saw
/// the new token (its cookie kept the old one), and two tabs may refresh at
/// once; each gets a token of the same login.
pub async fn rotate(ctx: &ApiContext, presented: &str) -> Result<Issued, ApiError> {
    let hash = refresh::hash_presented(presented).ok_or_else(invalid)?;
    let tokens = &ctx.stores.tokens;
    let record = tokens.get_token(&hash).await?.ok_or_else(invalid)?;
    let now = unix_now();
    if record.expires_at <= now {
        return Err(invalid());
    }
    let grace = ctx.config.refresh_reuse_grace_s;
    let spent_since = if grace > 0 { now - grace } else { i64::MAX };
    if record.spent && record.spent_at.is_none_or(|at| at < spent_since) {
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
        spent_at: None,
        expires_at: family.expires_at,
    };
    match tokens.rotate(&hash, &next, now, spent_since).await? {
        Rotation::Rotated => pair(ctx, &user, issued.token, family.expires_at),
        Rotation::Refused => {
            // Spent past its grace by another request meanwhile: the same replay.
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
