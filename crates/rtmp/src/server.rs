//! The server's side of one RTMP connection.

use crate::{
    MAX_BEFORE_PUBLISH, MAX_COMMAND_LEN, MAX_MEDIA_MESSAGE, RtmpError,
    amf0::{self, Value},
    chunk::{self, ChunkReader, Message},
    flv::TagKind,
};

const RTMP_VERSION: u8 = 3;
const HANDSHAKE_PART: usize = 1536;
/// The chunk size the server writes with after `connect`.
const OUT_CHUNK_SIZE: usize = 4096;
/// What the server asks the client to acknowledge, and announces as its own window.
const WINDOW: u32 = 2_500_000;

const MSG_SET_CHUNK_SIZE: u8 = 1;
const MSG_ABORT: u8 = 2;
const MSG_ACK: u8 = 3;
const MSG_USER_CONTROL: u8 = 4;
const MSG_WINDOW_ACK_SIZE: u8 = 5;
const MSG_SET_PEER_BANDWIDTH: u8 = 6;
const MSG_AUDIO: u8 = 8;
const MSG_VIDEO: u8 = 9;
const MSG_AMF3_COMMAND: u8 = 17;
const MSG_AMF0_DATA: u8 = 18;
const MSG_AMF0_COMMAND: u8 = 20;

/// Control messages go on chunk stream 2, commands on 3, stream status on 5.
const CSID_CONTROL: u8 = 2;
const CSID_COMMAND: u8 = 3;
const CSID_STATUS: u8 = 5;
/// The one message stream `createStream` hands out.
const PUBLISH_STREAM_ID: f64 = 1.0;

/// What a publisher asked to publish.
#[derive(Clone, PartialEq, Eq)]
pub struct Publish {
    /// The application of `connect` (`live` in the URLs handed out).
    pub app: String,
    /// The stream name: the stream key, as OBS's "Stream Key" sends it.
    pub key: String,
}

impl std::fmt::Debug for Publish {
    // The key is a secret: never in a log, not even through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let app = self.app.split('/').next().unwrap_or_default();
        f.debug_struct("Publish").field("app", &app).field("key", &"<redacted>").finish()
    }
}

/// An audio, video or metadata message, ready to be an FLV tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub kind: TagKind,
    pub timestamp: u32,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The client asked to publish: answer with [`ServerSession::accept`]
    /// or [`ServerSession::refuse`]. Nothing more is read until then.
    Publish(Publish),
    Media(Media),
    /// The client said it is done (FCUnpublish / deleteStream).
    Unpublished,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitC0C1,
    AwaitC2,
    Commands,
    AwaitVerdict,
    Publishing,
    Refused,
}

pub struct ServerSession {
    state: State,
    pending: Vec<u8>,
    reader: ChunkReader,
    out: Vec<u8>,
    out_chunk_size: usize,
    app: String,
    publish_stream: u32,
    /// Bytes received, for the pre-publish bound and acknowledgements.
    received: u64,
    acked: u64,
    /// The client's window: acknowledge every this many bytes (0: never).
    ack_window: u64,
}

impl Default for ServerSession {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerSession {
    pub fn new() -> Self {
        Self {
            state: State::AwaitC0C1,
            pending: Vec::new(),
            reader: ChunkReader::new(MAX_COMMAND_LEN),
            out: Vec::new(),
            out_chunk_size: chunk::DEFAULT_CHUNK_SIZE,
            app: String::new(),
            publish_stream: 0,
            received: 0,
            acked: 0,
            ack_window: 0,
        }
    }

