//! The session relay's data plane on the node (issue 14): a session's client
//! streams messages over a WebSocket, and every operator of the session gets
//! each of them, in order, as it comes. The rules (states, places, queues,
//! close codes) are `skycast_relay`'s; this is their sockets.
//!
//! `GET /ws/stream/{session_id}/{user_id}`: the socket of `user_id`, who must
//! hold an access token for that user (or, for the session's client, the
//! session's stream key): in the `token` (or `key`) query parameter, or,
//! from a browser, as the second WebSocket subprotocol (`new WebSocket(url,
//! ["skycast", token])`; the server answers `skycast`). No token, a bad or
//! expired one: 401; another user's: 403; a session the user may not see:
//! 404 — all before the upgrade, so nothing is relayed to or from them.
//! A session this node does not relay yet is claimed for it in the table
//! (`relay_records`) once the socket has a right to it; a socket for a
//! session another live node holds is carried there (`relay_forward`).
//!
//! Each socket has a writer task that drains its queue and a reader (the
//! socket's own task). The client never waits for an operator: its messages
//! go into every operator's bounded queue, and an operator whose queue
//! overflows is dropped with close 1013.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
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
use skycast_core::{auth::jwt::JwtKeys, ids, relay_session::RelaySession};
use skycast_relay::{Close, Control, Fanout, Finish, Limits, Message, Outbox, Role, Session, SessionStatus};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::{
    relay_forward,
    relay_records::{self, Claim, RelayEvent, SessionRecords},
};

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

impl RelayConfig {
    /// The platform's settings (`WS_MAX_MESSAGE_SIZE`, `SESSION_MAX_OPERATORS`).
    pub fn from_settings(settings: &skycast_core::config::RelaySettings) -> Self {
        let mut c = Self { max_message_bytes: settings.max_message_bytes, ..Self::default() };
        c.limits.max_operators = settings.max_operators as usize;
        c
    }
}

/// A session this node relays.
#[derive(Debug, Clone, Default)]
pub struct OpenSession {
    pub session_id: String,
    /// The source: its socket is relayed.
    pub client_id: String,
    /// Who may operate it: its creator and the users they invited.
    pub operators: BTreeSet<String>,
    /// SHA-256 (hex) of the stream key that also opens the client's socket.
    pub key_hash: Option<String>,
    /// Already finished (in the table): every socket is told so and closed.
    pub finished: Option<Finish>,
    /// Messages and bytes its record says were relayed before (by a node
    /// that held it until it died): what this node relays adds to them.
    pub relayed_before: (u64, u64),
}

impl OpenSession {
    pub fn from_record(s: &RelaySession) -> Self {
        let s = &s.clone().as_of(skycast_core::timefmt::unix_now());
        let mut operators: BTreeSet<String> = s.invited.iter().cloned().collect();
        operators.insert(s.creator_id.clone());
        operators.remove(&s.client_id);
        let reason = match s.finish_reason.as_deref() {
            Some("client_gone") => Finish::ClientGone,
            Some("idle") => Finish::Idle,
            Some("node_shutdown") => Finish::NodeShutdown,
            _ => Finish::Deleted,
        };
        let finished = (s.status == skycast_core::relay_session::RelayStatus::Finished).then_some(reason);
        Self {
            session_id: s.id.clone(),
            client_id: s.client_id.clone(),
            operators,
            key_hash: Some(s.key_hash.clone()),
            finished,
            relayed_before: (s.messages_relayed, s.bytes_relayed),
        }
    }
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
    /// The table, when the node serves the platform (tests may go without).
    records: Option<Arc<dyn SessionRecords>>,
    events: Option<mpsc::UnboundedSender<RelayEvent>>,
    /// Set by [`Hub::shutdown`]: no new socket is let in.
    draining: AtomicBool,
}

struct Live {
    session_id: String,
    client_id: String,
    key_hash: Option<String>,
    relayed_before: (u64, u64),
    events: Option<mpsc::UnboundedSender<RelayEvent>>,
    inner: Mutex<Inner>,
}

/// What has been sent to the table already.
#[derive(Default)]
struct Recorded {
    started: bool,
    operators: BTreeSet<String>,
    relayed: (u64, u64),
    finished: bool,
}

