//! WebSocket clients for the relay's tests: a socket opened as a browser
//! opens one (the credential as the second subprotocol), and its next data
//! message or close code.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Error, Message, client::IntoClientRequest, http::HeaderValue},
};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens `url`, offering `credential` as a browser does: `skycast, <credential>`.
pub async fn open(url: &str, credential: &str) -> Result<Socket, Error> {
    let mut request = url.into_client_request()?;
    let offer = HeaderValue::from_str(&format!("skycast, {credential}")).map_err(|e| Error::HttpFormat(e.into()))?;
    request.headers_mut().insert("sec-websocket-protocol", offer);
    connect_async(request).await.map(|(s, _)| s)
}

/// The next data message (pings and pongs skipped), `Err` with the close
/// frame's code, or `Err(None)` if none came within 10 s or the socket broke.
pub async fn next(s: &mut Socket) -> Result<Message, Option<u16>> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), s.next()).await {
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(Some(Ok(Message::Close(frame)))) => return Err(frame.map(|f| u16::from(f.code))),
            Ok(Some(Ok(m))) => return Ok(m),
            _ => return Err(None),
        }
    }
}
