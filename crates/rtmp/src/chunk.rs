//! The RTMP chunk stream: messages cut into chunks, interleaved by chunk
//! stream id, with headers compressed against the previous chunk of the
//! same stream.

use std::collections::HashMap;

use crate::RtmpError;

pub const DEFAULT_CHUNK_SIZE: usize = 128;
/// Chunk streams a client may use at once: encoders use three or four.
const MAX_CHUNK_STREAMS: usize = 64;

/// A complete message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub type_id: u8,
    pub stream_id: u32,
    /// Milliseconds, absolute (deltas already applied).
    pub timestamp: u32,
    pub payload: Vec<u8>,
}

#[derive(Default)]
struct ChunkStream {
    started: bool,
    extended: bool,
    length: usize,
    type_id: u8,
    stream_id: u32,
    timestamp: u32,
    /// The last fmt 1/2 delta: a fmt 3 chunk that starts a message repeats it.
    delta: u32,
    received: usize,
    payload: Vec<u8>,
}

/// Turns the bytes a peer sends (after the handshake) into messages.
pub struct ChunkReader {
    chunk_size: usize,
    max_message: usize,
    streams: HashMap<u32, ChunkStream>,
}

fn u24(b: &[u8]) -> u32 {
    (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2])
}

impl ChunkReader {
    /// Messages longer than `max_message` are refused before any of them is kept.
    pub fn new(max_message: usize) -> Self {
        Self { chunk_size: DEFAULT_CHUNK_SIZE, max_message, streams: HashMap::new() }
    }

    pub fn set_chunk_size(&mut self, size: usize) {
        self.chunk_size = size;
    }

    pub fn set_max_message(&mut self, max: usize) {
        self.max_message = max;
    }

    /// Drops the partial message on `csid` (Abort).
    pub fn abort(&mut self, csid: u32) {
        if let Some(s) = self.streams.get_mut(&csid) {
            s.received = 0;
            s.payload = Vec::new();
        }
    }

    /// Reads one chunk at the start of `buf`: `None` if it is not all there
    /// yet, else the bytes it used and the message it completed, if any.
    pub fn read(&mut self, buf: &[u8]) -> Result<Option<(usize, Option<Message>)>, RtmpError> {
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
        if !self.streams.contains_key(&csid) && self.streams.len() >= MAX_CHUNK_STREAMS {
            return Err(RtmpError::TooManyChunkStreams);
        }
        let chunk_size = self.chunk_size;
        let max_message = self.max_message;
        let stream = self.streams.entry(csid).or_default();
        if fmt != 0 && !stream.started {
            return Err(RtmpError::NoPreviousHeader(csid));
        }
        // Parse into locals: nothing changes until the whole chunk is here.
        let mut extended = stream.extended;
        let (mut length, mut type_id, mut stream_id) = (stream.length, stream.type_id, stream.stream_id);
        let mut field = 0u32;
        if fmt < 3 {
            field = u24(&header[0..3]);
            extended = field == 0xff_ffff;
        }
        if fmt < 2 {
            length = u24(&header[3..6]) as usize;
            type_id = header[6];
        }
        if fmt == 0 {
            stream_id = u32::from_le_bytes([header[7], header[8], header[9], header[10]]);
        }
        if extended {
            let Some(ext) = buf.get(at..at + 4) else { return Ok(None) };
            if fmt < 3 {
                field = u32::from_be_bytes([ext[0], ext[1], ext[2], ext[3]]);
            }
            at += 4;
        }
        if length > max_message {
            return Err(RtmpError::MessageTooLarge(length));
        }
        // A new header mid-message abandons the old one, as servers do; a
        // fmt 3 chunk after a complete message starts the next one.
        let so_far = if fmt < 3 { 0 } else { stream.received };
        let take = chunk_size.min(length - so_far);
        let Some(body) = buf.get(at..at + take) else { return Ok(None) };
        at += take;

        if so_far == 0 {
            stream.timestamp = match fmt {
                0 => {
                    stream.delta = 0;
                    field
                }
                1 | 2 => {
                    stream.delta = field;
                    stream.timestamp.wrapping_add(field)
                }
                _ => stream.timestamp.wrapping_add(stream.delta),
            };
            // Grown with what arrives, never sized by what a header claims:
            // a peer cannot make the server reserve more than it sent.
            stream.payload = Vec::new();
        }
        stream.started = true;
        stream.extended = extended;
        stream.length = length;
        stream.type_id = type_id;
        stream.stream_id = stream_id;
        stream.payload.extend_from_slice(body);
        stream.received = so_far + take;
        let message = if stream.received == length {
            stream.received = 0;
            Some(Message {
                type_id,
                stream_id,
                timestamp: stream.timestamp,
                payload: std::mem::take(&mut stream.payload),
            })
        } else {
            None
        };
        Ok(Some((at, message)))
    }
}

