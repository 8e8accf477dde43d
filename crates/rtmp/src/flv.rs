//! FLV, what FFmpeg reads from the node's pipe: RTMP audio, video and data
//! messages are FLV tags already, less the 11-byte tag header.

/// Signature, version 1, audio and video present, header length 9, and the
/// first (zero) previous-tag-size.
pub const HEADER: [u8; 13] = [b'F', b'L', b'V', 1, 0x05, 0, 0, 0, 9, 0, 0, 0, 0];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagKind {
    Audio = 8,
    Video = 9,
    Script = 18,
}

/// `@setDataFrame`, as an AMF0 string: encoders prefix their metadata with
/// it; in a file the script tag starts at `onMetaData`.
const SET_DATA_FRAME: &[u8] = b"\x02\x00\x0d@setDataFrame";

/// One tag, with its trailing previous-tag-size.
pub fn tag(kind: TagKind, timestamp: u32, data: &[u8]) -> Vec<u8> {
    let data = match kind {
        TagKind::Script => data.strip_prefix(SET_DATA_FRAME).unwrap_or(data),
        _ => data,
    };
    // Tag sizes are 24 bits; RTMP messages are bounded below that by the reader.
    let size = (data.len() as u32).min(0x00ff_ffff);
    let mut out = Vec::with_capacity(11 + data.len() + 4);
    out.push(kind as u8);
    out.extend_from_slice(&size.to_be_bytes()[1..]);
    out.extend_from_slice(&timestamp.to_be_bytes()[1..]);
    out.push((timestamp >> 24) as u8);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&data[..size as usize]);
    out.extend_from_slice(&(11 + size).to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_laid_out_as_flv_says() {
        let t = tag(TagKind::Video, 0x0123_4567, &[0x17, 0, 0, 0, 0]);
        assert_eq!(t[..11], [9, 0, 0, 5, 0x23, 0x45, 0x67, 0x01, 0, 0, 0]);
        assert_eq!(t[11..16], [0x17, 0, 0, 0, 0]);
        assert_eq!(t[16..], 16u32.to_be_bytes());
        let mut meta = SET_DATA_FRAME.to_vec();
        meta.extend_from_slice(b"\x02\x00\x0aonMetaData");
        let t = tag(TagKind::Script, 0, &meta);
        assert_eq!(&t[11..11 + 13], b"\x02\x00\x0aonMetaData");
    }
}
