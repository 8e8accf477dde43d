//! Turning a session's CMAF fragments into one progressive, faststart MP4
//! (`ftyp`, `moov`, then one `mdat`), without decoding and without holding
//! the media: the builder takes init segments and fragment headers, keeps
//! only sample tables, and answers with the MP4's header bytes and the list
//! of byte ranges to copy after it, in order. The caller does the I/O.
//!
//! Timing. Sample durations come from `trun`, decode times from `tfdt`: a
//! gap or overlap between fragments is absorbed by the duration of the
//! sample before it, so decode times always follow `tfdt`. Each init segment
//! places its tracks on a common clock with its edit list (ffmpeg writes the
//! audio/video start offset there). A new init segment (a new encoder process
//! after a reconnect) starts a *generation*: its clock restarts, so it is
//! placed right after the end of the latest track so far, keeping its tracks'
//! offsets to each other. Tracks are matched across generations by handler
//! (video with video, sound with sound); a changed sample entry (new SPS, new
//! resolution) becomes a second entry in `stsd`.

use super::{
    boxes::Mp4Error,
    init::{InitTrack, init_tracks},
    moof::{Run, fragment_runs},
    scan::FoundMoof,
    write::BoxWriter,
};

/// A byte range of one input segment to copy into the `mdat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copy {
    /// The caller's number for the segment, as given to [`RecordingBuilder::add_segment`].
    pub segment: usize,
    pub offset: u64,
    pub len: u64,
}

/// The finished plan: write `header`, then every copy in order.
#[derive(Debug, Clone)]
pub struct Layout {
    pub header: Vec<u8>,
    pub copies: Vec<Copy>,
    /// Bytes of the whole MP4.
    pub size: u64,
    /// Seconds: the longest track, edit lists included.
    pub duration_s: f64,
    /// Seconds of media per track, in `moov` order, e.g. for A/V checks.
    pub track_durations_s: Vec<f64>,
}

/// The movie timescale: milliseconds, as ffmpeg writes.
const MOVIE_TIMESCALE: u32 = 1000;

#[derive(Debug)]
struct OutTrack {
    base: InitTrack,
    entries: Vec<Vec<u8>>,
    sizes: Vec<u32>,
    /// Run-length (count, delta) of every sample's duration but the last.
    stts: Vec<(u32, u32)>,
    ctts: Vec<(u32, i32)>,
    /// 1-based numbers of sync samples.
    sync: Vec<u32>,
    /// Run-length (first chunk, samples per chunk, sample description index).
    stsc: Vec<(u32, u32, u32)>,
    /// Offsets of chunks from the start of the `mdat` payload.
    chunk_offsets: Vec<u64>,
    /// Decode time of the last sample added, and its duration from `trun`.
    last: Option<(u64, u32)>,
    /// Presentation of the first sample: where decode time 0 sits on the
    /// output clock, in seconds (it becomes the edit list).
    shift_s: f64,
    media_time: i64,
    /// The current generation's mapping: source decode time `src_origin`
    /// (source timescale `src_timescale`) is output decode time `out_origin`.
    mapping: Option<Mapping>,
    /// The source decode time the next sample has unless `tfdt` says otherwise.
    next_src: u64,
}

#[derive(Debug, Clone, Copy)]
struct Mapping {
    generation: usize,
    src_timescale: u32,
    src_origin: u64,
    out_origin: u64,
}

impl OutTrack {
    fn new(base: InitTrack) -> Self {
        Self {
            entries: Vec::new(),
            sizes: Vec::new(),
            stts: Vec::new(),
            ctts: Vec::new(),
            sync: Vec::new(),
            stsc: Vec::new(),
            chunk_offsets: Vec::new(),
            last: None,
            shift_s: 0.0,
            media_time: 0,
            mapping: None,
            next_src: 0,
            base,
        }
    }

    fn timescale(&self) -> u32 {
        self.base.timescale
    }

    /// Where this track ends on the output clock, in seconds.
    fn end_s(&self) -> f64 {
        match self.last {
            Some((dts, dur)) => self.shift_s + (dts + u64::from(dur)) as f64 / f64::from(self.timescale()),
            None => f64::NEG_INFINITY,
        }
    }

    fn entry_index(&mut self, entry: &[u8]) -> u32 {
        let i = match self.entries.iter().position(|e| e == entry) {
            Some(i) => i,
            None => {
                self.entries.push(entry.to_vec());
                self.entries.len() - 1
            }
        };
        i as u32 + 1
    }

