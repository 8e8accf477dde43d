//! Abuse limits: how much one client address, one account or one user may do.
//!
//! Two kinds. **Rates** count events in fixed windows (at most `max` per
//! `window_s`, per subject), with counters that expire with their window, so
//! a limit lifts by itself and never locks anyone out for longer than one
//! window. **Quotas** bound what a user holds at once (streams, sessions on
//! air); they are sets of ids, so claiming and releasing are idempotent.
//! This module is the arithmetic; `store::limits` holds the counters.

use crate::config::ConfigError;

/// At most `max` events per `window_s` seconds, per subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Names the limit in errors and in counter keys.
    pub name: &'static str,
    pub max: u32,
    pub window_s: i64,
}

impl Rate {
    /// The start of the window `now` falls in.
    pub fn window_start(&self, now: i64) -> i64 {
        now - now.rem_euclid(self.window_s.max(1))
    }

    /// Seconds until the window `now` falls in ends: what `Retry-After` says.
    pub fn retry_after(&self, now: i64) -> i64 {
        (self.window_start(now) + self.window_s.max(1) - now).max(1)
    }

    /// The counter of `subject` in the window of `now`.
    pub fn key(&self, subject: &str, now: i64) -> String {
        format!("rate#{}#{subject}#{}", self.name, self.window_start(now))
    }

    /// When that counter may be forgotten: its window's end, plus a margin.
    pub fn expires_at(&self, now: i64) -> i64 {
        self.window_start(now) + self.window_s + 60
    }

    /// Reads `max/window_s`, e.g. `10/900`.
    fn parse(name: &'static str, text: &str) -> Option<Rate> {
        let (max, window) = text.trim().split_once('/')?;
        let (max, window_s) = (max.trim().parse().ok()?, window.trim().parse().ok()?);
        (window_s > 0).then_some(Rate { name, max, window_s })
    }
}

/// What a user may hold at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    /// Streams owned.
    Streams,
    /// Sessions waiting or live at once.
    OnAir,
    /// Of those, sessions on the `ladder` profile (they cost the node most).
    Ladder,
}

impl Quota {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Streams => "streams",
            Self::OnAir => "on_air",
            Self::Ladder => "ladder",
        }
    }
}

/// Every limit, with its default; each can be set in the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Failed logins from one client address (any accounts).
    pub login_failures_per_address: Rate,
    /// Failed logins of one account from one client address.
    pub login_failures_per_account_address: Rate,
    /// Failed logins of one account from all addresses together: only a
    /// distributed guesser reaches it, and it lifts with its window.
    pub login_failures_per_account: Rate,
    /// Accounts registered from one client address.
    pub registrations_per_address: Rate,
    /// View requests from one client address (counted or not).
    pub views_per_address: Rate,
    /// One viewer's views of one video count once per this many seconds.
    pub view_dedup_s: i64,
    /// Live viewer heartbeats from one client address.
    pub heartbeats_per_address: Rate,
    /// Relay sessions one user creates.
    pub relay_sessions_per_user: Rate,
    /// Webhook test deliveries one user asks for (each is an outbound request).
    pub webhook_tests_per_user: Rate,
    /// `GET /stats` and manifests from one client address (each reads much).
    pub operator_reads_per_address: Rate,
    /// How live viewers are counted (see [`crate::presence`]).
    pub presence: crate::presence::Presence,
    pub streams_per_user: u32,
    pub on_air_per_user: u32,
    pub ladder_per_user: u32,
    /// A quota place younger than this is never reconciled away: it may be a
    /// start or create still on its way.
    pub quota_grace_s: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            login_failures_per_address: Rate { name: "login_failures_per_address", max: 30, window_s: 900 },
            login_failures_per_account_address: Rate {
                name: "login_failures_per_account_address",
                max: 10,
                window_s: 900,
            },
            login_failures_per_account: Rate { name: "login_failures_per_account", max: 100, window_s: 900 },
            registrations_per_address: Rate { name: "registrations_per_address", max: 20, window_s: 3600 },
            views_per_address: Rate { name: "views_per_address", max: 300, window_s: 60 },
            view_dedup_s: 1800,
            // Ten anonymous viewers behind one address, each every 15 s, and room.
            heartbeats_per_address: Rate { name: "heartbeats_per_address", max: 120, window_s: 60 },
            relay_sessions_per_user: Rate { name: "relay_sessions_per_user", max: 60, window_s: 3600 },
            webhook_tests_per_user: Rate { name: "webhook_tests_per_user", max: 30, window_s: 3600 },
            // A dashboard refreshing every few seconds, several tabs of it, and room.
            operator_reads_per_address: Rate { name: "operator_reads_per_address", max: 120, window_s: 60 },
            presence: crate::presence::Presence::default(),
            streams_per_user: 50,
            on_air_per_user: 3,
            // Ladder is the default profile: every stream on air may be one.
            ladder_per_user: 3,
            quota_grace_s: 60,
        }
    }
}

