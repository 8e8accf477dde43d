//! The session relay's data plane on the node (issue 14): a session's client
//! streams messages over a WebSocket, and every operator of the session gets
//! each of them, in order, as it comes. The rules (states, places, queues,
//! close codes) are `skycast_relay`'s; this is their sockets.
//!
//! `GET /ws/stream/{session_id}/{user_id}`: the socket of `user_id`, who must
//! hold an access token for that user: in the `token` query parameter, or,
//! from a browser, as the second WebSocket subprotocol (`new WebSocket(url,
//! ["skycast", token])`; the server answers `skycast`). No token, a bad or
//! expired one: 401; another user's: 403; a session the user may not see:
//! 404 — all before the upgrade, so nothing is relayed to or from them.
//!
//! Each socket has a writer task that drains its queue and a reader (the
//! socket's own task). The client never waits for an operator: its messages
//! go into every operator's bounded queue, and an operator whose queue
//! overflows is dropped with close 1013.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::{
        Path, Query, State, WebSocketUpgrade,
        ws::{CloseFrame, Message as Ws, Utf8Bytes, WebSocket},
    },
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt, stream::SplitSink};
use serde::Deserialize;
use skycast_core::auth::jwt::JwtKeys;
use skycast_relay::{Close, Control, Fanout, Finish, Limits, Message, Outbox, Role, Session, SessionStatus};
use tokio::sync::Notify;

/// The relay's settings on this node.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// `WS_MAX_MESSAGE_SIZE`: a larger message closes its socket with 1009.
    pub max_message_bytes: usize,
    pub limits: Limits,
    /// Each operator's queue: at most this many messages and bytes.
    pub queue_messages: usize,
    pub queue_bytes: usize,
    /// How often an idle socket is pinged; one silent for three of these is dropped.
    pub ping_every: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 10 * 1024 * 1024,
            limits: Limits::default(),
            // At 2 Mbps, 16 MiB is a minute of media: far behind live already.
            queue_messages: 4096,
            queue_bytes: 16 * 1024 * 1024,
            ping_every: Duration::from_secs(15),
        }
    }
}

/// A session this node relays.
#[derive(Debug, Clone)]
pub struct OpenSession {
    pub session_id: String,
    /// The user whose socket is the source.
    pub client_id: String,
    /// The users the session's creator invited to operate it.
    pub operators: BTreeSet<String>,
}

/// A session's figures, for its REST view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub status: SessionStatus,
    pub finished: Option<Finish>,
    pub client_connected: bool,
    pub operators_connected: usize,
    pub operators_joined: Vec<String>,
    pub messages: u64,
    pub bytes: u64,
}

/// What operators may have waiting for the client: chat and control text,
/// not media.
fn client_outbox() -> Outbox {
    Outbox::new(256, 1024 * 1024)
}

/// How long a finished session is remembered, so a socket arriving late is
/// told "session finished" (close 1000) rather than "not found".
const KEEP_FINISHED: Duration = Duration::from_secs(60);

/// The sessions on this node.
pub struct Hub {
    config: RelayConfig,
    jwt: Arc<JwtKeys>,
    sessions: Mutex<HashMap<String, Arc<Live>>>,
}

struct Live {
    client_id: String,
    operators: BTreeSet<String>,
    inner: Mutex<Inner>,
}

struct Inner {
    session: Session,
    fanout: Fanout,
    /// The client announced that its next binary message is the header.
    header_next: bool,
    /// What operators send the client (text only).
    to_client: Outbox,
    /// Each socket's writer, to wake when it has something to do.
    wakers: HashMap<u64, Arc<Notify>>,
    /// Sockets told to close, and how.
    closing: HashMap<u64, Close>,
    /// When each socket was last heard from (any frame, pongs included).
    heard: HashMap<u64, Instant>,
}

impl Live {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding it would be a bug; the data stays usable.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    fn close(&mut self, conn: u64, why: Close) {
        self.closing.insert(conn, why);
        if let Some(w) = self.wakers.get(&conn) {
            w.notify_one();
        }
    }
}