    fn push_duration(&mut self, d: u32) {
        match self.stts.last_mut() {
            Some((n, delta)) if *delta == d => *n += 1,
            _ => self.stts.push((1, d)),
        }
    }

    fn push_ctts(&mut self, offset: i32) {
        match self.ctts.last_mut() {
            Some((n, o)) if *o == offset => *n += 1,
            _ => self.ctts.push((1, offset)),
        }
    }

    /// Takes the last sample out of the tables (its bytes stay in the
    /// `mdat`, unreferenced).
    fn pop_sample(&mut self) {
        let Some((dts, _)) = self.last else { return };
        let n = self.sizes.len() as u32;
        self.sizes.pop();
        if self.sync.last() == Some(&n) {
            self.sync.pop();
        }
        if let Some((count, _)) = self.ctts.last_mut() {
            *count -= 1;
            if *count == 0 {
                self.ctts.pop();
            }
        }
        let chunks = self.chunk_offsets.len() as u32;
        if let Some(&(first, per_chunk, sdi)) = self.stsc.last() {
            if per_chunk == 1 {
                // The last chunk is empty now.
                self.chunk_offsets.pop();
                if first == chunks {
                    self.stsc.pop();
                }
            } else if first == chunks {
                if let Some(last) = self.stsc.last_mut() {
                    last.1 -= 1;
                }
            } else {
                self.stsc.push((chunks, per_chunk - 1, sdi));
            }
            // An entry like the one before it says nothing new.
            if let [.., a, b] = self.stsc.as_slice()
                && (a.1, a.2) == (b.1, b.2)
            {
                self.stsc.pop();
            }
        }
        self.last = match self.stts.last_mut() {
            Some((count, d)) => {
                let previous = (dts.saturating_sub(u64::from(*d)), *d);
                *count -= 1;
                if *count == 0 {
                    self.stts.pop();
                }
                Some(previous)
            }
            None => None,
        };
    }

    fn duration_ticks(&self) -> u64 {
        self.stts.iter().map(|(n, d)| u64::from(*n) * u64::from(*d)).sum::<u64>()
            + self.last.map_or(0, |(_, d)| u64::from(d))
    }
}

/// One input generation: an init segment and how its tracks map to ours.
#[derive(Debug)]
struct Generation {
    tracks: Vec<InitTrack>,
    /// For each of `tracks`, the output track.
    out: Vec<usize>,
    /// Set by the generation's first segment: the output clock of its clock's 0.
    offset_s: Option<f64>,
}

#[derive(Debug, Default)]
pub struct RecordingBuilder {
    tracks: Vec<OutTrack>,
    generations: Vec<Generation>,
    copies: Vec<Copy>,
    mdat_len: u64,
}

/// Identifies an init segment given to [`RecordingBuilder::add_init`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitId(usize);

fn rescale(v: u64, from: u32, to: u32) -> u64 {
    if from == to { v } else { ((u128::from(v) * u128::from(to) + u128::from(from) / 2) / u128::from(from)) as u64 }
}

