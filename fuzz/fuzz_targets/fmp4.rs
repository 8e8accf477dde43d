//! The fMP4 parser and the recording planner on hostile bytes: segment
//! scanning, fragment runs, init segments and the MP4 builder must answer
//! garbage with an error, never a panic, an overread or a huge allocation.
//!
//! The first byte picks the init segment: a real ffmpeg one (so the fuzzer
//! reaches fragment parsing quickly), one taken from the input, or the input
//! as one sample entry inside a minimal `moov` (so it reaches the codec
//! readers, which a random init would almost never get to).

#![no_main]

use libfuzzer_sys::fuzz_target;
use skycast_media::mp4::{RecordingBuilder, init_tracks, scan_in_memory, stored_tracks, track_timings, tracks};

const INIT: &[u8] = include_bytes!("../../crates/media/tests/fixtures/session/init.mp4");

/// One MP4 box: size, type, payload.
fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(payload);
    out
}

/// `moov/trak/mdia/minf/stbl/stsd` holding `entry` as a sample entry of `kind`.
fn init_with_sample_entry(kind: &[u8; 4], entry: &[u8]) -> Vec<u8> {
    let mut stsd = vec![0, 0, 0, 0, 0, 0, 0, 1];
    stsd.extend(boxed(kind, entry));
    [b"stbl", b"minf", b"mdia", b"trak", b"moov"].iter().fold(boxed(b"stsd", &stsd), |inner, k| boxed(k, &inner))
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    if selector & 3 == 3 {
        let kind = if selector & 4 == 0 { b"avc1" } else { b"mp4a" };
        let _ = tracks(&init_with_sample_entry(kind, rest));
        return;
    }
    let (init, segment) = if selector & 1 == 0 {
        (INIT, rest)
    } else {
        let split = (usize::from(selector) * 16).min(rest.len());
        rest.split_at(split)
    };
    let _ = init_tracks(init);
    let _ = tracks(init);
    let _ = track_timings(init);
    let _ = stored_tracks(segment);
    let mut builder = RecordingBuilder::new();
    let Ok(id) = builder.add_init(init) else { return };
    if let Ok(moofs) = scan_in_memory(segment) {
        // The same segment twice: a second fragment continues the first's timing.
        for n in 0..2 {
            if builder.add_segment(id, n, segment.len() as u64, &moofs).is_err() {
                return;
            }
        }
        if let Ok(layout) = builder.finish() {
            assert!(layout.copies.iter().all(|c| c.offset + c.len <= segment.len() as u64));
        }
    }
});