struct Inner {
    /// Who may operate (the table's invitations are read back as they change).
    may_operate: BTreeSet<String>,
    recorded: Recorded,
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
    /// When its figures were last reported.
    progress_at: Instant,
    /// When this node saw it finish (it is forgotten [`KEEP_FINISHED`] later).
    finished_at: Option<Instant>,
}

impl Live {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding it would be a bug; the data stays usable.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn emit(&self, event: RelayEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.send(event);
        }
    }

    /// Ends the session: every socket closes, and the end is recorded once.
    fn finish(&self, g: &mut Inner, why: Finish) {
        g.session.finish(why);
        let conns: Vec<u64> = g.wakers.keys().copied().collect();
        for conn in conns {
            g.close(conn, why.close());
        }
        if !std::mem::replace(&mut g.recorded.finished, true) {
            let (messages, bytes) = self.relayed(g);
            let reason = g.session.finished().unwrap_or(why);
            self.emit(RelayEvent::Finished { session_id: self.session_id.clone(), reason, messages, bytes });
        }
    }

    /// What the session relayed, when it changed since it was last recorded.
    fn progress(&self, g: &mut Inner) {
        let relayed = self.relayed(g);
        if relayed != g.recorded.relayed && !g.recorded.finished {
            g.recorded.relayed = relayed;
            let (messages, bytes) = relayed;
            self.emit(RelayEvent::Progress { session_id: self.session_id.clone(), messages, bytes });
        }
    }

    /// Messages and bytes relayed in the session's whole life.
    fn relayed(&self, g: &Inner) -> (u64, u64) {
        let (m, b) = g.session.relayed();
        (self.relayed_before.0 + m, self.relayed_before.1 + b)
    }

    fn may_operate(&self, user_id: &str) -> bool {
        self.lock().may_operate.contains(user_id)
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
    /// A hub that relays only the sessions it is given ([`Hub::open`]).
    pub fn new(config: RelayConfig, jwt: Arc<JwtKeys>) -> Arc<Self> {
        let hub = Arc::new(Self {
            config,
            jwt,
            sessions: Mutex::new(HashMap::new()),
            records: None,
            events: None,
            draining: AtomicBool::new(false),
        });
        tokio::spawn(tick(Arc::downgrade(&hub)));
        hub
    }

    /// A hub over the platform's table: it claims sessions as their sockets
    /// arrive, records what happens to them, and ends those finished there.
    pub fn with_records(config: RelayConfig, jwt: Arc<JwtKeys>, records: Arc<dyn SessionRecords>) -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(relay_records::record_events(records.clone(), rx));
        let hub = Arc::new(Self {
            config,
            jwt,
            sessions: Mutex::new(HashMap::new()),
            records: Some(records),
            events: Some(tx),
            draining: AtomicBool::new(false),
        });
        tokio::spawn(watch(Arc::downgrade(&hub)));
        tokio::spawn(tick(Arc::downgrade(&hub)));
        hub
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
        let mut session = Session::new(s.client_id.clone(), self.config.limits, now);
        if let Some(why) = s.finished {
            session.finish(why);
        }
        let live = Arc::new(Live {
            session_id: s.session_id.clone(),
            client_id: s.client_id,
            key_hash: s.key_hash,
            relayed_before: s.relayed_before,
            events: self.events.clone(),
            inner: Mutex::new(Inner {
                may_operate: s.operators,
                // A session finished before it came here was recorded so.
                recorded: Recorded { finished: s.finished.is_some(), relayed: s.relayed_before, ..Recorded::default() },
                session,
                fanout: Fanout::new(self.config.queue_messages, self.config.queue_bytes),
                header_next: false,
                to_client: client_outbox(),
                wakers: HashMap::new(),
                closing: HashMap::new(),
                heard: HashMap::new(),
                progress_at: now,
                finished_at: None,
            }),
        });
        {
            let mut sessions = self.sessions();
            if sessions.contains_key(&s.session_id) {
                return;
            }
            sessions.insert(s.session_id.clone(), live.clone());
        }
    }

    /// Ends a session: every socket closes (1000, or 1001 for a shutdown).
    pub fn finish(&self, session_id: &str, why: Finish) -> bool {
        let Some(live) = self.get(session_id) else { return false };
        let mut g = live.lock();
        if g.session.finished().is_none() {
            live.finish(&mut g, why);
        }
        true
    }

    /// Ends every session (the node is shutting down).
    pub fn finish_all(&self, why: Finish) {
        let all: Vec<Arc<Live>> = self.sessions().values().cloned().collect();
        for live in all {
            let mut g = live.lock();
            if g.session.finished().is_none() {
                live.finish(&mut g, why);
            }
        }
    }

    /// The node is stopping: every session finishes (close 1001), its end
    /// is recorded, and its sockets get their close frames, within `deadline`.
    pub async fn shutdown(&self, deadline: Duration) {
        self.draining.store(true, Ordering::SeqCst);
        self.finish_all(Finish::NodeShutdown);
        let flushed = async {
            if let Some(tx) = &self.events {
                let (done, wait) = oneshot::channel();
                if tx.send(RelayEvent::Flush(done)).is_ok() {
                    let _ = wait.await;
                }
            }
        };
        let closed = async {
            while self.sessions().values().any(|l| !l.lock().wakers.is_empty()) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        if tokio::time::timeout(deadline, async { tokio::join!(flushed, closed) }).await.is_err() {
            tracing::warn!("relay: not every session's end was recorded or closed before the deadline");
        }
    }

    /// Open sessions not yet finished.
    fn unfinished(&self) -> Vec<Arc<Live>> {
        self.sessions().values().filter(|l| l.lock().session.finished().is_none()).cloned().collect()
    }

    /// Claims the session for this node, or finds the node that holds it.
    async fn take(self: &Arc<Self>, session_id: &str) -> Result<Found, Response> {
        if let Some(live) = self.get(session_id) {
            return Ok(Found::Here(live));
        }
        let Some(records) = &self.records else { return Err(not_found()) };
        match records.claim(session_id).await.map_err(unavailable)? {
            Claim::Here(record) => {
                self.open(OpenSession::from_record(&record));
                self.get(session_id).map(Found::Here).ok_or_else(not_found)
            }
            Claim::Elsewhere { node_id, http_addr: Some(addr) } => {
                tracing::debug!(session_id, %node_id, "relay session is on another node: forwarding");
                Ok(Found::Elsewhere(addr))
            }
            Claim::Elsewhere { node_id, http_addr: None } => {
                tracing::info!(session_id, %node_id, "relay session is on a node that cannot be reached");
                Err(refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "session_on_another_node",
                    "the session is relayed by a node that cannot be reached from here; try again",
                ))
            }
            Claim::NotFound => Err(not_found()),
        }
    }

    /// Whether `user_id` may operate `live`, reading the table again when
    /// this node does not know of an invitation (it may be newer).
    async fn may_operate(&self, live: &Live, user_id: &str) -> bool {
        if live.may_operate(user_id) {
            return true;
        }
        let Some(records) = &self.records else { return false };
        match records.get(&live.session_id).await {
            Ok(Some(record)) => {
                let allowed = OpenSession::from_record(&record).operators;
                let ok = allowed.contains(user_id);
                live.lock().may_operate = allowed;
                ok
            }
            _ => false,
        }
    }

    pub fn snapshot(&self, session_id: &str) -> Option<Snapshot> {
        let live = self.get(session_id)?;
        let g = live.lock();
        let (messages, bytes) = live.relayed(&g);
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

/// Every second, for every session (one timer for the node, not one per
/// session): time alone may finish it (its client gone past the grace,
/// idle); its figures are reported every [`relay_records::PROGRESS_EVERY`];
/// a finished one is forgotten after [`KEEP_FINISHED`].
async fn tick(hub: std::sync::Weak<Hub>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        every.tick().await;
        let Some(hub) = hub.upgrade() else { return };
        let all: Vec<Arc<Live>> = hub.sessions().values().cloned().collect();
        let now = Instant::now();
        let mut forget = Vec::new();
        for live in all {
            let mut g = live.lock();
            if let Some(why) = g.session.tick(now) {
                live.finish(&mut g, why);
            }
            if now.saturating_duration_since(g.progress_at) >= relay_records::PROGRESS_EVERY {
                g.progress_at = now;
                live.progress(&mut g);
            }
            match (g.session.finished(), g.finished_at) {
                (Some(why), None) => {
                    tracing::info!(session_id = %live.session_id, reason = why.as_str(), "relay session finished");
                    g.finished_at = Some(now);
                }
                (Some(_), Some(at)) if now.saturating_duration_since(at) >= KEEP_FINISHED => {
                    forget.push(live.session_id.clone());
                }
                _ => {}
            }
        }
        let mut sessions = hub.sessions();
        for id in forget {
            sessions.remove(&id);
        }
    }
}

