//! The origin FFmpeg PUTs its HLS output to, inside the node.
//!
//! It accepts at once (FFmpeg exits if its output endpoint refuses or
//! stalls): segments are written to the spool directory and handed to their
//! rendition's pipeline, which uploads behind it. Paths carry a per-session
//! token and the FFmpeg process's generation, so a late PUT from a dying
//! process can never be mistaken for its successor's.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, RwLock},
};

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path, State},
    http::StatusCode,
    routing::put,
};
use tokio::sync::{mpsc, watch};

use crate::session::Piece;

/// Where one session's files go.
#[derive(Clone)]
pub struct Inbox {
    pub spool: PathBuf,
    pub renditions: HashMap<String, mpsc::UnboundedSender<Piece>>,
    /// Per rendition, the newest playlist FFmpeg wrote.
    pub playlists: HashMap<String, crate::session::LatestPlaylist>,
    /// Told the generation of every file received: "a publisher is there".
    pub activity: mpsc::UnboundedSender<u32>,
    /// The latest still FFmpeg made; only the newest is worth uploading.
    pub thumbnail: Arc<watch::Sender<Option<Bytes>>>,
}

#[derive(Clone, Default)]
pub struct Registry(Arc<RwLock<HashMap<String, Inbox>>>);

impl Registry {
    pub fn insert(&self, token: String, inbox: Inbox) {
        if let Ok(mut m) = self.0.write() {
            m.insert(token, inbox);
        }
    }

    pub fn remove(&self, token: &str) {
        if let Ok(mut m) = self.0.write() {
            m.remove(token);
        }
    }

    fn get(&self, token: &str) -> Option<Inbox> {
        self.0.read().ok()?.get(token).cloned()
    }
}

/// Segment names are FFmpeg's (`seg_000001.m4s`); anything else is refused.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

async fn receive(
    State(registry): State<Registry>,
    Path((token, generation, rendition, file)): Path<(String, u32, String, String)>,
    body: Bytes,
) -> StatusCode {
    let Some(inbox) = registry.get(&token) else { return StatusCode::NOT_FOUND };
    let Some(pipeline) = inbox.renditions.get(&rendition) else { return StatusCode::NOT_FOUND };
    if !is_plain_name(&file) {
        return StatusCode::BAD_REQUEST;
    }
    // With several renditions ffmpeg names init segments `init_<n>.mp4`.
    let piece = if file.starts_with("init") && file.ends_with(".mp4") {
        Piece::Init { generation, body }
    } else if file.ends_with(".m3u8") {
        let Some(latest) = inbox.playlists.get(&rendition) else { return StatusCode::NOT_FOUND };
        let text = String::from_utf8_lossy(&body).into_owned();
        // Only the newest matters: a waiting one is replaced, not queued.
        let waiting = latest.lock().map(|mut l| l.replace((generation, text)).is_some()).unwrap_or(true);
        let _ = inbox.activity.send(generation);
        if waiting {
            return StatusCode::CREATED;
        }
        Piece::Playlist
    } else if file.ends_with(".m4s") {
        let path = inbox.spool.join(&rendition).join(format!("g{generation}_{file}"));
        if let Err(e) = tokio::fs::write(&path, &body).await {
            tracing::error!(path = %path.display(), error = %e, "cannot spool segment");
            return StatusCode::INSUFFICIENT_STORAGE;
        }
        Piece::Segment { generation, name: file, path, received: tokio::time::Instant::now() }
    } else {
        return StatusCode::NOT_FOUND;
    };
    let _ = inbox.activity.send(generation);
    if pipeline.send(piece).is_err() {
        return StatusCode::GONE;
    }
    StatusCode::CREATED
}

async fn receive_thumbnail(
    State(registry): State<Registry>,
    Path((token, _generation)): Path<(String, u32)>,
    body: Bytes,
) -> StatusCode {
    let Some(inbox) = registry.get(&token) else { return StatusCode::NOT_FOUND };
    inbox.thumbnail.send_replace(Some(body));
    StatusCode::CREATED
}

/// Binds the origin on an ephemeral loopback port and serves it in the background.
pub async fn start(registry: Registry) -> std::io::Result<SocketAddr> {
    let app = Router::new()
        .route("/ingest/{token}/{generation}/{rendition}/{file}", put(receive).post(receive))
        // FFmpeg's image2 muxer POSTs; the HLS muxer is told to PUT.
        .route("/ingest/{token}/{generation}/thumb.jpg", put(receive_thumbnail).post(receive_thumbnail))
        // A 2 s segment at 50 Mbps is 12.5 MB; leave room.
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(registry);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "origin stopped");
        }
    });
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::is_plain_name;

    #[test]
    fn only_plain_file_names() {
        assert!(is_plain_name("seg_000001.m4s"));
        assert!(is_plain_name("index.m3u8"));
        for bad in ["", "..", "../x.m4s", ".hidden", "a/b", "a\\b", &"x".repeat(65)] {
            assert!(!is_plain_name(bad), "{bad}");
        }
    }
}