/// Writes `message` on `csid` as fmt 0 then fmt 3 chunks of `chunk_size`.
pub fn write(out: &mut Vec<u8>, csid: u8, message: &Message, chunk_size: usize) {
    debug_assert!((2..64).contains(&csid));
    let extended = message.timestamp >= 0xff_ffff;
    out.push(csid);
    let field = if extended { 0xff_ffff } else { message.timestamp };
    out.extend_from_slice(&field.to_be_bytes()[1..]);
    out.extend_from_slice(&(message.payload.len() as u32).to_be_bytes()[1..]);
    out.push(message.type_id);
    out.extend_from_slice(&message.stream_id.to_le_bytes());
    let ext = message.timestamp.to_be_bytes();
    if extended {
        out.extend_from_slice(&ext);
    }
    for (i, part) in message.payload.chunks(chunk_size.max(1)).enumerate() {
        if i > 0 {
            out.push(0xc0 | csid);
            if extended {
                out.extend_from_slice(&ext);
            }
        }
        out.extend_from_slice(part);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(reader: &mut ChunkReader, mut bytes: &[u8]) -> Vec<Message> {
        let mut out = Vec::new();
        while let Some((used, m)) = reader.read(bytes).unwrap() {
            bytes = &bytes[used..];
            out.extend(m);
        }
        assert!(bytes.is_empty(), "{} bytes left", bytes.len());
        out
    }

    #[test]
    fn written_messages_read_back_with_their_timestamps() {
        let a = Message { type_id: 9, stream_id: 1, timestamp: 40, payload: vec![7; 300] };
        let b = Message { type_id: 8, stream_id: 1, timestamp: 0x0100_0000, payload: vec![1; 200] };
        let mut bytes = Vec::new();
        write(&mut bytes, 6, &a, 128);
        write(&mut bytes, 4, &b, 128);
        let mut r = ChunkReader::new(1 << 20);
        assert_eq!(read_all(&mut r, &bytes), [a, b]);
    }

    #[test]
    fn deltas_accumulate_and_fmt3_repeats_the_last_one() {
        // fmt 0 at 1000, fmt 2 (+23), then fmt 3 starting a new message (+23 again).
        let mut bytes = vec![0x04, 0, 0x03, 0xe8, 0, 0, 2, 8, 1, 0, 0, 0, 0xaa, 0xbb];
        bytes.extend([0x84, 0, 0, 23, 0xcc, 0xdd]);
        bytes.extend([0xc4, 0xee, 0xff]);
        let mut r = ChunkReader::new(1 << 20);
        let ts: Vec<u32> = read_all(&mut r, &bytes).iter().map(|m| m.timestamp).collect();
        assert_eq!(ts, [1000, 1023, 1046]);
    }

    #[test]
    fn a_header_claiming_a_large_message_reserves_nothing_it_was_not_sent() {
        let mut r = ChunkReader::new(1 << 20);
        // fmt 0 declaring a 1 MB video message, then 3 bytes of it.
        let mut bytes = vec![0x06, 0, 0, 0, 0x0f, 0x42, 0x40, 9, 1, 0, 0, 0];
        bytes.extend([1, 2, 3]);
        r.set_chunk_size(3);
        assert!(matches!(r.read(&bytes), Ok(Some((_, None)))));
        assert!(r.streams[&6].payload.capacity() < 1024, "{}", r.streams[&6].payload.capacity());
    }

    #[test]
    fn limits_hold() {
        let mut r = ChunkReader::new(1000);
        let big = [0x03, 0, 0, 0, 0, 0x10, 0, 20, 0, 0, 0, 0];
        assert_eq!(r.read(&big), Err(RtmpError::MessageTooLarge(4096)));
        assert_eq!(ChunkReader::new(10).read(&[0xc5, 1]), Err(RtmpError::NoPreviousHeader(5)));
        let mut r = ChunkReader::new(1000);
        let mut flood = Ok(None);
        for csid in 0..=255u8 {
            flood = r.read(&[0x00, csid, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0]);
            if flood.is_err() {
                break;
            }
        }
        assert_eq!(flood, Err(RtmpError::TooManyChunkStreams));
    }
}
