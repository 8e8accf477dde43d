//! Finding a segment's fragment headers without reading its media: a
//! segment is `styp`/`sidx`/`moof`/`mdat` boxes end to end, and only the
//! `moof`s are needed to plan a recording. The scanner asks for byte ranges
//! (sans-IO: the caller fetches them from S3 or a file) and skips every
//! `mdat` by its header alone.

use super::boxes::Mp4Error;

/// How much to ask for when a box header is due: ffmpeg's `styp`, two `sidx`
/// and a 2 s `moof` fit in a few KiB.
pub const PROBE_BYTES: u64 = 16 * 1024;

/// A `moof` found in a segment: its payload and where the box starts.
#[derive(Debug, Clone)]
pub struct FoundMoof {
    pub offset: u64,
    pub payload: Vec<u8>,
}

#[derive(Debug)]
pub struct SegmentScan {
    len: u64,
    /// Where the next box starts.
    pos: u64,
    /// Bytes the next read must bring: a whole `moof` once one was cut short.
    need: u64,
    moofs: Vec<FoundMoof>,
    saw_mdat: bool,
}

impl SegmentScan {
    pub fn new(segment_len: u64) -> Self {
        Self { len: segment_len, pos: 0, need: PROBE_BYTES, moofs: Vec::new(), saw_mdat: false }
    }

    /// The byte range `(offset, length)` to read next, or `None` when done.
    pub fn want(&self) -> Option<(u64, u64)> {
        (self.pos < self.len).then(|| (self.pos, self.need.min(self.len - self.pos)))
    }

    /// Takes the bytes read for [`want`](Self::want)'s range (more is fine).
    pub fn feed(&mut self, at: u64, bytes: &[u8]) -> Result<(), Mp4Error> {
        let Some((want_at, want_len)) = self.want() else { return Ok(()) };
        if at != want_at {
            return Err(Mp4Error::Malformed("scan fed from the wrong offset"));
        }
        let start = self.pos;
        let mut rel = 0usize;
        while self.pos < self.len {
            let rest = &bytes[rel..];
            let Some(header) = BoxHeader::read(rest) else { break };
            let size = if header.size == 0 { self.len - self.pos } else { header.size };
            if size < header.len || size > self.len - self.pos {
                return Err(Mp4Error::BadSize { offset: self.pos as usize, size });
            }
            if &header.kind == b"moof" {
                if (rest.len() as u64) < size {
                    self.need = size;
                    break;
                }
                let payload = rest[header.len as usize..size as usize].to_vec();
                self.moofs.push(FoundMoof { offset: self.pos, payload });
            } else if &header.kind == b"mdat" {
                self.saw_mdat = true;
            }
            self.pos += size;
            self.need = PROBE_BYTES;
            if size >= (rest.len() as u64) {
                break;
            }
            rel += size as usize;
        }
        // A full read that moved nothing forward: the segment ends inside a header.
        if self.pos == start && (bytes.len() as u64) >= want_len {
            return Err(Mp4Error::Truncated { offset: self.pos as usize });
        }
        Ok(())
    }

    /// The `moof`s, once [`want`](Self::want) says the scan is complete.
    pub fn finish(self) -> Result<Vec<FoundMoof>, Mp4Error> {
        if self.pos < self.len {
            return Err(Mp4Error::Truncated { offset: self.pos as usize });
        }
        if self.moofs.is_empty() || !self.saw_mdat {
            return Err(Mp4Error::Missing("moof and mdat"));
        }
        Ok(self.moofs)
    }
}

struct BoxHeader {
    kind: [u8; 4],
    /// 8, or 16 with a 64-bit size.
    len: u64,
    /// 0: to the end of the segment.
    size: u64,
}

impl BoxHeader {
    fn read(b: &[u8]) -> Option<Self> {
        let size32 = u32::from_be_bytes(b.get(0..4)?.try_into().ok()?);
        let kind: [u8; 4] = b.get(4..8)?.try_into().ok()?;
        Some(match size32 {
            1 => Self { kind, len: 16, size: u64::from_be_bytes(b.get(8..16)?.try_into().ok()?) },
            n => Self { kind, len: 8, size: u64::from(n) },
        })
    }
}

/// Scans a segment held in memory (tests, local files).
pub fn scan_in_memory(segment: &[u8]) -> Result<Vec<FoundMoof>, Mp4Error> {
    let mut scan = SegmentScan::new(segment.len() as u64);
    while let Some((at, len)) = scan.want() {
        let end = (at + len) as usize;
        scan.feed(at, &segment[at as usize..end])?;
    }
    scan.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEGMENT: &[u8] = include_bytes!("../../tests/fixtures/seg_160x90_2s.m4s");

    #[test]
    fn finds_the_moof_and_skips_the_mdat() {
        let moofs = scan_in_memory(SEGMENT).unwrap();
        assert_eq!(moofs.len(), 1);
        let at = moofs[0].offset as usize;
        assert_eq!(&SEGMENT[at + 4..at + 8], b"moof");
    }

    #[test]
    fn a_moof_larger_than_the_probe_is_read_whole() {
        // styp, then a moof of 40 KiB (padded with a free box inside), then mdat.
        let mut seg = vec![0, 0, 0, 8, b's', b't', b'y', b'p'];
        let moof_len = 40 * 1024u32;
        seg.extend_from_slice(&moof_len.to_be_bytes());
        seg.extend_from_slice(b"moof");
        seg.extend_from_slice(&(moof_len - 8).to_be_bytes());
        seg.extend_from_slice(b"free");
        seg.resize(seg.len() + moof_len as usize - 16, 0);
        seg.extend_from_slice(&[0, 0, 0, 12, b'm', b'd', b'a', b't', 1, 2, 3, 4]);
        let moofs = scan_in_memory(&seg).unwrap();
        assert_eq!((moofs[0].offset, moofs[0].payload.len()), (8, moof_len as usize - 8));
    }

    #[test]
    fn truncation_is_an_error() {
        assert!(scan_in_memory(&SEGMENT[..SEGMENT.len() - 1]).is_err());
        assert!(scan_in_memory(&SEGMENT[..5]).is_err());
        assert!(scan_in_memory(b"").is_err());
        for n in (0..SEGMENT.len()).step_by(101) {
            let _ = scan_in_memory(&SEGMENT[..n]);
        }
    }
}