impl RecordingBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a generation: every segment after it, up to the next init,
    /// is made by this init's encoder process.
    pub fn add_init(&mut self, init: &[u8]) -> Result<InitId, Mp4Error> {
        let tracks = init_tracks(init)?;
        let mut out = Vec::with_capacity(tracks.len());
        for t in &tracks {
            let existing =
                (0..self.tracks.len()).find(|&i| self.tracks[i].base.handler == t.handler && !out.contains(&i));
            let i = match existing {
                Some(i) => i,
                None => {
                    self.tracks.push(OutTrack::new(t.clone()));
                    self.tracks.len() - 1
                }
            };
            out.push(i);
        }
        self.generations.push(Generation { tracks, out, offset_s: None });
        Ok(InitId(self.generations.len() - 1))
    }

    /// Adds a media segment of generation `init`: its `moof`s (from
    /// [`SegmentScan`](super::scan::SegmentScan)) and its length in bytes.
    /// `segment` is the caller's number for it, echoed in [`Copy`].
    pub fn add_segment(
        &mut self,
        init: InitId,
        segment: usize,
        segment_len: u64,
        moofs: &[FoundMoof],
    ) -> Result<(), Mp4Error> {
        let generation = self.generations.get(init.0).ok_or(Mp4Error::Malformed("unknown init segment"))?;
        let defaults = |id: u32| generation.tracks.iter().find(|t| t.track_id == id).map(|t| t.defaults);
        let mut runs = Vec::new();
        for moof in moofs {
            runs.extend(fragment_runs(&moof.payload, moof.offset, segment_len, &defaults)?);
        }
        if runs.iter().all(|r| r.samples.is_empty()) {
            return Err(Mp4Error::Missing("samples"));
        }
        self.place_generation(init.0, &runs)?;
        // Bytes go out in the order they lie in the segment, so one segment
        // is one sequential read.
        runs.sort_by_key(|r| r.data_offset);
        for run in &runs {
            self.add_run(init.0, segment, run)?;
        }
        Ok(())
    }

    /// On a generation's first segment: where its clock goes on ours.
    fn place_generation(&mut self, g: usize, runs: &[Run]) -> Result<(), Mp4Error> {
        if self.generations[g].offset_s.is_some() {
            return Ok(());
        }
        let gen_tracks = &self.generations[g].tracks;
        // The generation's clock at its first sample, over its tracks.
        let start_s = runs
            .iter()
            .filter_map(|r| {
                let t = gen_tracks.iter().find(|t| t.track_id == r.track_id)?;
                let dts = r.base_decode_time.unwrap_or(0);
                Some(t.clock_shift_s() + dts as f64 / f64::from(t.timescale))
            })
            .fold(f64::INFINITY, f64::min);
        let start_s = if start_s.is_finite() { start_s } else { 0.0 };
        // Video sets the pace; without video, the longest track.
        let video_end =
            self.tracks.iter().filter(|t| t.base.is_video()).map(OutTrack::end_s).fold(f64::NEG_INFINITY, f64::max);
        let end_so_far = if video_end.is_finite() {
            video_end
        } else {
            self.tracks.iter().map(OutTrack::end_s).fold(f64::NEG_INFINITY, f64::max)
        };
        // The first generation keeps its own clock (and so its edit lists).
        let offset_s = if end_so_far.is_finite() { end_so_far - start_s } else { 0.0 };
        self.generations[g].offset_s = Some(offset_s);
        Ok(())
    }

    fn add_run(&mut self, g: usize, segment: usize, run: &Run) -> Result<(), Mp4Error> {
        if run.samples.is_empty() {
            return Ok(());
        }
        let generation = &self.generations[g];
        let Some(k) = generation.tracks.iter().position(|t| t.track_id == run.track_id) else {
            return Err(Mp4Error::Malformed("fragment of a track the init segment lacks"));
        };
        let src = &generation.tracks[k];
        let offset_s = generation.offset_s.unwrap_or(0.0);
        let entry = src.sample_entry.clone();
        let (src_timescale, src_shift_s) = (src.timescale, src.clock_shift_s());
        let src_media_time = src.media_time;
        let out = &mut self.tracks[generation.out[k]];
        let sdi = out.entry_index(&entry);
        let ts = out.timescale();

        let first_src = run.base_decode_time.unwrap_or(out.next_src);
        let mapping = match out.mapping {
            Some(m) if m.generation == g => m,
            _ => {
                // The track's first run in this generation: its output decode time.
                let at_s = offset_s + src_shift_s + first_src as f64 / f64::from(src_timescale);
                let out_origin = if out.last.is_none() {
                    out.shift_s = at_s;
                    out.media_time = rescale(src_media_time.max(0) as u64, src_timescale, ts) as i64;
                    0
                } else {
                    let wanted = ((at_s - out.shift_s) * f64::from(ts)).round().max(0.0) as u64;
                    // What of the track would play after the new part starts goes.
                    while out.last.is_some_and(|(dts, _)| dts >= wanted) && out.sizes.len() > 1 {
                        out.pop_sample();
                    }
                    wanted.max(out.last.map_or(0, |(dts, _)| dts + 1))
                };
                let m = Mapping { generation: g, src_timescale, src_origin: first_src, out_origin };
                out.mapping = Some(m);
                m
            }
        };
        let to_out = |src_dts: u64| -> u64 {
            let rel = src_dts.saturating_sub(mapping.src_origin);
            mapping.out_origin + rescale(rel, mapping.src_timescale, ts)
        };

        let mut src_dts = first_src;
        for s in &run.samples {
            let dts = to_out(src_dts);
            if let Some((prev, _)) = out.last {
                // The sample before absorbs any gap or overlap; never zero.
                let d = dts.saturating_sub(prev).clamp(1, u64::from(u32::MAX)) as u32;
                out.push_duration(d);
            }
            let next_dts = to_out(src_dts + u64::from(s.duration));
            let dur = next_dts.saturating_sub(dts).min(u64::from(u32::MAX)) as u32;
            out.last = Some((dts.max(out.last.map_or(0, |(p, _)| p + 1)), dur));
            let cts = if mapping.src_timescale == ts {
                s.cts_offset
            } else {
                (i64::from(s.cts_offset) * i64::from(ts) / i64::from(mapping.src_timescale)) as i32
            };
            out.push_ctts(cts);
            out.sizes.push(s.size);
            if s.is_sync() {
                out.sync.push(out.sizes.len() as u32);
            }
            src_dts += u64::from(s.duration);
        }
        out.next_src = src_dts;

        let chunk = out.chunk_offsets.len() as u32 + 1;
        let per_chunk = run.samples.len() as u32;
        if out.stsc.last().is_none_or(|&(_, n, d)| n != per_chunk || d != sdi) {
            out.stsc.push((chunk, per_chunk, sdi));
        }
        out.chunk_offsets.push(self.mdat_len);
        let len = run.data_len();
        self.mdat_len += len;
        match self.copies.last_mut() {
            Some(c) if c.segment == segment && c.offset + c.len == run.data_offset => c.len += len,
            _ => self.copies.push(Copy { segment, offset: run.data_offset, len }),
        }
        Ok(())
    }

    /// Seconds of media so far: the longest track.
    pub fn duration_s(&self) -> f64 {
        self.tracks.iter().map(|t| t.end_s()).fold(0.0, f64::max)
    }

    /// The MP4's header (`ftyp`, `moov`, `mdat` header) and what follows it.
    pub fn finish(self) -> Result<Layout, Mp4Error> {
        let tracks: Vec<&OutTrack> = self.tracks.iter().filter(|t| !t.sizes.is_empty()).collect();
        if tracks.is_empty() {
            return Err(Mp4Error::Missing("samples"));
        }
        let mdat_header: u64 = if self.mdat_len + 8 > u64::from(u32::MAX) { 16 } else { 8 };
        // Chunk offsets are absolute: they depend on the header's length,
        // which depends on whether they need 64 bits. Try 32 first.
        let ftyp = ftyp();
        let mut wide = false;
        let moov = loop {
            let moov_len = moov(&tracks, 0, wide).len() as u64;
            let data_start = ftyp.len() as u64 + moov_len + mdat_header;
            if !wide && data_start + self.mdat_len > u64::from(u32::MAX) {
                wide = true;
                continue;
            }
            break moov(&tracks, data_start, wide);
        };
        let mut header = ftyp;
        header.extend_from_slice(&moov);
        if mdat_header == 16 {
            header.extend_from_slice(&1u32.to_be_bytes());
            header.extend_from_slice(b"mdat");
            header.extend_from_slice(&(self.mdat_len + 16).to_be_bytes());
        } else {
            header.extend_from_slice(&((self.mdat_len + 8) as u32).to_be_bytes());
            header.extend_from_slice(b"mdat");
        }
        let track_durations_s = tracks.iter().map(|t| t.duration_ticks() as f64 / f64::from(t.timescale())).collect();
        let duration_s = tracks.iter().map(|t| t.end_s()).fold(0.0, f64::max);
        Ok(Layout {
            size: header.len() as u64 + self.mdat_len,
            header,
            copies: self.copies,
            duration_s,
            track_durations_s,
        })
    }
}

