//! SRT through libsrt, the reference implementation OBS, FFmpeg and
//! GStreamer use, behind a small safe API: a [`Listener`] on one UDP port
//! that asks a [`Gate`] about every caller's stream id *during the
//! handshake* (libsrt's listen callback), and sets that caller's
//! passphrase from the answer, so a caller is refused before it is
//! accepted and without anything to read; and [`Connection`]s that receive
//! the media of accepted callers.
//!
//! Calls block: run accept and receive loops on their own threads.

mod ffi;

use std::{
    ffi::{CStr, c_void},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6},
    panic::AssertUnwindSafe,
    sync::{Arc, Once},
    time::Duration,
};

use thiserror::Error;

#[derive(Debug, Error)]
#[error("srt: {call}: {message}")]
pub struct SrtError {
    pub call: &'static str,
    pub message: String,
    /// libsrt's error code (`srt_getlasterror`).
    pub code: i32,
}

fn last_error(call: &'static str) -> SrtError {
    // SAFETY: both return thread-local state; the string is static or thread-local and copied at once.
    let code = unsafe { ffi::srt_getlasterror(std::ptr::null_mut()) };
    let message = unsafe {
        let p = ffi::srt_getlasterror_str();
        if p.is_null() { String::new() } else { CStr::from_ptr(p).to_string_lossy().into_owned() }
    };
    SrtError { call, message, code }
}

fn check(call: &'static str, rc: libc::c_int) -> Result<(), SrtError> {
    if rc == ffi::SRT_ERROR { Err(last_error(call)) } else { Ok(()) }
}

/// libsrt's own log lines, into the process's log. Only errors: at its
/// warning level libsrt 1.5 logs every timed-out read ("nothing to read"),
/// thousands a second across many callers, on stderr.
unsafe extern "C" fn log_line(
    _opaque: *mut c_void,
    _level: libc::c_int,
    _file: *const libc::c_char,
    _line: libc::c_int,
    area: *const libc::c_char,
    message: *const libc::c_char,
) {
    let text = |p: *const libc::c_char| {
        // SAFETY: libsrt passes NUL-terminated strings valid for this call.
        if p.is_null() { String::new() } else { unsafe { CStr::from_ptr(p) }.to_string_lossy().trim().to_owned() }
    };
    let _ = std::panic::catch_unwind(|| tracing::warn!(target: "libsrt", area = %text(area), "{}", text(message)));
}

fn startup() {
    static START: Once = Once::new();
    // SAFETY: srt_startup initialises the library once per process; the log
    // settings are process-wide and set before any socket exists.
    START.call_once(|| unsafe {
        ffi::srt_startup();
        ffi::srt_setloglevel(ffi::LOG_ERR);
        ffi::srt_setloghandler(std::ptr::null_mut(), log_line);
    });
}

/// What the gate says about a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Let the handshake go on; the caller must hold this passphrase
    /// (10–79 bytes), or the key exchange fails and it is refused.
    Accept { passphrase: String },
    /// Refuse it with this rejection code (1000 + an HTTP status is SRT's
    /// convention for access control: 1403 forbidden, 1503 unavailable).
    Reject(i32),
}

pub const REJECT_FORBIDDEN: i32 = 1403;
pub const REJECT_NOT_FOUND: i32 = 1404;
pub const REJECT_UNAVAILABLE: i32 = 1503;

/// Decides about callers: given the stream id and the peer's address.
/// Called on libsrt's receiving thread during the handshake: keep it short.
pub type Gate = Arc<dyn Fn(&str, Option<SocketAddr>) -> Verdict + Send + Sync>;

struct Hook {
    gate: Gate,
}

