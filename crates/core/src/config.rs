//! Configuration, read from the environment with working defaults.
//!
//! Reading goes through a lookup function so tests build configurations
//! without touching the process environment (tests run in parallel threads).

use std::time::Duration;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{name} is not a valid {expected}: {value:?}")]
    Invalid { name: &'static str, expected: &'static str, value: String },
    #[error("cannot read {name} from {path}: {source}")]
    File { name: &'static str, path: String, source: std::io::Error },
    #[error(
        "no JWT key: set SKYCAST_JWT_PRIVATE_KEY (PKCS#8 PEM, Ed25519) or SKYCAST_JWT_PRIVATE_KEY_FILE, or SKYCAST_JWT_PUBLIC_KEY where tokens are only verified"
    )]
    MissingSigningKey,
}

/// Physical names of the resources a function uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    pub users: String,
    pub refresh_tokens: String,
    pub streams: String,
    pub ingest_nodes: String,
    pub recordings: String,
    pub videos: String,
    pub video_likes: String,
    /// Per session: who may play its stored media (see `playback`).
    pub media_access: String,
    /// Rate counters (expiring) and per-user quotas (see `limits`).
    pub limits: String,
    /// Relay sessions (see `relay_session`).
    pub relay_sessions: String,
    /// Users' webhook endpoints and their deliveries (see `webhook`).
    pub webhooks: String,
    pub webhook_deliveries: String,
}

impl TableNames {
    /// The physical name of a table by its logical name (`resources.json`).
    pub fn physical(&self, logical: &str) -> Option<&str> {
        Some(match logical {
            "users" => &self.users,
            "refresh-tokens" => &self.refresh_tokens,
            "streams" => &self.streams,
            "ingest-nodes" => &self.ingest_nodes,
            "recordings" => &self.recordings,
            "videos" => &self.videos,
            "video-likes" => &self.video_likes,
            "media-access" => &self.media_access,
            "limits" => &self.limits,
            "relay-sessions" => &self.relay_sessions,
            "webhooks" => &self.webhooks,
            "webhook-deliveries" => &self.webhook_deliveries,
            _ => return None,
        })
    }
}

/// Where encoders publish: the ingest nodes' public name (a load balancer
/// in AWS) and the one port per protocol every node listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestEndpoint {
    pub host: String,
    pub rtmp_port: u16,
    pub srt_port: u16,
}

impl Default for IngestEndpoint {
    fn default() -> Self {
        Self { host: "127.0.0.1".into(), rtmp_port: DEFAULT_RTMP_PORT, srt_port: DEFAULT_SRT_PORT }
    }
}

pub const DEFAULT_RTMP_PORT: u16 = 1935;
pub const DEFAULT_SRT_PORT: u16 = 9000;

impl IngestEndpoint {
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut e = Self::default();
        if let Some(v) = get("SKYCAST_INGEST_PUBLIC_HOST") {
            e.host = v;
        }
        for (name, slot) in [("SKYCAST_RTMP_PORT", &mut e.rtmp_port), ("SKYCAST_SRT_PORT", &mut e.srt_port)] {
            if let Some(v) = get(name) {
                *slot = v.trim().parse().map_err(|_| ConfigError::Invalid {
                    name: if name.contains("RTMP") { "SKYCAST_RTMP_PORT" } else { "SKYCAST_SRT_PORT" },
                    expected: "port number",
                    value: v.clone(),
                })?;
            }
        }
        Ok(e)
    }

    /// OBS's "Server" for RTMP; the stream key goes in "Stream Key".
    pub fn rtmp_server(&self) -> String {
        format!("rtmp://{}:{}/live", self.host, self.rtmp_port)
    }

    /// The whole SRT URL: the key is the stream id and the passphrase.
    pub fn srt_url(&self, key: &str) -> String {
        format!("srt://{}:{}?streamid={key}&passphrase={key}", self.host, self.srt_port)
    }
}

/// Physical names of the buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketNames {
    pub live: String,
    pub recordings: String,
}

impl BucketNames {
    pub fn with_prefix(prefix: &str) -> Self {
        Self { live: physical_name(prefix, "live"), recordings: physical_name(prefix, "recordings") }
    }
}

