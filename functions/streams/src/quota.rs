//! Per-user quotas on streams: how many a user owns, has on air, and has on
//! air on the costly `ladder` profile (see `skycast_core::limits`).
//!
//! A quota is a map of stream ids to when each was claimed, claimed before
//! the write that needs it and released after the write that ends it, so
//! retries are harmless. A release can be missed (the node ends a session on
//! its own, a function dies between two writes), so a full quota is checked
//! against the streams themselves once before it refuses: what is no longer
//! true is let go, except places claimed within the grace period, which may
//! belong to a start or create still on its way (so parallel requests cannot
//! free each other's places to get past the quota).

use skycast_core::{
    limits::Quota,
    stream::{Profile, Stream},
    timefmt,
};

use skycast_http::{ApiContext, error::ApiResult, limits::quota_exceeded};

/// Whether `s` still takes a place in `quota` of `user_id`.
fn holds(s: &Stream, user_id: &str, quota: Quota) -> bool {
    s.owner_id == user_id
        && match quota {
            Quota::Streams => true,
            Quota::OnAir => s.status.is_on_air(),
            Quota::Ladder => s.status.is_on_air() && s.profile == Profile::Ladder,
        }
}

/// Takes a place in `quota` for stream `id`, or 429 `quota_exceeded`.
pub async fn claim(ctx: &ApiContext, user_id: &str, quota: Quota, id: &str) -> ApiResult<()> {
    let max = ctx.config.limits.quota(quota);
    let limits = &ctx.stores.limits;
    let now = timefmt::unix_now();
    if limits.claim(user_id, quota, id, max, now).await? {
        return Ok(());
    }
    let mut freed = 0;
    for (held, claimed_at) in limits.held(user_id, quota).await? {
        if held == id || now - claimed_at < ctx.config.limits.quota_grace_s {
            continue;
        }
        let still = ctx.stores.streams.get(&held).await?.is_some_and(|s| holds(&s, user_id, quota));
        if !still {
            limits.release(user_id, quota, &held).await?;
            freed += 1;
        }
    }
    if freed > 0 && limits.claim(user_id, quota, id, max, now).await? {
        tracing::info!(quota = quota.as_str(), freed, "stale quota places let go");
        return Ok(());
    }
    tracing::info!(quota = quota.as_str(), max, "quota reached");
    Err(quota_exceeded(quota, max))
}

/// Gives the place back; best effort (a missed release is reconciled later).
pub async fn release(ctx: &ApiContext, user_id: &str, quota: Quota, id: &str) {
    if let Err(e) = ctx.stores.limits.release(user_id, quota, id).await {
        tracing::warn!(error = %e, quota = quota.as_str(), "quota place not released; reconciled when full");
    }
}

/// The on-air quotas a session of `s` takes.
pub fn on_air(s: &Stream) -> &'static [Quota] {
    if s.profile == Profile::Ladder { &[Quota::OnAir, Quota::Ladder] } else { &[Quota::OnAir] }
}
