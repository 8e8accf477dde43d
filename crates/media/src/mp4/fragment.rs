//! How long a CMAF fragment (an fMP4 media segment) plays: the sum of its
//! samples' durations over the track's timescale. This lets the ingest node
//! list a segment the moment it is stored, without waiting for ffmpeg to say.

use super::boxes::{Mp4Error, child, children};

/// What the init segment says about a track's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackTiming {
    pub track_id: u32,
    pub timescale: u32,
    /// From `trex`: the duration of a sample when a fragment says none.
    pub default_sample_duration: u32,
    pub is_video: bool,
}

fn u32_at(data: &[u8], at: usize) -> Result<u32, Mp4Error> {
    data.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes)
        .ok_or(Mp4Error::Malformed("field past the end of its box"))
}

/// A full box's version byte and 24-bit flags.
fn version_flags(payload: &[u8]) -> Result<(u8, u32), Mp4Error> {
    let vf = u32_at(payload, 0)?;
    Ok(((vf >> 24) as u8, vf & 0x00ff_ffff))
}

fn need<'a>(data: &'a [u8], kind: &'static [u8; 4]) -> Result<&'a [u8], Mp4Error> {
    Ok(child(data, kind)?.ok_or(Mp4Error::Missing("track box"))?.payload)
}

/// The timing of every track of an init segment.
pub fn track_timings(init: &[u8]) -> Result<Vec<TrackTiming>, Mp4Error> {
    let moov = child(init, b"moov")?.ok_or(Mp4Error::Missing("moov"))?.payload;
    let mut defaults = Vec::new();
    if let Some(mvex) = child(moov, b"mvex")? {
        for trex in children(mvex.payload) {
            let trex = trex?;
            if trex.is(b"trex") {
                // version/flags, track_ID, default_sample_description_index, default_sample_duration
                defaults.push((u32_at(trex.payload, 4)?, u32_at(trex.payload, 12)?));
            }
        }
    }
    let mut out = Vec::new();
    for trak in children(moov) {
        let trak = trak?;
        if !trak.is(b"trak") {
            continue;
        }
        let tkhd = need(trak.payload, b"tkhd")?;
        let (v, _) = version_flags(tkhd)?;
        let track_id = u32_at(tkhd, if v == 1 { 20 } else { 12 })?;
        let mdia = need(trak.payload, b"mdia")?;
        let mdhd = need(mdia, b"mdhd")?;
        let (v, _) = version_flags(mdhd)?;
        let timescale = u32_at(mdhd, if v == 1 { 20 } else { 12 })?;
        if timescale == 0 {
            return Err(Mp4Error::Malformed("mdhd timescale 0"));
        }
        let is_video = need(mdia, b"hdlr")?.get(8..12) == Some(b"vide");
        let default_sample_duration = defaults.iter().find(|(id, _)| *id == track_id).map_or(0, |(_, d)| *d);
        out.push(TrackTiming { track_id, timescale, default_sample_duration, is_video });
    }
    Ok(out)
}

/// Seconds of media in `segment` for the video track (or the first track
/// when there is no video).
pub fn fragment_duration(timings: &[TrackTiming], segment: &[u8]) -> Result<f64, Mp4Error> {
    fragment_span(timings, segment).map(|s| s.duration_s)
}

/// How long a fragment plays and how many samples (frames, for video) it holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FragmentSpan {
    pub duration_s: f64,
    pub samples: u64,
    /// Whether they are the video track's.
    pub video: bool,
}

