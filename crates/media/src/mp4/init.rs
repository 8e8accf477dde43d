//! What an init segment (`ftyp` + `moov` with `mvex`) says about each track,
//! as much as a progressive MP4 of the same media needs: the sample entry,
//! the timescale, the headers to copy, the fragment defaults, and the edit
//! list that places the track on the common clock (ffmpeg puts the A/V start
//! offset there, not in `tfdt`).

use super::boxes::{Mp4Box, Mp4Error, child, children};

#[derive(Debug, Clone, PartialEq)]
pub struct InitTrack {
    pub track_id: u32,
    /// `vide`, `soun`, …
    pub handler: [u8; 4],
    pub timescale: u32,
    /// The sample entry box (`avc1`, `mp4a`, …), header included.
    pub sample_entry: Vec<u8>,
    /// `tkhd` from `layer` to `height`: 52 bytes, copied as they are.
    pub tkhd_tail: Vec<u8>,
    /// ISO 639-2 packed language code from `mdhd`.
    pub language: [u8; 2],
    /// `hdlr` payload, copied.
    pub hdlr: Vec<u8>,
    /// `vmhd`, `smhd`, … header included, copied.
    pub media_header: Vec<u8>,
    /// `dinf`, header included, copied.
    pub dinf: Option<Vec<u8>>,
    pub defaults: FragmentDefaults,
    /// Seconds of empty edit before the track's media starts.
    pub empty_edit_s: f64,
    /// Media time (track ticks) at which presentation starts: the
    /// composition delay of B-frames, or audio priming.
    pub media_time: i64,
}

/// `trex`: what a fragment leaves out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FragmentDefaults {
    pub sample_description_index: u32,
    pub sample_duration: u32,
    pub sample_size: u32,
    pub sample_flags: u32,
}

impl InitTrack {
    pub fn is_video(&self) -> bool {
        &self.handler == b"vide"
    }

    /// Where decode time 0 of this track sits on the common clock, in seconds.
    pub fn clock_shift_s(&self) -> f64 {
        self.empty_edit_s - self.media_time as f64 / f64::from(self.timescale)
    }
}

pub(crate) fn be_u32(p: &[u8], at: usize) -> Result<u32, Mp4Error> {
    p.get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(Mp4Error::Malformed("field past its box"))
}
pub(crate) fn be_u64(p: &[u8], at: usize) -> Result<u64, Mp4Error> {
    p.get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or(Mp4Error::Malformed("field past its box"))
}

/// The whole box (header included) of `b`, a child read from `parent`.
pub(crate) fn whole<'a>(parent: &'a [u8], b: &Mp4Box<'a>) -> &'a [u8] {
    let end = (b.payload.as_ptr() as usize - parent.as_ptr() as usize) + b.payload.len();
    &parent[b.offset..end]
}

fn need<'a>(data: &'a [u8], kind: &'static [u8; 4], name: &'static str) -> Result<Mp4Box<'a>, Mp4Error> {
    child(data, kind)?.ok_or(Mp4Error::Missing(name))
}