fn ftyp() -> Vec<u8> {
    let mut w = BoxWriter::new();
    w.begin(b"ftyp");
    w.bytes(b"isom");
    w.u32(0x200);
    for brand in [b"isom", b"iso2", b"avc1", b"mp41"] {
        w.bytes(brand);
    }
    w.end();
    w.buf
}

/// The edit list: an empty edit for a track that starts after the movie
/// does, then the media from `media_time`.
fn edit(t: &OutTrack) -> (u64, i64) {
    let ts = f64::from(t.timescale());
    // shift = empty - media_time / ts, with both non-negative.
    let media_s = t.media_time as f64 / ts;
    let empty_s = t.shift_s + media_s;
    if empty_s >= 0.0 {
        ((empty_s * f64::from(MOVIE_TIMESCALE)).round() as u64, t.media_time)
    } else {
        (0, (-t.shift_s * ts).round() as i64)
    }
}

fn moov(tracks: &[&OutTrack], data_start: u64, wide: bool) -> Vec<u8> {
    let mut w = BoxWriter::new();
    let movie = |ticks: u64, ts: u32| rescale(ticks, ts, MOVIE_TIMESCALE);
    let presented = |t: &OutTrack| {
        let (empty, media_time) = edit(t);
        let media = t.duration_ticks().saturating_sub(media_time.max(0) as u64);
        empty + movie(media, t.timescale())
    };
    let movie_duration = tracks.iter().map(|t| presented(t)).max().unwrap_or(0);
    w.begin(b"moov");
    w.begin_full(b"mvhd", 1, 0);
    w.u64(0);
    w.u64(0);
    w.u32(MOVIE_TIMESCALE);
    w.u64(movie_duration);
    w.u32(0x0001_0000); // rate 1.0
    w.u16(0x0100); // volume 1.0
    w.zeros(10);
    w.unity_matrix();
    w.zeros(24);
    w.u32(tracks.len() as u32 + 1);
    w.end();
    for (i, t) in tracks.iter().enumerate() {
        trak(&mut w, t, i as u32 + 1, presented(t), data_start, wide);
    }
    w.end();
    w.buf
}