unsafe extern "C" fn listen_hook(
    opaque: *mut c_void,
    ns: ffi::SrtSocket,
    hsversion: libc::c_int,
    peer: *const libc::sockaddr,
    streamid: *const libc::c_char,
) -> libc::c_int {
    // A panic must not unwind into C.
    let decided = std::panic::catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `opaque` is the Hook the listener owns for as long as it is open.
        let hook = unsafe { &*(opaque as *const Hook) };
        // Stream ids came with handshake version 5; older callers cannot name a stream.
        if hsversion < 5 || streamid.is_null() {
            return Verdict::Reject(REJECT_FORBIDDEN);
        }
        // SAFETY: libsrt passes a NUL-terminated string valid for this call.
        let id = unsafe { CStr::from_ptr(streamid) }.to_string_lossy();
        // SAFETY: libsrt passes a valid address of the family it names.
        let peer = unsafe { from_sockaddr(peer) };
        (hook.gate)(&id, peer)
    }));
    match decided {
        Ok(Verdict::Accept { passphrase }) => {
            // SAFETY: setting an option on the socket being accepted, as the callback may.
            let rc = unsafe {
                ffi::srt_setsockflag(
                    ns,
                    ffi::SRTO_PASSPHRASE,
                    passphrase.as_ptr().cast(),
                    passphrase.len() as libc::c_int,
                )
            };
            if rc == ffi::SRT_ERROR {
                // SAFETY: as above.
                unsafe { ffi::srt_setrejectreason(ns, REJECT_FORBIDDEN) };
                return -1;
            }
            0
        }
        Ok(Verdict::Reject(code)) => {
            // SAFETY: as above.
            unsafe { ffi::srt_setrejectreason(ns, code) };
            -1
        }
        Err(_) => -1,
    }
}

/// # Safety
/// `addr` is null or points to a sockaddr_in / sockaddr_in6 of its family.
unsafe fn from_sockaddr(addr: *const libc::sockaddr) -> Option<SocketAddr> {
    if addr.is_null() {
        return None;
    }
    // SAFETY: per the contract above.
    unsafe {
        match i32::from((*addr).sa_family) {
            libc::AF_INET => {
                let a = &*(addr as *const libc::sockaddr_in);
                let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(a.sin_port))))
            }
            libc::AF_INET6 => {
                let a = &*(addr as *const libc::sockaddr_in6);
                let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
                Some(SocketAddr::V6(SocketAddrV6::new(ip, u16::from_be(a.sin6_port), 0, a.sin6_scope_id)))
            }
            _ => None,
        }
    }
}

fn to_sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::c_int) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large and aligned enough for any sockaddr.
            let a = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
            a.sin_family = libc::AF_INET as libc::sa_family_t;
            a.sin_port = v4.port().to_be();
            a.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            // SAFETY: as above.
            let a = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
            a.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            a.sin6_port = v6.port().to_be();
            a.sin6_addr.s6_addr = v6.ip().octets();
            a.sin6_scope_id = v6.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::c_int)
}

fn set_int(sock: ffi::SrtSocket, opt: libc::c_int, value: i32, call: &'static str) -> Result<(), SrtError> {
    // SAFETY: an int option, passed by pointer with its size.
    check(call, unsafe {
        ffi::srt_setsockflag(sock, opt, (&value as *const i32).cast(), std::mem::size_of::<i32>() as libc::c_int)
    })
}

/// A listening SRT socket. Accepted callers have passed the gate.
pub struct Listener {
    sock: ffi::SrtSocket,
    /// Waits for callers with a timeout (a blocking accept has none).
    epoll: libc::c_int,
    poll: Duration,
    local: SocketAddr,
    // Read by libsrt's threads through the callback until the socket is closed.
    _hook: Box<Hook>,
}

// SAFETY: an SRT socket is an integer handle; libsrt's API is thread-safe.
unsafe impl Send for Listener {}
// SAFETY: as above; the hook is only read.
unsafe impl Sync for Listener {}