    /// Takes the next bytes the client sent; the replies are in [`Self::take_output`].
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Event>, RtmpError> {
        self.received += bytes.len() as u64;
        if self.state != State::Publishing && self.received > MAX_BEFORE_PUBLISH as u64 {
            return Err(RtmpError::TooMuchBeforePublish);
        }
        let mut pending = std::mem::take(&mut self.pending);
        pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut at = 0;
        let result = loop {
            let rest = &pending[at..];
            match self.state {
                State::AwaitC0C1 => {
                    if let Some(&v) = rest.first()
                        && v != RTMP_VERSION
                    {
                        break Err(RtmpError::Version(v));
                    }
                    let Some(c1) = rest.get(1..1 + HANDSHAKE_PART) else { break Ok(()) };
                    // S0, S1 (time 0, zero, filler), S2 = C1 echoed: the plain
                    // handshake every publisher accepts.
                    self.out.push(RTMP_VERSION);
                    self.out.extend(std::iter::repeat_n(0u8, 8));
                    self.out.extend((0..HANDSHAKE_PART - 8).map(|i| (i * 7 + 3) as u8));
                    self.out.extend_from_slice(c1);
                    at += 1 + HANDSHAKE_PART;
                    self.state = State::AwaitC2;
                }
                State::AwaitC2 => {
                    if rest.len() < HANDSHAKE_PART {
                        break Ok(());
                    }
                    at += HANDSHAKE_PART;
                    self.state = State::Commands;
                }
                State::Commands | State::Publishing => match self.reader.read(rest) {
                    Ok(None) => break Ok(()),
                    Ok(Some((used, message))) => {
                        at += used;
                        if let Some(m) = message
                            && let Err(e) = self.message(m, &mut events)
                        {
                            break Err(e);
                        }
                    }
                    Err(e) => break Err(e),
                },
                // Held until the verdict; bounded by MAX_BEFORE_PUBLISH.
                State::AwaitVerdict | State::Refused => break Ok(()),
            }
        };
        pending.drain(..at);
        self.pending = pending;
        if self.ack_window > 0 && self.received - self.acked >= self.ack_window {
            self.acked = self.received;
            self.control(MSG_ACK, (self.received as u32).to_be_bytes().to_vec());
        }
        result.map(|()| events)
    }

    /// Bytes to send to the client.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    pub fn is_publishing(&self) -> bool {
        self.state == State::Publishing
    }

    /// Lets the publisher in. Call [`Self::feed`] with no bytes afterwards
    /// to read what it sent meanwhile.
    pub fn accept(&mut self) {
        if self.state != State::AwaitVerdict {
            return;
        }
        let mut begin = vec![0, 0];
        begin.extend_from_slice(&self.publish_stream.to_be_bytes());
        self.control(MSG_USER_CONTROL, begin);
        self.status("status", "NetStream.Publish.Start", "Publishing.");
        self.reader.set_max_message(MAX_MEDIA_MESSAGE);
        self.state = State::Publishing;
    }

    /// Turns the publisher away; close the connection after sending the output.
    pub fn refuse(&mut self, description: &str) {
        self.status("error", "NetStream.Publish.BadName", description);
        self.state = State::Refused;
    }

    fn status(&mut self, level: &str, code: &str, description: &str) {
        let info = Value::object([
            ("level", Value::string(level)),
            ("code", Value::string(code)),
            ("description", Value::string(description)),
        ]);
        let payload = amf0::encode(&[Value::string("onStatus"), Value::Number(0.0), Value::Null, info]);
        let m = Message { type_id: MSG_AMF0_COMMAND, stream_id: self.publish_stream, timestamp: 0, payload };
        chunk::write(&mut self.out, CSID_STATUS, &m, self.out_chunk_size);
    }

    fn control(&mut self, type_id: u8, payload: Vec<u8>) {
        let m = Message { type_id, stream_id: 0, timestamp: 0, payload };
        chunk::write(&mut self.out, CSID_CONTROL, &m, self.out_chunk_size);
    }

    fn reply(&mut self, values: &[Value]) {
        let m = Message { type_id: MSG_AMF0_COMMAND, stream_id: 0, timestamp: 0, payload: amf0::encode(values) };
        chunk::write(&mut self.out, CSID_COMMAND, &m, self.out_chunk_size);
    }

