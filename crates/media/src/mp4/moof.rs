//! The sample runs of a movie fragment (`moof`): per track, each sample's
//! duration, size, flags and composition offset, and where the run's bytes
//! lie in the segment. Every count and offset is checked against the bytes
//! at hand and the segment's length, so a truncated segment is an error.

use super::{
    boxes::{Mp4Error, child, children},
    init::{FragmentDefaults, be_u32, be_u64},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub duration: u32,
    pub size: u32,
    /// ISO 14496-12 sample flags; bit 16 set = not a sync sample.
    pub flags: u32,
    /// Composition time minus decode time, in track ticks.
    pub cts_offset: i32,
}

impl Sample {
    pub fn is_sync(&self) -> bool {
        self.flags & 0x0001_0000 == 0
    }
}

/// One `trun`: samples stored back to back from `data_offset`.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub track_id: u32,
    /// `tfdt` of the enclosing `traf`, when it has one: the decode time of
    /// the first sample of the traf's first run.
    pub base_decode_time: Option<u64>,
    /// The traf's sample description index (1-based), from `tfhd` or `trex`.
    pub sample_description_index: u32,
    /// Offset of the first sample's bytes, from the start of the segment.
    pub data_offset: u64,
    pub samples: Vec<Sample>,
}

impl Run {
    pub fn data_len(&self) -> u64 {
        self.samples.iter().map(|s| u64::from(s.size)).sum()
    }
}

const BASE_DATA_OFFSET: u32 = 0x01;
const SAMPLE_DESCRIPTION_INDEX: u32 = 0x02;
const DEFAULT_DURATION: u32 = 0x08;
const DEFAULT_SIZE: u32 = 0x10;
const DEFAULT_FLAGS: u32 = 0x20;
const DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;

/// The runs of the `moof` whose payload is `moof` and which starts at
/// `moof_offset` in a segment of `segment_len` bytes. `defaults` gives each
/// track's `trex` by track id.
pub fn fragment_runs(
    moof: &[u8],
    moof_offset: u64,
    segment_len: u64,
    defaults: &dyn Fn(u32) -> Option<FragmentDefaults>,
) -> Result<Vec<Run>, Mp4Error> {
    let mut runs = Vec::new();
    // Without an explicit base, a traf's data follows the previous traf's.
    let mut implicit_base = moof_offset;
    for traf in children(moof) {
        let traf = traf?;
        if !traf.is(b"traf") {
            continue;
        }
        let tfhd = child(traf.payload, b"tfhd")?.ok_or(Mp4Error::Missing("tfhd"))?.payload;
        let flags = be_u32(tfhd, 0)? & 0x00ff_ffff;
        let track_id = be_u32(tfhd, 4)?;
        let trex = defaults(track_id).ok_or(Mp4Error::Malformed("fragment of a track the init segment lacks"))?;
        let mut at = 8;
        let mut base = if flags & DEFAULT_BASE_IS_MOOF != 0 { moof_offset } else { implicit_base };
        if flags & BASE_DATA_OFFSET != 0 {
            base = be_u64(tfhd, at)?;
            at += 8;
        }
        let mut sdi = trex.sample_description_index;
        if flags & SAMPLE_DESCRIPTION_INDEX != 0 {
            sdi = be_u32(tfhd, at)?;
            at += 4;
        }
        let mut default_duration = trex.sample_duration;
        if flags & DEFAULT_DURATION != 0 {
            default_duration = be_u32(tfhd, at)?;
            at += 4;
        }
        let mut default_size = trex.sample_size;
        if flags & DEFAULT_SIZE != 0 {
            default_size = be_u32(tfhd, at)?;
            at += 4;
        }
        let default_flags = if flags & DEFAULT_FLAGS != 0 { be_u32(tfhd, at)? } else { trex.sample_flags };
        let base_decode_time = match child(traf.payload, b"tfdt")? {
            Some(t) if t.payload.first() == Some(&1) => Some(be_u64(t.payload, 4)?),
            Some(t) => Some(u64::from(be_u32(t.payload, 4)?)),
            None => None,
        };
        let mut next = base;
        let mut first_in_traf = true;
        for trun in children(traf.payload) {
            let trun = trun?;
            if !trun.is(b"trun") {
                continue;
            }
            let d = TrunDefaults { duration: default_duration, size: default_size, flags: default_flags };
            let (data_offset, samples) = trun_samples(trun.payload, d, segment_len)?;
            let start = match data_offset {
                Some(o) => base.checked_add_signed(i64::from(o)).ok_or(Mp4Error::Malformed("trun data offset"))?,
                None => next,
            };
            let run = Run {
                track_id,
                base_decode_time: if first_in_traf { base_decode_time } else { None },
                sample_description_index: sdi.max(1),
                data_offset: start,
                samples,
            };
            let end = start.checked_add(run.data_len()).ok_or(Mp4Error::Malformed("trun sizes"))?;
            if end > segment_len {
                return Err(Mp4Error::Malformed("sample data runs past the end of the segment"));
            }
            next = end;
            first_in_traf = false;
            runs.push(run);
        }
        implicit_base = next;
    }
    Ok(runs)
}

