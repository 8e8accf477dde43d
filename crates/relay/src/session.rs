//! One session as the node holding it sees it: its state, its sockets, and
//! when it ends. `waiting` (made, no client yet) → `active` (its client
//! connected) → `finished` (deleted, its client gone longer than the grace,
//! idle, or the node shutting down). Finished is final: every socket closes.
//!
//! Every socket gets a connection number; a socket that ends reports its
//! number, so a socket that another replaced cannot take its successor with it.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use crate::protocol::Close;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Operators connected at once (`SESSION_MAX_OPERATORS`).
    pub max_operators: usize,
    /// How long the session waits for its client to come back.
    pub client_grace: Duration,
    /// How long the session lives with nothing from its client: waiting for
    /// it to connect, or connected and silent.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_operators: 10, client_grace: Duration::from_secs(30), idle_timeout: Duration::from_secs(600) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    Waiting,
    Active,
    Finished,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Active => "active",
            Self::Finished => "finished",
        }
    }
}

/// Why a session finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Deleted,
    ClientGone,
    Idle,
    NodeShutdown,
}

impl Finish {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deleted => "deleted",
            Self::ClientGone => "client_gone",
            Self::Idle => "idle",
            Self::NodeShutdown => "node_shutdown",
        }
    }

    /// How every socket of the session closes.
    pub fn close(self) -> Close {
        match self {
            Self::NodeShutdown => Close::NodeShuttingDown,
            _ => Close::SessionFinished,
        }
    }
}

/// Why a socket is not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Finished,
    Full,
}

impl Refusal {
    pub fn close(self) -> Close {
        match self {
            Self::Finished => Close::SessionFinished,
            Self::Full => Close::SessionFull,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Client,
    Operator,
}

/// A socket let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Joined {
    pub conn: u64,
    pub role: Role,
    /// The client's earlier socket, which must now close ([`Close::Replaced`]).
    pub replaced: Option<u64>,
}

#[derive(Debug)]
pub struct Session {
    client_id: String,
    limits: Limits,
    status: SessionStatus,
    finished: Option<Finish>,
    client: Option<u64>,
    client_left_at: Option<Instant>,
    /// Connected operators: socket → user. A user may have several (a
    /// console in two tabs); each takes a place.
    operators: BTreeMap<u64, String>,
    /// Everyone who ever joined as an operator.
    joined: BTreeSet<String>,
    last_heard: Instant,
    next_conn: u64,
    messages: u64,
    bytes: u64,
}

impl Session {
    pub fn new(client_id: impl Into<String>, limits: Limits, now: Instant) -> Self {
        Self {
            client_id: client_id.into(),
            limits,
            status: SessionStatus::Waiting,
            finished: None,
            client: None,
            client_left_at: None,
            operators: BTreeMap::new(),
            joined: BTreeSet::new(),
            last_heard: now,
            next_conn: 1,
            messages: 0,
            bytes: 0,
        }
    }

    /// Lets `user_id` in: as the client if it is the session's (a new client
    /// socket replaces the old: a client on a new network reconnects at
    /// once), else as an operator while a place is free (each socket takes
    /// one: a user may watch in two tabs). Who may operate at all is decided before.
    pub fn connect(&mut self, user_id: &str, now: Instant) -> Result<Joined, Refusal> {
        if self.status == SessionStatus::Finished {
            return Err(Refusal::Finished);
        }
        let conn = self.next_conn;
        if user_id == self.client_id {
            self.next_conn += 1;
            let replaced = self.client.replace(conn);
            self.client_left_at = None;
            self.status = SessionStatus::Active;
            self.last_heard = now;
            return Ok(Joined { conn, role: Role::Client, replaced });
        }
        if self.operators.len() >= self.limits.max_operators {
            return Err(Refusal::Full);
        }
        self.next_conn += 1;
        self.operators.insert(conn, user_id.to_owned());
        self.joined.insert(user_id.to_owned());
        Ok(Joined { conn, role: Role::Operator, replaced: None })
    }

    /// Socket `conn` ended. Unknown or replaced sockets change nothing.
    pub fn disconnect(&mut self, conn: u64, now: Instant) {
        if self.client == Some(conn) {
            self.client = None;
            self.client_left_at = Some(now);
        } else {
            self.operators.remove(&conn);
        }
    }