impl Listener {
    /// Binds `addr` (port 0: any free port) and listens. `accept` returns
    /// at least every `poll` so its caller can notice a shutdown.
    pub fn bind(addr: SocketAddr, gate: Gate, poll: Duration) -> Result<Self, SrtError> {
        startup();
        // SAFETY: plain calls on a socket this function owns; closed on every error path.
        unsafe {
            let sock = ffi::srt_create_socket();
            if sock == ffi::SRT_INVALID_SOCK {
                return Err(last_error("srt_create_socket"));
            }
            let hook = Box::new(Hook { gate });
            let opened = (|| {
                set_int(sock, ffi::SRTO_RCVSYN, 1, "SRTO_RCVSYN")?;
                // Inherited by accepted sockets: their reads wake up as often.
                set_int(sock, ffi::SRTO_RCVTIMEO, poll.as_millis().min(i32::MAX as u128) as i32, "SRTO_RCVTIMEO")?;
                let (sa, len) = to_sockaddr(addr);
                check("srt_bind", ffi::srt_bind(sock, (&sa as *const libc::sockaddr_storage).cast(), len))?;
                check(
                    "srt_listen_callback",
                    ffi::srt_listen_callback(sock, listen_hook, (&*hook as *const Hook).cast_mut().cast()),
                )?;
                check("srt_listen", ffi::srt_listen(sock, 128))?;
                let mut sa: libc::sockaddr_storage = std::mem::zeroed();
                let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::c_int;
                check(
                    "srt_getsockname",
                    ffi::srt_getsockname(sock, (&mut sa as *mut libc::sockaddr_storage).cast(), &mut len),
                )?;
                from_sockaddr((&sa as *const libc::sockaddr_storage).cast()).ok_or(SrtError {
                    call: "srt_getsockname",
                    message: "unknown address family".into(),
                    code: 0,
                })
            })();
            match opened {
                Ok(local) => {
                    let epoll = ffi::srt_epoll_create();
                    let events = ffi::SRT_EPOLL_IN;
                    if epoll < 0 || ffi::srt_epoll_add_usock(epoll, sock, &events) == ffi::SRT_ERROR {
                        let e = last_error("srt_epoll_add_usock");
                        ffi::srt_close(sock);
                        return Err(e);
                    }
                    Ok(Self { sock, epoll, poll, local, _hook: hook })
                }
                Err(e) => {
                    ffi::srt_close(sock);
                    Err(e)
                }
            }
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The next caller that passed the gate and completed the handshake;
    /// `Ok(None)` when the poll interval passed without one.
    pub fn accept(&self) -> Result<Option<Connection>, SrtError> {
        // SAFETY: waiting on our own epoll set, then accepting on our listening
        // socket into a buffer of the size given.
        unsafe {
            let mut ready = ffi::SrtEpollEvent { fd: -1, events: 0 };
            if ffi::srt_epoll_uwait(self.epoll, &mut ready, 1, self.poll.as_millis() as i64) <= 0 {
                return Ok(None);
            }
            let mut sa: libc::sockaddr_storage = std::mem::zeroed();
            let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::c_int;
            let s = ffi::srt_accept(self.sock, (&mut sa as *mut libc::sockaddr_storage).cast(), &mut len);
            if s == ffi::SRT_INVALID_SOCK {
                let e = last_error("srt_accept");
                return if e.code == ffi::SRT_EASYNCRCV { Ok(None) } else { Err(e) };
            }
            let peer = from_sockaddr((&sa as *const libc::sockaddr_storage).cast());
            let mut id = vec![0u8; 513];
            let mut id_len = id.len() as libc::c_int;
            let stream_id =
                if ffi::srt_getsockflag(s, ffi::SRTO_STREAMID, id.as_mut_ptr().cast(), &mut id_len) == ffi::SRT_ERROR {
                    String::new()
                } else {
                    id.truncate(id_len.clamp(0, 512) as usize);
                    String::from_utf8_lossy(&id).into_owned()
                };
            Ok(Some(Connection { sock: s, peer, stream_id }))
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // SAFETY: closing our own socket and epoll set; libsrt stops calling
        // the hook before it returns.
        unsafe {
            ffi::srt_epoll_release(self.epoll);
            ffi::srt_close(self.sock);
        }
    }
}

/// An accepted caller.
pub struct Connection {
    sock: ffi::SrtSocket,
    pub peer: Option<SocketAddr>,
    /// What the caller sent as its stream id.
    pub stream_id: String,
}

// SAFETY: an integer handle into thread-safe libsrt.
unsafe impl Send for Connection {}

/// What one receive got.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// This many bytes: one SRT message (in live mode, up to 1316 bytes of TS).
    Data(usize),
    /// Nothing within the poll interval; the connection is still up.
    Idle,
    /// The caller left or the connection broke.
    Closed,
}

impl Connection {
    /// Receives one message into `buf` (at least 1500 bytes).
    pub fn recv(&self, buf: &mut [u8]) -> Received {
        let len = buf.len().min(i32::MAX as usize) as libc::c_int;
        // SAFETY: receiving into a buffer of the length given.
        let n = unsafe { ffi::srt_recvmsg(self.sock, buf.as_mut_ptr().cast(), len) };
        if n > 0 {
            return Received::Data(n as usize);
        }
        if n == ffi::SRT_ERROR && matches!(last_error("srt_recvmsg").code, ffi::SRT_EASYNCRCV | ffi::SRT_ETIMEOUT) {
            return Received::Idle;
        }
        Received::Closed
    }

    pub fn peer_ip(&self) -> Option<IpAddr> {
        self.peer.map(|p| p.ip())
    }

    /// SRT's own figures for the link since the last call (or since the
    /// caller was accepted): each call starts a new period.
    pub fn link_stats(&self) -> Result<LinkStats, SrtError> {
        let mut perf = PerfBuffer::default();
        // SAFETY: libsrt writes one SRT_TRACEBSTATS into a buffer at least
        // that large (see `PerfBuffer`).
        check("srt_bistats", unsafe { ffi::srt_bistats(self.sock, &mut perf.stats, 1, 1) })?;
        let p = &perf.stats;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(LinkStats {
            rtt_ms: p.ms_rtt,
            packets_received: count(p.pkt_recv),
            packets_lost: count(p.pkt_rcv_loss.into()),
            packets_retransmitted: count(p.pkt_rcv_retrans.into()),
            packets_dropped: count(p.pkt_rcv_drop.into()),
            bytes_received: p.byte_recv,
            bandwidth_mbps: p.mbps_bandwidth,
        })
    }
}

/// `srt_bistats`' output with room to spare: a libsrt newer than the
/// headers this was written from may append fields, and would write them
/// past the end of a struct of exactly 1.5's size.
#[repr(C)]
struct PerfBuffer {
    stats: ffi::CBytePerfMon,
    _newer_fields: [u8; 1024],
}

impl Default for PerfBuffer {
    fn default() -> Self {
        Self { stats: ffi::CBytePerfMon::default(), _newer_fields: [0; 1024] }
    }
}

/// What SRT saw of a link over a period, from the receiving side.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LinkStats {
    /// Smoothed round-trip time.
    pub rtt_ms: f64,
    /// Data packets received, retransmissions included.
    pub packets_received: u64,
    /// Packets found missing on arrival (most then come again, resent).
    pub packets_lost: u64,
    /// Resent packets received.
    pub packets_retransmitted: u64,
    /// Packets that did not arrive in time to play: lost for good.
    pub packets_dropped: u64,
    pub bytes_received: u64,
    /// libsrt's estimate of what the link can carry.
    pub bandwidth_mbps: f64,
}

impl LinkStats {
    /// This period's counts followed by `later`'s: counts add up, the round
    /// trip and the capacity are the later ones (both are running estimates).
    pub fn then(&self, later: &LinkStats) -> LinkStats {
        LinkStats {
            rtt_ms: later.rtt_ms,
            packets_received: self.packets_received + later.packets_received,
            packets_lost: self.packets_lost + later.packets_lost,
            packets_retransmitted: self.packets_retransmitted + later.packets_retransmitted,
            packets_dropped: self.packets_dropped + later.packets_dropped,
            bytes_received: self.bytes_received + later.bytes_received,
            bandwidth_mbps: later.bandwidth_mbps,
        }
    }

