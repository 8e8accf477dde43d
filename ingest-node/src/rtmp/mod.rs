//! RTMP ingest: the node checks the stream key itself.
//!
//! FFmpeg's RTMP listener (5.1) logs a wrong app or stream key and takes the
//! stream anyway, so it cannot be the gate. The node listens on the public
//! port instead ([`gate`]), relays each connection to FFmpeg on a loopback
//! port, and reads the client's side of it ([`PublishSniffer`]) until the
//! `publish` command names its stream: only the stream key lets media through.
//!
//! The sniffer is sans-IO: bytes in, a verdict out. It follows the chunk
//! stream (handshake, chunk headers, Set Chunk Size) just far enough to find
//! AMF0 command messages, and gives up on anything too large or malformed,
//! since nothing legitimate sends much before `publish`.

pub mod gate;

use std::collections::HashMap;

use thiserror::Error;

/// C0 (version) + C1 + C2 of the RTMP handshake, from the client.
const HANDSHAKE_LEN: usize = 1 + 1536 + 1536;
const RTMP_VERSION: u8 = 3;
const DEFAULT_CHUNK_SIZE: usize = 128;
/// More than any encoder sends before `publish` (the handshake is 3 KiB,
/// `connect` a few hundred bytes).
pub const MAX_BEFORE_PUBLISH: usize = 64 * 1024;
const MAX_COMMAND_LEN: usize = 16 * 1024;

const MSG_SET_CHUNK_SIZE: u8 = 1;
const MSG_AMF3_COMMAND: u8 = 17;
const MSG_AMF0_COMMAND: u8 = 20;