impl Limits {
    /// The defaults, with each `SKYCAST_LIMIT_*` that is set: rates as
    /// `max/window_seconds`, quotas and the view window as numbers.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let invalid = |name: &'static str, expected: &'static str, value: &str| ConfigError::Invalid {
            name,
            expected,
            value: value.to_owned(),
        };
        let mut l = Self::default();
        for (var, rate) in [
            ("SKYCAST_LIMIT_LOGIN_FAILURES_PER_ADDRESS", &mut l.login_failures_per_address),
            ("SKYCAST_LIMIT_LOGIN_FAILURES_PER_ACCOUNT_ADDRESS", &mut l.login_failures_per_account_address),
            ("SKYCAST_LIMIT_LOGIN_FAILURES_PER_ACCOUNT", &mut l.login_failures_per_account),
            ("SKYCAST_LIMIT_REGISTRATIONS_PER_ADDRESS", &mut l.registrations_per_address),
            ("SKYCAST_LIMIT_VIEWS_PER_ADDRESS", &mut l.views_per_address),
            ("SKYCAST_LIMIT_HEARTBEATS_PER_ADDRESS", &mut l.heartbeats_per_address),
            ("SKYCAST_LIMIT_RELAY_SESSIONS_PER_USER", &mut l.relay_sessions_per_user),
            ("SKYCAST_LIMIT_WEBHOOK_TESTS_PER_USER", &mut l.webhook_tests_per_user),
            ("SKYCAST_LIMIT_OPERATOR_READS_PER_ADDRESS", &mut l.operator_reads_per_address),
        ] {
            if let Some(v) = get(var) {
                *rate = Rate::parse(rate.name, &v)
                    .ok_or_else(|| invalid(var, "rate (MAX/WINDOW_SECONDS, e.g. 10/900)", &v))?;
            }
        }
        for (var, slot) in [
            ("SKYCAST_QUOTA_STREAMS", &mut l.streams_per_user),
            ("SKYCAST_QUOTA_ON_AIR", &mut l.on_air_per_user),
            ("SKYCAST_QUOTA_LADDER", &mut l.ladder_per_user),
        ] {
            if let Some(v) = get(var) {
                *slot = v.trim().parse().map_err(|_| invalid(var, "number", &v))?;
            }
        }
        if let Some(v) = get("SKYCAST_QUOTA_GRACE_S") {
            l.quota_grace_s =
                v.trim().parse().map_err(|_| invalid("SKYCAST_QUOTA_GRACE_S", "number of seconds", &v))?;
        }
        if let Some(v) = get("SKYCAST_PRESENCE_WINDOW_S") {
            l.presence.window_s = v
                .trim()
                .parse()
                .ok()
                .filter(|w: &i64| *w > crate::presence::HEARTBEAT_S)
                .ok_or_else(|| invalid("SKYCAST_PRESENCE_WINDOW_S", "seconds, more than the 15 s heartbeat", &v))?;
        }
        if let Some(v) = get("SKYCAST_LIMIT_ANONYMOUS_VIEWERS_PER_ADDRESS") {
            l.presence.anonymous_per_address =
                v.trim().parse().map_err(|_| invalid("SKYCAST_LIMIT_ANONYMOUS_VIEWERS_PER_ADDRESS", "number", &v))?;
        }
        if let Some(v) = get("SKYCAST_LIMIT_VIEW_DEDUP_S") {
            l.view_dedup_s =
                v.trim().parse().map_err(|_| invalid("SKYCAST_LIMIT_VIEW_DEDUP_S", "number of seconds", &v))?;
        }
        Ok(l)
    }

    pub fn quota(&self, q: Quota) -> u32 {
        match q {
            Quota::Streams => self.streams_per_user,
            Quota::OnAir => self.on_air_per_user,
            Quota::Ladder => self.ladder_per_user,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_fixed_and_say_when_they_end() {
        let r = Rate { name: "x", max: 3, window_s: 900 };
        assert_eq!(r.window_start(1800), 1800);
        assert_eq!(r.window_start(2699), 1800);
        assert_eq!(r.retry_after(1800), 900);
        assert_eq!(r.retry_after(2699), 1);
        assert_eq!(r.key("1.2.3.4", 2000), "rate#x#1.2.3.4#1800");
        assert_ne!(r.key("a", 2699), r.key("a", 2700), "a new window, a new counter");
        assert!(r.expires_at(2000) > 2700);
    }

    #[test]
    fn limits_read_from_the_environment_or_say_what_is_wrong() {
        let env = |k: &str| match k {
            "SKYCAST_LIMIT_LOGIN_FAILURES_PER_ADDRESS" => Some("5/60".to_owned()),
            "SKYCAST_QUOTA_ON_AIR" => Some("7".to_owned()),
            _ => None,
        };
        let l = Limits::from_lookup(env).unwrap();
        assert_eq!(l.login_failures_per_address, Rate { name: "login_failures_per_address", max: 5, window_s: 60 });
        assert_eq!(l.on_air_per_user, 7);
        assert_eq!(l.registrations_per_address, Limits::default().registrations_per_address);
        for bad in ["5", "5/0", "x/60", "5/-1"] {
            let env = |k: &str| (k == "SKYCAST_LIMIT_VIEWS_PER_ADDRESS").then(|| bad.to_owned());
            let err = Limits::from_lookup(env).unwrap_err().to_string();
            assert!(err.starts_with("SKYCAST_LIMIT_VIEWS_PER_ADDRESS is not a valid rate"), "{bad}: {err}");
        }
    }
}