impl Hub {
    pub fn new(config: RelayConfig, jwt: Arc<JwtKeys>) -> Arc<Self> {
        Arc::new(Self { config, jwt, sessions: Mutex::new(HashMap::new()) })
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<String, Arc<Live>>> {
        self.sessions.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn get(&self, id: &str) -> Option<Arc<Live>> {
        self.sessions().get(id).cloned()
    }

    /// Starts relaying a session (again opening one already open changes
    /// nothing); it ends by itself when idle or its client is gone.
    pub fn open(self: &Arc<Self>, s: OpenSession) {
        let now = Instant::now();
        let live = Arc::new(Live {
            client_id: s.client_id.clone(),
            operators: s.operators,
            inner: Mutex::new(Inner {
                session: Session::new(s.client_id, self.config.limits, now),
                fanout: Fanout::new(self.config.queue_messages, self.config.queue_bytes),
                header_next: false,
                to_client: client_outbox(),
                wakers: HashMap::new(),
                closing: HashMap::new(),
                heard: HashMap::new(),
            }),
        });
        {
            let mut sessions = self.sessions();
            if sessions.contains_key(&s.session_id) {
                return;
            }
            sessions.insert(s.session_id.clone(), live.clone());
        }
        let hub = Arc::downgrade(self);
        let id = s.session_id;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut finished_at: Option<Instant> = None;
            loop {
                tick.tick().await;
                let Some(hub) = hub.upgrade() else { return };
                let finished = {
                    let mut g = live.lock();
                    // Nothing once finished (tick says so).
                    if let Some(why) = g.session.tick(Instant::now()) {
                        close_all(&mut g, why);
                    }
                    g.session.finished()
                };
                match (finished, finished_at) {
                    (Some(why), None) => {
                        tracing::info!(session_id = %id, reason = why.as_str(), "relay session finished");
                        finished_at = Some(Instant::now());
                    }
                    (Some(_), Some(at)) if at.elapsed() >= KEEP_FINISHED => {
                        hub.sessions().remove(&id);
                        return;
                    }
                    _ => {}
                }
            }
        });
    }

    /// Ends a session: every socket closes (1000, or 1001 for a shutdown).
    pub fn finish(&self, session_id: &str, why: Finish) -> bool {
        let Some(live) = self.get(session_id) else { return false };
        close_all(&mut live.lock(), why);
        true
    }

    /// Ends every session (the node is shutting down).
    pub fn finish_all(&self, why: Finish) {
        let all: Vec<Arc<Live>> = self.sessions().values().cloned().collect();
        for live in all {
            close_all(&mut live.lock(), why);
        }
    }

    pub fn snapshot(&self, session_id: &str) -> Option<Snapshot> {
        let live = self.get(session_id)?;
        let g = live.lock();
        let (messages, bytes) = g.session.relayed();
        Some(Snapshot {
            status: g.session.status(),
            finished: g.session.finished(),
            client_connected: g.session.client_connected(),
            operators_connected: g.session.operators_connected(),
            operators_joined: g.session.operators_joined().map(str::to_owned).collect(),
            messages,
            bytes,
        })
    }

    /// The WebSocket route.
    pub fn routes(self: Arc<Self>) -> Router {
        Router::new().route("/ws/stream/{session_id}/{user_id}", get(upgrade)).with_state(self)
    }
}

fn close_all(g: &mut Inner, why: Finish) {
    g.session.finish(why);
    let conns: Vec<u64> = g.wakers.keys().copied().collect();
    for conn in conns {
        g.close(conn, why.close());
    }
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": message}});
    (status, Json(body)).into_response()
}

/// The subprotocol a browser sends its token in: `skycast, <token>`.
const SUBPROTOCOL: &str = "skycast";

fn token_from_protocols(headers: &HeaderMap) -> Option<String> {
    let offered = headers.get(header::SEC_WEBSOCKET_PROTOCOL)?.to_str().ok()?;
    let mut parts = offered.split(',').map(str::trim);
    (parts.next()? == SUBPROTOCOL).then(|| parts.next().map(str::to_owned)).flatten()
}