    /// The client (socket `conn`) sent a message of `len` bytes; `false` if
    /// `conn` is not the session's client socket (nothing is relayed then).
    pub fn heard(&mut self, conn: u64, len: usize, now: Instant) -> bool {
        if self.status != SessionStatus::Active || self.client != Some(conn) {
            return false;
        }
        self.last_heard = now;
        self.messages += 1;
        self.bytes += len as u64;
        true
    }

    /// Whether time alone ends the session now; if so it is finished.
    pub fn tick(&mut self, now: Instant) -> Option<Finish> {
        let why = match self.status {
            SessionStatus::Finished => return None,
            SessionStatus::Waiting => {
                (now.saturating_duration_since(self.last_heard) >= self.limits.idle_timeout).then_some(Finish::Idle)
            }
            SessionStatus::Active => match self.client_left_at {
                Some(left) if now.saturating_duration_since(left) >= self.limits.client_grace => {
                    Some(Finish::ClientGone)
                }
                _ if now.saturating_duration_since(self.last_heard) >= self.limits.idle_timeout => Some(Finish::Idle),
                _ => None,
            },
        }?;
        self.finish(why);
        Some(why)
    }

    /// Ends the session (the first reason given stands).
    pub fn finish(&mut self, why: Finish) {
        if self.finished.is_none() {
            self.finished = Some(why);
        }
        self.status = SessionStatus::Finished;
        self.client = None;
        self.operators.clear();
    }

    pub fn status(&self) -> SessionStatus {
        self.status
    }

    pub fn finished(&self) -> Option<Finish> {
        self.finished
    }

    pub fn client_connected(&self) -> bool {
        self.client.is_some()
    }

    /// The client's socket, while it is connected.
    pub fn client_conn(&self) -> Option<u64> {
        self.client
    }

    /// The operators' sockets now, and whose each is.
    pub fn operator_sockets(&self) -> impl Iterator<Item = (u64, &str)> {
        self.operators.iter().map(|(c, u)| (*c, u.as_str()))
    }

    /// Operators connected now.
    pub fn operators_connected(&self) -> usize {
        self.operators.len()
    }

    /// Everyone who joined as an operator, connected or not.
    pub fn operators_joined(&self) -> impl Iterator<Item = &str> {
        self.joined.iter().map(String::as_str)
    }