impl TableNames {
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            users: physical_name(prefix, "users"),
            refresh_tokens: physical_name(prefix, "refresh-tokens"),
            streams: physical_name(prefix, "streams"),
            ingest_nodes: physical_name(prefix, "ingest-nodes"),
            recordings: physical_name(prefix, "recordings"),
            videos: physical_name(prefix, "videos"),
            video_likes: physical_name(prefix, "video-likes"),
            media_access: physical_name(prefix, "media-access"),
            limits: physical_name(prefix, "limits"),
            relay_sessions: physical_name(prefix, "relay-sessions"),
            webhooks: physical_name(prefix, "webhooks"),
            webhook_deliveries: physical_name(prefix, "webhook-deliveries"),
        }
    }
}

/// `<prefix>-<logical>`: how a logical resource name from
/// `infra/resources.json` becomes the name of the table, bucket or queue.
pub fn physical_name(prefix: &str, logical: &str) -> String {
    format!("{prefix}-{logical}")
}

/// Which browser origins may call the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    Any,
    List(Vec<String>),
}

#[derive(Clone)]
pub struct Config {
    pub name_prefix: String,
    pub tables: TableNames,
    pub buckets: BucketNames,
    /// PKCS#8 PEM of the Ed25519 key that signs access tokens.
    pub jwt_private_key_pem: Option<String>,
    /// The public key alone (JWKS `x`), for functions that only verify tokens.
    pub jwt_public_key: Option<String>,
    pub jwt_issuer: String,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// Seconds after its first use during which a refresh token may be used
    /// again without revoking its login (`SKYCAST_REFRESH_REUSE_GRACE_S`,
    /// 10; 0: none): a reload that lost the response to its refresh.
    pub refresh_reuse_grace_s: i64,
    pub cors_origins: CorsOrigins,
    /// Public base of stored media: `<base>/live/...` and `<base>/recordings/...`
    /// (CloudFront in AWS, `make dev`'s `/cdn` locally).
    pub cdn_base_url: String,
    /// What streamers paste into their encoders.
    pub ingest: IngestEndpoint,
    /// Secret that signs private media tokens and seals listing cursors
    /// (`SKYCAST_PLAYBACK_KEY`);
    /// derived from the JWT signing key when unset and that is present.
    pub playback_key: Option<String>,
    /// Abuse limits and quotas (`SKYCAST_LIMIT_*`, `SKYCAST_QUOTA_*`).
    pub limits: crate::limits::Limits,
    /// The secret CloudFront adds to every request it forwards to the API
    /// (`SKYCAST_EDGE_SECRET`): a request carrying it came through the
    /// distribution, so the viewer address the edge wrote is the client's.
    /// Unset (locally), no request is taken for the edge's.
    pub edge_secret: Option<String>,
    /// The session relay's settings (issue 14).
    pub relay: RelaySettings,
    /// Where users' webhooks may point and how they are retried.
    pub webhooks: WebhookSettings,
    /// `SKYCAST_ADMIN_USERNAMES` (comma-separated): the users who see the
    /// platform's internals (`GET /stats`' node detail). Usernames never
    /// change, so the list means the same people for as long as it is set.
    pub admins: Vec<String>,
}

/// Webhook delivery: what receivers may be, and the retry pace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// `SKYCAST_WEBHOOK_ALLOW_LOOPBACK`: receivers on this machine
    /// (`http://127.0.0.1:…`, `localhost`) are allowed. Off by default and in
    /// AWS; `make dev` turns it on so a local receiver works.
    pub allow_loopback: bool,
    /// `SKYCAST_WEBHOOK_FIRST_RETRY_S` (10): the first retry's delay; the
    /// later ones keep their proportions (about 24 h in all at 10).
    pub first_retry_s: u64,
    /// `SKYCAST_WEBHOOK_TIMEOUT_MS` (5000): a receiver's whole answer.
    pub timeout_ms: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self { allow_loopback: false, first_retry_s: 10, timeout_ms: 5000 }
    }
}

impl WebhookSettings {
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut w = Self::default();
        if let Some(v) = get("SKYCAST_WEBHOOK_ALLOW_LOOPBACK") {
            w.allow_loopback = match v.trim() {
                "1" | "true" | "on" => true,
                "0" | "false" | "off" => false,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "SKYCAST_WEBHOOK_ALLOW_LOOPBACK",
                        expected: "true or false",
                        value: v,
                    });
                }
            };
        }
        if let Some(v) = get("SKYCAST_WEBHOOK_FIRST_RETRY_S") {
            w.first_retry_s =
                v.trim().parse().ok().filter(|n| (1..=600).contains(n)).ok_or_else(|| ConfigError::Invalid {
                    name: "SKYCAST_WEBHOOK_FIRST_RETRY_S",
                    expected: "1 to 600 seconds",
                    value: v.clone(),
                })?;
        }
        if let Some(v) = get("SKYCAST_WEBHOOK_TIMEOUT_MS") {
            w.timeout_ms =
                v.trim().parse().ok().filter(|n| (100..=30_000).contains(n)).ok_or_else(|| ConfigError::Invalid {
                    name: "SKYCAST_WEBHOOK_TIMEOUT_MS",
                    expected: "100 to 30000 milliseconds",
                    value: v.clone(),
                })?;
        }
        Ok(w)
    }
}

