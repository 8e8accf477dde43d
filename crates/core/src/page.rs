//! Pagination: page sizes and sealed cursors.
//!
//! A cursor is the key where a listing resumes, encrypted and authenticated
//! (AES-256-GCM) with the listing (its filters) and the caller as associated
//! data. It is only good for the listing and caller it was made for, cannot
//! be forged (nobody starts a listing at a key of their choosing to probe for
//! hidden ids), and cannot be read: the key may be that of an item the
//! caller may not see. Visibility is still checked per item.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{playback::PlaybackSigner, validation::ValidationError};

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;

#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

pub fn check_limit(limit: Option<i64>) -> Result<usize, ValidationError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT as i64).contains(&n) => Ok(n as usize),
        Some(_) => Err(ValidationError::new("limit", format!("limit must be 1 to {MAX_LIMIT}"))),
    }
}

/// A position in a listing: the string key attributes of the last item seen.
pub type CursorKey = BTreeMap<String, String>;

/// Seals and opens the cursors of one listing for one caller.
pub struct CursorSeal<'a> {
    signer: &'a PlaybackSigner,
    scope: String,
}

impl<'a> CursorSeal<'a> {
    /// `listing` names the listing and every filter that shapes it.
    pub fn new(signer: &'a PlaybackSigner, listing: &str, caller: Option<&str>) -> Self {
        Self { signer, scope: format!("{listing}\n{}", caller.unwrap_or("-")) }
    }

    pub fn seal(&self, key: &CursorKey) -> String {
        self.signer.seal(&self.scope, &serde_json::to_vec(key).unwrap_or_default())
    }

    /// Opens a cursor of this listing and caller that carries exactly the
    /// `expected` attributes; anything else is an error.
    pub fn open(&self, cursor: &str, expected: &[&str]) -> Result<CursorKey, ValidationError> {
        let invalid = || ValidationError::new("cursor", "cursor is not valid for this listing");
        let bytes = self.signer.open(&self.scope, cursor.trim()).ok_or_else(invalid)?;
        let key: CursorKey = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        let mut names: Vec<&str> = key.keys().map(String::as_str).collect();
        let mut want = expected.to_vec();
        names.sort_unstable();
        want.sort_unstable();
        if names != want || key.values().any(|v| v.is_empty() || v.len() > 256) {
            return Err(invalid());
        }
        Ok(key)
    }
}

/// Index reads per page at most; past it a short page is returned with a cursor.
const MAX_READS: usize = 8;

/// One page of a listing filtered after the read (visibility, tags,
/// search): one index query may yield fewer items than asked for, so it
/// reads on until the page is full, a bounded number of times.
/// `query(start, n)` reads up to `n` items of the index from `start`.
pub async fn filtered_page<T, E, Q, Fut>(
    mut query: Q,
    keep: impl Fn(&T) -> bool,
    cursor_after: impl Fn(&T) -> CursorKey,
    cursor: Option<CursorKey>,
    limit: usize,
    seal: &CursorSeal<'_>,
) -> Result<Page<T>, E>
where
    Q: FnMut(Option<CursorKey>, usize) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<CursorKey>), E>>,
{
    let mut items = Vec::with_capacity(limit);
    let mut start = cursor;
    for _ in 0..MAX_READS {
        // One more than needed tells, in the common unfiltered case, whether
        // another page exists without a second read.
        let (batch, next) = query(start.take(), limit + 1).await?;
        let n = batch.len();
        for (i, item) in batch.into_iter().enumerate() {
            if !keep(&item) {
                continue;
            }
            items.push(item);
            if items.len() == limit {
                let more = i + 1 < n || next.is_some();
                let next_cursor = more.then(|| seal.seal(&cursor_after(&items[limit - 1])));
                return Ok(Page { items, next_cursor });
            }
        }
        match next {
            Some(k) => start = Some(k),
            None => return Ok(Page { items, next_cursor: None }),
        }
    }
    Ok(Page { items, next_cursor: start.map(|k| seal.seal(&k)) })
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

    use super::*;

    #[test]
    fn limits() {
        assert_eq!(check_limit(None).unwrap(), 20);
        assert_eq!(check_limit(Some(1)).unwrap(), 1);
        assert_eq!(check_limit(Some(100)).unwrap(), 100);
        assert_eq!(check_limit(Some(0)).unwrap_err().field, "limit");
        assert!(check_limit(Some(101)).is_err());
        assert!(check_limit(Some(-5)).is_err());
    }

    #[test]
    fn cursors_open_only_for_their_listing_and_caller() {
        let signer = PlaybackSigner::new(b"0123456789abcdef0123456789abcdef");
        let seal = CursorSeal::new(&signer, "streams?owner=u", Some("alice"));
        let key: CursorKey = [("id".to_string(), "a".to_string()), ("owner_id".to_string(), "u".to_string())].into();
        let c = seal.seal(&key);
        assert_eq!(seal.open(&c, &["owner_id", "id"]).unwrap(), key);
        assert!(seal.open(&c, &["id"]).is_err(), "other attributes");
        assert!(CursorSeal::new(&signer, "streams?owner=u", Some("bob")).open(&c, &["owner_id", "id"]).is_err());
        assert!(CursorSeal::new(&signer, "streams?owner=u", None).open(&c, &["owner_id", "id"]).is_err());
        assert!(CursorSeal::new(&signer, "streams", Some("alice")).open(&c, &["owner_id", "id"]).is_err());
        // A key of the caller's choosing is nothing, sealed or not.
        let forged: CursorKey = [("id".to_string(), "b".to_string()), ("owner_id".to_string(), "u".to_string())].into();
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert!(seal.open(&forged_payload, &["owner_id", "id"]).is_err());
        assert!(seal.open("!!!", &["id"]).is_err());
    }
}
