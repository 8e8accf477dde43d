//! The session relay's rules, with no socket in sight: a client streams
//! messages to the operators of its session over WebSocket (issue 14). The
//! node's socket code drives these types; they are tested here without a
//! network.
//!
//! - [`session`]: a session's states (`waiting` → `active` → `finished`), who
//!   may be on it (one client socket, at most N operators), and when it ends.
//! - [`fanout`]: the client's messages to every operator's queue, and the
//!   stream's header kept for operators who join late.
//! - [`outbox`]: one operator's queue, bounded in messages and bytes, so a slow
//!   operator is dropped instead of stalling the client or growing memory.
//! - [`protocol`]: what travels on the socket besides the relayed messages:
//!   the client's control messages and the close codes.

pub mod fanout;
pub mod outbox;
pub mod protocol;
pub mod session;

pub use fanout::Fanout;
pub use outbox::{Message, Outbox, Overflow};
pub use protocol::{Close, Control};
pub use session::{Finish, Joined, Limits, Refusal, Role, Session, SessionStatus};
