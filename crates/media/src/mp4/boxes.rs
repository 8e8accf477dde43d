//! Walking boxes: every length is checked against the bytes at hand, so a
//! truncated or hostile file is an error, never a panic or an overread.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Mp4Error {
    #[error("box at offset {offset} is truncated")]
    Truncated { offset: usize },
    #[error("box at offset {offset} has an invalid size {size}")]
    BadSize { offset: usize, size: u64 },
    #[error("missing box {0}")]
    Missing(&'static str),
    #[error("malformed {0}")]
    Malformed(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mp4Box<'a> {
    pub kind: [u8; 4],
    /// The box's content after its header.
    pub payload: &'a [u8],
    /// Offset of the box in the slice it was read from.
    pub offset: usize,
}

impl Mp4Box<'_> {
    pub fn is(&self, kind: &[u8; 4]) -> bool {
        &self.kind == kind
    }
}

/// The boxes laid end to end in `data`.
pub fn children(data: &[u8]) -> impl Iterator<Item = Result<Mp4Box<'_>, Mp4Error>> {
    let mut offset = 0usize;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || offset >= data.len() {
            return None;
        }
        let result = read_box(data, offset);
        match &result {
            Ok((b, total)) => {
                let _ = b;
                offset += total;
            }
            Err(_) => failed = true,
        }
        Some(result.map(|(b, _)| b))
    })
}

fn read_box(data: &[u8], offset: usize) -> Result<(Mp4Box<'_>, usize), Mp4Error> {
    let rest = &data[offset..];
    let truncated = || Mp4Error::Truncated { offset };
    let size32 = u32::from_be_bytes(rest.get(0..4).ok_or_else(truncated)?.try_into().map_err(|_| truncated())?);
    let kind: [u8; 4] = rest.get(4..8).ok_or_else(truncated)?.try_into().map_err(|_| truncated())?;
    let (header, total) = match size32 {
        0 => (8usize, rest.len() as u64),
        1 => {
            let large = rest.get(8..16).ok_or_else(truncated)?;
            (16, u64::from_be_bytes(large.try_into().map_err(|_| truncated())?))
        }
        n => (8, u64::from(n)),
    };
    if total < header as u64 {
        return Err(Mp4Error::BadSize { offset, size: total });
    }
    if total > rest.len() as u64 {
        return Err(truncated());
    }
    let total = total as usize;
    Ok((Mp4Box { kind, payload: &rest[header..total], offset }, total))
}

/// The first child of `kind` in `data`.
pub fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Result<Option<Mp4Box<'a>>, Mp4Error> {
    for b in children(data) {
        let b = b?;
        if b.is(kind) {
            return Ok(Some(b));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut v = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn walks_siblings_and_finds_children() {
        let mut data = mk(b"ftyp", b"isom");
        data.extend(mk(b"moov", &mk(b"mvhd", &[0; 4])));
        let kinds: Vec<[u8; 4]> = children(&data).map(|b| b.unwrap().kind).collect();
        assert_eq!(kinds, [*b"ftyp", *b"moov"]);
        let moov = child(&data, b"moov").unwrap().unwrap();
        assert_eq!(child(moov.payload, b"mvhd").unwrap().unwrap().payload, &[0; 4]);
        assert_eq!(child(&data, b"mdat").unwrap(), None);
    }

    #[test]
    fn truncation_and_bad_sizes_are_errors() {
        let data = mk(b"moov", &[1, 2, 3, 4]);
        assert!(matches!(children(&data[..10]).next(), Some(Err(Mp4Error::Truncated { .. }))));
        assert!(matches!(children(&[0, 0, 0, 4, b'a', b'b', b'c', b'd']).next(), Some(Err(Mp4Error::BadSize { .. }))));
        assert!(matches!(children(&[0, 0]).next(), Some(Err(Mp4Error::Truncated { .. }))));
        // A 64-bit size larger than the data.
        let mut large = vec![0, 0, 0, 1];
        large.extend_from_slice(b"mdat");
        large.extend_from_slice(&u64::MAX.to_be_bytes());
        assert!(children(&large).next().unwrap().is_err());
        // Size 0 runs to the end.
        let open = [0, 0, 0, 0, b'm', b'd', b'a', b't', 9, 9];
        assert_eq!(children(&open).next().unwrap().unwrap().payload, &[9, 9]);
        assert_eq!(children(&[]).count(), 0);
    }
}
