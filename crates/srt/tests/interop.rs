//! The listener against the callers people use: FFmpeg (libsrt-gnutls) and
//! srt-live-transmit, with the right and the wrong passphrase.

use std::{
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use skycast_srt::{Listener, REJECT_FORBIDDEN, Received, Verdict};

const KEY: &str = "interop-test-key-0123456789";

fn listener(seen: Arc<Mutex<Vec<String>>>) -> Listener {
    let gate: skycast_srt::Gate = Arc::new(move |id: &str, _peer| {
        seen.lock().unwrap().push(id.to_owned());
        if id == KEY { Verdict::Accept { passphrase: KEY.to_owned() } } else { Verdict::Reject(REJECT_FORBIDDEN) }
    });
    Listener::bind("127.0.0.1:0".parse().unwrap(), gate, Duration::from_millis(200)).unwrap()
}

/// Bytes received from the first caller accepted within `within`.
fn receive(l: &Listener, within: Duration) -> Option<(String, usize)> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let Ok(Some(conn)) = l.accept() else { continue };
        let mut buf = vec![0u8; 1500];
        let mut total = 0;
        loop {
            match conn.recv(&mut buf) {
                Received::Data(n) => total += n,
                Received::Idle if Instant::now() < deadline => {}
                _ => return Some((conn.stream_id.clone(), total)),
            }
            if total > 100_000 {
                return Some((conn.stream_id.clone(), total));
            }
        }
    }
    None
}

fn ffmpeg(url: &str) -> std::process::Child {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
        .args(["-t", "5", "-c:v", "libx264", "-preset", "ultrafast", "-f", "mpegts", url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg")
}

#[test]
fn ffmpeg_with_the_key_gets_in_and_without_it_does_not() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let l = listener(seen.clone());
    let port = l.local_addr().port();

    let mut wrong = ffmpeg(&format!("srt://127.0.0.1:{port}?streamid=nope-nope-nope&passphrase=nope-nope-nope"));
    assert!(receive(&l, Duration::from_secs(3)).is_none(), "a wrong stream id is refused");
    let _ = wrong.kill();
    let _ = wrong.wait();
    // The right stream id with a wrong passphrase fails the key exchange.
    let mut bad_pass = ffmpeg(&format!("srt://127.0.0.1:{port}?streamid={KEY}&passphrase=not-the-right-one"));
    assert!(receive(&l, Duration::from_secs(3)).is_none(), "a wrong passphrase is refused");
    let _ = bad_pass.kill();
    let _ = bad_pass.wait();
    assert!(seen.lock().unwrap().iter().any(|id| id == "nope-nope-nope"), "the gate saw the caller");

    // Positive control.
    let mut good = ffmpeg(&format!("srt://127.0.0.1:{port}?streamid={KEY}&passphrase={KEY}"));
    let got = receive(&l, Duration::from_secs(10));
    let _ = good.kill();
    let _ = good.wait();
    let (id, bytes) = got.expect("the right caller is accepted");
    assert_eq!(id, KEY);
    assert!(bytes > 10_000, "media arrived: {bytes} bytes");
}

#[test]
fn srt_live_transmit_gets_in() {
    let l = listener(Arc::new(Mutex::new(Vec::new())));
    let port = l.local_addr().port();
    // srt-live-transmit relays a local UDP feed to the listener; ffmpeg feeds it.
    let feed_port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut relay = Command::new("srt-live-transmit")
        .args([
            "-q".to_owned(),
            format!("udp://127.0.0.1:{feed_port}"),
            format!("srt://127.0.0.1:{port}?streamid={KEY}&passphrase={KEY}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("srt-live-transmit (srt-tools)");
    let mut source = ffmpeg(&format!("udp://127.0.0.1:{feed_port}?pkt_size=1316"));
    let got = receive(&l, Duration::from_secs(10));
    for c in [&mut relay, &mut source] {
        let _ = c.kill();
        let _ = c.wait();
    }
    let (id, bytes) = got.expect("srt-live-transmit is accepted");
    assert_eq!(id, KEY);
    assert!(bytes > 10_000, "{bytes}");
}

#[test]
fn a_connection_reports_its_link_figures_period_by_period() {
    let l = listener(Arc::new(Mutex::new(Vec::new())));
    let port = l.local_addr().port();
    let mut caller = ffmpeg(&format!("srt://127.0.0.1:{port}?streamid={KEY}&passphrase={KEY}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let conn = loop {
        assert!(Instant::now() < deadline, "the caller is accepted");
        if let Ok(Some(c)) = l.accept() {
            break c;
        }
    };
    let mut buf = vec![0u8; 1500];
    let mut read = 0;
    while read < 50_000 && Instant::now() < deadline {
        match conn.recv(&mut buf) {
            Received::Data(n) => read += n,
            Received::Idle => {}
            Received::Closed => break,
        }
    }
    let first = conn.link_stats().expect("stats of a live connection");
    let second = conn.link_stats().expect("stats again");
    let _ = caller.kill();
    let _ = caller.wait();

    assert!(read >= 50_000, "media arrived: {read} bytes");
    // Everything read arrived within the first period.
    assert!(first.bytes_received >= read as u64, "{first:?} vs {read} bytes read");
    assert!(first.packets_received >= (read / 1316) as u64, "{first:?}");
    assert!(first.rtt_ms > 0.0 && first.rtt_ms < 100.0, "loopback round trip: {first:?}");
    assert!(first.loss_percent() < 5.0, "{first:?}");
    // Each call starts a new period.
    assert!(second.packets_received < first.packets_received, "{second:?} after {first:?}");
}