/// The session relay: where its sockets are and how much they take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelaySettings {
    /// `WS_BASE_URL`: the base of every socket URL the API hands out
    /// (`wss://relay.example.com`; `make dev`: `ws://127.0.0.1:8080`).
    pub ws_base_url: String,
    /// `SESSION_MAX_OPERATORS`: operators connected to one session at once.
    pub max_operators: u32,
    /// `WS_MAX_MESSAGE_SIZE`: bytes in one message; a larger one closes its socket (1009).
    pub max_message_bytes: usize,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            ws_base_url: "ws://127.0.0.1:8080".into(),
            max_operators: crate::relay_session::DEFAULT_MAX_OPERATORS,
            max_message_bytes: crate::relay_session::DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

impl RelaySettings {
    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Self::default();
        if let Some(v) = get("WS_BASE_URL") {
            let base = v.trim().trim_end_matches('/');
            if !(base.starts_with("ws://") || base.starts_with("wss://")) || base.len() <= "wss://".len() {
                return Err(ConfigError::Invalid { name: "WS_BASE_URL", expected: "ws:// or wss:// URL", value: v });
            }
            r.ws_base_url = base.to_owned();
        }
        if let Some(v) = get("SESSION_MAX_OPERATORS") {
            r.max_operators =
                v.trim().parse().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| ConfigError::Invalid {
                    name: "SESSION_MAX_OPERATORS",
                    expected: "number from 1 to 1000",
                    value: v.clone(),
                })?;
        }
        if let Some(v) = get("WS_MAX_MESSAGE_SIZE") {
            r.max_message_bytes =
                v.trim().parse().ok().filter(|n| (1024..=64 * 1024 * 1024).contains(n)).ok_or_else(|| {
                    ConfigError::Invalid {
                        name: "WS_MAX_MESSAGE_SIZE",
                        expected: "bytes from 1024 to 64 MiB",
                        value: v.clone(),
                    }
                })?;
        }
        Ok(r)
    }
}

impl std::fmt::Debug for Config {
    // Hand-written so the signing key can never end up in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("name_prefix", &self.name_prefix)
            .field("tables", &self.tables)
            .field("buckets", &self.buckets)
            .field("jwt_private_key_pem", &self.jwt_private_key_pem.as_ref().map(|_| "<redacted>"))
            .field("jwt_public_key", &self.jwt_public_key)
            .field("jwt_issuer", &self.jwt_issuer)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("refresh_token_ttl", &self.refresh_token_ttl)
            .field("refresh_reuse_grace_s", &self.refresh_reuse_grace_s)
            .field("cors_origins", &self.cors_origins)
            .field("cdn_base_url", &self.cdn_base_url)
            .field("playback_key", &self.playback_key.as_ref().map(|_| "<redacted>"))
            .field("limits", &self.limits)
            .field("edge_secret", &self.edge_secret.as_ref().map(|_| "<redacted>"))
            .field("relay", &self.relay)
            .field("webhooks", &self.webhooks)
            .field("admins", &self.admins)
            .finish()
    }
}

pub const DEFAULT_PREFIX: &str = "skycast";
pub const DEFAULT_CDN_BASE_URL: &str = "http://127.0.0.1:8080/cdn";
pub const DEFAULT_ACCESS_TOKEN_TTL_S: u64 = 15 * 60;
pub const DEFAULT_REFRESH_TOKEN_TTL_S: u64 = 30 * 24 * 3600;