/// Every track of an init segment, in `moov` order.
pub fn init_tracks(init: &[u8]) -> Result<Vec<InitTrack>, Mp4Error> {
    let moov = need(init, b"moov", "moov")?.payload;
    let mvhd = need(moov, b"mvhd", "mvhd")?.payload;
    let movie_timescale = be_u32(mvhd, if mvhd.first() == Some(&1) { 20 } else { 12 })?;
    let mut defaults = Vec::new();
    if let Some(mvex) = child(moov, b"mvex")? {
        for trex in children(mvex.payload) {
            let trex = trex?;
            if trex.is(b"trex") {
                let p = trex.payload;
                let d = FragmentDefaults {
                    sample_description_index: be_u32(p, 8)?,
                    sample_duration: be_u32(p, 12)?,
                    sample_size: be_u32(p, 16)?,
                    sample_flags: be_u32(p, 20)?,
                };
                defaults.push((be_u32(p, 4)?, d));
            }
        }
    }
    let mut out = Vec::new();
    for trak in children(moov) {
        let trak = trak?;
        if !trak.is(b"trak") {
            continue;
        }
        let tkhd = need(trak.payload, b"tkhd", "tkhd")?.payload;
        let track_id = be_u32(tkhd, if tkhd.first() == Some(&1) { 20 } else { 12 })?;
        let tkhd_tail = tkhd.get(tkhd.len().saturating_sub(52)..).filter(|t| t.len() == 52);
        let tkhd_tail = tkhd_tail.ok_or(Mp4Error::Malformed("tkhd"))?.to_vec();
        let mdia = need(trak.payload, b"mdia", "mdia")?.payload;
        let mdhd = need(mdia, b"mdhd", "mdhd")?.payload;
        let timescale = be_u32(mdhd, if mdhd.first() == Some(&1) { 20 } else { 12 })?;
        if timescale == 0 {
            return Err(Mp4Error::Malformed("mdhd timescale 0"));
        }
        let lang_at = mdhd.len().checked_sub(4).ok_or(Mp4Error::Malformed("mdhd"))?;
        let language = [mdhd[lang_at], mdhd[lang_at + 1]];
        let hdlr = need(mdia, b"hdlr", "hdlr")?.payload;
        let handler: [u8; 4] = hdlr.get(8..12).and_then(|h| h.try_into().ok()).ok_or(Mp4Error::Malformed("hdlr"))?;
        let minf = need(mdia, b"minf", "minf")?.payload;
        let mut media_header = None;
        for b in children(minf) {
            let b = b?;
            if matches!(&b.kind, b"vmhd" | b"smhd" | b"sthd" | b"nmhd") {
                media_header = Some(whole(minf, &b).to_vec());
            }
        }
        let dinf = child(minf, b"dinf")?.map(|b| whole(minf, &b).to_vec());
        let stbl = need(minf, b"stbl", "stbl")?.payload;
        let stsd = need(stbl, b"stsd", "stsd")?.payload;
        let entries = stsd.get(8..).ok_or(Mp4Error::Malformed("stsd"))?;
        let entry = children(entries).next().transpose()?.ok_or(Mp4Error::Missing("sample entry"))?;
        let sample_entry = whole(entries, &entry).to_vec();
        let (empty_edit_s, media_time) = match child(trak.payload, b"edts")? {
            Some(edts) => match child(edts.payload, b"elst")? {
                Some(elst) => edit(elst.payload, movie_timescale)?,
                None => (0.0, 0),
            },
            None => (0.0, 0),
        };
        let defaults = defaults.iter().find(|(id, _)| *id == track_id).map(|(_, d)| *d).unwrap_or_default();
        out.push(InitTrack {
            track_id,
            handler,
            timescale,
            sample_entry,
            tkhd_tail,
            language,
            hdlr: hdlr.to_vec(),
            media_header: media_header.ok_or(Mp4Error::Missing("media header"))?,
            dinf,
            defaults,
            empty_edit_s,
            media_time,
        });
    }
    if out.is_empty() {
        return Err(Mp4Error::Missing("trak"));
    }
    Ok(out)
}

/// The leading empty edits (seconds) and the media time of the first real edit.
fn edit(elst: &[u8], movie_timescale: u32) -> Result<(f64, i64), Mp4Error> {
    let v1 = elst.first() == Some(&1);
    let count = be_u32(elst, 4)? as usize;
    let entry = if v1 { 20 } else { 12 };
    let mut empty = 0u64;
    for i in 0..count.min(64) {
        let at = 8 + i * entry;
        let (duration, media_time) = if v1 {
            (be_u64(elst, at)?, be_u64(elst, at + 8)? as i64)
        } else {
            (u64::from(be_u32(elst, at)?), i64::from(be_u32(elst, at + 4)? as i32))
        };
        if media_time == -1 {
            empty += duration;
        } else {
            let seconds = if movie_timescale == 0 { 0.0 } else { empty as f64 / f64::from(movie_timescale) };
            return Ok((seconds, media_time.max(0)));
        }
    }
    Ok((0.0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INIT: &[u8] = include_bytes!("../../tests/fixtures/init_h264_main_aac.mp4");

    #[test]
    fn reads_an_ffmpeg_init_segment() {
        let t = init_tracks(INIT).unwrap();
        assert_eq!(t.len(), 2);
        assert!(t[0].is_video() && &t[1].handler == b"soun");
        assert_eq!(&t[0].sample_entry[4..8], b"avc1");
        assert_eq!(&t[1].sample_entry[4..8], b"mp4a");
        assert_eq!(t[1].timescale, 48000);
        assert_eq!(&t[0].media_header[4..8], b"vmhd");
        assert_eq!(t[0].defaults.sample_description_index, 1);
    }

    #[test]
    fn damage_is_an_error_never_a_panic() {
        for n in 0..INIT.len() {
            let _ = init_tracks(&INIT[..n]);
        }
        let mut flipped = INIT.to_vec();
        for i in 0..flipped.len() {
            flipped[i] ^= 0xff;
            let _ = init_tracks(&flipped);
            flipped[i] ^= 0xff;
        }
        assert!(init_tracks(b"").is_err());
    }
}
