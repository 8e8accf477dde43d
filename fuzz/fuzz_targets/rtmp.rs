//! The RTMP server against arbitrary client bytes: it must answer, refuse
//! or wait, never panic, and never hold more than its bounds allow. The
//! first byte splits the input into reads, as a network would.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skycast_rtmp::{Event, ServerSession};

fuzz_target!(|data: &[u8]| {
    let Some((&step, rest)) = data.split_first() else { return };
    let mut session = ServerSession::new();
    for part in rest.chunks(usize::from(step).max(1)) {
        match session.feed(part) {
            Ok(events) => {
                if events.iter().any(|e| matches!(e, Event::Publish(_))) {
                    // Accept every key: media parsing past publish is fuzzed too.
                    session.accept();
                    if session.feed(&[]).is_err() {
                        return;
                    }
                }
            }
            Err(_) => return,
        }
        let _ = session.take_output();
    }
});