    /// Packets lost on the way in, as a share of those sent (0–100).
    pub fn loss_percent(&self) -> f64 {
        let expected = self.packets_received + self.packets_lost;
        if expected == 0 { 0.0 } else { self.packets_lost as f64 * 100.0 / expected as f64 }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // SAFETY: closing our own socket once.
        unsafe { ffi::srt_close(self.sock) };
    }
}

#[cfg(test)]
mod tests {
    use std::{mem::offset_of, process::Command};

    use super::{LinkStats, ffi::CBytePerfMon};

    #[test]
    fn periods_add_up_and_keep_the_latest_estimates() {
        let first = LinkStats {
            rtt_ms: 40.0,
            packets_received: 900,
            packets_lost: 100,
            packets_retransmitted: 90,
            packets_dropped: 2,
            bytes_received: 1_000_000,
            bandwidth_mbps: 50.0,
        };
        let second = LinkStats { rtt_ms: 20.0, packets_lost: 0, packets_dropped: 0, bandwidth_mbps: 60.0, ..first };
        let both = first.then(&second);
        assert_eq!((both.packets_received, both.packets_lost, both.packets_retransmitted), (1800, 100, 180));
        assert_eq!((both.packets_dropped, both.bytes_received), (2, 2_000_000));
        assert_eq!((both.rtt_ms, both.bandwidth_mbps), (20.0, 60.0));
        // 100 lost of 1900 sent.
        assert!((both.loss_percent() - 100.0 * 100.0 / 1900.0).abs() < 1e-9);
        assert_eq!(LinkStats::default().loss_percent(), 0.0);
    }

