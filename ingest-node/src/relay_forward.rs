//! A relay socket that reached a node other than the one relaying its
//! session (several nodes behind one load balancer) is forwarded there: this
//! node opens the same socket on the holder's HTTP port, with the same
//! credential, before it answers the upgrade (so a refusal there is the
//! same refusal here), then copies messages both ways, close frames
//! included. The holder applies every rule; this node only carries bytes,
//! and drops the pair when either side goes silent or stops reading.

use std::time::Duration;

use axum::{
    extract::ws::{CloseFrame as AxumClose, Message as Down, Utf8Bytes as DownText, WebSocket},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{
        Error, Message as Up,
        client::IntoClientRequest,
        http::HeaderValue,
        protocol::{CloseFrame as UpClose, WebSocketConfig, frame::coding::CloseCode},
    },
};

pub type Upstream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long the holder has to answer the forwarded upgrade.
const CONNECT_LIMIT: Duration = Duration::from_secs(5);

/// Opens `/ws/stream/{session_id}/{user_id}` on the node at `http_addr`.
/// A refusal there comes back as this node's answer.
pub async fn connect(
    http_addr: &str,
    session_id: &str,
    user_id: &str,
    credential: &str,
    max_message_bytes: usize,
) -> Result<Upstream, Response> {
    let unavailable = |why: &str| {
        tracing::warn!(%http_addr, why, "relay: the session's node cannot be reached");
        crate::relay::refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the session's node cannot be reached; try again",
        )
    };
    let url = format!("ws://{http_addr}/ws/stream/{session_id}/{user_id}");
    let mut request = url.into_client_request().map_err(|_| unavailable("bad address"))?;
    // The credential travels as it came (never in a URL, so never in a log).
    let offer = HeaderValue::from_str(&format!("skycast, {credential}")).map_err(|_| unavailable("bad credential"))?;
    request.headers_mut().insert("sec-websocket-protocol", offer);
    let config =
        WebSocketConfig::default().max_message_size(Some(max_message_bytes)).max_frame_size(Some(max_message_bytes));
    let connecting = tokio_tungstenite::connect_async_with_config(request, Some(config), false);
    match tokio::time::timeout(CONNECT_LIMIT, connecting).await {
        Ok(Ok((upstream, _))) => Ok(upstream),
        Ok(Err(Error::Http(refused))) => {
            let status = StatusCode::from_u16(refused.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let body = refused.body().clone().unwrap_or_default();
            Err((status, [(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response())
        }
        Ok(Err(e)) => Err(unavailable(&e.to_string())),
        Err(_) => Err(unavailable("timed out")),
    }
}

fn up_close(frame: Option<AxumClose>) -> Up {
    Up::Close(frame.map(|f| UpClose { code: CloseCode::from(f.code), reason: f.reason.as_str().to_owned().into() }))
}

fn down_close(frame: Option<UpClose>) -> Down {
    Down::Close(frame.map(|f| AxumClose { code: u16::from(f.code), reason: DownText::from(f.reason.as_str()) }))
}

/// Copies messages between the peer's socket here and the holder's, until
/// either closes (its close frame goes on to the other) or goes quiet.
pub async fn pump(downstream: WebSocket, upstream: Upstream, ping_every: Duration) {
    let (mut down_tx, mut down_rx) = downstream.split();
    let (mut up_tx, mut up_rx) = upstream.split();
    let send_limit = ping_every * 2;
    // Peer → holder. The holder pings this node's end, which answers by
    // itself: so the peer's liveness is judged here, by pings of our own.
    let to_holder = async {
        let mut ping = tokio::time::interval(ping_every);
        ping.tick().await;
        let mut heard = tokio::time::Instant::now();
        loop {
            let frame = tokio::select! {
                f = down_rx.next() => f,
                _ = ping.tick() => {
                    if heard.elapsed() > ping_every * 3 {
                        let _ = up_tx.send(Up::Close(None)).await;
                        return;
                    }
                    continue;
                }
            };
            heard = tokio::time::Instant::now();
            let up = match frame {
                Some(Ok(Down::Text(t))) => Up::text(t.as_str()),
                Some(Ok(Down::Binary(b))) => Up::Binary(b),
                Some(Ok(Down::Ping(_) | Down::Pong(_))) => continue,
                Some(Ok(Down::Close(frame))) => {
                    let _ = tokio::time::timeout(send_limit, up_tx.send(up_close(frame))).await;
                    return;
                }
                // Over the size limit: the holder is told so, and its answer
                // (1009) comes back to the peer as if it had refused it.
                // Broken: the holder hears a plain close.
                Some(Err(e)) => {
                    let why = skycast_relay::Close::TooBig;
                    let frame = crate::relay::too_big(e)
                        .then(|| UpClose { code: CloseCode::from(why.code()), reason: why.reason().into() });
                    let _ = tokio::time::timeout(send_limit, up_tx.send(Up::Close(frame))).await;
                    return;
                }
                None => {
                    let _ = tokio::time::timeout(send_limit, up_tx.send(Up::Close(None))).await;
                    return;
                }
            };
            if !matches!(tokio::time::timeout(send_limit, up_tx.send(up)).await, Ok(Ok(()))) {
                return;
            }
        }
    };
    // Holder → peer, with pings of our own to the peer.
    let to_peer = async {
        let mut ping = tokio::time::interval(ping_every);
        ping.tick().await;
        loop {
            let frame = tokio::select! {
                f = up_rx.next() => f,
                _ = ping.tick() => {
                    if !matches!(tokio::time::timeout(send_limit, down_tx.send(Down::Ping(Default::default()))).await, Ok(Ok(()))) {
                        return;
                    }
                    continue;
                }
            };
            let (down, last) = match frame {
                Some(Ok(Up::Text(t))) => (Down::Text(DownText::from(t.as_str())), false),
                Some(Ok(Up::Binary(b))) => (Down::Binary(b), false),
                // The holder's pings are answered by this end.
                Some(Ok(Up::Ping(_) | Up::Pong(_) | Up::Frame(_))) => continue,
                Some(Ok(Up::Close(frame))) => (down_close(frame), true),
                Some(Err(_)) | None => (Down::Close(None), true),
            };
            // A peer that stops reading is dropped, as on the holder.
            let sent = tokio::time::timeout(send_limit, down_tx.send(down)).await;
            if last || !matches!(sent, Ok(Ok(()))) {
                return;
            }
        }
    };
    // Either direction ending ends the pair, after a moment in which the
    // other carries the answering close frame.
    tokio::pin!(to_holder, to_peer);
    tokio::select! {
        _ = &mut to_holder => { let _ = tokio::time::timeout(Duration::from_secs(2), &mut to_peer).await; }
        _ = &mut to_peer => { let _ = tokio::time::timeout(Duration::from_secs(1), &mut to_holder).await; }
    }
}
