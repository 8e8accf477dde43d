//! Relay sessions (issue 14): a client streams over a WebSocket to the
//! operators of its session, through the node that claimed it. This is the
//! session's record, shared by the REST function (which creates, shows and
//! finishes it) and the node (which claims it, marks it active and
//! finished, and counts what it relays).
//!
//! Who is who:
//! - the **creator** is the signed-in user who made the session; they may
//!   see it, finish it, invite operators, and operate it themself;
//! - the **client** is the source, named by `client_id` (a UUID): its socket
//!   authenticates with the session's `stream_key`, or, when `client_id` is a
//!   user's id, with that user's access token;
//! - **operators** are the creator and the users the creator invited; each
//!   authenticates with their own access token.

use serde::{Deserialize, Serialize};

/// How long a finished session's record is kept (its TTL).
pub const KEEP_FINISHED_S: i64 = 30 * 24 * 3600;
/// How many users a creator may invite to one session.
pub const MAX_INVITED: usize = 100;
/// `SESSION_MAX_OPERATORS` when unset.
pub const DEFAULT_MAX_OPERATORS: u32 = 10;
/// A session whose client never connected finishes (`idle`) after this, as
/// a connected one does after as long without a message.
pub const IDLE_TIMEOUT_S: i64 = 600;
/// `WS_MAX_MESSAGE_SIZE` when unset: 10 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RelayStatus {
    /// Created; its client has not connected yet.
    Waiting,
    /// Its client connected.
    Active,
    /// Deleted, its client gone past the grace, idle, or its node stopped.
    Finished,
}

impl RelayStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Active => "active",
            Self::Finished => "finished",
        }
    }
}

/// A relay session's record (table `relay-sessions`, key `id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelaySession {
    pub id: String,
    pub creator_id: String,
    pub client_id: String,
    /// SHA-256 (hex) of the session's stream key; the key itself is shown
    /// once, at creation.
    pub key_hash: String,
    pub status: RelayStatus,
    /// Users the creator invited to operate (the creator always may).
    #[serde(default)]
    pub invited: Vec<String>,
    /// Operators who have connected at least once, in order of arrival.
    #[serde(default)]
    pub operators: Vec<String>,
    /// The node that relays it, once a socket reached one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// `deleted`, `client_gone`, `idle`, `node_shutdown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub messages_relayed: u64,
    #[serde(default)]
    pub bytes_relayed: u64,
    /// TTL attribute, set when it finishes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl RelaySession {
    /// A new session and the stream key to hand its creator (once).
    pub fn create(creator_id: &str, client_id: &str, invited: Vec<String>, now: &str) -> (Self, String) {
        let key = crate::ids::random_token(32);
        let session = Self {
            id: crate::ids::new_id(),
            creator_id: creator_id.to_owned(),
            client_id: client_id.to_owned(),
            key_hash: crate::ids::sha256_hex(&key),
            status: RelayStatus::Waiting,
            invited,
            operators: Vec::new(),
            node_id: None,
            created_at: now.to_owned(),
            started_at: None,
            finished_at: None,
            finish_reason: None,
            messages_relayed: 0,
            bytes_relayed: 0,
            expires_at: None,
        };
        (session, key)
    }

    /// The session as of `now` (Unix seconds): one still `waiting` past
    /// [`IDLE_TIMEOUT_S`] is finished (`idle`), whether or not a node has
    /// written so (no node holds a session nobody connected to).
    pub fn as_of(mut self, now: i64) -> Self {
        let created = crate::timefmt::parse_rfc3339_unix(&self.created_at).unwrap_or(now);
        if self.status == RelayStatus::Waiting && now - created >= IDLE_TIMEOUT_S {
            self.status = RelayStatus::Finished;
            self.finish_reason = Some("idle".into());
            let at = time::OffsetDateTime::from_unix_timestamp(created + IDLE_TIMEOUT_S).ok();
            self.finished_at = at.map(crate::timefmt::rfc3339);
        }
        self
    }

    /// Whether `user_id` may see the session (and so operate it, unless
    /// they are its client): 404 for everyone else.
    pub fn visible_to(&self, user_id: &str) -> bool {
        self.creator_id == user_id || self.client_id == user_id || self.invited.iter().any(|u| u == user_id)
    }

    /// Who may connect as an operator.
    pub fn may_operate(&self, user_id: &str) -> bool {
        user_id != self.client_id && (self.creator_id == user_id || self.invited.iter().any(|u| u == user_id))
    }

    /// Whether `presented` is the session's stream key (constant time).
    pub fn key_matches(&self, presented: &str) -> bool {
        crate::ids::secrets_equal(&crate::ids::sha256_hex(presented), &self.key_hash)
    }

    /// The URL of `user_id`'s socket on the session, under `ws_base_url`.
    pub fn socket_url(&self, ws_base_url: &str, user_id: &str) -> String {
        format!("{}/ws/stream/{}/{}", ws_base_url.trim_end_matches('/'), self.id, user_id)
    }
}