#[derive(Clone, Copy)]
struct TrunDefaults {
    duration: u32,
    size: u32,
    flags: u32,
}

/// Samples a run may hold when they take no bytes of their own: far more
/// than any real fragment, far less than hostile input could ask for.
const MAX_EMPTY_SAMPLES: usize = 1 << 16;

fn trun_samples(trun: &[u8], d: TrunDefaults, segment_len: u64) -> Result<(Option<i32>, Vec<Sample>), Mp4Error> {
    let vf = be_u32(trun, 0)?;
    let flags = vf & 0x00ff_ffff;
    let count = be_u32(trun, 4)? as usize;
    let mut at = 8;
    let mut data_offset = None;
    if flags & 0x01 != 0 {
        data_offset = Some(be_u32(trun, at)? as i32);
        at += 4;
    }
    let mut first_flags = None;
    if flags & 0x04 != 0 {
        first_flags = Some(be_u32(trun, at)?);
        at += 4;
    }
    let per_sample = 4 * [0x100, 0x200, 0x400, 0x800].iter().filter(|f| flags & **f != 0).count();
    // Refuse counts the box, or the segment, cannot hold before allocating
    // for them: with per-sample fields the box holds them; without, the
    // samples' default size must fit in the segment.
    let room = trun.len().saturating_sub(at);
    let too_many = match room.checked_div(per_sample) {
        Some(fit) => fit < count,
        None if d.size > 0 => (count as u64).saturating_mul(u64::from(d.size)) > segment_len,
        None => count > MAX_EMPTY_SAMPLES,
    };
    if too_many {
        return Err(Mp4Error::Malformed("trun sample count exceeds its box"));
    }
    let mut samples = Vec::with_capacity(count);
    for i in 0..count {
        let mut s = Sample { duration: d.duration, size: d.size, flags: d.flags, cts_offset: 0 };
        if flags & 0x100 != 0 {
            s.duration = be_u32(trun, at)?;
            at += 4;
        }
        if flags & 0x200 != 0 {
            s.size = be_u32(trun, at)?;
            at += 4;
        }
        if flags & 0x400 != 0 {
            s.flags = be_u32(trun, at)?;
            at += 4;
        } else if let (0, Some(f)) = (i, first_flags) {
            s.flags = f;
        }
        if flags & 0x800 != 0 {
            // Version 1 offsets are signed; version 0 ones are unsigned by
            // the letter, but writers put small negative values there too.
            s.cts_offset = be_u32(trun, at)? as i32;
            at += 4;
        }
        samples.push(s);
    }
    Ok((data_offset, samples))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mp4::init::init_tracks;

    const INIT: &[u8] = include_bytes!("../../tests/fixtures/init_160x90.mp4");
    const SEGMENT: &[u8] = include_bytes!("../../tests/fixtures/seg_160x90_2s.m4s");

    fn runs_of(segment: &[u8]) -> Result<Vec<Run>, Mp4Error> {
        let tracks = init_tracks(INIT)?;
        let defaults = |id: u32| tracks.iter().find(|t| t.track_id == id).map(|t| t.defaults);
        let mut runs = Vec::new();
        for b in children(segment) {
            let b = b?;
            if b.is(b"moof") {
                runs.extend(fragment_runs(b.payload, b.offset as u64, segment.len() as u64, &defaults)?);
            }
        }
        Ok(runs)
    }

    #[test]
    fn an_ffmpeg_segment_has_two_seconds_of_video_inside_its_mdat() {
        let runs = runs_of(SEGMENT).unwrap();
        let video = runs.iter().find(|r| r.track_id == 1).unwrap();
        let ticks: u64 = video.samples.iter().map(|s| u64::from(s.duration)).sum();
        let timescale = init_tracks(INIT).unwrap()[0].timescale;
        assert_eq!(ticks as f64 / f64::from(timescale), 2.0);
        assert!(video.samples[0].is_sync());
        assert!(video.samples[1..].iter().all(|s| !s.is_sync()));
        let mdat = children(SEGMENT).map(Result::unwrap).find(|b| b.is(b"mdat")).unwrap();
        let mdat_start = (mdat.payload.as_ptr() as usize - SEGMENT.as_ptr() as usize) as u64;
        for r in &runs {
            assert!(r.data_offset >= mdat_start);
            assert!(r.data_offset + r.data_len() <= SEGMENT.len() as u64);
        }
    }

    #[test]
    fn truncation_is_an_error_never_a_panic() {
        assert!(runs_of(&SEGMENT[..SEGMENT.len() - 1]).is_err(), "last byte of media missing");
        for n in (0..SEGMENT.len()).step_by(61) {
            let _ = runs_of(&SEGMENT[..n]);
        }
        let mut flipped = SEGMENT[..3000.min(SEGMENT.len())].to_vec();
        for i in 0..flipped.len() {
            flipped[i] ^= 0xff;
            let _ = runs_of(&flipped);
            flipped[i] ^= 0xff;
        }
    }
}
