//! Reading a progressive MP4's sample tables back: every sample's decode
//! time, duration, composition offset, size, file offset and sync flag. The
//! recorder's tests check what it wrote with this; it is also how a
//! recording is verified without a decoder.

use super::{
    boxes::{Mp4Error, child, children},
    init::{be_u32, be_u64},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredSample {
    pub dts: u64,
    pub duration: u32,
    pub cts_offset: i32,
    pub size: u32,
    pub offset: u64,
    pub sync: bool,
    /// 1-based index into the track's sample entries.
    pub description: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredTrack {
    pub handler: [u8; 4],
    pub timescale: u32,
    /// Sample entries (`avc1`, `mp4a`, …), headers included.
    pub entries: Vec<Vec<u8>>,
    pub samples: Vec<StoredSample>,
    /// Seconds of empty edit, and the media time presentation starts at.
    pub empty_edit_s: f64,
    pub media_time: i64,
}

impl StoredTrack {
    /// Presentation time of the first sample's decode time, in seconds.
    pub fn start_s(&self) -> f64 {
        self.empty_edit_s - self.media_time as f64 / f64::from(self.timescale)
    }
    pub fn duration_s(&self) -> f64 {
        self.samples.last().map_or(0.0, |s| (s.dts + u64::from(s.duration)) as f64 / f64::from(self.timescale))
    }
}

fn need<'a>(data: &'a [u8], kind: &'static [u8; 4]) -> Result<&'a [u8], Mp4Error> {
    Ok(child(data, kind)?.ok_or(Mp4Error::Missing("sample table box"))?.payload)
}

/// Counted entries of `width` bytes after version/flags and a count.
fn entries(p: &[u8], width: usize) -> Result<usize, Mp4Error> {
    let n = be_u32(p, 4)? as usize;
    if p.len().saturating_sub(8) / width < n {
        return Err(Mp4Error::Malformed("entry count exceeds its box"));
    }
    Ok(n)
}

/// The tracks of a progressive MP4; `data` is the whole file, and every
/// sample must lie within it.
pub fn stored_tracks(data: &[u8]) -> Result<Vec<StoredTrack>, Mp4Error> {
    let moov = need(data, b"moov")?;
    let mvhd = need(moov, b"mvhd")?;
    let movie_ts = be_u32(mvhd, if mvhd.first() == Some(&1) { 20 } else { 12 })?;
    let mut out = Vec::new();
    for trak in children(moov) {
        let trak = trak?;
        if !trak.is(b"trak") {
            continue;
        }
        let mdia = need(trak.payload, b"mdia")?;
        let mdhd = need(mdia, b"mdhd")?;
        let timescale = be_u32(mdhd, if mdhd.first() == Some(&1) { 20 } else { 12 })?;
        let handler: [u8; 4] =
            need(mdia, b"hdlr")?.get(8..12).and_then(|h| h.try_into().ok()).ok_or(Mp4Error::Malformed("hdlr"))?;
        let stbl = need(need(mdia, b"minf")?, b"stbl")?;

        let stsd = need(stbl, b"stsd")?;
        let mut descriptions = Vec::new();
        let list = stsd.get(8..).ok_or(Mp4Error::Malformed("stsd"))?;
        for e in children(list) {
            let e = e?;
            descriptions.push(super::init::whole(list, &e).to_vec());
        }

        let stsz = need(stbl, b"stsz")?;
        let uniform = be_u32(stsz, 4)?;
        let count = be_u32(stsz, 8)? as usize;
        // Counts the box (or, for one size for all, the file) cannot hold
        // are refused before anything is allocated for them.
        let fits = if uniform == 0 {
            stsz.len().saturating_sub(12) / 4 >= count
        } else {
            (count as u64).saturating_mul(u64::from(uniform)) <= data.len() as u64
        };
        if !fits {
            return Err(Mp4Error::Malformed("stsz"));
        }
        let mut samples: Vec<StoredSample> = (0..count)
            .map(|i| {
                let size = if uniform != 0 { Ok(uniform) } else { be_u32(stsz, 12 + 4 * i) }?;
                Ok(StoredSample { dts: 0, duration: 0, cts_offset: 0, size, offset: 0, sync: true, description: 1 })
            })
            .collect::<Result<_, Mp4Error>>()?;

        let stts = need(stbl, b"stts")?;
        let (mut i, mut dts) = (0usize, 0u64);
        for e in 0..entries(stts, 8)? {
            let (n, d) = (be_u32(stts, 8 + 8 * e)?, be_u32(stts, 12 + 8 * e)?);
            for _ in 0..n {
                let s = samples.get_mut(i).ok_or(Mp4Error::Malformed("stts covers more samples than stsz"))?;
                (s.dts, s.duration) = (dts, d);
                dts += u64::from(d);
                i += 1;
            }
        }
        if i != samples.len() {
            return Err(Mp4Error::Malformed("stts covers fewer samples than stsz"));
        }
        if let Some(ctts) = child(stbl, b"ctts")? {
            let p = ctts.payload;
            let mut i = 0usize;
            for e in 0..entries(p, 8)? {
                let (n, o) = (be_u32(p, 8 + 8 * e)?, be_u32(p, 12 + 8 * e)? as i32);
                for _ in 0..n {
                    samples.get_mut(i).ok_or(Mp4Error::Malformed("ctts"))?.cts_offset = o;
                    i += 1;
                }
            }
        }
        if let Some(stss) = child(stbl, b"stss")? {
            let p = stss.payload;
            samples.iter_mut().for_each(|s| s.sync = false);
            for e in 0..entries(p, 4)? {
                let n = be_u32(p, 8 + 4 * e)? as usize;
                samples.get_mut(n.wrapping_sub(1)).ok_or(Mp4Error::Malformed("stss"))?.sync = true;
            }
        }

        let chunk_offsets: Vec<u64> = if let Some(co) = child(stbl, b"stco")? {
            (0..entries(co.payload, 4)?)
                .map(|e| be_u32(co.payload, 8 + 4 * e).map(u64::from))
                .collect::<Result<_, _>>()?
        } else {
            let co = need(stbl, b"co64")?;
            (0..entries(co, 8)?).map(|e| be_u64(co, 8 + 8 * e)).collect::<Result<_, _>>()?
        };
        let stsc = need(stbl, b"stsc")?;
        let runs: Vec<(u32, u32, u32)> = (0..entries(stsc, 12)?)
            .map(|e| Ok((be_u32(stsc, 8 + 12 * e)?, be_u32(stsc, 12 + 12 * e)?, be_u32(stsc, 16 + 12 * e)?)))
            .collect::<Result<_, Mp4Error>>()?;
        let mut i = 0usize;
        for (r, &(first, per_chunk, description)) in runs.iter().enumerate() {
            let last = runs.get(r + 1).map_or(chunk_offsets.len() as u32 + 1, |n| n.0);
            for chunk in first..last {
                let mut offset = *chunk_offsets.get(chunk as usize - 1).ok_or(Mp4Error::Malformed("stsc"))?;
                for _ in 0..per_chunk {
                    let s = samples.get_mut(i).ok_or(Mp4Error::Malformed("stsc covers more samples than stsz"))?;
                    (s.offset, s.description) = (offset, description);
                    offset += u64::from(s.size);
                    i += 1;
                }
            }
        }
        if i != samples.len() {
            return Err(Mp4Error::Malformed("chunks hold fewer samples than stsz"));
        }
        if samples.iter().any(|s| s.offset.saturating_add(u64::from(s.size)) > data.len() as u64) {
            return Err(Mp4Error::Malformed("a sample lies past the end of the file"));
        }

        let (mut empty_edit_s, mut media_time) = (0.0, 0);
        if let Some(elst) = child(trak.payload, b"edts")?.map(|e| child(e.payload, b"elst")).transpose()?.flatten() {
            let p = elst.payload;
            let v1 = p.first() == Some(&1);
            let mut empty = 0u64;
            for e in 0..be_u32(p, 4)?.min(16) as usize {
                let (d, m) = if v1 {
                    (be_u64(p, 8 + 20 * e)?, be_u64(p, 16 + 20 * e)? as i64)
                } else {
                    (u64::from(be_u32(p, 8 + 12 * e)?), i64::from(be_u32(p, 12 + 12 * e)? as i32))
                };
                if m == -1 {
                    empty += d;
                } else {
                    media_time = m;
                    break;
                }
            }
            empty_edit_s = empty as f64 / f64::from(movie_ts.max(1));
        }
        out.push(StoredTrack { handler, timescale, entries: descriptions, samples, empty_edit_s, media_time });
    }
    Ok(out)
}