fn trak(w: &mut BoxWriter, t: &OutTrack, track_id: u32, presented: u64, data_start: u64, wide: bool) {
    w.begin(b"trak");
    w.begin_full(b"tkhd", 1, 0x3); // enabled, in movie
    w.u64(0);
    w.u64(0);
    w.u32(track_id);
    w.u32(0);
    w.u64(presented);
    w.zeros(8);
    w.bytes(&t.base.tkhd_tail);
    w.end();

    let (empty, media_time) = edit(t);
    let media_duration = t.duration_ticks().saturating_sub(media_time.max(0) as u64);
    w.begin(b"edts");
    w.begin_full(b"elst", 1, 0);
    w.u32(if empty > 0 { 2 } else { 1 });
    if empty > 0 {
        w.u64(empty);
        w.i64(-1);
        w.u32(0x0001_0000);
    }
    w.u64(rescale(media_duration, t.timescale(), MOVIE_TIMESCALE));
    w.i64(media_time);
    w.u32(0x0001_0000);
    w.end();
    w.end();

    w.begin(b"mdia");
    w.begin_full(b"mdhd", 1, 0);
    w.u64(0);
    w.u64(0);
    w.u32(t.timescale());
    w.u64(t.duration_ticks());
    w.bytes(&t.base.language);
    w.u16(0);
    w.end();
    w.begin(b"hdlr");
    w.bytes(&t.base.hdlr);
    w.end();
    w.begin(b"minf");
    w.bytes(&t.base.media_header);
    match &t.base.dinf {
        Some(d) => w.bytes(d),
        None => {
            w.begin(b"dinf");
            w.begin_full(b"dref", 0, 0);
            w.u32(1);
            w.begin_full(b"url ", 0, 1);
            w.end();
            w.end();
            w.end();
        }
    }
    stbl(w, t, data_start, wide);
    w.end();
    w.end();
    w.end();
}

