//! One session's public RTMP port: each publisher's stream key is checked
//! before its media reaches the session's FFmpeg listener on loopback.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
    task::{JoinHandle, JoinSet},
};

use super::{PublishSniffer, Sniffed};

/// A publisher has this long from connecting to naming its stream.
const PUBLISH_DEADLINE: Duration = Duration::from_secs(10);
/// FFmpeg may be between two listener processes when a publisher arrives.
const UPSTREAM_PATIENCE: Duration = Duration::from_secs(5);

/// The listening port; closed (and every relay with it) when dropped.
pub struct Gate {
    accept: JoinHandle<()>,
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Listens on `public` and relays publishers with `key` to `upstream`.
pub async fn open(public: SocketAddr, upstream: SocketAddr, key: String) -> std::io::Result<Gate> {
    let listener = TcpListener::bind(public).await?;
    let key = Arc::new(key);
    let accept = tokio::spawn(async move {
        // FFmpeg's listener takes one connection: so does the gate.
        let one_publisher = Arc::new(Semaphore::new(1));
        let mut relays = JoinSet::new();
        loop {
            let (client, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "rtmp accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            while relays.try_join_next().is_some() {}
            let Ok(permit) = one_publisher.clone().try_acquire_owned() else {
                tracing::warn!(%peer, "rtmp publisher refused: the stream already has one");
                continue;
            };
            let key = key.clone();
            relays.spawn(async move {
                relay(client, peer, upstream, &key).await;
                drop(permit);
            });
        }
    });
    Ok(Gate { accept })
}

async fn connect_upstream(upstream: SocketAddr) -> Option<TcpStream> {
    let deadline = tokio::time::Instant::now() + UPSTREAM_PATIENCE;
    loop {
        match TcpStream::connect(upstream).await {
            Ok(s) => return Some(s),
            Err(_) if tokio::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => {
                tracing::warn!(error = %e, "ffmpeg's rtmp listener is not there");
                return None;
            }
        }
    }
}

enum Verdict {
    Publisher,
    Refused(String),
}

async fn relay(client: TcpStream, peer: SocketAddr, upstream: SocketAddr, key: &str) {
    let _ = client.set_nodelay(true);
    let Some(ffmpeg) = connect_upstream(upstream).await else { return };
    let _ = ffmpeg.set_nodelay(true);
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_ffmpeg, mut to_ffmpeg) = ffmpeg.into_split();
    // The server's side (handshake, command results) passes untouched.
    let mut back = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_ffmpeg, &mut to_client).await;
        let _ = to_client.shutdown().await;
    });

    let mut sniffer = PublishSniffer::default();
    let mut buf = vec![0u8; 16 * 1024];
    let checked = tokio::time::timeout(PUBLISH_DEADLINE, async {
        loop {
            let n = from_client.read(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Ok::<_, String>(Verdict::Refused("left before publishing".into()));
            }
            match sniffer.feed(&buf[..n]) {
                // Nothing before `publish` lets FFmpeg produce media.
                Ok(Sniffed::NeedMore) => to_ffmpeg.write_all(&buf[..n]).await.map_err(|e| e.to_string())?,
                Ok(Sniffed::Publish(p)) if skycast_core::ids::secrets_equal(&p.key, key) => {
                    to_ffmpeg.write_all(&buf[..n]).await.map_err(|e| e.to_string())?;
                    return Ok(Verdict::Publisher);
                }
                // The key offered is not logged: it may be a typo of a real one.
                Ok(Sniffed::Publish(p)) => return Ok(Verdict::Refused(format!("wrong stream key (app {:?})", p.app))),
                Err(e) => return Ok(Verdict::Refused(e.to_string())),
            }
        }
    })
    .await;
    match checked {
        Ok(Ok(Verdict::Publisher)) => {
            tracing::info!(%peer, "rtmp publisher accepted");
            let _ = tokio::io::copy(&mut from_client, &mut to_ffmpeg).await;
            let _ = to_ffmpeg.shutdown().await;
            // FFmpeg finishes its output and closes its side; do not wait forever.
            if tokio::time::timeout(Duration::from_secs(10), &mut back).await.is_err() {
                back.abort();
            }
            tracing::info!(%peer, "rtmp publisher left");
        }
        Ok(Ok(Verdict::Refused(why))) => {
            tracing::warn!(%peer, reason = %why, "rtmp publisher refused");
            back.abort();
        }
        Ok(Err(io)) => {
            tracing::info!(%peer, error = %io, "rtmp connection lost before publishing");
            back.abort();
        }
        Err(_) => {
            tracing::warn!(%peer, "rtmp publisher refused: no publish within {PUBLISH_DEADLINE:?}");
            back.abort();
        }
    }
}