    /// `CBytePerfMon` is declared here by hand: the C compiler reads the
    /// installed header and says where its fields are.
    #[test]
    fn the_stats_struct_matches_the_installed_header() {
        let dir = std::env::temp_dir().join(format!("skycast-srt-layout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (source, binary) = (dir.join("layout.c"), dir.join("layout"));
        std::fs::write(
            &source,
            r#"#include <stdio.h>
#include <stddef.h>
#include <srt/srt.h>
#define AT(f) printf("%zu\n", offsetof(SRT_TRACEBSTATS, f))
int main(void) {
    printf("%zu\n", sizeof(SRT_TRACEBSTATS));
    AT(pktRecv); AT(pktRcvLoss); AT(pktRcvRetrans); AT(pktRcvDrop); AT(byteRecv);
    AT(msRTT); AT(mbpsBandwidth); AT(pktReorderTolerance); AT(byteRecvUnique);
    return 0;
}
"#,
        )
        .unwrap();
        let built = Command::new("cc").arg(&source).arg("-o").arg(&binary).status().expect("cc (gcc) runs");
        assert!(built.success(), "the probe compiles against srt/srt.h (libsrt-openssl-dev)");
        let out = Command::new(&binary).output().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let c: Vec<usize> = String::from_utf8_lossy(&out.stdout).lines().map(|l| l.parse().unwrap()).collect();
        let rust = [
            size_of::<CBytePerfMon>(),
            offset_of!(CBytePerfMon, pkt_recv),
            offset_of!(CBytePerfMon, pkt_rcv_loss),
            offset_of!(CBytePerfMon, pkt_rcv_retrans),
            offset_of!(CBytePerfMon, pkt_rcv_drop),
            offset_of!(CBytePerfMon, byte_recv),
            offset_of!(CBytePerfMon, ms_rtt),
            offset_of!(CBytePerfMon, mbps_bandwidth),
            offset_of!(CBytePerfMon, pkt_reorder_tolerance),
            offset_of!(CBytePerfMon, byte_recv_unique),
        ];
        assert_eq!(rust.as_slice(), c.as_slice(), "size, then field offsets");
    }
}
