//! Webhooks (issue 15): users' HTTPS endpoints that hear about their
//! streams, recordings and videos. Pure rules: the events and their wire
//! form, the signature, which URLs and addresses a receiver may have, and
//! the retry schedule. The API function keeps endpoints; the sender
//! function fans events out and delivers them.
//!
//! Flow: a function that changes something (lifecycle, recorder, catalog,
//! vod) puts an [`Envelope`] on `webhook-events`; the sender finds the
//! owner's endpoints that want it and puts one [`DeliveryJob`] per endpoint
//! on `webhook-deliveries`, so a slow receiver holds up only its own jobs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a receiver can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum EventType {
    #[serde(rename = "stream.waiting")]
    StreamWaiting,
    #[serde(rename = "stream.live")]
    StreamLive,
    #[serde(rename = "stream.ended")]
    StreamEnded,
    #[serde(rename = "recording.ready")]
    RecordingReady,
    #[serde(rename = "recording.failed")]
    RecordingFailed,
    #[serde(rename = "video.created")]
    VideoCreated,
    #[serde(rename = "video.updated")]
    VideoUpdated,
    #[serde(rename = "video.deleted")]
    VideoDeleted,
    /// `POST /webhooks/{id}/test`: sent to that endpoint only, whatever it subscribes to.
    #[serde(rename = "webhook.test")]
    WebhookTest,
}

impl EventType {
    /// Every type an endpoint may subscribe to.
    pub const SUBSCRIBABLE: [EventType; 8] = [
        Self::StreamWaiting,
        Self::StreamLive,
        Self::StreamEnded,
        Self::RecordingReady,
        Self::RecordingFailed,
        Self::VideoCreated,
        Self::VideoUpdated,
        Self::VideoDeleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::StreamWaiting => "stream.waiting",
            Self::StreamLive => "stream.live",
            Self::StreamEnded => "stream.ended",
            Self::RecordingReady => "recording.ready",
            Self::RecordingFailed => "recording.failed",
            Self::VideoCreated => "video.created",
            Self::VideoUpdated => "video.updated",
            Self::VideoDeleted => "video.deleted",
            Self::WebhookTest => "webhook.test",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::SUBSCRIBABLE.into_iter().find(|t| t.as_str() == text)
    }
}

/// What a receiver gets: the body of every delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// `evt_` + 32 hex digits. The same change always has the same id, so a
    /// receiver that sees one twice (at-least-once) can drop the second.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    /// RFC 3339, when the change happened.
    pub created_at: String,
    /// The object the event is about (a stream, a recording, a video), as
    /// the API shows it to its owner, without secrets.
    pub data: serde_json::Value,
}

impl WebhookEvent {
    /// An event whose id follows from what happened: `subject` names the
    /// change once (a session for a stream event, a video for its creation),
    /// so every delivery of the same change carries the same id.
    pub fn derived(kind: EventType, subject: &str, created_at: &str, data: serde_json::Value) -> Self {
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            format!("skycast-event\n{}\n{subject}", kind.as_str()).as_bytes(),
        );
        Self { id: format!("evt_{}", hex(&digest.as_ref()[..16])), kind, created_at: created_at.to_owned(), data }
    }

    /// An event that happens each time it is asked for (an update, a test).
    pub fn fresh(kind: EventType, created_at: &str, data: serde_json::Value) -> Self {
        Self { id: format!("evt_{}", uuid::Uuid::new_v4().simple()), kind, created_at: created_at.to_owned(), data }
    }
}

/// An event's `data`: `value` (an object as stored) without the fields its
/// owner's scripts have no use for or must never see.
fn without(value: impl Serialize, fields: &[&str]) -> serde_json::Value {
    let mut v = serde_json::to_value(value).unwrap_or_default();
    if let Some(map) = v.as_object_mut() {
        for f in fields {
            map.remove(*f);
        }
    }
    v
}