impl Config {
    /// Defaults for a given name prefix; used by tests and as the base of `from_env`.
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            name_prefix: prefix.to_owned(),
            tables: TableNames::with_prefix(prefix),
            buckets: BucketNames::with_prefix(prefix),
            jwt_private_key_pem: None,
            jwt_public_key: None,
            jwt_issuer: "skycast".to_owned(),
            access_token_ttl: Duration::from_secs(DEFAULT_ACCESS_TOKEN_TTL_S),
            refresh_token_ttl: Duration::from_secs(DEFAULT_REFRESH_TOKEN_TTL_S),
            refresh_reuse_grace_s: 10,
            cors_origins: CorsOrigins::Any,
            cdn_base_url: DEFAULT_CDN_BASE_URL.to_owned(),
            ingest: IngestEndpoint::default(),
            playback_key: None,
            limits: crate::limits::Limits::default(),
            edge_secret: None,
            relay: RelaySettings::default(),
            webhooks: WebhookSettings::default(),
            admins: Vec::new(),
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let prefix = get("SKYCAST_NAME_PREFIX").unwrap_or_else(|| DEFAULT_PREFIX.to_owned());
        let mut c = Self::with_prefix(&prefix);
        if let Some(v) = get("SKYCAST_TABLE_USERS") {
            c.tables.users = v;
        }
        if let Some(v) = get("SKYCAST_TABLE_REFRESH_TOKENS") {
            c.tables.refresh_tokens = v;
        }
        if let Some(v) = get("SKYCAST_TABLE_STREAMS") {
            c.tables.streams = v;
        }
        c.jwt_private_key_pem = match (get("SKYCAST_JWT_PRIVATE_KEY"), get("SKYCAST_JWT_PRIVATE_KEY_FILE")) {
            (Some(pem), _) => Some(pem),
            (None, Some(path)) => Some(std::fs::read_to_string(&path).map_err(|source| ConfigError::File {
                name: "SKYCAST_JWT_PRIVATE_KEY_FILE",
                path,
                source,
            })?),
            (None, None) => None,
        };
        c.jwt_public_key = get("SKYCAST_JWT_PUBLIC_KEY");
        if let Some(v) = get("SKYCAST_JWT_ISSUER") {
            c.jwt_issuer = v;
        }
        if let Some(v) = get("SKYCAST_ACCESS_TOKEN_TTL_S") {
            c.access_token_ttl = Duration::from_secs(parse_secs("SKYCAST_ACCESS_TOKEN_TTL_S", &v)?);
        }
        if let Some(v) = get("SKYCAST_REFRESH_TOKEN_TTL_S") {
            c.refresh_token_ttl = Duration::from_secs(parse_secs("SKYCAST_REFRESH_TOKEN_TTL_S", &v)?);
        }
        if let Some(v) = get("SKYCAST_REFRESH_REUSE_GRACE_S") {
            c.refresh_reuse_grace_s =
                v.trim().parse().ok().filter(|n| (0..=300).contains(n)).ok_or_else(|| ConfigError::Invalid {
                    name: "SKYCAST_REFRESH_REUSE_GRACE_S",
                    expected: "0 to 300 seconds",
                    value: v.clone(),
                })?;
        }
        if let Some(v) = get("SKYCAST_TABLE_INGEST_NODES") {
            c.tables.ingest_nodes = v;
        }
        for (name, slot) in [
            ("SKYCAST_TABLE_RECORDINGS", &mut c.tables.recordings),
            ("SKYCAST_TABLE_VIDEOS", &mut c.tables.videos),
            ("SKYCAST_TABLE_VIDEO_LIKES", &mut c.tables.video_likes),
            ("SKYCAST_TABLE_MEDIA_ACCESS", &mut c.tables.media_access),
            ("SKYCAST_TABLE_LIMITS", &mut c.tables.limits),
            ("SKYCAST_TABLE_RELAY_SESSIONS", &mut c.tables.relay_sessions),
            ("SKYCAST_TABLE_WEBHOOKS", &mut c.tables.webhooks),
            ("SKYCAST_TABLE_WEBHOOK_DELIVERIES", &mut c.tables.webhook_deliveries),
            ("SKYCAST_BUCKET_LIVE", &mut c.buckets.live),
            ("SKYCAST_BUCKET_RECORDINGS", &mut c.buckets.recordings),
        ] {
            if let Some(v) = get(name) {
                *slot = v;
            }
        }
        if let Some(v) = get("SKYCAST_CDN_BASE_URL") {
            c.cdn_base_url = v.trim_end_matches('/').to_owned();
        }
        c.ingest = IngestEndpoint::from_lookup(|k: &str| get(k))?;
        c.playback_key = get("SKYCAST_PLAYBACK_KEY");
        c.edge_secret = get("SKYCAST_EDGE_SECRET");
        c.relay = RelaySettings::from_lookup(get)?;
        c.webhooks = WebhookSettings::from_lookup(get)?;
        if let Some(v) = get("SKYCAST_ADMIN_USERNAMES") {
            c.admins = v.split(',').map(|u| u.trim().to_ascii_lowercase()).filter(|u| !u.is_empty()).collect();
        }
        c.limits = crate::limits::Limits::from_lookup(get)?;
        if let Some(v) = get("SKYCAST_CORS_ORIGINS") {
            c.cors_origins = parse_cors(&v);
        }
        Ok(c)
    }

    /// The signer of private playback links, if this process has a secret for it.
    pub fn playback_signer(&self) -> Option<crate::playback::PlaybackSigner> {
        match (&self.playback_key, &self.jwt_private_key_pem) {
            (Some(k), _) => Some(crate::playback::PlaybackSigner::new(k.as_bytes())),
            (None, Some(pem)) => {
                let derived = aws_lc_rs::digest::digest(
                    &aws_lc_rs::digest::SHA256,
                    format!("skycast-playback\n{pem}").as_bytes(),
                );
                Some(crate::playback::PlaybackSigner::new(derived.as_ref()))
            }
            (None, None) => None,
        }
    }

    /// The token keys this process may hold: the signing key when configured,
    /// otherwise the public key alone.
    pub fn jwt_keys(&self) -> Result<crate::auth::JwtKeys, ConfigError> {
        let keys = match (&self.jwt_private_key_pem, &self.jwt_public_key) {
            (Some(pem), _) => crate::auth::JwtKeys::from_pkcs8_pem(pem, &self.jwt_issuer, self.access_token_ttl),
            (None, Some(x)) => crate::auth::JwtKeys::verifier(x, &self.jwt_issuer, self.access_token_ttl),
            (None, None) => return Err(ConfigError::MissingSigningKey),
        };
        keys.map_err(|e| ConfigError::Invalid {
            name: "SKYCAST_JWT_PRIVATE_KEY / SKYCAST_JWT_PUBLIC_KEY",
            expected: "Ed25519 key",
            value: e.to_string(),
        })
    }
}

