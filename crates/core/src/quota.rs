//! Per-user quotas on streams: how many a user owns, has on air, and has on
//! air on the costly `ladder` profile (see [`crate::limits`]). Shared by the
//! streams function (create, `start`) and the ingest node (a publisher that
//! goes live on its own takes its places too).
//!
//! A quota is a map of stream ids to when each was claimed, claimed before
//! the write that needs it and released after the write that ends it, so
//! retries are harmless. A release can be missed (the node ends a session on
//! its own, a process dies between two writes), so a full quota is checked
//! against the streams themselves once before it refuses: what is no longer
//! true is let go, except places claimed within the grace period, which may
//! belong to a start or create still on its way (so parallel requests cannot
//! free each other's places to get past the quota).

use crate::{
    limits::{Limits, Quota},
    store::{StoreError, Stores},
    stream::{Profile, Stream},
};

/// Whether `s` still takes a place in `quota` of `user_id`.
pub fn holds(s: &Stream, user_id: &str, quota: Quota) -> bool {
    s.owner_id == user_id
        && match quota {
            Quota::Streams => true,
            Quota::OnAir => s.status.is_on_air(),
            Quota::Ladder => s.status.is_on_air() && s.profile == Profile::Ladder,
        }
}

/// The on-air quotas a session of a stream of `profile` takes.
pub fn on_air(profile: Profile) -> &'static [Quota] {
    if profile == Profile::Ladder { &[Quota::OnAir, Quota::Ladder] } else { &[Quota::OnAir] }
}

/// Takes a place in `quota` for stream `id`; `false` when the quota is full
/// even after stale places are let go.
pub async fn claim(
    stores: &Stores,
    limits: &Limits,
    user_id: &str,
    quota: Quota,
    id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let max = limits.quota(quota);
    let store = &stores.limits;
    if store.claim(user_id, quota, id, max, now).await? {
        return Ok(true);
    }
    let mut freed = 0;
    for (held, claimed_at) in store.held(user_id, quota).await? {
        if held == id || now - claimed_at < limits.quota_grace_s {
            continue;
        }
        let still = stores.streams.get(&held).await?.is_some_and(|s| holds(&s, user_id, quota));
        if !still {
            store.release(user_id, quota, &held).await?;
            freed += 1;
        }
    }
    if freed > 0 && store.claim(user_id, quota, id, max, now).await? {
        tracing::info!(quota = quota.as_str(), freed, "stale quota places let go");
        return Ok(true);
    }
    tracing::info!(quota = quota.as_str(), max, "quota reached");
    Ok(false)
}