/// Checks a client id: a UUID (any version), lower-cased.
pub fn parse_client_id(text: &str) -> Option<String> {
    // Hyphenated form only: it is a path segment of the socket's URL.
    let t = text.trim();
    (t.len() == 36).then(|| uuid::Uuid::parse_str(t).ok()).flatten().map(|u| u.hyphenated().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> (RelaySession, String) {
        RelaySession::create(
            "alice",
            "9b2f8a5e-3c1d-4e6f-8a7b-0c9d8e7f6a5b",
            vec!["bob".into()],
            "2026-12-03T00:00:00Z",
        )
    }

    #[test]
    fn the_stream_key_is_stored_only_as_its_hash_and_checked() {
        let (s, key) = session();
        assert_ne!(s.key_hash, key);
        assert!(s.key_matches(&key));
        assert!(!s.key_matches("wrong"));
        assert!(!s.key_matches(&key[1..]));
    }

    #[test]
    fn the_creator_and_invited_users_operate_nobody_else_does() {
        let (s, _) = session();
        assert!(s.may_operate("alice") && s.may_operate("bob"));
        assert!(!s.may_operate("carol"));
        assert!(!s.may_operate(&s.client_id.clone()), "the client is the source, not an operator");
        assert!(s.visible_to("alice") && s.visible_to("bob") && s.visible_to(&s.client_id.clone()));
        assert!(!s.visible_to("carol"));
    }

    #[test]
    fn a_session_nobody_connected_to_finishes_idle() {
        let (s, _) = session();
        let created = crate::timefmt::parse_rfc3339_unix(&s.created_at).unwrap();
        assert_eq!(s.clone().as_of(created + IDLE_TIMEOUT_S - 1).status, RelayStatus::Waiting);
        let idle = s.clone().as_of(created + IDLE_TIMEOUT_S);
        assert_eq!((idle.status, idle.finish_reason.as_deref()), (RelayStatus::Finished, Some("idle")));
        assert_eq!(idle.finished_at.as_deref(), Some("2026-12-03T00:10:00Z"));
        let mut active = s;
        active.status = RelayStatus::Active;
        assert_eq!(active.as_of(created + 100 * IDLE_TIMEOUT_S).status, RelayStatus::Active, "a node ends those");
    }

    #[test]
    fn client_ids_are_uuids() {
        assert_eq!(
            parse_client_id("9B2F8A5E-3C1D-4E6F-8A7B-0C9D8E7F6A5B").as_deref(),
            Some("9b2f8a5e-3c1d-4e6f-8a7b-0c9d8e7f6a5b")
        );
        for bad in ["", "nope", "9b2f8a5e3c1d4e6f8a7b0c9d8e7f6a5b", "9b2f8a5e-3c1d-4e6f-8a7b-0c9d8e7f6a5g", "../x"] {
            assert_eq!(parse_client_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn socket_urls_join_the_base_once() {
        let (s, _) = session();
        assert_eq!(
            s.socket_url("wss://relay.example.com/", "bob"),
            format!("wss://relay.example.com/ws/stream/{}/bob", s.id)
        );
    }

    #[test]
    fn records_round_trip_without_empty_fields() {
        let (s, _) = session();
        let json = serde_json::to_value(&s).unwrap();
        assert!(json.get("node_id").is_none() && json.get("finished_at").is_none());
        assert_eq!(serde_json::from_value::<RelaySession>(json).unwrap(), s);
    }
}
