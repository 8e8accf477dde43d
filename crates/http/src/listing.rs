//! Listings' cursors at the HTTP edge: sealed to the listing and the caller
//! (see [`skycast_core::page::CursorSeal`]); anything else is 400 `invalid_query`.

use skycast_core::page::{CursorKey, CursorSeal};

use crate::{ApiContext, ApiError, error::ApiResult};

fn invalid() -> ApiError {
    ApiError::bad_request("invalid_query", "cursor is not valid for this listing").with_field("cursor")
}

/// The seal of one listing (`listing` names it and every filter) for `caller`.
pub fn seal<'a>(ctx: &'a ApiContext, listing: &str, caller: Option<&str>) -> ApiResult<CursorSeal<'a>> {
    let signer = ctx.playback.as_deref().ok_or_else(|| {
        tracing::error!("no playback key: set SKYCAST_PLAYBACK_KEY, which also seals listing cursors");
        ApiError::internal()
    })?;
    Ok(CursorSeal::new(signer, listing, caller))
}

/// Opens the `cursor` a caller sent back, if any: it must be sealed for this
/// listing and caller, carry the index's `attributes`, and be a position the
/// index `accepts`.
pub fn open(
    seal: &CursorSeal<'_>,
    cursor: Option<&str>,
    attributes: &[&str],
    accepts: impl Fn(&CursorKey) -> bool,
) -> ApiResult<Option<CursorKey>> {
    let Some(cursor) = cursor else { return Ok(None) };
    let key = seal.open(cursor, attributes).map_err(|_| invalid())?;
    if accepts(&key) { Ok(Some(key)) } else { Err(invalid()) }
}