fn parse_secs(name: &'static str, v: &str) -> Result<u64, ConfigError> {
    v.trim().parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| ConfigError::Invalid {
        name,
        expected: "positive number of seconds",
        value: v.to_owned(),
    })
}

fn parse_cors(v: &str) -> CorsOrigins {
    let origins: Vec<String> = v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
    if origins.iter().any(|o| o == "*") { CorsOrigins::Any } else { CorsOrigins::List(origins) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_use_the_prefix() {
        let c = Config::from_lookup(lookup(&[])).unwrap();
        assert_eq!(c.tables.users, "skycast-users");
        assert_eq!(c.tables.refresh_tokens, "skycast-refresh-tokens");
        assert_eq!(c.access_token_ttl, Duration::from_secs(900));
        assert_eq!(c.cors_origins, CorsOrigins::Any);
    }

    #[test]
    fn overrides_apply() {
        let c = Config::from_lookup(lookup(&[
            ("SKYCAST_NAME_PREFIX", "prod"),
            ("SKYCAST_TABLE_STREAMS", "streams-v2"),
            ("SKYCAST_ACCESS_TOKEN_TTL_S", "60"),
            ("SKYCAST_CORS_ORIGINS", "https://a.example, https://b.example"),
        ]))
        .unwrap();
        assert_eq!(c.tables.users, "prod-users");
        assert_eq!(c.tables.streams, "streams-v2");
        assert_eq!(c.access_token_ttl, Duration::from_secs(60));
        assert_eq!(c.cors_origins, CorsOrigins::List(vec!["https://a.example".into(), "https://b.example".into()]));
    }

    #[test]
    fn bad_numbers_are_named() {
        let err = Config::from_lookup(lookup(&[("SKYCAST_ACCESS_TOKEN_TTL_S", "soon")])).unwrap_err();
        assert!(err.to_string().contains("SKYCAST_ACCESS_TOKEN_TTL_S"), "{err}");
        assert!(Config::from_lookup(lookup(&[("SKYCAST_ACCESS_TOKEN_TTL_S", "0")])).is_err());
    }

    #[test]
    fn debug_never_prints_the_key() {
        let mut c = Config::with_prefix("t");
        c.jwt_private_key_pem = Some("-----BEGIN PRIVATE KEY-----s3cr3t-pem".into());
        c.playback_key = Some("s3cr3t-playback".into());
        c.edge_secret = Some("s3cr3t-edge".into());
        let printed = format!("{c:?}");
        assert!(!printed.contains("s3cr3t"), "{printed}");
        assert_eq!(printed.matches("<redacted>").count(), 3, "{printed}");
    }
}