/// Every [`relay_records::WATCH_EVERY`]: ends the sessions finished in the
/// table (their creator's `DELETE`), and learns invitations.
async fn watch(hub: std::sync::Weak<Hub>) {
    loop {
        tokio::time::sleep(relay_records::WATCH_EVERY).await;
        let Some(hub) = hub.upgrade() else { return };
        let Some(records) = hub.records.clone() else { return };
        let open = hub.unfinished();
        if open.is_empty() {
            continue;
        }
        let ids: Vec<&str> = open.iter().map(|l| l.session_id.as_str()).collect();
        let current = match records.current(&ids).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "relay: cannot read sessions back; next time");
                continue;
            }
        };
        for record in current {
            let Some(live) = hub.get(&record.id) else { continue };
            let seen = OpenSession::from_record(&record);
            let mut g = live.lock();
            if g.session.finished().is_some() {
                continue;
            }
            if let Some(why) = seen.finished {
                tracing::info!(session_id = %record.id, "relay session finished in the table: closing its sockets");
                live.finish(&mut g, why);
                continue;
            }
            if record.node_id.as_deref() != Some(records.node_id()) {
                // Another node took it over (this one looked dead): its
                // sockets reconnect there. Its records are the other's now.
                tracing::warn!(session_id = %record.id, holder = ?record.node_id, "relay session taken over by another node");
                g.recorded.finished = true;
                live.finish(&mut g, Finish::NodeShutdown);
                continue;
            }
            // An invitation taken back ends that operator's sockets.
            let gone: Vec<u64> = g
                .session
                .operator_sockets()
                .filter(|(_, user)| !seen.operators.contains(*user))
                .map(|(conn, _)| conn)
                .collect();
            for conn in gone {
                g.close(conn, Close::NotInvited);
            }
            g.may_operate = seen.operators;
        }
    }
}

