//! Abuse limits at the HTTP edge: read a rate's counter, count an event,
//! claim a quota; anything over is 429 with `Retry-After` and the limit's
//! name (see `skycast_core::limits`).

use skycast_core::{
    limits::{Quota, Rate},
    timefmt,
};

use crate::{ApiContext, ApiError, error::ApiResult};

fn limited(rate: &Rate, now: i64) -> ApiError {
    ApiError::limited(
        "rate_limited",
        rate.name,
        rate.retry_after(now) as u64,
        format!("too many requests ({}: {} per {} s); try again later", rate.name, rate.max, rate.window_s),
    )
}

/// Counts one event of `subject` against `rate`, and 429 if that went over.
/// Counting first, then comparing, holds under concurrency: parallel
/// requests cannot all pass a check made before any of them counted.
pub async fn take(ctx: &ApiContext, rate: &Rate, subject: &str) -> ApiResult<()> {
    let now = timefmt::unix_now();
    let used = ctx.stores.limits.add(&rate.key(subject, now), 1, rate.expires_at(now)).await?;
    if used > rate.max { Err(limited(rate, now)) } else { Ok(()) }
}

/// Takes back one event counted by [`take`] in this window (one that turned
/// out not to count, such as a login that succeeded).
pub async fn give_back(ctx: &ApiContext, rate: &Rate, subject: &str) -> ApiResult<()> {
    let now = timefmt::unix_now();
    ctx.stores.limits.add(&rate.key(subject, now), -1, rate.expires_at(now)).await?;
    Ok(())
}

/// 429 `quota_exceeded`, for a quota that stays full.
pub fn quota_exceeded(quota: Quota, max: u32) -> ApiError {
    let what = match quota {
        Quota::Streams => "streams",
        Quota::OnAir => "streams on air at once",
        Quota::Ladder => "ladder streams on air at once",
    };
    // A quota lifts when something ends, not at a time: a minute is a hint.
    ApiError::limited("quota_exceeded", quota.as_str(), 60, format!("you may have at most {max} {what}"))
}
