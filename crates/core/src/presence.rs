//! Who is watching a live stream, counted cheaply and honestly.
//!
//! A player sends a heartbeat every [`HEARTBEAT_S`] while it plays. Time is
//! cut into windows of `window_s` (default 30 s, more than one heartbeat
//! period, so every viewer lands in every window); the first heartbeat of a
//! viewer in a window (a marker written only where none is) adds one to that
//! window's counter. A stream's viewer count is the larger of the current
//! and the previous window's counters: the distinct viewers seen within the
//! last 30–60 s, read as two items, never a scan, and right under concurrent
//! heartbeats because counters only grow by atomic adds.
//!
//! A signed-in viewer is their user; an anonymous one is their address plus
//! the random id their tab keeps, and one address counts as at most
//! [`Presence::anonymous_per_address`] anonymous viewers per window, so a
//! client making up ids cannot inflate the count beyond that.

/// How often a player reports (the web app's interval).
pub const HEARTBEAT_S: i64 = 15;
/// Longest anonymous viewer id kept (a tab's random UUID is 36).
const MAX_CLIENT_ID: usize = 64;

/// The counting rules; the window is configurable (tests use short ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presence {
    pub window_s: i64,
    pub anonymous_per_address: u32,
}

impl Default for Presence {
    fn default() -> Self {
        Self { window_s: 30, anonymous_per_address: 10 }
    }
}

/// Who sent a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    User(String),
    /// An address, and the id the client gave (sanitised; may be empty).
    Anonymous {
        addr: String,
        client_id: String,
    },
}

impl Viewer {
    /// The viewer behind a heartbeat: the user if signed in, else the
    /// address and whatever safe part of the client's id there is.
    pub fn of(user: Option<&str>, addr: &str, client_id: Option<&str>) -> Self {
        match user {
            Some(u) => Self::User(u.to_owned()),
            None => Self::Anonymous {
                addr: addr.to_owned(),
                client_id: client_id
                    .unwrap_or_default()
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .take(MAX_CLIENT_ID)
                    .collect(),
            },
        }
    }

    fn key(&self) -> String {
        match self {
            Self::User(u) => format!("u:{u}"),
            Self::Anonymous { addr, client_id } => format!("a:{addr}:{client_id}"),
        }
    }
}

impl Presence {
    pub fn window(&self, now: i64) -> i64 {
        now.div_euclid(self.window_s.max(1))
    }

    /// The marker of `viewer` on `stream` in the window of `now`.
    pub fn marker_key(&self, stream_id: &str, viewer: &Viewer, now: i64) -> String {
        format!("seen#presence#{stream_id}#{}#{}", self.window(now), viewer.key())
    }

    /// The counter of anonymous viewers from `addr` on `stream` in `now`'s window.
    pub fn address_key(&self, stream_id: &str, addr: &str, now: i64) -> String {
        format!("presence#{stream_id}#{}#addr#{addr}", self.window(now))
    }

    /// The viewer counter of `stream` for window `window`.
    pub fn counter_key(&self, stream_id: &str, window: i64) -> String {
        format!("presence#{stream_id}#{window}")
    }

    /// When a marker of `now`'s window may be forgotten: its window's end.
    pub fn marker_expires(&self, now: i64) -> i64 {
        (self.window(now) + 1) * self.window_s.max(1)
    }

    /// When a counter of `now`'s window may be forgotten: once no count reads it.
    pub fn counter_expires(&self, now: i64) -> i64 {
        (self.window(now) + 3) * self.window_s.max(1)
    }

    /// The counters a count at `now` reads: the previous window's and the current one's.
    pub fn counted_windows(&self, now: i64) -> [i64; 2] {
        let w = self.window(now);
        [w - 1, w]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_viewer_reporting_on_time_is_in_every_window() {
        let p = Presence::default();
        assert!(HEARTBEAT_S < p.window_s, "a window always holds a heartbeat of each viewer");
        // Heartbeats at any phase, every HEARTBEAT_S: each window sees one.
        for phase in 0..HEARTBEAT_S {
            let windows: std::collections::BTreeSet<i64> =
                (0..20).map(|i| p.window(1_000_000 + phase + i * HEARTBEAT_S)).collect();
            let (first, last) = (*windows.first().unwrap(), *windows.last().unwrap());
            assert_eq!(windows.len() as i64, last - first + 1, "no window skipped at phase {phase}");
        }
    }

    #[test]
    fn viewers_are_users_or_addresses_with_a_safe_client_id() {
        assert_eq!(Viewer::of(Some("u1"), "10.0.0.1", Some("x")), Viewer::User("u1".into()));
        let v = Viewer::of(None, "10.0.0.1", Some("abc-123#evil\u{1F600}".repeat(10).as_str()));
        let Viewer::Anonymous { client_id, .. } = &v else { panic!("anonymous") };
        assert!(client_id.len() <= MAX_CLIENT_ID && client_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        assert_ne!(
            Presence::default().marker_key("s", &Viewer::of(None, "a", Some("1")), 0),
            Presence::default().marker_key("s", &Viewer::of(None, "a", Some("2")), 0)
        );
    }

    #[test]
    fn keys_expire_after_the_windows_that_read_them() {
        let p = Presence { window_s: 30, anonymous_per_address: 10 };
        let now = 95; // window 3: [90, 120)
        assert_eq!(p.counted_windows(now), [2, 3]);
        assert_eq!(p.marker_expires(now), 120);
        // Read at the latest in window 4 (as the previous one).
        assert!(p.counter_expires(now) >= 150);
    }
}