/// `stream.*`: the stream as of the event, for the event's session (the
/// stream may have gone on to another by the time it is sent).
pub fn stream_event(
    kind: EventType,
    stream: &crate::stream::Stream,
    session_id: &str,
    at: &str,
    reason: Option<&str>,
) -> WebhookEvent {
    let mut data = without(stream, &["stream_key", "ingest_node_id", "owner_username"]);
    data["session_id"] = session_id.into();
    if let Some(reason) = reason {
        data["reason"] = reason.into();
    }
    WebhookEvent::derived(kind, session_id, at, data)
}

/// `recording.ready` / `recording.failed`: once per session.
pub fn recording_event(kind: EventType, recording: &crate::recording::Recording, at: &str) -> WebhookEvent {
    let data = without(recording, &["owner_id", "job_sent"]);
    WebhookEvent::derived(kind, &recording.session_id, at, data)
}

/// `video.*`: `video.created` once per video; updates are each their own.
pub fn video_event(kind: EventType, video: &crate::video::Video, at: &str) -> WebhookEvent {
    let data = without(video, &["deleting", "owner_username"]);
    match kind {
        EventType::VideoUpdated => WebhookEvent::fresh(kind, at, data),
        _ => WebhookEvent::derived(kind, &video.id, at, data),
    }
}

/// A message on `webhook-events`: an event and whose it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub owner_id: String,
    pub event: WebhookEvent,
    /// This endpoint alone, whatever it subscribes to (a test event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<String>,
}

/// A message on `webhook-deliveries`: one event for one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryJob {
    pub webhook_id: String,
    pub delivery_id: String,
    pub event: WebhookEvent,
    /// The first attempt's request, made at fan-out from the endpoint as it
    /// was then (milliseconds before): that attempt needs no read of the
    /// endpoint. Retries read it again (it may have changed or gone). The
    /// signature only, never the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<FirstAttempt>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirstAttempt {
    pub url: String,
    /// The exact body signed (the event's JSON as fan-out wrote it).
    pub body: String,
    /// `Skycast-Signature` of `body`, made at `signed_at` (Unix seconds).
    pub signature: String,
    pub signed_at: i64,
}

/// A prepared first request older than this is made afresh: a receiver
/// refuses a signature older than [`SIGNATURE_TOLERANCE_S`].
pub const FIRST_ATTEMPT_FRESH_S: i64 = 60;

/// A delivery's key: newest first when listed in reverse, one per event
/// and endpoint however often it is fanned out.
pub fn delivery_id(event: &WebhookEvent) -> String {
    format!("{}#{}", event.created_at, event.id)
}

/// A user's endpoint, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: String,
    pub owner_id: String,
    pub url: String,
    /// The types it wants; every subscribable type when empty.
    #[serde(default)]
    pub events: Vec<EventType>,
    #[serde(default)]
    pub description: String,
    pub enabled: bool,
    /// Signs its deliveries; shown to the owner once, at creation.
    pub secret: String,
    pub created_at: String,
    pub updated_at: String,
}

/// Endpoints one user may have.
pub const MAX_PER_USER: usize = 20;
/// A receiver's answer kept in the delivery log, at most.
pub const RESPONSE_EXCERPT_BYTES: usize = 1024;
/// How long delivery records are kept.
pub const KEEP_DELIVERIES_S: i64 = 30 * 24 * 3600;
/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Skycast-Signature";
/// A receiver should refuse a signature older than this (replays).
pub const SIGNATURE_TOLERANCE_S: i64 = 300;

impl Webhook {
    /// A new endpoint and its secret (also kept in the record, to sign with).
    pub fn create(owner_id: &str, url: &str, events: Vec<EventType>, description: &str, now: &str) -> Self {
        Self {
            id: crate::ids::new_id(),
            owner_id: owner_id.to_owned(),
            url: url.to_owned(),
            events,
            description: description.to_owned(),
            enabled: true,
            secret: format!("whsec_{}", crate::ids::random_token(32)),
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
        }
    }

