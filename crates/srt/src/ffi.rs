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
}
