//! The fMP4 parser and the recording planner on hostile bytes: segment
//! scanning, fragment runs, init segments and the MP4 builder must answer
//! garbage with an error, never a panic, an overread or a huge allocation.
//!
//! The first byte picks the init segment: a real ffmpeg one (so the fuzzer
//! reaches fragment parsing quickly) or one taken from the input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use skycast_media::mp4::{RecordingBuilder, init_tracks, scan_in_memory, stored_tracks, track_timings, tracks};

const INIT: &[u8] = include_bytes!("../../crates/media/tests/fixtures/session/init.mp4");

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
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