    pub fn wants(&self, kind: EventType) -> bool {
        self.enabled && (self.events.is_empty() || self.events.contains(&kind))
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Queued, not tried yet.
    Pending,
    /// Tried and failed; another attempt is scheduled (`next_attempt_at`).
    Retrying,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up: out of attempts (the job is in the dead-letter queue), or
    /// the URL is not allowed (refused, not retried).
    Failed,
}

/// One event's delivery to one endpoint, as stored and listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub webhook_id: String,
    pub delivery_id: String,
    pub event_id: String,
    pub event_type: EventType,
    pub status: DeliveryStatus,
    pub attempts: u32,
    #[serde(default)]
    pub last_status_code: Option<u16>,
    /// Why the last attempt failed, when it did without an answer (or with a non-2xx).
    #[serde(default)]
    pub last_error: Option<String>,
    /// The start of the receiver's last answer, at most `RESPONSE_EXCERPT_BYTES`.
    #[serde(default)]
    pub last_response: Option<String>,
    #[serde(default)]
    pub last_attempt_at: Option<String>,
    #[serde(default)]
    pub next_attempt_at: Option<String>,
    #[serde(default)]
    pub delivered_at: Option<String>,
    pub created_at: String,
    pub expires_at: i64,
}

impl Delivery {
    pub fn pending(webhook_id: &str, event: &WebhookEvent, now_unix: i64) -> Self {
        Self {
            webhook_id: webhook_id.to_owned(),
            delivery_id: delivery_id(event),
            event_id: event.id.clone(),
            event_type: event.kind,
            status: DeliveryStatus::Pending,
            attempts: 0,
            last_status_code: None,
            last_error: None,
            last_response: None,
            last_attempt_at: None,
            next_attempt_at: None,
            delivered_at: None,
            created_at: event.created_at.clone(),
            expires_at: now_unix + KEEP_DELIVERIES_S,
        }
    }
}

impl Delivery {
    /// The log entry after attempt `attempts` (SQS's receive count) of `job`.
    pub fn attempted(job: &DeliveryJob, attempts: u32, a: &Attempt) -> Self {
        Self {
            webhook_id: job.webhook_id.clone(),
            delivery_id: job.delivery_id.clone(),
            event_id: job.event.id.clone(),
            event_type: job.event.kind,
            status: a.status,
            attempts,
            last_status_code: a.status_code,
            last_error: a.error.clone(),
            last_response: a.response.clone(),
            last_attempt_at: Some(a.at.clone()),
            next_attempt_at: a.next_attempt_at.clone(),
            delivered_at: (a.status == DeliveryStatus::Delivered).then(|| a.at.clone()),
            created_at: job.event.created_at.clone(),
            expires_at: crate::timefmt::unix_now() + KEEP_DELIVERIES_S,
        }
    }
}

/// What one attempt came to, for the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub at: String,
    pub status: DeliveryStatus,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub response: Option<String>,
    pub next_attempt_at: Option<String>,
}

/// The `Skycast-Signature` header of a delivery made at `timestamp` (Unix
/// seconds): `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`,
/// the key being the secret string as shown (`whsec_…`). The scheme Stripe
/// and Mux use, so receivers' libraries for those fit with the names changed.
pub fn signature_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", hex(mac(secret, timestamp, body).as_ref()))
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> aws_lc_rs::hmac::Tag {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = aws_lc_rs::hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    ctx.sign()
}

/// What a receiver does: the header is well formed, one of its `v1`
/// signatures matches (compared in constant time) and its time is within
/// `tolerance_s` of `now`.
pub fn verify_signature(header: &str, secret: &str, body: &[u8], now: i64, tolerance_s: i64) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.push(v),
            _ => {}
        }
    }
    let Some(t) = timestamp else { return false };
    if (now - t).abs() > tolerance_s {
        return false;
    }
    let expected = hex(mac(secret, t, body).as_ref());
    signatures
        .iter()
        .any(|s| aws_lc_rs::constant_time::verify_slices_are_equal(s.as_bytes(), expected.as_bytes()).is_ok())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// After attempt `attempt` (1 for the first) failed: how long until the