/// What a publisher asked to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// The application of `connect` (`live` in the URLs we hand out).
    pub app: String,
    /// The stream name: the stream key, as OBS's "Stream Key" sends it.
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sniffed {
    /// Nothing decided yet: pass these bytes on and read more.
    NeedMore,
    /// The client's `publish` command is complete.
    Publish(Publish),
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SniffError {
    #[error("not RTMP: handshake version {0}, expected 3")]
    Version(u8),
    #[error("more than {MAX_BEFORE_PUBLISH} bytes before publish")]
    TooMuchBeforePublish,
    #[error("a command message of {0} bytes before publish")]
    CommandTooLarge(usize),
    #[error("chunk on stream {0} continues a message that never began")]
    NoPreviousHeader(u32),
    #[error("invalid chunk size {0}")]
    ChunkSize(u32),
    #[error("malformed AMF0 in a command: {0}")]
    Amf(&'static str),
}

#[derive(Default)]
struct ChunkStream {
    started: bool,
    extended_timestamp: bool,
    length: usize,
    type_id: u8,
    /// Bytes of the current message received so far.
    received: usize,
    /// Kept only for command messages.
    payload: Vec<u8>,
}

/// Reads the client→server half of an RTMP connection until `publish`.
pub struct PublishSniffer {
    pending: Vec<u8>,
    handshake_left: usize,
    chunk_size: usize,
    streams: HashMap<u32, ChunkStream>,
    app: String,
    seen: usize,
}

impl Default for PublishSniffer {
    fn default() -> Self {
        Self {
            pending: Vec::new(),
            handshake_left: HANDSHAKE_LEN,
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: HashMap::new(),
            app: String::new(),
            seen: 0,
        }
    }
}

impl PublishSniffer {
    /// Takes the next bytes the client sent.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Sniffed, SniffError> {
        self.seen += bytes.len();
        if self.seen > MAX_BEFORE_PUBLISH {
            return Err(SniffError::TooMuchBeforePublish);
        }
        let mut pending = std::mem::take(&mut self.pending);
        pending.extend_from_slice(bytes);
        let mut at = 0;
        let result = loop {
            if self.handshake_left > 0 {
                if self.handshake_left == HANDSHAKE_LEN
                    && let Some(&v) = pending.get(at)
                    && v != RTMP_VERSION
                {
                    break Err(SniffError::Version(v));
                }
                let take = self.handshake_left.min(pending.len() - at);
                self.handshake_left -= take;
                at += take;
                if self.handshake_left > 0 {
                    break Ok(Sniffed::NeedMore);
                }
                continue;
            }
            match self.chunk(&pending[at..]) {
                Ok(None) => break Ok(Sniffed::NeedMore),
                Ok(Some((used, message))) => {
                    at += used;
                    if let Some((type_id, payload)) = message {
                        match self.message(type_id, &payload) {
                            Ok(Some(p)) => break Ok(Sniffed::Publish(p)),
                            Ok(None) => {}
                            Err(e) => break Err(e),
                        }
                    }
                }
                Err(e) => break Err(e),
            }
        };
        pending.drain(..at);
        self.pending = pending;
        result
    }

    /// Parses one chunk at the start of `buf`: `None` if it is not all
    /// there yet, else the bytes it used and the message it completed.
    #[allow(clippy::type_complexity)]
    fn chunk(&mut self, buf: &[u8]) -> Result<Option<(usize, Option<(u8, Vec<u8>)>)>, SniffError> {
        let Some(&first) = buf.first() else { return Ok(None) };
        let fmt = first >> 6;
        let (csid, mut at) = match first & 0x3f {
            0 => match buf.get(1) {
                Some(&b) => (64 + u32::from(b), 2),
                None => return Ok(None),
            },
            1 => match (buf.get(1), buf.get(2)) {
                (Some(&b1), Some(&b2)) => (64 + u32::from(b1) + 256 * u32::from(b2), 3),
                _ => return Ok(None),
            },
            id => (u32::from(id), 1),
        };
        let header_len = [11, 7, 3, 0][usize::from(fmt)];
        let Some(header) = buf.get(at..at + header_len) else { return Ok(None) };
        at += header_len;
        let chunk_size = self.chunk_size;
        let stream = self.streams.entry(csid).or_default();
        if fmt == 3 && !stream.started {
            return Err(SniffError::NoPreviousHeader(csid));
        }
        // Parse into locals first: nothing changes until the whole chunk is here.
        let mut extended = stream.extended_timestamp;
        let (mut length, mut type_id) = (stream.length, stream.type_id);
        if fmt < 3 {
            extended = u24(&header[0..3]) == 0xff_ffff;
        }
        if fmt < 2 {
            length = u24(&header[3..6]) as usize;
            type_id = header[6];
        }
        if extended {
            if buf.len() < at + 4 {
                return Ok(None);
            }
            at += 4;
        }
        let is_command = matches!(type_id, MSG_AMF0_COMMAND | MSG_AMF3_COMMAND | MSG_SET_CHUNK_SIZE);
        if is_command && length > MAX_COMMAND_LEN {
            return Err(SniffError::CommandTooLarge(length));
        }
        // A new header mid-message abandons the old one, as a server would;
        // a type-3 chunk after a complete message starts the next one.
        let so_far = if fmt < 3 { 0 } else { stream.received };
        let take = chunk_size.min(length - so_far);
        let Some(body) = buf.get(at..at + take) else { return Ok(None) };
        at += take;

        stream.started = true;
        stream.extended_timestamp = extended;
        stream.length = length;
        stream.type_id = type_id;
        if so_far == 0 {
            stream.payload.clear();
        }
        // Media is never kept: only commands are read.
        if is_command {
            stream.payload.extend_from_slice(body);
        }
        stream.received = so_far + take;
        let message = if stream.received == length {
            stream.received = 0;
            let payload = std::mem::take(&mut stream.payload);
            is_command.then_some((type_id, payload))
        } else {
            None
        };
        Ok(Some((at, message)))
    }

    fn message(&mut self, type_id: u8, payload: &[u8]) -> Result<Option<Publish>, SniffError> {
        match type_id {
            MSG_SET_CHUNK_SIZE => {
                let Some(b) = payload.get(0..4) else { return Err(SniffError::ChunkSize(0)) };
                let size = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & 0x7fff_ffff;
                if !(1..=0x00ff_ffff).contains(&size) {
                    return Err(SniffError::ChunkSize(size));
                }
                self.chunk_size = size as usize;
                Ok(None)
            }
            // An AMF3 command message is a zero byte and then AMF0.
            MSG_AMF3_COMMAND => self.command(payload.get(1..).unwrap_or_default()),
            _ => self.command(payload),
        }
    }

    fn command(&mut self, payload: &[u8]) -> Result<Option<Publish>, SniffError> {
        let mut r = Amf0 { buf: payload, at: 0 };
        let name = r.string()?;
        let _transaction = r.number()?;
        match name.as_str() {
            "connect" => {
                if let Some(app) = r.object_string_property("app")? {
                    self.app = app;
                }
                Ok(None)
            }
            "publish" => {
                r.skip_value(0)?; // the command object: null
                let mut key = r.string()?;
                let mut app = self.app.clone();
                // `rtmp://host/live/KEY` pasted whole as OBS's Server, key left empty.
                if key.is_empty()
                    && let Some((a, k)) = self.app.split_once('/')
                {
                    (app, key) = (a.to_owned(), k.to_owned());
                }
                // Some encoders add `?query` to the stream name; it is not the key.
                if let Some((k, _query)) = key.split_once('?') {
                    key = k.to_owned();
                }
                Ok(Some(Publish { app, key }))
            }
            _ => Ok(None),
        }
    }
}

fn u24(b: &[u8]) -> u32 {
    (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2])
}

