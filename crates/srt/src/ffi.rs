//! The handful of libsrt 1.5 declarations this crate uses (`srt/srt.h`).

use libc::{c_char, c_int, c_void, sockaddr};

pub type SrtSocket = c_int;
pub const SRT_INVALID_SOCK: SrtSocket = -1;
pub const SRT_ERROR: c_int = -1;

pub const SRTO_RCVSYN: c_int = 2;
pub const SRTO_RCVTIMEO: c_int = 14;
pub const SRTO_PASSPHRASE: c_int = 26;
pub const SRTO_STREAMID: c_int = 46;

/// `srt_getlasterror`: a receive that timed out (SRT_EASYNCRCV).
pub const SRT_EASYNCRCV: c_int = 6002;
/// A blocking call that ran out of its SRTO_RCVTIMEO (SRT_ETIMEOUT).
pub const SRT_ETIMEOUT: c_int = 6003;

pub type ListenCallback = unsafe extern "C" fn(
    opaque: *mut c_void,
    ns: SrtSocket,
    hsversion: c_int,
    peer: *const sockaddr,
    streamid: *const c_char,
) -> c_int;

pub const SRT_EPOLL_IN: c_int = 0x1;

#[repr(C)]
pub struct SrtEpollEvent {
    pub fd: SrtSocket,
    pub events: c_int,
}

/// syslog's levels, as libsrt takes them.
pub const LOG_ERR: c_int = 3;

pub type LogHandler = unsafe extern "C" fn(
    opaque: *mut c_void,
    level: c_int,
    file: *const c_char,
    line: c_int,
    area: *const c_char,
    message: *const c_char,
);

unsafe extern "C" {
    pub fn srt_setloglevel(level: c_int);
    pub fn srt_setloghandler(opaque: *mut c_void, handler: LogHandler);
    pub fn srt_epoll_create() -> c_int;
    pub fn srt_epoll_add_usock(eid: c_int, u: SrtSocket, events: *const c_int) -> c_int;
    pub fn srt_epoll_uwait(eid: c_int, fds: *mut SrtEpollEvent, fds_size: c_int, ms_timeout: i64) -> c_int;
    pub fn srt_epoll_release(eid: c_int) -> c_int;
    pub fn srt_startup() -> c_int;
    pub fn srt_create_socket() -> SrtSocket;
    pub fn srt_bind(u: SrtSocket, name: *const sockaddr, namelen: c_int) -> c_int;
    pub fn srt_listen(u: SrtSocket, backlog: c_int) -> c_int;
    pub fn srt_accept(u: SrtSocket, addr: *mut sockaddr, addrlen: *mut c_int) -> SrtSocket;
    pub fn srt_listen_callback(lsn: SrtSocket, hook: ListenCallback, opaque: *mut c_void) -> c_int;
    pub fn srt_close(u: SrtSocket) -> c_int;
    pub fn srt_getsockname(u: SrtSocket, name: *mut sockaddr, namelen: *mut c_int) -> c_int;
    pub fn srt_getsockflag(u: SrtSocket, opt: c_int, optval: *mut c_void, optlen: *mut c_int) -> c_int;
    pub fn srt_setsockflag(u: SrtSocket, opt: c_int, optval: *const c_void, optlen: c_int) -> c_int;
    pub fn srt_recvmsg(u: SrtSocket, buf: *mut c_char, len: c_int) -> c_int;
    pub fn srt_getlasterror(errno_loc: *mut c_int) -> c_int;
    pub fn srt_getlasterror_str() -> *const c_char;
    pub fn srt_setrejectreason(u: SrtSocket, value: c_int) -> c_int;
    pub fn srt_bistats(u: SrtSocket, perf: *mut CBytePerfMon, clear: c_int, instantaneous: c_int) -> c_int;
}