    /// Messages and bytes relayed from the client.
    pub fn relayed(&self) -> (u64, u64) {
        (self.messages, self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn limits(max: usize) -> Limits {
        Limits { max_operators: max, client_grace: Duration::from_secs(30), idle_timeout: Duration::from_secs(600) }
    }

    #[test]
    fn the_client_makes_it_active_and_its_absence_past_the_grace_finishes_it() {
        let t0 = Instant::now();
        let mut s = Session::new("alice", limits(5), t0);
        assert_eq!(s.status(), SessionStatus::Waiting);
        let c = s.connect("alice", t0).unwrap();
        assert_eq!((c.role, c.replaced, s.status()), (Role::Client, None, SessionStatus::Active));
        assert!(s.heard(c.conn, 100, t0));
        s.disconnect(c.conn, t0 + Duration::from_secs(1));
        assert_eq!(s.tick(t0 + Duration::from_secs(30)), None, "within the grace");
        // Back within the grace: the same session goes on.
        let again = s.connect("alice", t0 + Duration::from_secs(20)).unwrap();
        assert_eq!(s.tick(t0 + Duration::from_secs(60)), None);
        s.disconnect(again.conn, t0 + Duration::from_secs(61));
        assert_eq!(s.tick(t0 + Duration::from_secs(91)), Some(Finish::ClientGone));
        assert_eq!(s.status(), SessionStatus::Finished);
        assert_eq!(s.connect("alice", t0 + Duration::from_secs(92)), Err(Refusal::Finished));
        assert_eq!(s.connect("bob", t0 + Duration::from_secs(92)), Err(Refusal::Finished));
    }

    #[test]
    fn a_second_client_socket_replaces_the_first_which_cannot_then_end_the_session() {
        let t0 = Instant::now();
        let mut s = Session::new("alice", limits(5), t0);
        let first = s.connect("alice", t0).unwrap();
        let second = s.connect("alice", t0).unwrap();
        assert_eq!(second.replaced, Some(first.conn));
        assert!(!s.heard(first.conn, 1, t0), "the replaced socket relays nothing");
        s.disconnect(first.conn, t0);
        assert!(s.client_connected(), "its end does not take its successor with it");
        assert_eq!(s.tick(t0 + Duration::from_secs(3600)), Some(Finish::Idle), "silent for an hour: idle");
    }

    #[test]
    fn operators_fill_the_places_and_free_them_when_they_go() {
        let t0 = Instant::now();
        let mut s = Session::new("alice", limits(2), t0);
        let a = s.connect("op1", t0).unwrap();
        s.connect("op2", t0).unwrap();
        assert_eq!(s.connect("op3", t0), Err(Refusal::Full));
        s.disconnect(a.conn, t0);
        // The same operator twice (two tabs): two sockets, two places, none replaced.
        let b1 = s.connect("op1", t0).unwrap();
        assert_eq!((b1.role, b1.replaced), (Role::Operator, None));
        assert_eq!(s.connect("op1", t0), Err(Refusal::Full), "a second tab needs a place of its own");
        s.disconnect(b1.conn, t0);
        assert!(s.connect("op3", t0).is_ok(), "a place freed");
        assert_eq!(s.operators_connected(), 2);
        assert_eq!(s.operators_joined().collect::<Vec<_>>(), ["op1", "op2", "op3"]);
        assert!(s.status() == SessionStatus::Waiting, "operators alone do not make it active");
    }

    #[test]
    fn deleting_finishes_at_once_and_the_first_reason_stands() {
        let t0 = Instant::now();
        let mut s = Session::new("alice", limits(2), t0);
        s.connect("alice", t0).unwrap();
        s.finish(Finish::Deleted);
        s.finish(Finish::NodeShutdown);
        assert_eq!((s.status(), s.finished()), (SessionStatus::Finished, Some(Finish::Deleted)));
        assert_eq!(s.tick(t0 + Duration::from_secs(9999)), None);
        assert_eq!(Finish::NodeShutdown.close(), Close::NodeShuttingDown);
    }

    #[test]
    fn a_session_nobody_connects_to_ends_as_idle() {
        let t0 = Instant::now();
        let mut s = Session::new("alice", limits(2), t0);
        assert_eq!(s.tick(t0 + Duration::from_secs(599)), None);
        assert_eq!(s.tick(t0 + Duration::from_secs(600)), Some(Finish::Idle));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Connect(u8),
        Disconnect(u64),
        Heard(u64),
        Tick(u16),
        Delete,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..8).prop_map(Op::Connect),
            (0u64..20).prop_map(Op::Disconnect),
            (0u64..20).prop_map(Op::Heard),
            (0u16..120).prop_map(Op::Tick),
            Just(Op::Delete),
        ]
    }

    proptest! {
        /// Whatever sockets come and go: never more operators than places,
        /// finished is final and empty, and only the current client socket
        /// is ever relayed.
        #[test]
        fn invariants_hold(ops in proptest::collection::vec(op(), 0..200)) {
            let t0 = Instant::now();
            let mut now = t0;
            let lim = Limits { max_operators: 3, client_grace: Duration::from_secs(30), idle_timeout: Duration::from_secs(90) };
            let mut s = Session::new("u0", lim, t0);
            let mut client_conn = None;
            for op in ops {
                let was_finished = s.status() == SessionStatus::Finished;
                match op {
                    Op::Connect(u) => {
                        if let Ok(j) = s.connect(&format!("u{u}"), now) {
                            prop_assert!(!was_finished);
                            if j.role == Role::Client { client_conn = Some(j.conn); }
                        }
                    }
                    Op::Disconnect(c) => {
                        s.disconnect(c, now);
                        if client_conn == Some(c) { client_conn = None; }
                    }
                    Op::Heard(c) => {
                        let relayed = s.heard(c, 10, now);
                        prop_assert_eq!(relayed, client_conn == Some(c) && s.status() == SessionStatus::Active);
                    }
                    Op::Tick(secs) => { now += Duration::from_secs(u64::from(secs)); s.tick(now); }
                    Op::Delete => s.finish(Finish::Deleted),
                }
                if s.status() == SessionStatus::Finished { client_conn = None; }
                prop_assert!(s.operators_connected() <= 3);
                if was_finished {
                    prop_assert_eq!(s.status(), SessionStatus::Finished);
                }
                if s.status() == SessionStatus::Finished {
                    prop_assert!(!s.client_connected() && s.operators_connected() == 0);
                }
            }
        }
    }
}