    fn message(&mut self, m: Message, events: &mut Vec<Event>) -> Result<(), RtmpError> {
        let be32 = |p: &[u8]| p.get(0..4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        match m.type_id {
            MSG_SET_CHUNK_SIZE => {
                let size = be32(&m.payload).ok_or(RtmpError::ChunkSize(0))? & 0x7fff_ffff;
                if !(1..=0x00ff_ffff).contains(&size) {
                    return Err(RtmpError::ChunkSize(size));
                }
                self.reader.set_chunk_size(size as usize);
            }
            MSG_ABORT => {
                if let Some(csid) = be32(&m.payload) {
                    self.reader.abort(csid);
                }
            }
            MSG_WINDOW_ACK_SIZE => self.ack_window = u64::from(be32(&m.payload).unwrap_or(0)),
            MSG_ACK | MSG_USER_CONTROL | MSG_SET_PEER_BANDWIDTH => {}
            MSG_AUDIO | MSG_VIDEO | MSG_AMF0_DATA if self.state == State::Publishing => {
                let kind = match m.type_id {
                    MSG_AUDIO => TagKind::Audio,
                    MSG_VIDEO => TagKind::Video,
                    _ => TagKind::Script,
                };
                events.push(Event::Media(Media { kind, timestamp: m.timestamp, data: m.payload }));
            }
            // An AMF3 command is a zero byte and then AMF0.
            MSG_AMF3_COMMAND => self.command(amf0::decode(m.payload.get(1..).unwrap_or_default())?, &m, events)?,
            MSG_AMF0_COMMAND => self.command(amf0::decode(&m.payload)?, &m, events)?,
            // Media before publishing, AMF3 data, anything unknown: not ours to keep.
            _ => {}
        }
        Ok(())
    }

    fn command(&mut self, values: Vec<Value>, m: &Message, events: &mut Vec<Event>) -> Result<(), RtmpError> {
        let name = values.first().and_then(Value::as_str).unwrap_or_default();
        let transaction = values.get(1).and_then(Value::as_number).unwrap_or(0.0);
        match name {
            "connect" => {
                if let Some(app) = values.get(2).and_then(|o| o.property("app")).and_then(Value::as_str) {
                    self.app = app.to_owned();
                }
                self.control(MSG_WINDOW_ACK_SIZE, WINDOW.to_be_bytes().to_vec());
                let mut bandwidth = WINDOW.to_be_bytes().to_vec();
                bandwidth.push(2); // dynamic
                self.control(MSG_SET_PEER_BANDWIDTH, bandwidth);
                self.control(MSG_SET_CHUNK_SIZE, (OUT_CHUNK_SIZE as u32).to_be_bytes().to_vec());
                self.out_chunk_size = OUT_CHUNK_SIZE;
                self.reply(&[
                    Value::string("_result"),
                    Value::Number(transaction),
                    Value::object([("fmsVer", Value::string("FMS/3,0,1,123")), ("capabilities", Value::Number(31.0))]),
                    Value::object([
                        ("level", Value::string("status")),
                        ("code", Value::string("NetConnection.Connect.Success")),
                        ("description", Value::string("Connection succeeded.")),
                        ("objectEncoding", Value::Number(0.0)),
                    ]),
                ]);
            }
            "releaseStream" | "FCPublish" => {
                self.reply(&[Value::string("_result"), Value::Number(transaction), Value::Null, Value::Undefined])
            }
            "createStream" => self.reply(&[
                Value::string("_result"),
                Value::Number(transaction),
                Value::Null,
                Value::Number(PUBLISH_STREAM_ID),
            ]),
            "publish" => {
                if self.state != State::Commands {
                    return Err(RtmpError::SecondPublish);
                }
                let mut key = values.get(3).and_then(Value::as_str).unwrap_or_default().to_owned();
                let mut app = self.app.clone();
                // `rtmp://host/live/KEY` pasted whole as the server, key left empty.
                if key.is_empty()
                    && let Some((a, k)) = self.app.split_once('/')
                {
                    (app, key) = (a.to_owned(), k.to_owned());
                }
                // Some encoders add `?query` to the stream name; it is not the key.
                if let Some((k, _query)) = key.split_once('?') {
                    key = k.to_owned();
                }
                self.publish_stream = m.stream_id;
                self.state = State::AwaitVerdict;
                events.push(Event::Publish(Publish { app, key }));
            }
            "FCUnpublish" | "deleteStream" | "closeStream" if self.state == State::Publishing => {
                events.push(Event::Unpublished)
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(csid: u8, stream_id: u32, values: &[Value], chunk_size: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let m = Message { type_id: MSG_AMF0_COMMAND, stream_id, timestamp: 0, payload: amf0::encode(values) };
        chunk::write(&mut out, csid, &m, chunk_size);
        out
    }

    fn handshake() -> Vec<u8> {
        let mut v = vec![RTMP_VERSION];
        v.extend(std::iter::repeat_n(0xab, HANDSHAKE_PART * 2));
        v
    }

    /// What FFmpeg and OBS send, up to `publish`.
    fn client(app: &str, key: &str) -> Vec<u8> {
        let s = Value::string;
        let mut v = handshake();
        let connect = Value::object([("app", s(app)), ("tcUrl", s(&format!("rtmp://127.0.0.1/{app}")))]);
        v.extend(command(3, 0, &[s("connect"), Value::Number(1.0), connect], 128));
        let mut size = Vec::new();
        let m =
            Message { type_id: MSG_SET_CHUNK_SIZE, stream_id: 0, timestamp: 0, payload: 4096u32.to_be_bytes().into() };
        chunk::write(&mut size, 2, &m, 128);
        v.extend(size);
        v.extend(command(3, 0, &[s("releaseStream"), Value::Number(2.0), Value::Null, s(key)], 4096));
        v.extend(command(3, 0, &[s("FCPublish"), Value::Number(3.0), Value::Null, s(key)], 4096));
        v.extend(command(3, 0, &[s("createStream"), Value::Number(4.0), Value::Null], 4096));
        v.extend(command(8, 1, &[s("publish"), Value::Number(5.0), Value::Null, s(key), s("live")], 4096));
        v
    }

    /// Every command the server sent, by name.
    fn replies(out: &[u8]) -> Vec<Vec<Value>> {
        let mut r = ChunkReader::new(1 << 20);
        let mut rest = &out[1 + 2 * HANDSHAKE_PART..];
        let mut found = Vec::new();
        while let Some((used, m)) = r.read(rest).unwrap() {
            rest = &rest[used..];
            if let Some(m) = m {
                if m.type_id == MSG_SET_CHUNK_SIZE {
                    r.set_chunk_size(OUT_CHUNK_SIZE);
                }
                if m.type_id == MSG_AMF0_COMMAND {
                    found.push(amf0::decode(&m.payload).unwrap());
                }
            }
        }
        found
    }

    #[test]
    fn answers_a_publisher_and_finds_the_key_whatever_the_read_boundaries() {
        let key = "K".repeat(32);
        let bytes = client("live", &key);
        for step in [1, 7, 128, 1000, bytes.len()] {
            let mut s = ServerSession::new();
            let mut events = Vec::new();
            for part in bytes.chunks(step) {
                events.extend(s.feed(part).unwrap());
            }
            assert_eq!(events, [Event::Publish(Publish { app: "live".into(), key: key.clone() })], "step {step}");
            assert!(!s.is_publishing());
            s.accept();
            assert!(s.is_publishing());
            let out = s.take_output();
            assert_eq!(out[0], RTMP_VERSION);
            assert_eq!(&out[1 + HANDSHAKE_PART..1 + 2 * HANDSHAKE_PART], &bytes[1..1 + HANDSHAKE_PART], "S2 echoes C1");
            let names: Vec<String> =
                replies(&out).iter().map(|v| v[0].as_str().unwrap_or_default().to_owned()).collect();
            assert_eq!(names, ["_result", "_result", "_result", "_result", "onStatus"]);
            let status = &replies(&out)[4][3];
            assert_eq!(status.property("code").and_then(Value::as_str), Some("NetStream.Publish.Start"));
            let created = &replies(&out)[3];
            assert_eq!((created[1].as_number(), created[3].as_number()), (Some(4.0), Some(1.0)));
        }
    }

    #[test]
    fn media_flows_once_accepted_and_not_before() {
        let mut s = ServerSession::new();
        let mut bytes = client("live", "key");
        let video = Message { type_id: MSG_VIDEO, stream_id: 1, timestamp: 33, payload: vec![0x17; 9000] };
        chunk::write(&mut bytes, 6, &video, 4096);
        let events = s.feed(&bytes).unwrap();
        assert_eq!(events.len(), 1, "nothing past publish is read before the verdict");
        s.accept();
        let events = s.feed(&[]).unwrap();
        assert_eq!(events, [Event::Media(Media { kind: TagKind::Video, timestamp: 33, data: vec![0x17; 9000] })]);
    }

    #[test]
    fn a_refused_publisher_is_told_why_and_read_no_further() {
        let mut s = ServerSession::new();
        s.feed(&client("live", "wrong")).unwrap();
        s.refuse("unknown stream key");
        let out = s.take_output();
        let last = replies(&out).pop().unwrap();
        assert_eq!(last[3].property("level").and_then(Value::as_str), Some("error"));
        assert!(s.feed(&[0; 100]).unwrap().is_empty());
    }

    #[test]
    fn a_whole_url_in_the_server_field_and_query_strings_still_yield_the_key() {
        let e = ServerSession::new().feed(&client("live/secretkey", "")).unwrap();
        assert_eq!(e, [Event::Publish(Publish { app: "live".into(), key: "secretkey".into() })]);
        let e = ServerSession::new().feed(&client("live", "secretkey?bandwidth=6000")).unwrap();
        assert_eq!(e, [Event::Publish(Publish { app: "live".into(), key: "secretkey".into() })]);
    }

    #[test]
    fn garbage_and_floods_are_refused() {
        assert_eq!(ServerSession::new().feed(b"GET / HTTP/1.1\r\n"), Err(RtmpError::Version(b'G')));
        let mut s = ServerSession::new();
        s.feed(&handshake()).unwrap();
        assert_eq!(s.feed(&[0xc5, 1, 2, 3]), Err(RtmpError::NoPreviousHeader(5)));
        let mut s = ServerSession::new();
        s.feed(&handshake()).unwrap();
        let mut huge = vec![3, 0, 0, 0];
        huge.extend_from_slice(&(1_000_000u32).to_be_bytes()[1..]);
        huge.extend([MSG_AMF0_COMMAND, 0, 0, 0, 0]);
        assert_eq!(s.feed(&huge), Err(RtmpError::MessageTooLarge(1_000_000)));
        let mut s = ServerSession::new();
        s.feed(&handshake()).unwrap();
        let chatter = command(3, 0, &[Value::string("getStreamLength"), Value::Number(9.0), Value::Null], 128);
        let mut flood = Ok(Vec::new());
        for _ in 0..10_000 {
            flood = s.feed(&chatter);
            if flood.is_err() {
                break;
            }
        }
        assert_eq!(flood, Err(RtmpError::TooMuchBeforePublish), "a client that never publishes is cut off");
        let mut s = ServerSession::new();
        let mut twice = client("live", "a");
        twice.extend(command(
            8,
            1,
            &[Value::string("publish"), Value::Number(6.0), Value::Null, Value::string("b")],
            4096,
        ));
        s.feed(&twice).unwrap();
        s.accept();
        assert_eq!(s.feed(&[]), Err(RtmpError::SecondPublish));
    }

    #[test]
    fn acknowledges_what_the_client_asks_for() {
        let mut s = ServerSession::new();
        let mut bytes = client("live", "k");
        let m =
            Message { type_id: MSG_WINDOW_ACK_SIZE, stream_id: 0, timestamp: 0, payload: 5000u32.to_be_bytes().into() };
        chunk::write(&mut bytes, 2, &m, 4096);
        // The window message comes after publish here; it is read once accepted.
        s.feed(&bytes).unwrap();
        s.accept();
        s.feed(&[]).unwrap();
        s.take_output();
        let audio = Message { type_id: MSG_AUDIO, stream_id: 1, timestamp: 0, payload: vec![0xaf; 6000] };
        let mut more = Vec::new();
        chunk::write(&mut more, 4, &audio, 4096);
        s.feed(&more).unwrap();
        let out = s.take_output();
        assert_eq!(out[..2], [CSID_CONTROL, 0], "an acknowledgement went out");
        assert_eq!(out[7], MSG_ACK);
    }
}