async fn upgrade(
    State(hub): State<Arc<Hub>>,
    Path((session_id, user_id)): Path<(String, String)>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let from_protocol = token_from_protocols(&headers);
    let via_protocol = from_protocol.is_some();
    let Some(token) = query.token.or(from_protocol) else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a token is required: ?token= or the subprotocols skycast, <token>",
        );
    };
    let Ok(claims) = hub.jwt.verify(&token) else {
        return refuse(StatusCode::UNAUTHORIZED, "unauthorized", "the token is invalid or expired");
    };
    if claims.sub != user_id {
        return refuse(StatusCode::FORBIDDEN, "forbidden", "the token is another user's");
    }
    let live = match hub.get(&session_id) {
        Some(l) if l.client_id == user_id || l.operators.contains(&user_id) => l,
        // Sessions the user may not see look like no session at all.
        _ => return refuse(StatusCode::NOT_FOUND, "not_found", "session not found"),
    };
    let max = hub.config.max_message_bytes;
    let ws = ws.max_message_size(max).max_frame_size(max);
    let ws = if via_protocol { ws.protocols([SUBPROTOCOL]) } else { ws };
    let ping_every = hub.config.ping_every;
    ws.on_upgrade(move |socket| run_socket(live, user_id, socket, ping_every))
}

fn close_frame(why: Close) -> Ws {
    Ws::Close(Some(CloseFrame { code: why.code(), reason: Utf8Bytes::from(why.reason()) }))
}

async fn run_socket(live: Arc<Live>, user_id: String, socket: WebSocket, ping_every: Duration) {
    let (mut sink, mut stream) = socket.split();
    let now = Instant::now();
    let wake = Arc::new(Notify::new());
    let joined = {
        let mut g = live.lock();
        match g.session.connect(&user_id, now) {
            Err(refusal) => Err(refusal),
            Ok(j) => {
                g.wakers.insert(j.conn, wake.clone());
                g.heard.insert(j.conn, now);
                if let Some(old) = j.replaced {
                    g.close(old, Close::Replaced);
                    g.fanout.leave(old);
                }
                match j.role {
                    Role::Operator => g.fanout.join(j.conn),
                    // A header announced by a socket this one replaced is not its.
                    Role::Client => g.header_next = false,
                }
                Ok(j)
            }
        }
    };
    let joined = match joined {
        Ok(j) => j,
        Err(refusal) => {
            let _ = tokio::time::timeout(ping_every, sink.send(close_frame(refusal.close()))).await;
            return;
        }
    };
    let conn = joined.conn;
    tracing::debug!(conn, role = ?joined.role, "relay socket joined");
    let mut writer = tokio::spawn(write_loop(live.clone(), conn, joined.role, sink, wake, ping_every));
    let read = tokio::select! {
        ended = read_loop(&live, conn, joined.role, &mut stream) => Some(ended),
        _ = &mut writer => None,
    };
    // Drain what the peer still sends (its close reply, the rest of an
    // oversized frame) for a moment, so the connection ends with our close
    // frame delivered rather than reset.
    match read {
        // The relay ends the socket (1009, 1003, 1008): the writer sends the close.
        Some(Some(why)) => {
            live.lock().close(conn, why);
            let _ = tokio::time::timeout(Duration::from_secs(2), &mut writer).await;
            drain(&mut stream, Duration::from_secs(1)).await;
        }
        // The peer closed (or the connection broke): one more read makes
        // tungstenite send its close reply.
        Some(None) => {
            drain(&mut stream, Duration::from_millis(500)).await;
        }
        // The writer closed the socket (finished, replaced, too slow) or gave up on it.
        None => {
            drain(&mut stream, Duration::from_secs(2)).await;
        }
    }
    writer.abort();
    let mut g = live.lock();
    g.session.disconnect(conn, Instant::now());
    g.fanout.leave(conn);
    g.wakers.remove(&conn);
    g.closing.remove(&conn);
    g.heard.remove(&conn);
}

/// Reads and drops what a socket still sends, for at most `limit`.
async fn drain(stream: &mut futures_util::stream::SplitStream<WebSocket>, limit: Duration) {
    let _ = tokio::time::timeout(limit, async { while stream.next().await.is_some() {} }).await;
}