/// `SRT_TRACEBSTATS` (`struct CBytePerfMon`) as libsrt 1.5 lays it out.
#[repr(C)]
#[derive(Default)]
pub struct CBytePerfMon {
    // global measurements
    pub ms_time_stamp: i64,
    pub pkt_sent_total: i64,
    pub pkt_recv_total: i64,
    pub pkt_snd_loss_total: c_int,
    pub pkt_rcv_loss_total: c_int,
    pub pkt_retrans_total: c_int,
    pub pkt_sent_ack_total: c_int,
    pub pkt_recv_ack_total: c_int,
    pub pkt_sent_nak_total: c_int,
    pub pkt_recv_nak_total: c_int,
    pub us_snd_duration_total: i64,
    pub pkt_snd_drop_total: c_int,
    pub pkt_rcv_drop_total: c_int,
    pub pkt_rcv_undecrypt_total: c_int,
    pub byte_sent_total: u64,
    pub byte_recv_total: u64,
    pub byte_rcv_loss_total: u64,
    pub byte_retrans_total: u64,
    pub byte_snd_drop_total: u64,
    pub byte_rcv_drop_total: u64,
    pub byte_rcv_undecrypt_total: u64,
    // local measurements (since the last clear)
    pub pkt_sent: i64,
    pub pkt_recv: i64,
    pub pkt_snd_loss: c_int,
    pub pkt_rcv_loss: c_int,
    pub pkt_retrans: c_int,
    pub pkt_rcv_retrans: c_int,
    pub pkt_sent_ack: c_int,
    pub pkt_recv_ack: c_int,
    pub pkt_sent_nak: c_int,
    pub pkt_recv_nak: c_int,
    pub mbps_send_rate: f64,
    pub mbps_recv_rate: f64,
    pub us_snd_duration: i64,
    pub pkt_reorder_distance: c_int,
    pub pkt_rcv_avg_belated_time: f64,
    pub pkt_rcv_belated: i64,
    pub pkt_snd_drop: c_int,
    pub pkt_rcv_drop: c_int,
    pub pkt_rcv_undecrypt: c_int,
    pub byte_sent: u64,
    pub byte_recv: u64,
    pub byte_rcv_loss: u64,
    pub byte_retrans: u64,
    pub byte_snd_drop: u64,
    pub byte_rcv_drop: u64,
    pub byte_rcv_undecrypt: u64,
    // instant measurements
    pub us_pkt_snd_period: f64,
    pub pkt_flow_window: c_int,
    pub pkt_congestion_window: c_int,
    pub pkt_flight_size: c_int,
    pub ms_rtt: f64,
    pub mbps_bandwidth: f64,
    pub byte_avail_snd_buf: c_int,
    pub byte_avail_rcv_buf: c_int,
    pub mbps_max_bw: f64,
    pub byte_mss: c_int,
    pub pkt_snd_buf: c_int,
    pub byte_snd_buf: c_int,
    pub ms_snd_buf: c_int,
    pub ms_snd_tsbpd_delay: c_int,
    pub pkt_rcv_buf: c_int,
    pub byte_rcv_buf: c_int,
    pub ms_rcv_buf: c_int,
    pub ms_rcv_tsbpd_delay: c_int,
    pub pkt_snd_filter_extra_total: c_int,
    pub pkt_rcv_filter_extra_total: c_int,
    pub pkt_rcv_filter_supply_total: c_int,
    pub pkt_rcv_filter_loss_total: c_int,
    pub pkt_snd_filter_extra: c_int,
    pub pkt_rcv_filter_extra: c_int,
    pub pkt_rcv_filter_supply: c_int,
    pub pkt_rcv_filter_loss: c_int,
    pub pkt_reorder_tolerance: c_int,
    // 1.5.0
    pub pkt_sent_unique_total: i64,
    pub pkt_recv_unique_total: i64,
    pub byte_sent_unique_total: u64,
    pub byte_recv_unique_total: u64,
    pub pkt_sent_unique: i64,
    pub pkt_recv_unique: i64,
    pub byte_sent_unique: u64,
    pub byte_recv_unique: u64,
}