/// next, scaled so the first retry is `first_retry_s` later. At 10 s the
/// attempts are 10 s, 1 min, 5 min, 30 min, 1 h, 2 h, 4 h, 8 h and 8 h
/// apart: ten in about 24 h (`webhook-deliveries`' receive limit), after
/// which the job is in the queue's dead-letter queue.
pub fn retry_delay_s(attempt: u32, first_retry_s: u64) -> u64 {
    const STEPS: [u64; 9] = [1, 6, 30, 180, 360, 720, 1440, 2880, 2880];
    let step = STEPS[(attempt.max(1) as usize - 1).min(STEPS.len() - 1)];
    // SQS holds a message back for at most 12 hours.
    (step * first_retry_s).min(43_200)
}

/// Why a receiver URL or address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    #[error("not a URL: {0}")]
    Malformed(String),
    #[error("must be https:// (http:// only to this machine, where allowed)")]
    Scheme,
    #[error("must not carry a user name or password")]
    Credentials,
    #[error("longer than 2048 characters")]
    TooLong,
    #[error("{0} is a {1} address; receivers must be on the public internet")]
    Address(IpAddr, &'static str),
    #[error("{0} does not resolve to an address")]
    Unresolved(String),
}

/// Where receivers may be. Checked when an endpoint is registered (its URL,
/// and its host if it is an address) and again at every send, on each
/// address the name resolves to then (a name may change what it points at).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlPolicy {
    /// Receivers on this machine are allowed (`make dev`), over http too.
    pub allow_loopback: bool,
}

/// The addresses a receiver's host has now, every one of them allowed: a
/// name with any address the policy refuses is refused whole (the client
/// would connect to whichever came first).
pub async fn resolve_allowed(
    policy: UrlPolicy,
    receiver: &ReceiverUrl,
) -> Result<Vec<std::net::SocketAddr>, UrlRefusal> {
    let addrs: Vec<std::net::SocketAddr> = match receiver.host.parse::<IpAddr>() {
        Ok(ip) => vec![std::net::SocketAddr::new(ip, receiver.port)],
        Err(_) => tokio::net::lookup_host((receiver.host.as_str(), receiver.port))
            .await
            .map_err(|_| UrlRefusal::Unresolved(receiver.host.clone()))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(UrlRefusal::Unresolved(receiver.host.clone()));
    }
    for a in &addrs {
        policy.check_ip(a.ip())?;
    }
    Ok(addrs)
}

/// A URL the policy admits, taken apart for the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverUrl {
    pub url: url::Url,
    pub host: String,
    pub port: u16,
    pub https: bool,
}

impl UrlPolicy {
    /// The URL's form: scheme, no credentials, a host, and for a host that is
    /// an address (or `localhost`), the address rules.
    pub fn check_url(&self, text: &str) -> Result<ReceiverUrl, UrlRefusal> {
        if text.len() > 2048 {
            return Err(UrlRefusal::TooLong);
        }
        let url = url::Url::parse(text.trim()).map_err(|e| UrlRefusal::Malformed(e.to_string()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlRefusal::Credentials);
        }
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return Err(UrlRefusal::Scheme),
        };
        let host = match url.host() {
            Some(url::Host::Domain(d)) => {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                if d == "localhost" || d.ends_with(".localhost") {
                    self.check_ip(IpAddr::V4(Ipv4Addr::LOCALHOST))?;
                } else if !https {
                    return Err(UrlRefusal::Scheme);
                }
                d
            }
            Some(url::Host::Ipv4(a)) => {
                self.check_ip(IpAddr::V4(a))?;
                a.to_string()
            }
            Some(url::Host::Ipv6(a)) => {
                self.check_ip(IpAddr::V6(a))?;
                a.to_string()
            }
            None => return Err(UrlRefusal::Malformed("no host".into())),
        };
        // Plain http only where the receiver is this machine.
        if !https && !self.allow_loopback {
            return Err(UrlRefusal::Scheme);
        }
        let port = url.port_or_known_default().unwrap_or(if https { 443 } else { 80 });
        Ok(ReceiverUrl { url, host, port, https })
    }

    /// An address a receiver may be at: public unicast only (and loopback
    /// where allowed). Mapped and translated IPv4 is judged as IPv4.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), UrlRefusal> {
        match classify(ip) {
            None => Ok(()),
            Some("loopback") if self.allow_loopback => Ok(()),
            Some(kind) => Err(UrlRefusal::Address(ip, kind)),
        }
    }
}

