//! RTMP on one port: the node answers the handshake and `connect` /
//! `publish` itself ([`skycast_rtmp::ServerSession`]), and only a verified
//! key makes a session; nothing an unauthenticated peer sends reaches
//! FFmpeg. Every connection is its own task with its own deadline, so idle
//! or garbage connections never hold up a real publisher.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use skycast_core::stream::Protocol;
use skycast_rtmp::{Event, ServerSession, flv};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
    task::JoinHandle,
    time::{Instant, timeout, timeout_at},
};

use crate::{ffmpeg::InputFormat, node::Node};

/// A client has this long from connecting to naming its stream.
pub const PUBLISH_DEADLINE: Duration = Duration::from_secs(5);
/// A publisher silent this long is gone (a vanished peer never closes).
const IDLE: Duration = Duration::from_secs(10);
/// Connections allowed to be in the handshake at once: beyond this a flood
/// of idle sockets is shed at accept, costing nothing.
const MAX_UNVERIFIED: usize = 2048;

/// Accepts RTMP publishers on `listener` until the task is aborted.
pub fn serve(node: Arc<Node>, listener: TcpListener) -> JoinHandle<()> {
    tokio::spawn(async move {
        let unverified = Arc::new(Semaphore::new(MAX_UNVERIFIED));
        loop {
            let (conn, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors, usually: back off, keep serving.
                    tracing::warn!(error = %e, "rtmp accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = unverified.clone().try_acquire_owned() else {
                tracing::debug!(%peer, "rtmp connection shed: too many unverified");
                continue;
            };
            let node = Arc::clone(&node);
            tokio::spawn(async move {
                connection(node, conn, peer, permit).await;
            });
        }
    })
}

/// Writes the session's replies by `deadline`: a client that never reads
/// cannot hold its connection (and its place) open by stalling our writes.
async fn send(conn: &mut TcpStream, session: &mut ServerSession, deadline: Instant) -> std::io::Result<()> {
    let out = session.take_output();
    if out.is_empty() {
        return Ok(());
    }
    timeout_at(deadline, conn.write_all(&out)).await.map_err(|_| std::io::ErrorKind::TimedOut)?
}

async fn connection(node: Arc<Node>, mut conn: TcpStream, peer: SocketAddr, permit: tokio::sync::OwnedSemaphorePermit) {
    let _ = conn.set_nodelay(true);
    let mut session = ServerSession::new();
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + PUBLISH_DEADLINE;
    let publish = loop {
        let n = match timeout_at(deadline, conn.read(&mut buf)).await {
            Ok(Ok(0)) => return,
            Ok(Ok(n)) => n,
            Ok(Err(_)) => return,
            Err(_) => {
                tracing::debug!(%peer, "rtmp connection closed: no publish within {PUBLISH_DEADLINE:?}");
                return;
            }
        };
        let events = match session.feed(&buf[..n]) {
            Ok(e) => e,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "rtmp connection refused");
                return;
            }
        };
        if send(&mut conn, &mut session, deadline).await.is_err() {
            return;
        }
        if let Some(Event::Publish(p)) = events.into_iter().find(|e| matches!(e, Event::Publish(_))) {
            break p;
        }
    };
    // The verdict, too, by a deadline (the lookups are milliseconds).
    let admitted =
        timeout(PUBLISH_DEADLINE, node.admit(&publish.key, InputFormat::Flv, Protocol::Rtmp, Some(peer), None));
    let media = match admitted.await.unwrap_or(Err(crate::node::Refusal::Unavailable)) {
        Ok(tx) => tx,
        Err(refusal) => {
            // The key offered is not logged: it may be a typo of a real one.
            // Only the app's first segment: a whole URL pasted as Server carries the key.
            let app = publish.app.split('/').next().unwrap_or_default();
            tracing::warn!(%peer, %app, reason = %refusal, "rtmp publisher refused");
            session.refuse(&refusal.to_string());
            let _ = send(&mut conn, &mut session, Instant::now() + Duration::from_secs(1)).await;
            let _ = conn.shutdown().await;
            return;
        }
    };
    drop(permit);
    session.accept();
    if send(&mut conn, &mut session, Instant::now() + IDLE).await.is_err()
        || media.send(Bytes::from_static(&flv::HEADER)).await.is_err()
    {
        return;
    }
    tracing::info!(%peer, "rtmp publisher accepted");
    // What arrived with `publish` is read now.
    let mut n = 0;
    loop {
        let events = match session.feed(&buf[..n]) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "rtmp publisher sent something unreadable; closing");
                break;
            }
        };
        for e in events {
            match e {
                Event::Media(m) => {
                    if media.send(Bytes::from(flv::tag(m.kind, m.timestamp, &m.data))).await.is_err() {
                        // The session ended (stopped by its owner, or replaced).
                        return;
                    }
                }
                Event::Unpublished => {
                    tracing::info!(%peer, "rtmp publisher unpublished");
                    // Its media ends here; the client closes the connection
                    // itself once it has said so (closing first is an error to it).
                    drop(media);
                    let _ = send(&mut conn, &mut session, Instant::now() + IDLE).await;
                    let _ = timeout(Duration::from_secs(5), async { while let Ok(1..) = conn.read(&mut buf).await {} })
                        .await;
                    return;
                }
                Event::Publish(_) => {}
            }
        }
        if send(&mut conn, &mut session, Instant::now() + IDLE).await.is_err() {
            break;
        }
        n = match timeout(IDLE, conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => n,
            Err(_) => {
                tracing::warn!(%peer, "rtmp publisher silent for {IDLE:?}; dropping it");
                break;
            }
        };
    }
    tracing::info!(%peer, "rtmp publisher left");
}
