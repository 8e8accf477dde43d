//! Listing streams page by page while hiding what the caller may not see.
//!
//! Visibility is filtered here, not in DynamoDB, so one index query may yield
//! fewer visible items than asked for; the loop reads on until the page is
//! full, a bounded number of times.

use skycast_core::{
    page::{CursorKey, Page},
    store::{StoreError, StreamIndex, StreamStore},
    stream::Stream,
};

/// Index reads per page at most; past it a short page is returned with a cursor.
const MAX_READS: usize = 8;

pub async fn page(
    store: &dyn StreamStore,
    index: &StreamIndex,
    keep: impl Fn(&Stream) -> bool,
    cursor: Option<CursorKey>,
    limit: usize,
) -> Result<Page<Stream>, StoreError> {
    let mut items = Vec::with_capacity(limit);
    let mut start = cursor;
    for _ in 0..MAX_READS {
        // One more than needed tells, in the common unfiltered case, whether
        // another page exists without a second read.
        let (batch, next) = store.query(index, start.take(), limit + 1).await?;
        let n = batch.len();
        for (i, stream) in batch.into_iter().enumerate() {
            if !keep(&stream) {
                continue;
            }
            items.push(stream);
            if items.len() == limit {
                let more = i + 1 < n || next.is_some();
                let next_cursor = more.then(|| index.cursor_after(&items[limit - 1]));
                return Ok(Page { items, next_cursor: next_cursor.map(|k| skycast_core::page::encode_cursor(&k)) });
            }
        }
        match next {
            Some(k) => start = Some(k),
            None => return Ok(Page { items, next_cursor: None }),
        }
    }
    Ok(Page { items, next_cursor: start.map(|k| skycast_core::page::encode_cursor(&k)) })
}
