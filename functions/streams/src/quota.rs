//! The streams function's side of the per-user quotas: the rules are
//! `skycast_core::quota`'s (shared with the ingest node); a full quota here
//! is a 429 `quota_exceeded`.

use skycast_core::{limits::Quota, stream::Stream, timefmt};

use skycast_http::{ApiContext, error::ApiResult, limits::quota_exceeded};

/// Takes a place in `quota` for stream `id`, or 429 `quota_exceeded`.
pub async fn claim(ctx: &ApiContext, user_id: &str, quota: Quota, id: &str) -> ApiResult<()> {
    let limits = &ctx.config.limits;
    if skycast_core::quota::claim(&ctx.stores, limits, user_id, quota, id, timefmt::unix_now()).await? {
        Ok(())
    } else {
        Err(quota_exceeded(quota, limits.quota(quota)))
    }
}

/// Gives the place back; best effort (a missed release is reconciled later).
pub async fn release(ctx: &ApiContext, user_id: &str, quota: Quota, id: &str) {
    if let Err(e) = ctx.stores.limits.release(user_id, quota, id).await {
        tracing::warn!(error = %e, quota = quota.as_str(), "quota place not released; reconciled when full");
    }
}

/// The on-air quotas a session of `s` takes.
pub fn on_air(s: &Stream) -> &'static [Quota] {
    skycast_core::quota::on_air(s.profile)
}
