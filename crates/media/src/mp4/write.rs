//! Writing boxes: sizes are patched in when a box closes, so callers write
//! fields in order and never compute a length by hand.

pub(crate) struct BoxWriter {
    pub(crate) buf: Vec<u8>,
    open: Vec<usize>,
}

impl BoxWriter {
    pub(crate) fn new() -> Self {
        Self { buf: Vec::new(), open: Vec::new() }
    }

    pub(crate) fn begin(&mut self, kind: &[u8; 4]) {
        self.open.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
        self.buf.extend_from_slice(kind);
    }

    /// A full box: version and 24-bit flags after the header.
    pub(crate) fn begin_full(&mut self, kind: &[u8; 4], version: u8, flags: u32) {
        self.begin(kind);
        self.u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
    }

    /// Closes the innermost open box. Boxes in a `moov` stay far below 4 GiB
    /// (a sample table of 2^28 samples), so a 32-bit size always fits.
    pub(crate) fn end(&mut self) {
        if let Some(start) = self.open.pop() {
            let size = (self.buf.len() - start) as u32;
            self.buf[start..start + 4].copy_from_slice(&size.to_be_bytes());
        }
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    pub(crate) fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }

    /// The identity transformation matrix of `mvhd` and `tkhd`.
    pub(crate) fn unity_matrix(&mut self) {
        for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
            self.u32(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_sizes_are_patched() {
        let mut w = BoxWriter::new();
        w.begin(b"moov");
        w.begin_full(b"mvhd", 1, 3);
        w.u32(7);
        w.end();
        w.end();
        assert_eq!(&w.buf[..8], &[0, 0, 0, 24, b'm', b'o', b'o', b'v']);
        assert_eq!(&w.buf[8..16], &[0, 0, 0, 16, b'm', b'v', b'h', b'd']);
        assert_eq!(&w.buf[16..20], &[1, 0, 0, 3]);
    }
}
