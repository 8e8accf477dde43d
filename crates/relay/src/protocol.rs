//! The socket protocol beyond the relayed messages.
//!
//! The client's binary and text messages go to every operator as they are,
//! except a text message that is a JSON object with a `"skycast"` member: that
//! one speaks to the relay and is not relayed. Today one is defined:
//! `{"skycast": "header"}`: the client's next binary message is the stream's
//! header (a WebM or fMP4 initialisation segment, say): it is relayed, and kept
//! and sent first to every operator who joins later, so they can decode at once.
//!
//! A session's sockets close with the codes of [`Close`].

use serde::Deserialize;

/// A message the client addresses to the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// The next binary message is the stream's header.
    Header,
}

#[derive(Deserialize)]
struct Envelope {
    skycast: String,
}

/// Why a text message could not be taken for a control message it claims to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownControl(pub String);

impl Control {
    /// `Ok(None)`: an ordinary text message, to relay. `Ok(Some)`: a control
    /// message. `Err`: a control message the relay does not know (the client
    /// is told, and nothing is relayed).
    pub fn parse(text: &str) -> Result<Option<Self>, UnknownControl> {
        // Cheap test first: most text messages are data, not JSON for us.
        if !text.trim_start().starts_with('{') || !text.contains("\"skycast\"") {
            return Ok(None);
        }
        let Ok(envelope) = serde_json::from_str::<Envelope>(text) else { return Ok(None) };
        match envelope.skycast.as_str() {
            "header" => Ok(Some(Self::Header)),
            other => Err(UnknownControl(other.to_owned())),
        }
    }
}

/// Close codes (RFC 6455 §7.4) and their reasons, as a socket of the relay
/// ends. 4000–4999 are the application's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// 1000: the session finished (deleted, its client gone past the grace,
    /// or idle).
    SessionFinished,
    /// 1001: the node is shutting down; the session is finished.
    NodeShuttingDown,
    /// 1003: an operator sent binary (operators send text only).
    OperatorsSendText,
    /// 1008: a control message the relay does not know.
    UnknownControl,
    /// 1009: a message over `WS_MAX_MESSAGE_SIZE`.
    TooBig,
    /// 1013: an operator fell so far behind that its queue overflowed.
    TooSlow,
    /// 4001: the session already has `SESSION_MAX_OPERATORS` operators.
    SessionFull,
    /// 4002: the client connected again; the new socket
    /// replaces this one (a client on a new network reconnects at once).
    Replaced,
    /// 4003: the session's creator took back this operator's invitation.
    NotInvited,
}

impl Close {
    pub fn code(self) -> u16 {
        match self {
            Self::SessionFinished => 1000,
            Self::NodeShuttingDown => 1001,
            Self::OperatorsSendText => 1003,
            Self::UnknownControl => 1008,
            Self::TooBig => 1009,
            Self::TooSlow => 1013,
            Self::SessionFull => 4001,
            Self::Replaced => 4002,
            Self::NotInvited => 4003,
        }
    }

    /// The close frame's reason (at most 123 bytes, as a close frame allows).
    pub fn reason(self) -> &'static str {
        match self {
            Self::SessionFinished => "session finished",
            Self::NodeShuttingDown => "node shutting down: session finished",
            Self::OperatorsSendText => "operators send text only",
            Self::UnknownControl => "unknown control message",
            Self::TooBig => "message too big",
            Self::TooSlow => "too slow: the queue to this operator overflowed",
            Self::SessionFull => "session full: no operator place left",
            Self::Replaced => "replaced by a newer connection of the client",
            Self::NotInvited => "no longer invited to operate this session",
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any text: no panic; what does not name "skycast" is always data;
        /// a control message is only ever the header.
        #[test]
        fn any_text_parses_safely(text in ".{0,200}", value in "[a-z]{0,12}") {
            let parsed = Control::parse(&text);
            if !text.contains("\"skycast\"") {
                prop_assert_eq!(parsed, Ok(None));
            }
            let control = format!(r#"{{"skycast":"{value}"}}"#);
            let expected = if value == "header" { Ok(Some(Control::Header)) } else { Err(UnknownControl(value.clone())) };
            prop_assert_eq!(Control::parse(&control), expected);
        }
    }

    #[test]
    fn control_messages_are_told_from_data() {
        assert_eq!(Control::parse(r#"{"skycast":"header"}"#), Ok(Some(Control::Header)));
        assert_eq!(Control::parse(r#" { "skycast" : "header", "note": 1 }"#), Ok(Some(Control::Header)));
        assert_eq!(Control::parse(r#"{"skycast":"rewind"}"#), Err(UnknownControl("rewind".into())));
        // Data, relayed as is: plain text, JSON of the client's own, and
        // JSON that merely mentions the word.
        for data in ["hello", "", r#"{"type":"chat","text":"hi"}"#, r#"{"text":"\"skycast\" is us"}"#, "[1,2]"] {
            assert_eq!(Control::parse(data), Ok(None), "{data}");
        }
    }

    #[test]
    fn close_codes_are_distinct_and_reasons_fit_a_close_frame() {
        let all = [
            Close::SessionFinished,
            Close::NodeShuttingDown,
            Close::OperatorsSendText,
            Close::UnknownControl,
            Close::TooBig,
            Close::TooSlow,
            Close::SessionFull,
            Close::Replaced,
            Close::NotInvited,
        ];
        let mut codes: Vec<u16> = all.iter().map(|c| c.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        assert!(all.iter().all(|c| c.reason().len() <= 123));
    }
}