/// What kind of non-public address `ip` is; `None` for a public one.
fn classify(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(a) => classify_v4(a),
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return classify_v4(v4);
            }
            let s = a.segments();
            // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                return classify_v4(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8));
            }
            classify_v6(a)
        }
    }
}

fn classify_v4(a: Ipv4Addr) -> Option<&'static str> {
    let o = a.octets();
    Some(match o {
        _ if a.is_loopback() => "loopback",
        _ if a.is_unspecified() || o[0] == 0 => "unspecified",
        _ if a.is_private() => "private",
        // 169.254.0.0/16 holds the cloud metadata service (169.254.169.254).
        _ if a.is_link_local() => "link-local",
        [100, b, ..] if (64..128).contains(&b) => "shared (carrier NAT)",
        [192, 0, 0, _] => "reserved",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "documentation",
        [198, 18 | 19, ..] => "benchmarking",
        _ if a.is_multicast() => "multicast",
        _ if a.is_broadcast() || o[0] >= 240 => "reserved",
        _ => return None,
    })
}

fn classify_v6(a: Ipv6Addr) -> Option<&'static str> {
    let s = a.segments();
    Some(match s[0] {
        _ if a.is_loopback() => "loopback",
        _ if a.is_unspecified() => "unspecified",
        // fc00::/7, where AWS's IPv6 metadata address (fd00:ec2::254) is.
        x if x & 0xfe00 == 0xfc00 => "private",
        x if x & 0xffc0 == 0xfe80 => "link-local",
        x if x & 0xff00 == 0xff00 => "multicast",
        0x2001 if s[1] == 0x0db8 => "documentation",
        // ::/96 (IPv4-compatible) and the rest of ::/8 is not routed.
        0 => "reserved",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(policy: UrlPolicy, url: &str) -> bool {
        policy.check_url(url).is_err()
    }

    #[test]
    fn receivers_must_be_public_https() {
        let strict = UrlPolicy { allow_loopback: false };
        let dev = UrlPolicy { allow_loopback: true };
        // Positive controls.
        assert!(strict.check_url("https://hooks.example.com/skycast?x=1").is_ok());
        assert!(strict.check_url("https://93.184.216.34:8443/h").is_ok());
        assert!(dev.check_url("http://127.0.0.1:9999/hook").is_ok());
        assert!(dev.check_url("http://localhost:9999/hook").is_ok());
        assert_eq!(dev.check_url("http://[::1]:80/").map(|u| u.port), Ok(80));
        for url in [
            "http://hooks.example.com/",
            "ftp://hooks.example.com/",
            "https://user:pw@hooks.example.com/",
            "https://10.1.2.3/",
            "https://172.20.0.1/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://100.100.1.1/",
            "https://0.0.0.0/",
            "https://[::ffff:10.0.0.1]/",
            "https://[fd00:ec2::254]/",
            "https://[fe80::1]/",
            "https://[64:ff9b::a00:1]/",
            "https://127.0.0.1/",
            "http://127.0.0.1:9/",
            "https://localhost/",
            "not a url",
        ] {
            assert!(refused(strict, url), "{url} should be refused");
        }
        // Loopback allowed does not open the private ranges, nor http to names.
        assert!(refused(dev, "http://10.0.0.1/"));
        assert!(refused(dev, "https://169.254.169.254/"));
        assert!(refused(dev, "http://hooks.example.com/"));
        assert!(refused(strict, &format!("https://example.com/{}", "a".repeat(2048))));
    }

    #[test]
    fn addresses_are_classified() {
        let strict = UrlPolicy { allow_loopback: false };
        assert!(strict.check_ip("8.8.8.8".parse().unwrap()).is_ok());
        assert!(strict.check_ip("2606:4700::1111".parse().unwrap()).is_ok());
        for ip in ["127.0.0.5", "::1", "10.0.0.1", "fd12::1", "224.0.0.1", "255.255.255.255", "198.18.0.1", "::"] {
            assert!(strict.check_ip(ip.parse().unwrap()).is_err(), "{ip}");
        }
        let err = strict.check_ip("169.254.169.254".parse().unwrap()).unwrap_err().to_string();
        assert!(err.contains("link-local"), "{err}");
    }

    #[test]
    fn signature_round_trips_and_rejects_tampering() {
        let secret = "whsec_test";
        let body = br#"{"id":"evt_1"}"#;
        let header = signature_header(secret, 1_700_000_000, body);
        assert!(header.starts_with("t=1700000000,v1="));
        assert!(verify_signature(&header, secret, body, 1_700_000_010, 300));
        assert!(!verify_signature(&header, secret, br#"{"id":"evt_2"}"#, 1_700_000_010, 300));
        assert!(!verify_signature(&header, "whsec_other", body, 1_700_000_010, 300));
        assert!(!verify_signature(&header, secret, body, 1_700_001_000, 300), "too old");
        assert!(!verify_signature("v1=abc", secret, body, 1_700_000_000, 300));
        // The value a receiver computes by hand (Python's hmac, see README).
        let expected = {
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
            hex(aws_lc_rs::hmac::sign(&key, b"1700000000.{\"id\":\"evt_1\"}").as_ref())
        };
        assert_eq!(header, format!("t=1700000000,v1={expected}"));
    }

    #[test]
    fn same_change_same_event_id() {
        let data = serde_json::json!({"id": "s"});
        let a = WebhookEvent::derived(EventType::StreamLive, "session-1", "t", data.clone());
        let b = WebhookEvent::derived(EventType::StreamLive, "session-1", "t2", data.clone());
        let c = WebhookEvent::derived(EventType::StreamEnded, "session-1", "t", data.clone());
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, c.id);
        assert_eq!(a.id.len(), 4 + 32);
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["type"], "stream.live");
        assert_ne!(
            WebhookEvent::fresh(EventType::VideoUpdated, "t", data.clone()).id,
            WebhookEvent::fresh(EventType::VideoUpdated, "t", data).id
        );
    }

    #[test]
    fn retries_span_about_a_day() {
        let total: u64 = (1..10).map(|n| retry_delay_s(n, 10)).sum();
        assert!((20 * 3600..=26 * 3600).contains(&total), "{total}");
        assert_eq!(retry_delay_s(1, 10), 10);
        assert_eq!(retry_delay_s(2, 1), 6);
        assert!(retry_delay_s(50, 600) <= 43_200);
    }

    #[test]
    fn subscriptions() {
        let mut w = Webhook::create("u", "https://x.example/", vec![], "", "t");
        assert!(w.secret.starts_with("whsec_") && w.secret.len() > 40);
        assert!(w.wants(EventType::VideoDeleted));
        w.events = vec![EventType::StreamLive];
        assert!(w.wants(EventType::StreamLive) && !w.wants(EventType::StreamEnded));
        w.enabled = false;
        assert!(!w.wants(EventType::StreamLive));
        assert_eq!(EventType::parse("recording.ready"), Some(EventType::RecordingReady));
        assert_eq!(EventType::parse("webhook.test"), None);
    }
}