/// The span of `segment` for the video track (or the first track when
/// there is no video): its frame rate is `samples / duration_s`.
pub fn fragment_span(timings: &[TrackTiming], segment: &[u8]) -> Result<FragmentSpan, Mp4Error> {
    let track = timings.iter().find(|t| t.is_video).or(timings.first()).ok_or(Mp4Error::Missing("track"))?;
    let mut ticks: u64 = 0;
    let mut samples: u64 = 0;
    let mut fragments = 0;
    for moof in children(segment) {
        let moof = moof?;
        if !moof.is(b"moof") {
            continue;
        }
        fragments += 1;
        for traf in children(moof.payload) {
            let traf = traf?;
            if !traf.is(b"traf") {
                continue;
            }
            let tfhd = need(traf.payload, b"tfhd")?;
            let (_, flags) = version_flags(tfhd)?;
            if u32_at(tfhd, 4)? != track.track_id {
                continue;
            }
            // Optional fields follow track_ID in this order.
            let mut at = 8;
            if flags & 0x01 != 0 {
                at += 8; // base_data_offset
            }
            if flags & 0x02 != 0 {
                at += 4; // sample_description_index
            }
            let default_duration = if flags & 0x08 != 0 { u32_at(tfhd, at)? } else { track.default_sample_duration };
            for trun in children(traf.payload) {
                let trun = trun?;
                if !trun.is(b"trun") {
                    continue;
                }
                let (t, n) = trun_ticks(trun.payload, default_duration)?;
                ticks += t;
                samples += n;
            }
        }
    }
    if fragments == 0 {
        return Err(Mp4Error::Missing("moof"));
    }
    Ok(FragmentSpan { duration_s: ticks as f64 / f64::from(track.timescale), samples, video: track.is_video })
}

/// A `trun`'s ticks and sample count.
fn trun_ticks(trun: &[u8], default_duration: u32) -> Result<(u64, u64), Mp4Error> {
    let (_, flags) = version_flags(trun)?;
    let count = u32_at(trun, 4)? as usize;
    let mut at = 8;
    if flags & 0x01 != 0 {
        at += 4; // data_offset
    }
    if flags & 0x04 != 0 {
        at += 4; // first_sample_flags
    }
    if flags & 0x100 == 0 {
        return Ok((count as u64 * u64::from(default_duration), count as u64));
    }
    let per_sample = 4 * [0x100, 0x200, 0x400, 0x800].iter().filter(|f| flags & **f != 0).count();
    // Refuse counts the box cannot hold before looping over them.
    if trun.len() < at || (trun.len() - at) / per_sample < count {
        return Err(Mp4Error::Malformed("trun sample count exceeds its box"));
    }
    let mut ticks = 0u64;
    for i in 0..count {
        ticks += u64::from(u32_at(trun, at + i * per_sample)?);
    }
    Ok((ticks, count as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INIT: &[u8] = include_bytes!("../../tests/fixtures/init_160x90.mp4");
    const SEGMENT: &[u8] = include_bytes!("../../tests/fixtures/seg_160x90_2s.m4s");

    #[test]
    fn a_two_second_ffmpeg_segment_lasts_two_seconds() {
        let timings = track_timings(INIT).unwrap();
        assert_eq!(timings.len(), 2);
        assert!(timings[0].is_video && !timings[1].is_video);
        let d = fragment_duration(&timings, SEGMENT).unwrap();
        assert!((d - 2.0).abs() < 1e-6, "{d}");
        // Its frames: the fixture is 2 s at some whole frame rate.
        let span = fragment_span(&timings, SEGMENT).unwrap();
        assert!(span.video && span.samples > 0);
        let fps = span.samples as f64 / span.duration_s;
        assert!((fps - fps.round()).abs() < 1e-6 && fps >= 10.0, "{fps}");
    }

    #[test]
    fn damaged_input_is_an_error_never_a_panic() {
        let timings = track_timings(INIT).unwrap();
        for n in (0..SEGMENT.len()).step_by(97) {
            let _ = fragment_duration(&timings, &SEGMENT[..n]);
        }
        for n in 0..INIT.len() {
            let _ = track_timings(&INIT[..n]);
        }
        let mut flipped = SEGMENT[..2000].to_vec();
        for i in 0..flipped.len() {
            flipped[i] ^= 0xff;
            let _ = fragment_duration(&timings, &flipped);
            flipped[i] ^= 0xff;
        }
        assert!(fragment_duration(&timings, b"").is_err());
        assert!(fragment_duration(&[], SEGMENT).is_err());
    }
}