#[derive(Deserialize)]
struct CredentialQuery {
    token: Option<String>,
    key: Option<String>,
}

fn not_found() -> Response {
    refuse(StatusCode::NOT_FOUND, "not_found", "session not found")
}

pub(crate) fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
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

/// Where a session is relayed.
enum Found {
    Here(Arc<Live>),
    /// By the node whose HTTP port is at this `host:port`.
    Elsewhere(String),
}

/// Who a socket is, before its upgrade (the response refuses it): checked
/// against the session here, or its record, before this node claims the
/// session or forwards the socket to the node that holds it, so nobody
/// without a right to the session makes either happen.
async fn admit(hub: &Arc<Hub>, session_id: &str, user_id: &str, credential: &str) -> Result<Found, Response> {
    let unauthorized = |m: &str| refuse(StatusCode::UNAUTHORIZED, "unauthorized", m);
    let wrong_key = || unauthorized("the stream key is not this session's");
    // Sessions and users are UUIDs: anything else cannot exist, and costs no lookup.
    if hub.records.is_some() && !(ids::is_id(session_id) && ids::is_id(user_id)) {
        return Err(not_found());
    }
    // An access token is a JWT (it has dots); a stream key is not.
    let by_token = credential.contains('.');
    if by_token {
        let Ok(claims) = hub.jwt.verify(credential) else {
            return Err(unauthorized("the token is invalid or expired"));
        };
        if claims.sub != user_id {
            return Err(refuse(StatusCode::FORBIDDEN, "forbidden", "the token is another user's"));
        }
    }
    let key_matches = |hash: &str| ids::secrets_equal(&ids::sha256_hex(credential), hash);
    // Sessions the user may not see look like no session at all.
    if let Some(live) = hub.get(session_id) {
        return match (by_token, live.client_id == user_id) {
            (true, true) => Ok(Found::Here(live)),
            (true, false) if hub.may_operate(&live, user_id).await => Ok(Found::Here(live)),
            (false, true) if live.key_hash.as_deref().is_some_and(key_matches) => Ok(Found::Here(live)),
            (false, true) => Err(wrong_key()),
            _ => Err(not_found()),
        };
    }
    let Some(records) = &hub.records else { return Err(not_found()) };
    let record = records.get(session_id).await.map_err(unavailable)?.ok_or_else(not_found)?;
    match (by_token, record.client_id == user_id) {
        (true, true) => {}
        (true, false) if OpenSession::from_record(&record).operators.contains(user_id) => {}
        (false, true) if key_matches(&record.key_hash) => {}
        (false, true) => return Err(wrong_key()),
        _ => return Err(not_found()),
    }
    hub.take(session_id).await
}

