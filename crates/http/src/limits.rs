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

/// 429 if `subject` has used up `rate` in this window.
pub async fn check(ctx: &ApiContext, rate: &Rate, subject: &str) -> ApiResult<()> {
    let now = timefmt::unix_now();
    let used = ctx.stores.limits.count(&rate.key(subject, now), now).await?;
    if used >= rate.max { Err(limited(rate, now)) } else { Ok(()) }
}

/// Counts one event of `subject` against `rate`.
pub async fn count(ctx: &ApiContext, rate: &Rate, subject: &str) -> ApiResult<u32> {
    let now = timefmt::unix_now();
    Ok(ctx.stores.limits.hit(&rate.key(subject, now), rate.expires_at(now)).await?)
}

/// Counts one event, and 429 if it went over.
pub async fn take(ctx: &ApiContext, rate: &Rate, subject: &str) -> ApiResult<()> {
    let now = timefmt::unix_now();
    let used = ctx.stores.limits.hit(&rate.key(subject, now), rate.expires_at(now)).await?;
    if used > rate.max { Err(limited(rate, now)) } else { Ok(()) }
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