/// Just enough AMF0 to read command names, numbers, strings and one
/// property of an object; anything else is skipped by its length.
struct Amf0<'a> {
    buf: &'a [u8],
    at: usize,
}

const AMF_NUMBER: u8 = 0x00;
const AMF_BOOLEAN: u8 = 0x01;
const AMF_STRING: u8 = 0x02;
const AMF_OBJECT: u8 = 0x03;
const AMF_NULL: u8 = 0x05;
const AMF_UNDEFINED: u8 = 0x06;
const AMF_ECMA_ARRAY: u8 = 0x08;
const AMF_OBJECT_END: u8 = 0x09;
const AMF_STRICT_ARRAY: u8 = 0x0a;
const AMF_DATE: u8 = 0x0b;
const AMF_LONG_STRING: u8 = 0x0c;
const MAX_DEPTH: u32 = 8;

impl Amf0<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], SniffError> {
        let s = self.buf.get(self.at..self.at + n).ok_or(SniffError::Amf("truncated"))?;
        self.at += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, SniffError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<usize, SniffError> {
        let b = self.take(2)?;
        Ok(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }

    fn u32(&mut self) -> Result<usize, SniffError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    fn utf8(&mut self, len: usize) -> Result<String, SniffError> {
        let b = self.take(len)?;
        String::from_utf8(b.to_vec()).map_err(|_| SniffError::Amf("string is not UTF-8"))
    }

    fn string(&mut self) -> Result<String, SniffError> {
        match self.u8()? {
            AMF_STRING => {
                let n = self.u16()?;
                self.utf8(n)
            }
            AMF_LONG_STRING => {
                let n = self.u32()?;
                self.utf8(n)
            }
            _ => Err(SniffError::Amf("expected a string")),
        }
    }

    fn number(&mut self) -> Result<f64, SniffError> {
        if self.u8()? != AMF_NUMBER {
            return Err(SniffError::Amf("expected a number"));
        }
        let b = self.take(8)?;
        Ok(f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }

    /// Reads an object (or null) and returns the string property `name`.
    fn object_string_property(&mut self, name: &str) -> Result<Option<String>, SniffError> {
        match self.buf.get(self.at) {
            Some(&AMF_OBJECT) => self.at += 1,
            Some(&AMF_ECMA_ARRAY) => self.at += 5,
            _ => {
                self.skip_value(0)?;
                return Ok(None);
            }
        }
        let mut found = None;
        loop {
            let len = self.u16()?;
            let key = self.utf8(len)?;
            if key.is_empty() && self.buf.get(self.at) == Some(&AMF_OBJECT_END) {
                self.at += 1;
                return Ok(found);
            }
            if key == name && matches!(self.buf.get(self.at), Some(&AMF_STRING | &AMF_LONG_STRING)) {
                found = Some(self.string()?);
            } else {
                self.skip_value(1)?;
            }
        }
    }

    fn skip_properties(&mut self, depth: u32) -> Result<(), SniffError> {
        loop {
            let len = self.u16()?;
            self.take(len)?;
            if len == 0 && self.buf.get(self.at) == Some(&AMF_OBJECT_END) {
                self.at += 1;
                return Ok(());
            }
            self.skip_value(depth + 1)?;
        }
    }

    fn skip_value(&mut self, depth: u32) -> Result<(), SniffError> {
        if depth > MAX_DEPTH {
            return Err(SniffError::Amf("nested too deep"));
        }
        match self.u8()? {
            AMF_NUMBER => self.take(8).map(drop),
            AMF_BOOLEAN => self.take(1).map(drop),
            AMF_STRING => {
                let n = self.u16()?;
                self.take(n).map(drop)
            }
            AMF_LONG_STRING => {
                let n = self.u32()?;
                self.take(n).map(drop)
            }
            AMF_NULL | AMF_UNDEFINED => Ok(()),
            AMF_OBJECT => self.skip_properties(depth),
            AMF_ECMA_ARRAY => {
                self.take(4)?;
                self.skip_properties(depth)
            }
            AMF_STRICT_ARRAY => {
                let n = self.u32()?;
                for _ in 0..n {
                    self.skip_value(depth + 1)?;
                }
                Ok(())
            }
            AMF_DATE => self.take(10).map(drop),
            _ => Err(SniffError::Amf("unsupported value type")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amf_string(s: &str) -> Vec<u8> {
        let mut v = vec![AMF_STRING];
        v.extend_from_slice(&(s.len() as u16).to_be_bytes());
        v.extend_from_slice(s.as_bytes());
        v
    }

    fn amf_number(n: f64) -> Vec<u8> {
        let mut v = vec![AMF_NUMBER];
        v.extend_from_slice(&n.to_be_bytes());
        v
    }

    fn property(name: &str, value: Vec<u8>) -> Vec<u8> {
        let mut v = (name.len() as u16).to_be_bytes().to_vec();
        v.extend_from_slice(name.as_bytes());
        v.extend(value);
        v
    }

    fn connect(app: &str) -> Vec<u8> {
        let mut v = amf_string("connect");
        v.extend(amf_number(1.0));
        v.push(AMF_OBJECT);
        v.extend(property("app", amf_string(app)));
        v.extend(property("type", amf_string("nonprivate")));
        v.extend(property("fpad", vec![AMF_BOOLEAN, 0]));
        v.extend(property("capabilities", amf_number(15.0)));
        v.extend(property("nested", {
            let mut o = vec![AMF_OBJECT];
            o.extend(property("x", vec![AMF_NULL]));
            o.extend([0, 0, AMF_OBJECT_END]);
            o
        }));
        v.extend(property("tcUrl", amf_string(&format!("rtmp://127.0.0.1:1935/{app}"))));
        v.extend([0, 0, AMF_OBJECT_END]);
        v
    }

    fn publish(name: &str) -> Vec<u8> {
        let mut v = amf_string("publish");
        v.extend(amf_number(5.0));
        v.push(AMF_NULL);
        v.extend(amf_string(name));
        v.extend(amf_string("live"));
        v
    }

    /// A message split into chunks the way encoders do: fmt 0, then fmt 3.
    fn chunks(csid: u8, type_id: u8, payload: &[u8], chunk_size: usize) -> Vec<u8> {
        let mut out = vec![csid];
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
        out.push(type_id);
        out.extend_from_slice(&[0, 0, 0, 0]);
        for (i, part) in payload.chunks(chunk_size).enumerate() {
            if i > 0 {
                out.push(0xc0 | csid);
            }
            out.extend_from_slice(part);
        }
        out
    }

    fn handshake() -> Vec<u8> {
        let mut v = vec![RTMP_VERSION];
        v.extend(std::iter::repeat_n(0xab, 1536 * 2));
        v
    }

    fn session(app: &str, key: &str) -> Vec<u8> {
        let mut v = handshake();
        v.extend(chunks(3, MSG_AMF0_COMMAND, &connect(app), 128));
        // OBS raises its chunk size to 4096 after connect.
        v.extend(chunks(2, MSG_SET_CHUNK_SIZE, &4096u32.to_be_bytes(), 128));
        let mut release = amf_string("releaseStream");
        release.extend(amf_number(2.0));
        release.push(AMF_NULL);
        release.extend(amf_string(key));
        v.extend(chunks(3, MSG_AMF0_COMMAND, &release, 4096));
        v.extend(chunks(8, MSG_AMF0_COMMAND, &publish(key), 4096));
        v
    }

    #[test]
    fn finds_the_key_whatever_the_read_boundaries() {
        let key = "K".repeat(32);
        let bytes = session("live", &key);
        for step in [1, 7, 128, 1000, bytes.len()] {
            let mut s = PublishSniffer::default();
            let mut verdict = Sniffed::NeedMore;
            for part in bytes.chunks(step) {
                verdict = s.feed(part).unwrap();
                if verdict != Sniffed::NeedMore {
                    break;
                }
            }
            assert_eq!(verdict, Sniffed::Publish(Publish { app: "live".into(), key: key.clone() }), "step {step}");
        }
    }

    #[test]
    fn a_long_connect_spans_chunks_and_extended_timestamps_are_skipped() {
        let mut bytes = handshake();
        let mut c = connect(&format!("live{}", "x".repeat(300)));
        c.truncate(c.len() - 3);
        c.extend([0, 0, AMF_OBJECT_END]);
        bytes.extend(chunks(3, MSG_AMF0_COMMAND, &c, 128));
        // fmt 0 with an extended timestamp, on a two-byte chunk stream id.
        let p = publish("abc");
        bytes.extend([0x00, 10, 0xff, 0xff, 0xff]);
        bytes.extend_from_slice(&(p.len() as u32).to_be_bytes()[1..]);
        bytes.extend([MSG_AMF0_COMMAND, 1, 0, 0, 0, 0, 1, 2, 3]);
        bytes.extend(&p);
        let verdict = PublishSniffer::default().feed(&bytes).unwrap();
        assert!(
            matches!(verdict, Sniffed::Publish(Publish { ref key, ref app }) if key == "abc" && app.starts_with("live"))
        );
    }

    #[test]
    fn a_whole_url_in_the_server_field_and_query_strings_still_yield_the_key() {
        let v = PublishSniffer::default().feed(&session("live/secretkey", "")).unwrap();
        assert_eq!(v, Sniffed::Publish(Publish { app: "live".into(), key: "secretkey".into() }));
        let v = PublishSniffer::default().feed(&session("live", "secretkey?bandwidth=6000")).unwrap();
        assert_eq!(v, Sniffed::Publish(Publish { app: "live".into(), key: "secretkey".into() }));
    }

    #[test]
    fn garbage_and_floods_are_refused() {
        assert_eq!(PublishSniffer::default().feed(b"GET / HTTP/1.1\r\n"), Err(SniffError::Version(b'G')));
        let mut s = PublishSniffer::default();
        s.feed(&handshake()).unwrap();
        // A continuation chunk on a stream that never had a header.
        assert_eq!(s.feed(&[0xc5, 1, 2, 3]), Err(SniffError::NoPreviousHeader(5)));
        let mut s = PublishSniffer::default();
        s.feed(&handshake()).unwrap();
        let mut huge = vec![3, 0, 0, 0];
        huge.extend_from_slice(&(1_000_000u32).to_be_bytes()[1..]);
        huge.extend([MSG_AMF0_COMMAND, 0, 0, 0, 0]);
        assert_eq!(s.feed(&huge), Err(SniffError::CommandTooLarge(1_000_000)));
        let mut s = PublishSniffer::default();
        let mut flood = Ok(Sniffed::NeedMore);
        for _ in 0..100 {
            flood = s.feed(&[RTMP_VERSION; 1024]);
            if flood.is_err() {
                break;
            }
        }
        assert!(flood.is_err(), "a client that never publishes is cut off");
        let mut s = PublishSniffer::default();
        s.feed(&handshake()).unwrap();
        let mut bad = amf_string("connect");
        bad.extend(amf_number(1.0));
        bad.extend([AMF_OBJECT, 0, 3, b'a', b'p', b'p', 0x42]);
        assert!(matches!(s.feed(&chunks(3, MSG_AMF0_COMMAND, &bad, 128)), Err(SniffError::Amf(_))));
    }

    #[test]
    fn media_before_publish_is_not_buffered() {
        let mut s = PublishSniffer::default();
        s.feed(&handshake()).unwrap();
        let video = vec![0u8; 5000];
        assert_eq!(s.feed(&chunks(6, 9, &video, 128)).unwrap(), Sniffed::NeedMore);
        assert!(s.streams.values().all(|c| c.payload.is_empty()));
        assert!(s.pending.is_empty());
    }
}