fn unavailable(e: relay_records::RecordsError) -> Response {
    tracing::warn!(error = %e, "relay: cannot reach the sessions table");
    refuse(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "sessions cannot be reached; try again")
}

async fn upgrade(
    State(hub): State<Arc<Hub>>,
    Path((session_id, user_id)): Path<(String, String)>,
    Query(query): Query<CredentialQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let from_protocol = token_from_protocols(&headers);
    let via_protocol = from_protocol.is_some();
    let Some(credential) = query.token.or(query.key).or(from_protocol) else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a token is required: ?token= (or the client's ?key=), or the subprotocols skycast, <token>",
        );
    };
    if hub.draining.load(Ordering::SeqCst) {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "draining", "this node is shutting down; connect again");
    }
    let found = match admit(&hub, &session_id, &user_id, &credential).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let max = hub.config.max_message_bytes;
    let ws = ws.max_message_size(max).max_frame_size(max);
    let ws = if via_protocol { ws.protocols([SUBPROTOCOL]) } else { ws };
    let ping_every = hub.config.ping_every;
    match found {
        Found::Here(live) => ws.on_upgrade(move |socket| run_socket(live, user_id, socket, ping_every)),
        Found::Elsewhere(addr) => {
            let upstream = match relay_forward::connect(&addr, &session_id, &user_id, &credential, max).await {
                Ok(up) => up,
                Err(refused) => return refused,
            };
            ws.on_upgrade(move |socket| relay_forward::pump(socket, upstream, ping_every))
        }
    }
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
                    Role::Operator => {
                        g.fanout.join(j.conn);
                        if g.recorded.operators.insert(user_id.clone()) {
                            let user_id = user_id.clone();
                            live.emit(RelayEvent::OperatorJoined { session_id: live.session_id.clone(), user_id });
                        }
                    }
                    Role::Client => {
                        // A header announced by a socket this one replaced is not its.
                        g.header_next = false;
                        if !std::mem::replace(&mut g.recorded.started, true) {
                            live.emit(RelayEvent::Started { session_id: live.session_id.clone() });
                        }
                    }
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

pub(crate) fn too_big(e: axum::Error) -> bool {
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
    // A ping that fell due while a write was blocked goes out next.
    let mut ping_due = false;
    loop {
        let step = if std::mem::take(&mut ping_due) || ping.tick().now_or_never().is_some() {
            Step::Ping
        } else {
            let mut g = live.lock();
            let pop = |g: &mut Inner| match role {
                Role::Operator => g.fanout.pop(conn),
                Role::Client => g.to_client.pop(),
            };
            match g.closing.get(&conn).copied() {
                // A session that finishes delivers what it relayed first.
                Some(Close::SessionFinished | Close::NodeShuttingDown) => match pop(&mut g) {
                    Some(m) => Step::Send(m),
                    None => g.closing.remove(&conn).map_or(Step::Wait, Step::Close),
                },
                Some(_) => g.closing.remove(&conn).map_or(Step::Wait, Step::Close),
                None => pop(&mut g).map_or(Step::Wait, Step::Send),
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
        // The ping interval (one timer for the socket's life) watches the
        // write, rather than a timer per message: at 10 operators a
        // per-send timeout was most of what the relay costs over a bare
        // broadcast.
        let started = Instant::now();
        let send = sink.send(frame);
        tokio::pin!(send);
        let sent = loop {
            tokio::select! {
                r = &mut send => break r.is_ok(),
                _ = ping.tick() => {
                    ping_due = true;
                    if started.elapsed() >= send_limit {
                        break false;
                    }
                }
            }
        };
        if last || !sent {
            return;
        }
    }
}
