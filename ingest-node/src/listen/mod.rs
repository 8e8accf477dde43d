//! The node's two public ports: one TCP port for every RTMP publisher and
//! one UDP port for every SRT publisher. Each listener terminates its
//! protocol, has the key checked ([`crate::node::Node::admit`]) before any
//! media goes anywhere, and then feeds the publisher's media to its session.

pub mod key_gate;
pub mod rtmp;
pub mod srt;

/// The bound addresses (a configured port of 0 picks a free one).
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub rtmp: std::net::SocketAddr,
    pub srt: std::net::SocketAddr,
}
