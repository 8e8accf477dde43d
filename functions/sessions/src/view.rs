//! What the API shows of a relay session.

use serde::Serialize;
use skycast_core::relay_session::{RelaySession, RelayStatus};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub session_id: String,
    /// The source: its socket is `ws_url`.
    pub client_id: String,
    pub creator_id: String,
    pub status: RelayStatus,
    /// Operators who have connected, in order of arrival.
    pub operators: Vec<String>,
    /// Users the creator invited to operate (the creator always may).
    pub invited: Vec<String>,
    /// At most this many operators are connected at once.
    pub max_operators: u32,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// `deleted`, `client_gone`, `idle` or `node_shutdown`.
    pub finish_reason: Option<String>,
    /// Messages and bytes the client sent and the relay took (as of the
    /// node's last report, every few seconds while it lives).
    pub messages_relayed: u64,
    pub bytes_relayed: u64,
    /// The client's socket.
    pub ws_url: String,
    /// The caller's own socket as an operator; absent when the caller is the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator_ws_url: Option<String>,
    /// The client's secret for its socket (`skycast, <stream_key>` subprotocols
    /// or `?key=`): in the creation's answer only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_key: Option<String>,
}

impl SessionView {
    pub fn new(s: RelaySession, caller: &str, ws_base_url: &str, max_operators: u32) -> Self {
        let operator_ws_url = s.may_operate(caller).then(|| s.socket_url(ws_base_url, caller));
        let mut invited = s.invited.clone();
        invited.sort();
        Self {
            ws_url: s.socket_url(ws_base_url, &s.client_id),
            operator_ws_url,
            session_id: s.id,
            client_id: s.client_id,
            creator_id: s.creator_id,
            status: s.status,
            operators: s.operators,
            invited,
            max_operators,
            created_at: s.created_at,
            started_at: s.started_at,
            finished_at: s.finished_at,
            finish_reason: s.finish_reason,
            messages_relayed: s.messages_relayed,
            bytes_relayed: s.bytes_relayed,
            stream_key: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    /// The caller's sessions, newest first (the latest 50).
    pub items: Vec<SessionView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorList {
    /// Operators who have connected, in order of arrival.
    pub operators: Vec<String>,
    /// Users invited to operate.
    pub invited: Vec<String>,
    pub status: RelayStatus,
}

impl OperatorList {
    pub fn new(s: &RelaySession) -> Self {
        let mut invited = s.invited.clone();
        invited.sort();
        Self { operators: s.operators.clone(), invited, status: s.status }
    }
}
