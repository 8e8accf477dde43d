//! Synthetic CMAF for tests: init segments and fragments written from
//! sample tables, so property tests can check that what the recorder writes
//! holds exactly the samples it was given.

use super::write::BoxWriter;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthSample {
    pub duration: u32,
    pub size: u32,
    pub sync: bool,
    pub cts_offset: i32,
}

#[derive(Debug, Clone)]
pub struct SynthTrack {
    pub handler: [u8; 4],
    pub timescale: u32,
}

/// The bytes of sample `n` of track `t`: recognisable in the output.
pub fn sample_bytes(t: usize, n: usize, size: u32) -> Vec<u8> {
    (0..size as usize).map(|i| (t * 131 + n * 31 + i) as u8).collect()
}

pub fn init(tracks: &[SynthTrack]) -> Vec<u8> {
    let mut w = BoxWriter::new();
    w.begin(b"ftyp");
    w.bytes(b"iso6");
    w.u32(0);
    w.bytes(b"iso6");
    w.end();
    w.begin(b"moov");
    w.begin_full(b"mvhd", 0, 0);
    w.zeros(8);
    w.u32(1000);
    w.u32(0);
    w.zeros(76);
    w.u32(tracks.len() as u32 + 1);
    w.end();
    for (i, t) in tracks.iter().enumerate() {
        let video = &t.handler == b"vide";
        w.begin(b"trak");
        w.begin_full(b"tkhd", 0, 3);
        w.zeros(8);
        w.u32(i as u32 + 1);
        w.zeros(8);
        w.zeros(8);
        w.u16(0);
        w.u16(0);
        w.u16(if video { 0 } else { 0x0100 });
        w.u16(0);
        w.unity_matrix();
        w.u32(if video { 320 << 16 } else { 0 });
        w.u32(if video { 180 << 16 } else { 0 });
        w.end();
        w.begin(b"mdia");
        w.begin_full(b"mdhd", 0, 0);
        w.zeros(8);
        w.u32(t.timescale);
        w.u32(0);
        w.u16(0x55c4);
        w.u16(0);
        w.end();
        w.begin_full(b"hdlr", 0, 0);
        w.u32(0);
        w.bytes(&t.handler);
        w.zeros(12);
        w.bytes(b"synth\0");
        w.end();
        w.begin(b"minf");
        if video {
            w.begin_full(b"vmhd", 0, 1);
            w.zeros(8);
        } else {
            w.begin_full(b"smhd", 0, 0);
            w.zeros(4);
        }
        w.end();
        w.begin(b"stbl");
        w.begin_full(b"stsd", 0, 0);
        w.u32(1);
        w.begin(if video { b"avc1" } else { b"mp4a" });
        w.zeros(6);
        w.u16(1);
        w.bytes(&[i as u8; 16]);
        w.end();
        w.end();
        for kind in [b"stts", b"stsc", b"stco"] {
            w.begin_full(kind, 0, 0);
            w.u32(0);
            w.end();
        }
        w.begin_full(b"stsz", 0, 0);
        w.zeros(8);
        w.end();
        w.end();
        w.end();
        w.end();
        w.end();
    }
    w.begin(b"mvex");
    for i in 0..tracks.len() {
        w.begin_full(b"trex", 0, 0);
        w.u32(i as u32 + 1);
        w.u32(1);
        w.zeros(12);
        w.end();
    }
    w.end();
    w.end();
    w.buf
}

/// One fragment: per track, its first sample number (for its bytes), its
/// decode time and its samples. Sample data follows in one `mdat`.
pub fn segment(sequence: u32, runs: &[(usize, u64, &[SynthSample])]) -> Vec<u8> {
    let moof = |offsets: &[i32]| {
        let mut w = BoxWriter::new();
        w.begin(b"moof");
        w.begin_full(b"mfhd", 0, 0);
        w.u32(sequence);
        w.end();
        for (k, (_, decode_time, samples)) in runs.iter().enumerate() {
            w.begin(b"traf");
            w.begin_full(b"tfhd", 0, 0x02_0000);
            w.u32(k as u32 + 1);
            w.end();
            w.begin_full(b"tfdt", 1, 0);
            w.u64(*decode_time);
            w.end();
            w.begin_full(b"trun", 1, 0x01 | 0x100 | 0x200 | 0x400 | 0x800);
            w.u32(samples.len() as u32);
            w.i32(offsets[k]);
            for s in samples.iter() {
                w.u32(s.duration);
                w.u32(s.size);
                w.u32(if s.sync { 0x0200_0000 } else { 0x0101_0000 });
                w.i32(s.cts_offset);
            }
            w.end();
            w.end();
        }
        w.end();
        w.buf
    };
    let len = moof(&vec![0; runs.len()]).len();
    let mut offsets = Vec::new();
    let mut at = len + 8;
    let mut data = Vec::new();
    for (k, (first, _, samples)) in runs.iter().enumerate() {
        offsets.push(at as i32);
        for (n, s) in samples.iter().enumerate() {
            data.extend(sample_bytes(k, first + n, s.size));
        }
        at = len + 8 + data.len();
    }
    let mut out = moof(&offsets);
    out.extend_from_slice(&((data.len() + 8) as u32).to_be_bytes());
    out.extend_from_slice(b"mdat");
    out.extend(data);
    out
}