/// Reads one socket until it ends; the close to send, if the relay ends it.
async fn read_loop(
    live: &Live,
    conn: u64,
    role: Role,
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
) -> Option<Close> {
    while let Some(frame) = stream.next().await {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => return too_big(e).then_some(Close::TooBig),
        };
        live.lock().heard.insert(conn, Instant::now());
        match (role, frame) {
            (_, Ws::Close(_)) => return None,
            (_, Ws::Ping(_) | Ws::Pong(_)) => {}
            (Role::Client, Ws::Binary(b)) => relay(live, conn, Message::Binary(b), true),
            (Role::Client, Ws::Text(t)) => match Control::parse(t.as_str()) {
                Ok(None) => relay(live, conn, Message::Text(Bytes::from(t)), false),
                Ok(Some(Control::Header)) => {
                    let mut g = live.lock();
                    if g.session.client_conn() == Some(conn) {
                        g.header_next = true;
                    }
                }
                Err(_) => return Some(Close::UnknownControl),
            },
            (Role::Operator, Ws::Text(t)) => {
                let mut g = live.lock();
                if g.to_client.push(Message::Text(Bytes::from(t))).is_err() {
                    // The client does not read what operators say: start over
                    // rather than hold it, and never slow the operator down.
                    tracing::warn!(conn, "operator messages to the client dropped: the client does not read them");
                    g.to_client = client_outbox();
                }
                if let Some(w) = g.session.client_conn().and_then(|c| g.wakers.get(&c)) {
                    w.notify_one();
                }
            }
            (Role::Operator, Ws::Binary(_)) => return Some(Close::OperatorsSendText),
        }
    }
    None
}

fn too_big(e: axum::Error) -> bool {
    use tokio_tungstenite::tungstenite::Error;
    matches!(e.into_inner().downcast_ref::<Error>(), Some(Error::Capacity(_)))
}

/// The client's message to every operator. `binary`: a header announced by
/// the client applies to its next binary message.
fn relay(live: &Live, conn: u64, m: Message, binary: bool) {
    let mut g = live.lock();
    if !g.session.heard(conn, m.len(), Instant::now()) {
        return;
    }
    let header = binary && std::mem::take(&mut g.header_next);
    for slow in g.fanout.publish(m, header) {
        tracing::info!(conn = slow, "operator too slow: dropped");
        // Its place frees now, not when its blocked socket gives up.
        g.session.disconnect(slow, Instant::now());
        g.close(slow, Close::TooSlow);
    }
    let client = g.session.client_conn();
    for (c, w) in &g.wakers {
        if Some(*c) != client {
            w.notify_one();
        }
    }
}

enum Step {
    Send(Message),
    Close(Close),
    Ping,
    Wait,
}

async fn write_loop(
    live: Arc<Live>,
    conn: u64,
    role: Role,
    mut sink: SplitSink<WebSocket, Ws>,
    wake: Arc<Notify>,
    ping_every: Duration,
) {
    let mut ping = tokio::time::interval(ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    // A write blocked this long is a peer that stopped reading: it goes, and
    // with it its place (its reader is dropped with this socket).
    let send_limit = ping_every * 2;
    // Pings go out on time whether or not messages flow, so silence is only
    // ever judged after pings had time to be answered.
    let silent = |live: &Live| live.lock().heard.get(&conn).is_none_or(|t| t.elapsed() > ping_every * 3);
    loop {
        let step = if ping.tick().now_or_never().is_some() {
            Step::Ping
        } else {
            let mut g = live.lock();
            if let Some(why) = g.closing.remove(&conn) {
                Step::Close(why)
            } else {
                let next = match role {
                    Role::Operator => g.fanout.pop(conn),
                    Role::Client => g.to_client.pop(),
                };
                next.map_or(Step::Wait, Step::Send)
            }
        };
        let step = match step {
            Step::Wait => tokio::select! {
                _ = wake.notified() => continue,
                _ = ping.tick() => Step::Ping,
            },
            other => other,
        };
        let (frame, last) = match step {
            Step::Send(Message::Binary(b)) => (Ws::Binary(b), false),
            Step::Send(Message::Text(b)) => match Utf8Bytes::try_from(b) {
                Ok(t) => (Ws::Text(t), false),
                Err(_) => continue,
            },
            Step::Ping if silent(&live) => {
                tracing::info!(conn, "relay socket silent: dropped");
                return;
            }
            Step::Ping => (Ws::Ping(Bytes::new()), false),
            Step::Close(why) => (close_frame(why), true),
            Step::Wait => continue,
        };
        let sent = tokio::time::timeout(send_limit, sink.send(frame)).await;
        if last || !matches!(sent, Ok(Ok(()))) {
            return;
        }
    }
}
