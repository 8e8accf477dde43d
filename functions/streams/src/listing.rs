//! Listing streams page by page while hiding what the caller may not see.
//!
//! Visibility is filtered here, not in DynamoDB; [`filtered_page`] reads on
//! until the page is full.

use skycast_core::{
    page::{CursorKey, CursorSeal, Page, filtered_page},
    store::{StoreError, StreamIndex, StreamStore},
    stream::Stream,
};

pub async fn page(
    store: &dyn StreamStore,
    index: &StreamIndex,
    keep: impl Fn(&Stream) -> bool,
    cursor: Option<CursorKey>,
    limit: usize,
    seal: &CursorSeal<'_>,
) -> Result<Page<Stream>, StoreError> {
    filtered_page(|start, n| store.query(index, start, n), keep, |s| index.cursor_after(s), cursor, limit, seal).await
}