fn stbl(w: &mut BoxWriter, t: &OutTrack, data_start: u64, wide: bool) {
    w.begin(b"stbl");
    w.begin_full(b"stsd", 0, 0);
    w.u32(t.entries.len() as u32);
    for e in &t.entries {
        w.bytes(e);
    }
    w.end();

    w.begin_full(b"stts", 0, 0);
    let last = t.last.map(|(_, d)| d);
    let mut stts = t.stts.clone();
    if let Some(d) = last {
        match stts.last_mut() {
            Some((n, delta)) if *delta == d => *n += 1,
            _ => stts.push((1, d)),
        }
    }
    w.u32(stts.len() as u32);
    for (n, d) in &stts {
        w.u32(*n);
        w.u32(*d);
    }
    w.end();

    if t.ctts.iter().any(|(_, o)| *o != 0) {
        let negative = t.ctts.iter().any(|(_, o)| *o < 0);
        w.begin_full(b"ctts", u8::from(negative), 0);
        w.u32(t.ctts.len() as u32);
        for (n, o) in &t.ctts {
            w.u32(*n);
            w.i32(*o);
        }
        w.end();
    }

    if t.sync.len() < t.sizes.len() {
        w.begin_full(b"stss", 0, 0);
        w.u32(t.sync.len() as u32);
        for s in &t.sync {
            w.u32(*s);
        }
        w.end();
    }

    w.begin_full(b"stsc", 0, 0);
    w.u32(t.stsc.len() as u32);
    for (first, n, sdi) in &t.stsc {
        w.u32(*first);
        w.u32(*n);
        w.u32(*sdi);
    }
    w.end();

    w.begin_full(b"stsz", 0, 0);
    let uniform = t.sizes.windows(2).all(|p| p[0] == p[1]);
    if uniform {
        w.u32(t.sizes[0]);
        w.u32(t.sizes.len() as u32);
    } else {
        w.u32(0);
        w.u32(t.sizes.len() as u32);
        for s in &t.sizes {
            w.u32(*s);
        }
    }
    w.end();

    if wide {
        w.begin_full(b"co64", 0, 0);
        w.u32(t.chunk_offsets.len() as u32);
        for o in &t.chunk_offsets {
            w.u64(data_start + o);
        }
    } else {
        w.begin_full(b"stco", 0, 0);
        w.u32(t.chunk_offsets.len() as u32);
        for o in &t.chunk_offsets {
            w.u32((data_start + o) as u32);
        }
    }
    w.end();
    w.end();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mp4::{children, scan::scan_in_memory, stored_tracks};

    macro_rules! fixture {
        ($name:literal) => {
            include_bytes!(concat!("../../tests/fixtures/session/", $name)).as_slice()
        };
    }
    const INIT_A: &[u8] = fixture!("init.mp4");
    const INIT_B: &[u8] = fixture!("init_1.mp4");
    const SEGMENTS: [&[u8]; 5] = [
        fixture!("seg_000000.m4s"),
        fixture!("seg_000001.m4s"),
        fixture!("seg_000002.m4s"),
        fixture!("seg_000003.m4s"),
        fixture!("seg_000004.m4s"),
    ];

    /// The session as the node stored it: two encoder processes (a reconnect
    /// after the third segment), each with its own init segment.
    fn session() -> Vec<(&'static [u8], Vec<&'static [u8]>)> {
        vec![(INIT_A, SEGMENTS[..3].to_vec()), (INIT_B, SEGMENTS[3..].to_vec())]
    }

    fn assemble(parts: &[(&[u8], Vec<&[u8]>)]) -> (Layout, Vec<u8>) {
        let mut b = RecordingBuilder::new();
        let mut all: Vec<&[u8]> = Vec::new();
        for (init, segments) in parts {
            let id = b.add_init(init).unwrap();
            for s in segments {
                b.add_segment(id, all.len(), s.len() as u64, &scan_in_memory(s).unwrap()).unwrap();
                all.push(s);
            }
        }
        let layout = b.finish().unwrap();
        let mut file = layout.header.clone();
        for c in &layout.copies {
            file.extend_from_slice(&all[c.segment][c.offset as usize..(c.offset + c.len) as usize]);
        }
        assert_eq!(file.len() as u64, layout.size);
        (layout, file)
    }

    /// Every sample of one handler in the source, in order: (bytes, generation).
    fn source_samples(parts: &[(&[u8], Vec<&[u8]>)], handler: &[u8; 4]) -> Vec<(Vec<u8>, usize)> {
        let mut out = Vec::new();
        for (g, (init, segments)) in parts.iter().enumerate() {
            let tracks = init_tracks(init).unwrap();
            let id = tracks.iter().find(|t| &t.handler == handler).unwrap().track_id;
            let defaults = |i: u32| tracks.iter().find(|t| t.track_id == i).map(|t| t.defaults);
            for s in segments {
                for moof in scan_in_memory(s).unwrap() {
                    for run in fragment_runs(&moof.payload, moof.offset, s.len() as u64, &defaults).unwrap() {
                        if run.track_id != id {
                            continue;
                        }
                        let mut at = run.data_offset as usize;
                        for sample in &run.samples {
                            out.push((s[at..at + sample.size as usize].to_vec(), g));
                            at += sample.size as usize;
                        }
                    }
                }
            }
        }
        out
    }

    #[test]
    fn faststart_with_every_sample_in_order() {
        let parts = session();
        let (layout, file) = assemble(&parts);
        assert_eq!(&file[4..8], b"ftyp");
        let kinds: Vec<[u8; 4]> = children(&file).map(|b| b.unwrap().kind).collect();
        assert_eq!(kinds, [*b"ftyp", *b"moov", *b"mdat"], "moov before mdat");
        let tracks = stored_tracks(&file).unwrap();
        assert_eq!(tracks.iter().map(|t| t.handler).collect::<Vec<_>>(), [*b"vide", *b"soun"]);
        for t in &tracks {
            let mut source = source_samples(&parts, &t.handler);
            let dropped = source.len() - t.samples.len();
            if t.handler == *b"vide" {
                assert_eq!(dropped, 0, "every video frame is kept");
            } else {
                // Audio of the first process that overlaps the second's start.
                assert!(dropped <= 3, "{dropped} audio frames dropped");
                let first_b = source.iter().position(|(_, g)| *g == 1).unwrap();
                source.drain(first_b - dropped..first_b);
            }
            for (i, (s, (bytes, _))) in t.samples.iter().zip(&source).enumerate() {
                let stored = &file[s.offset as usize..(s.offset + u64::from(s.size)) as usize];
                assert!(stored == bytes.as_slice(), "{} sample {i} differs", String::from_utf8_lossy(&t.handler));
            }
        }
        // Both encoder processes wrote the same sample entry: one stsd entry.
        assert_eq!(tracks[0].entries.len(), 1);
        assert!(tracks[0].samples[0].sync && !tracks[0].samples[1].sync);
        assert!(tracks[0].samples.iter().any(|s| s.cts_offset != 0), "B-frames keep their offsets");
        // The sum of the segments (10 s of video), audio's lead-in and tail aside.
        assert!((layout.track_durations_s[0] - 10.0).abs() < 1.0 / 15.0, "{:?}", layout.track_durations_s);
        assert!((10.0..10.3).contains(&layout.duration_s), "{}", layout.duration_s);
        assert_eq!(copy_count_per_segment(&layout), vec![1; 5], "one sequential read per segment");
    }

    fn copy_count_per_segment(layout: &Layout) -> Vec<usize> {
        let mut counts = vec![0; 5];
        for c in &layout.copies {
            counts[c.segment] += 1;
        }
        counts
    }

    /// Presentation time (seconds) of each sample's decode time.
    fn times(t: &crate::mp4::StoredTrack) -> Vec<f64> {
        t.samples.iter().map(|s| t.start_s() + s.dts as f64 / f64::from(t.timescale)).collect()
    }

    #[test]
    fn a_reconnect_keeps_audio_and_video_in_sync_without_a_gap() {
        let parts = session();
        let (_, file) = assemble(&parts);
        let tracks = stored_tracks(&file).unwrap();
        let (video, audio) = (&tracks[0], &tracks[1]);
        let first_b = |handler| source_samples(&parts, handler).iter().position(|(_, g)| *g == 1).unwrap();
        let dropped = source_samples(&parts, b"soun").len() - audio.samples.len();
        // Index of each track's first sample from the second process.
        let (v1, a1) = (first_b(b"vide"), first_b(b"soun") - dropped);
        let (vt, at) = (times(video), times(audio));

        // The second process starts where the first one's video ended: the
        // last frame before keeps its own duration (no gap), and decode
        // times carry on (no overlap). 15 fps at 15360 ticks a second.
        let frame_ticks = 1024;
        assert!(video.samples[v1 - 1].duration.abs_diff(frame_ticks) <= 1, "{:?}", video.samples[v1 - 1]);
        // Audio before the cut is never stretched: an AAC frame is 1024 ticks at 48 kHz.
        assert!(audio.samples[a1 - 1].duration <= 1024, "{:?}", audio.samples[a1 - 1]);

        // The second process's own A/V offset, from its init's edit lists and tfdt.
        let b = init_tracks(INIT_B).unwrap();
        let src_offset = b[0].clock_shift_s() - b[1].clock_shift_s();
        let out_offset = vt[v1] - at[a1];
        assert!((src_offset - out_offset).abs() < 0.001, "A/V offset {out_offset} vs source {src_offset}");
        // And the first process's, likewise.
        let a = init_tracks(INIT_A).unwrap();
        assert!(((a[0].clock_shift_s() - a[1].clock_shift_s()) - (vt[0] - at[0])).abs() < 0.001);
        // Decode times only ever grow.
        assert!(vt.windows(2).all(|w| w[1] > w[0]) && at.windows(2).all(|w| w[1] > w[0]));
    }

    #[test]
    fn a_changed_sample_entry_becomes_a_second_description() {
        // Same stream, but the second process's avc1 differs by one byte
        // (as a new SPS would): the MP4 lists both and points at each.
        let mut init_b = INIT_B.to_vec();
        let at = init_b.windows(4).position(|w| w == b"avcC").unwrap() + 8;
        init_b[at] ^= 0x01;
        let init_b: &'static [u8] = Box::leak(init_b.into_boxed_slice());
        let parts = vec![(INIT_A, SEGMENTS[..3].to_vec()), (init_b, SEGMENTS[3..].to_vec())];
        let (_, file) = assemble(&parts);
        let video = &stored_tracks(&file).unwrap()[0];
        assert_eq!(video.entries.len(), 2);
        let first_b = source_samples(&parts, b"vide").iter().position(|(_, g)| *g == 1).unwrap();
        assert_eq!(video.samples[first_b - 1].description, 1);
        assert_eq!(video.samples[first_b].description, 2);
    }

    #[test]
    fn bad_input_is_an_error() {
        let mut b = RecordingBuilder::new();
        assert!(b.add_init(b"garbage").is_err());
        assert!(b.finish().is_err(), "nothing to write");
        let mut b = RecordingBuilder::new();
        let id = b.add_init(INIT_A).unwrap();
        let seg = SEGMENTS[0];
        // A segment cut short: its moof names bytes that are not there.
        let moofs = scan_in_memory(seg).unwrap();
        assert!(b.add_segment(id, 0, seg.len() as u64 - 100, &moofs).is_err());
        assert!(b.add_segment(InitId(7), 0, seg.len() as u64, &moofs).is_err());
    }

    mod properties {
        use proptest::prelude::*;

        use crate::mp4::{
            RecordingBuilder, scan_in_memory, stored_tracks,
            synth::{SynthSample, SynthTrack, init, sample_bytes, segment},
        };

        fn sample(max_duration: u32) -> impl Strategy<Value = SynthSample> {
            (1..=max_duration, 1u32..400, any::<bool>(), -600i32..3000)
                .prop_map(|(duration, size, sync, cts_offset)| SynthSample { duration, size, sync, cts_offset })
        }

        /// A segment's video samples, then its audio samples.
        type Segment = (Vec<SynthSample>, Vec<SynthSample>);

        /// Video and audio timescales, and the segments.
        fn session() -> impl Strategy<Value = (u32, u32, Vec<Segment>)> {
            let segments = prop::collection::vec(
                (prop::collection::vec(sample(6000), 1..25), prop::collection::vec(sample(2048), 0..40)),
                1..6,
            );
            (prop::sample::select(vec![15360u32, 30000, 90000]), prop::sample::select(vec![44100u32, 48000]), segments)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            /// Any sample tables, written as CMAF and assembled, read back
            /// the same: sizes, durations, offsets, sync flags, bytes.
            #[test]
            fn sample_tables_round_trip((video_ts, audio_ts, segments) in session()) {
                let tracks = [
                    SynthTrack { handler: *b"vide", timescale: video_ts },
                    SynthTrack { handler: *b"soun", timescale: audio_ts },
                ];
                let mut b = RecordingBuilder::new();
                let id = b.add_init(&init(&tracks)).unwrap();
                let (mut files, mut decode, mut first) = (Vec::new(), [0u64; 2], [0usize; 2]);
                for (i, (video, audio)) in segments.iter().enumerate() {
                    let runs: Vec<(usize, u64, &[SynthSample])> = [video, audio]
                        .iter()
                        .enumerate()
                        .map(|(k, samples)| (first[k], decode[k], samples.as_slice()))
                        .collect();
                    let seg = segment(i as u32 + 1, &runs);
                    for (k, samples) in [video, audio].iter().enumerate() {
                        decode[k] += samples.iter().map(|s| u64::from(s.duration)).sum::<u64>();
                        first[k] += samples.len();
                    }
                    b.add_segment(id, i, seg.len() as u64, &scan_in_memory(&seg).unwrap()).unwrap();
                    files.push(seg);
                }
                let layout = b.finish().unwrap();
                let mut file = layout.header.clone();
                for c in &layout.copies {
                    file.extend_from_slice(&files[c.segment][c.offset as usize..(c.offset + c.len) as usize]);
                }
                let stored = stored_tracks(&file).unwrap();
                let given: Vec<Vec<SynthSample>> = (0..2)
                    .map(|k| segments.iter().flat_map(|(v, a)| if k == 0 { v.clone() } else { a.clone() }).collect())
                    .collect();
                let present: Vec<usize> = (0..2).filter(|k| !given[*k].is_empty()).collect();
                prop_assert_eq!(stored.len(), present.len());
                for (t, &k) in stored.iter().zip(&present) {
                    prop_assert_eq!(t.timescale, tracks[k].timescale);
                    prop_assert_eq!(t.samples.len(), given[k].len());
                    let mut dts = 0u64;
                    for (n, (s, g)) in t.samples.iter().zip(&given[k]).enumerate() {
                        prop_assert_eq!((s.size, s.duration, s.cts_offset, s.sync), (g.size, g.duration, g.cts_offset, g.sync));
                        prop_assert_eq!(s.dts, dts);
                        dts += u64::from(g.duration);
                        let bytes = &file[s.offset as usize..(s.offset + u64::from(s.size)) as usize];
                        let want = sample_bytes(k, n, g.size);
                        prop_assert_eq!(bytes, want.as_slice());
                    }
                }
            }
        }
    }
}
