//! Settings: command-line flags, `ONAIR_*` environment variables and an optional TOML file, in
//! that order of precedence, over built-in defaults that need no file at all.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

pub mod limits;
/// The store's settings (crate `onair-store`), under their old path.
pub use onair_store::settings as storage;

/// `onair serve` options. Every one can also be set in the `--config` TOML file under the same
/// name (kebab-case), or with its `ONAIR_*` environment variable.
#[derive(Args, Debug, Default, Deserialize, Clone)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServeArgs {
    /// TOML file with any of these settings (flags and environment override it).
    #[arg(long, env = "ONAIR_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// RTMP listen address [default: 0.0.0.0:1935].
    #[arg(long, env = "ONAIR_RTMP_LISTEN")]
    pub rtmp_listen: Option<SocketAddr>,
    /// HTTP listen address for playback, API and metrics [default: 0.0.0.0:8080].
    #[arg(long, env = "ONAIR_HTTP_LISTEN")]
    pub http_listen: Option<SocketAddr>,
    /// Directory for the node's data [default: ./onair-data].
    #[arg(long, env = "ONAIR_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// RTMP application publishers use: rtmp://HOST/{app}/{name} [default: live].
    #[arg(long, env = "ONAIR_RTMP_APP")]
    pub rtmp_app: Option<String>,
    /// Target HLS segment duration in seconds; segments are cut at the first keyframe after it
    /// [default: 2].
    #[arg(long, env = "ONAIR_SEGMENT_DURATION")]
    pub segment_duration: Option<f64>,
    /// Target LL-HLS part duration in seconds [default: 0.2].
    #[arg(long, env = "ONAIR_PART_DURATION")]
    pub part_duration: Option<f64>,
    /// Complete segments kept in the live playlists [default: 12].
    #[arg(long, env = "ONAIR_WINDOW_SEGMENTS")]
    pub window_segments: Option<usize>,
    /// Seconds a dropped publisher may take to reconnect and continue the same playlist
    /// [default: 10].
    #[arg(long, env = "ONAIR_UNPUBLISH_GRACE")]
    pub unpublish_grace: Option<f64>,
    /// Seconds an ended stream's playlist (with EXT-X-ENDLIST) stays served [default: 60].
    #[arg(long, env = "ONAIR_ENDED_RETENTION")]
    pub ended_retention: Option<f64>,
    /// Most RTMP connections at once [default: 4096].
    #[arg(long, env = "ONAIR_MAX_RTMP_CONNECTIONS")]
    pub max_rtmp_connections: Option<usize>,
    /// Seconds an RTMP client has to complete the handshake [default: 10].
    #[arg(long, env = "ONAIR_RTMP_HANDSHAKE_TIMEOUT")]
    pub rtmp_handshake_timeout: Option<f64>,
    /// Seconds without audio, video or metadata after which a publishing RTMP connection is
    /// closed (pings and other control messages do not count) [default: 30].
    #[arg(long, env = "ONAIR_RTMP_IDLE_TIMEOUT")]
    pub rtmp_idle_timeout: Option<f64>,
    /// Seconds an RTMP connection may go without an accepted publish (from its start, or from
    /// the end of its last publish) [default: 10].
    #[arg(long, env = "ONAIR_RTMP_PUBLISH_TIMEOUT")]
    pub rtmp_publish_timeout: Option<f64>,
    /// RTMP connections one address (IPv6: one /64) may hold before a publish is accepted;
    /// more are refused at accept; 0 = no limit; `--trusted-proxies` are exempt [default: 8].
    #[arg(long, env = "ONAIR_MAX_RTMP_PENDING_PER_IP")]
    pub max_rtmp_pending_per_ip: Option<usize>,
    /// Bytes of partly received RTMP messages all connections together may hold; a connection
    /// that grows past it is closed [default: 268435456 (256 MiB)].
    #[arg(long, env = "ONAIR_RTMP_BUFFER_BUDGET")]
    pub rtmp_buffer_budget: Option<usize>,
    /// PEM certificate chain: serve HTTPS (HTTP/1.1 and HTTP/2) instead of HTTP.
    #[arg(long, env = "ONAIR_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "ONAIR_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Most HTTP connections at once; beyond it new ones are closed at once [default: 16384].
    #[arg(long, env = "ONAIR_MAX_HTTP_CONNECTIONS")]
    pub max_http_connections: Option<usize>,
    /// Most HTTP connections at once from one address (IPv6: one /64); --trusted-proxies are
    /// exempt [default: 1024].
    #[arg(long, env = "ONAIR_MAX_HTTP_CONNECTIONS_PER_IP")]
    pub max_http_connections_per_ip: Option<usize>,
    /// Seconds a client has to send a request head (the first one from connecting, TLS
    /// handshake included) before its connection is closed [default: 10].
    #[arg(long, env = "ONAIR_HTTP_HEADER_TIMEOUT")]
    pub http_header_timeout: Option<f64>,
    /// Seconds an HTTP connection may stay open with no request [default: 75].
    #[arg(long, env = "ONAIR_HTTP_IDLE_TIMEOUT")]
    pub http_idle_timeout: Option<f64>,
    /// Most `/api/v1/streams/events` subscriptions of one user at once [default: 8].
    #[arg(long, env = "ONAIR_MAX_EVENT_SUBSCRIBERS_PER_USER")]
    pub max_event_subscribers_per_user: Option<usize>,
    /// Most `/api/v1/streams/events` subscriptions from one client address at once
    /// [default: 64].
    #[arg(long, env = "ONAIR_MAX_EVENT_SUBSCRIBERS_PER_IP")]
    pub max_event_subscribers_per_ip: Option<usize>,
    /// Log format: `text` or `json` [default: text]. Levels come from RUST_LOG (default info).
    #[arg(long, env = "ONAIR_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Metadata database: `postgres://user:pass@host/db`, or `sqlite://PATH` [default: SQLite
    /// file `onair.db` in the data directory].
    #[arg(long, env = "ONAIR_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Publish authorization: `stream-key` (device stream keys) or `open` (any stream name
    /// publishes the channel of that name, no credentials: development only) [default: stream-key].
    #[arg(long, env = "ONAIR_PUBLISH_AUTH")]
    pub publish_auth: Option<String>,
    /// A publish to a channel that is already live replaces the live publisher instead of
    /// being refused [default: false].
    #[arg(long, env = "ONAIR_PUBLISH_TAKEOVER")]
    pub publish_takeover: Option<bool>,
    /// Anyone may sign up (as a pending viewer until the e-mail is verified) [default: true].
    #[arg(long, env = "ONAIR_ALLOW_SIGNUP")]
    pub allow_signup: Option<bool>,
    /// Public base URL of this service, for links in e-mails and the URLs the API returns
    /// [default: the address the browser used; e-mails: http://localhost:PORT].
    #[arg(long, env = "ONAIR_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Where encoders publish, as they should be told: `rtmp://live.example.com/live` or
    /// `rtmp://host:1935/live` [default: the host of --public-url, else the host the browser
    /// used, with --rtmp-listen's port and --rtmp-app].
    #[arg(long, env = "ONAIR_PUBLIC_RTMP_URL")]
    pub public_rtmp_url: Option<String>,
    /// Role of accounts made by sign-up once their e-mail is verified: `viewer` (watches what
    /// is shared with them; an admin makes them a broadcaster) or `broadcaster` (may create
    /// channels and encoders) [default: viewer].
    #[arg(long, env = "ONAIR_SIGNUP_ROLE")]
    pub signup_role: Option<String>,
    /// SMTP server for e-mail: `smtps://user:pass@host:465` (TLS),
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS), or plain `smtp://host:25` for a
    /// local relay only [default: none: mail goes to the outbox table and the log].
    #[arg(long, env = "ONAIR_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// Sender of e-mail [default: OnAir <onair@localhost>].
    #[arg(long, env = "ONAIR_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// Key for signed playback URLs (at least 32 bytes) [default: generated once and kept in the
    /// database, shared by every node].
    #[arg(long, env = "ONAIR_PLAYBACK_SIGNING_KEY")]
    pub playback_signing_key: Option<String>,
    /// Previous signing key, still accepted while its URLs expire (key rotation).
    #[arg(long, env = "ONAIR_PLAYBACK_SIGNING_KEY_SECONDARY")]
    pub playback_signing_key_secondary: Option<String>,
    /// Private key of Alibaba Cloud CDN URL authentication type A (`auth_key=`), to accept
    /// and issue URLs a CDN edge verifies the same way [default: off].
    #[arg(long, env = "ONAIR_ALIBABA_AUTH_KEY")]
    pub alibaba_auth_key: Option<String>,
    /// Previous Alibaba type A key, still accepted (key rotation).
    #[arg(long, env = "ONAIR_ALIBABA_AUTH_KEY_SECONDARY")]
    pub alibaba_auth_key_secondary: Option<String>,
    /// Seconds an Alibaba type A URL stays valid after its timestamp [default: 1800].
    #[arg(long, env = "ONAIR_ALIBABA_AUTH_TTL")]
    pub alibaba_auth_ttl: Option<f64>,
    /// nginx-rtmp compatible `on_publish` callback: a POST with the publish's form fields;
    /// 2xx allows, 3xx renames to Location, anything else refuses [default: none].
    #[arg(long, env = "ONAIR_ON_PUBLISH_URL")]
    pub on_publish_url: Option<String>,
    /// nginx-rtmp compatible `on_publish_done` notification URL [default: none].
    #[arg(long, env = "ONAIR_ON_PUBLISH_DONE_URL")]
    pub on_publish_done_url: Option<String>,
    /// Deliver webhooks to loopback, private, link-local and other non-public addresses, for
    /// receivers on the node's own network [default: false: such webhook URLs are refused,
    /// and host names resolving only to such addresses fail delivery]. Does not concern
    /// --on-publish-url, which may point anywhere.
    #[arg(long, env = "ONAIR_WEBHOOK_ALLOW_PRIVATE_TARGETS")]
    pub webhook_allow_private_targets: Option<bool>,
    /// This node's name in publish sessions and the cluster [default: host name].
    #[arg(long, env = "ONAIR_NODE_NAME")]
    pub node_name: Option<String>,
    /// Makes the node a member of a cluster: the secret every node of it shares, which
    /// authenticates node-to-node calls (at least 16 characters). Needs a PostgreSQL
    /// --database-url shared by the nodes.
    #[arg(long, env = "ONAIR_CLUSTER_SECRET")]
    pub cluster_secret: Option<String>,
    /// How the other nodes of the cluster reach this one's HTTP, e.g. `http://10.0.0.5:8080`
    /// [default: http:// and the --http-listen address].
    #[arg(long, env = "ONAIR_NODE_INTERNAL_URL")]
    pub node_internal_url: Option<String>,
    /// Seconds without a heartbeat after which the cluster counts a node as dead and its
    /// streams may be claimed by others [default: 3].
    #[arg(long, env = "ONAIR_NODE_TTL")]
    pub node_ttl: Option<f64>,
    /// Seconds a cluster node drains on SIGTERM before it stops: it takes no new work at once
    /// and disconnects its publishers at the end, so they reconnect to other nodes [default:
    /// 0: stop at once].
    #[arg(long, env = "ONAIR_DRAIN_TIMEOUT")]
    pub drain_timeout: Option<f64>,
    /// Hours a console sign-in lasts [default: 336 (14 days)].
    #[arg(long, env = "ONAIR_SESSION_TTL_HOURS")]
    pub session_ttl_hours: Option<f64>,
    /// Time-shift window: how far back `/live/{channel}/dvr.m3u8` reaches into the stored
    /// stream, in seconds; 0 turns time-shift off [default: 7200].
    #[arg(long, env = "ONAIR_DVR_WINDOW")]
    pub dvr_window: Option<f64>,
    /// Object storage (`[storage]` table in the TOML file).
    #[command(flatten)]
    pub storage: storage::StorageArgs,
    /// Bearer token `/metrics` requires (it names every live channel, private ones included)
    /// [default: none: /metrics is open; firewall it].
    #[arg(long, env = "ONAIR_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Addresses and networks (comma-separated, e.g. `10.0.0.0/8,192.0.2.10`) of our own
    /// proxies — CDN edges, load balancers — whose `X-Forwarded-For` names the real client, for
    /// IP-bound signed links, viewer counts, rate limits and the audit log [default: none: the
    /// TCP peer is the client].
    #[arg(long, env = "ONAIR_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
    /// Serve the web console and player from this directory (a `web/dist` build) instead of
    /// the copy embedded in the binary, for console development [default: embedded].
    #[arg(long, env = "ONAIR_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// E-mail of the admin created on first start [default: admin@localhost].
    #[arg(long, env = "ONAIR_ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    /// Password of the admin created on first start [default: generated and printed once].
    #[arg(long, env = "ONAIR_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
}

/// How publishers are authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishAuthMode {
    /// `rtmp://HOST/{app}/{stream_key}`: the key names a device, which publishes its channel.
    StreamKey,
    /// `rtmp://HOST/{app}/{channel}`: no credentials (development and tests of the pipeline).
    Open,
}

/// Fully resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub rtmp_listen: SocketAddr,
    pub http_listen: SocketAddr,
    pub data_dir: PathBuf,
    pub rtmp_app: String,
    pub segment_duration: Duration,
    pub part_duration: Duration,
    pub window_segments: usize,
    pub unpublish_grace: Duration,
    pub ended_retention: Duration,
    pub max_rtmp_connections: usize,
    pub rtmp_handshake_timeout: Duration,
    pub rtmp_idle_timeout: Duration,
    pub rtmp_publish_timeout: Duration,
    /// 0: no limit.
    pub max_rtmp_pending_per_ip: usize,
    pub rtmp_buffer_budget: usize,
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Connection caps and timeouts of the HTTP listener, event-stream subscriber caps.
    pub http_limits: limits::HttpLimits,
    pub log_json: bool,
    /// `None`: SQLite in the data directory.
    pub database_url: Option<String>,
    pub publish_auth: PublishAuthMode,
    pub publish_takeover: bool,
    pub allow_signup: bool,
    pub signup_role: crate::db::users::Role,
    pub public_url: Option<String>,
    /// `rtmp://HOST[:PORT]/APP`, without a trailing slash.
    pub public_rtmp_url: Option<String>,
    pub smtp_url: Option<String>,
    pub mail_from: String,
    pub playback_signing_key: Option<String>,
    pub playback_signing_key_secondary: Option<String>,
    pub alibaba_auth_key: Option<String>,
    pub alibaba_auth_key_secondary: Option<String>,
    pub alibaba_auth_ttl: Duration,
    pub on_publish_url: Option<String>,
    pub on_publish_done_url: Option<String>,
    /// Webhooks may target non-public addresses (off by default: SSRF protection).
    pub webhook_allow_private_targets: bool,
    pub node_name: String,
    /// Cluster membership (`None`: a single node).
    pub cluster: Option<ClusterSettings>,
    pub session_ttl: Duration,
    pub admin_email: String,
    pub admin_password: Option<String>,
    pub metrics_token: Option<String>,
    pub storage: storage::StorageSettings,
    pub dvr_window: Duration,
    /// Web assets from disk instead of the embedded build.
    pub web_dir: Option<PathBuf>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Rate limits and lockout (not settable from the command line).
    pub limits: limits::LimitSettings,
}

/// A cluster member's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterSettings {
    /// Authenticates node-to-node calls.
    pub secret: String,
    /// How other nodes reach this one (`None`: from the bound HTTP address).
    pub internal_url: Option<String>,
    /// A node silent for longer is dead.
    pub node_ttl: Duration,
    /// How long SIGTERM drains before stopping.
    pub drain_timeout: Duration,
}

/// Shortest cluster secret accepted.
pub const MIN_CLUSTER_SECRET: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("invalid setting {name}: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl From<storage::InvalidSetting> for ConfigError {
    fn from(e: storage::InvalidSetting) -> Self {
        Self::Invalid {
            name: e.name,
            reason: e.reason,
        }
    }
}

/// The cluster settings, checked: any of them makes the node a cluster member, which needs the
/// secret and a shared PostgreSQL database (SQLite is a single node's).
fn cluster_settings(
    secret: Option<String>,
    internal_url: Option<String>,
    node_ttl: Option<f64>,
    database_url: Option<&str>,
) -> Result<Option<ClusterSettings>, ConfigError> {
    if secret.is_none() && internal_url.is_none() && node_ttl.is_none() {
        return Ok(None);
    }
    let Some(secret) = secret else {
        return Err(ConfigError::Invalid {
            name: "cluster-secret",
            reason: "--node-internal-url and --node-ttl are cluster settings: a cluster needs \
                     --cluster-secret too"
                .into(),
        });
    };
    if secret.chars().count() < MIN_CLUSTER_SECRET {
        return Err(ConfigError::Invalid {
            name: "cluster-secret",
            reason: format!("must be at least {MIN_CLUSTER_SECRET} characters"),
        });
    }
    if !database_url.is_some_and(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
    {
        return Err(ConfigError::Invalid {
            name: "cluster-secret",
            reason: "a cluster shares one PostgreSQL database (--database-url postgres://…); \
                     SQLite serves a single node"
                .into(),
        });
    }
    if let Some(u) = &internal_url
        && !(u.starts_with("http://") || u.starts_with("https://"))
    {
        return Err(ConfigError::Invalid {
            name: "node-internal-url",
            reason: "must be an http:// or https:// URL".into(),
        });
    }
    let node_ttl = secs("node-ttl", node_ttl.unwrap_or(3.0), 1.0, 60.0)?;
    Ok(Some(ClusterSettings {
        secret,
        internal_url: internal_url.map(|u| u.trim_end_matches('/').to_owned()),
        node_ttl,
        drain_timeout: Duration::ZERO,
    }))
}

/// Comma-separated networks (`10.0.0.0/8`) or addresses (`192.0.2.10`, a network of one).
fn parse_networks(name: &'static str, text: &str) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<ipnet::IpNet>()
                .or_else(|_| t.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map(|n| n.trunc())
                .map_err(|_| ConfigError::Invalid {
                    name,
                    reason: format!("{t:?} is not an address or network"),
                })
        })
        .collect()
}

fn secs(name: &'static str, v: f64, min: f64, max: f64) -> Result<Duration, ConfigError> {
    if !(min..=max).contains(&v) {
        return Err(ConfigError::Invalid {
            name,
            reason: format!("{v} is not within {min}..={max} seconds"),
        });
    }
    Ok(Duration::from_secs_f64(v))
}

impl ServeArgs {
    /// Merges flags/environment (self) over the config file over defaults.
    pub fn resolve(self) -> Result<Settings, ConfigError> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str::<ServeArgs>(&text).map_err(|e| ConfigError::Parse {
                    path: path.clone(),
                    source: Box::new(e),
                })?
            }
            None => ServeArgs::default(),
        };
        macro_rules! pick {
            ($f:ident, $default:expr) => {
                self.$f
                    .clone()
                    .or(file.$f.clone())
                    .unwrap_or_else(|| $default)
            };
        }
        let segment = pick!(segment_duration, 2.0);
        let part = pick!(part_duration, 0.2);
        let segment_duration = secs("segment-duration", segment, 0.5, 60.0)?;
        let part_duration = secs("part-duration", part, 0.05, 5.0)?;
        if part_duration > segment_duration {
            return Err(ConfigError::Invalid {
                name: "part-duration",
                reason: "must not exceed segment-duration".into(),
            });
        }
        let window_segments = pick!(window_segments, 12);
        if !(3..=1000).contains(&window_segments) {
            return Err(ConfigError::Invalid {
                name: "window-segments",
                reason: "must be 3..=1000".into(),
            });
        }
        let tls = match (
            pick!(tls_cert, PathBuf::new()),
            pick!(tls_key, PathBuf::new()),
        ) {
            (c, k) if c.as_os_str().is_empty() && k.as_os_str().is_empty() => None,
            (c, k) if c.as_os_str().is_empty() || k.as_os_str().is_empty() => {
                return Err(ConfigError::Invalid {
                    name: "tls-cert",
                    reason: "tls-cert and tls-key go together".into(),
                });
            }
            (c, k) => Some((c, k)),
        };
        let log_format = pick!(log_format, "text".to_owned());
        let log_json = match log_format.as_str() {
            "text" => false,
            "json" => true,
            other => {
                return Err(ConfigError::Invalid {
                    name: "log-format",
                    reason: format!("{other:?} is not text or json"),
                });
            }
        };
        let publish_auth = match pick!(publish_auth, "stream-key".to_owned()).as_str() {
            "stream-key" => PublishAuthMode::StreamKey,
            "open" => PublishAuthMode::Open,
            other => {
                return Err(ConfigError::Invalid {
                    name: "publish-auth",
                    reason: format!("{other:?} is not stream-key or open"),
                });
            }
        };
        macro_rules! opt {
            ($f:ident) => {
                self.$f
                    .clone()
                    .or(file.$f.clone())
                    .filter(|v| !v.is_empty())
            };
        }
        for (name, url) in [
            ("on-publish-url", opt!(on_publish_url)),
            ("on-publish-done-url", opt!(on_publish_done_url)),
            ("public-url", opt!(public_url)),
        ] {
            if let Some(url) = url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(ConfigError::Invalid {
                    name,
                    reason: format!("{url:?} is not an http(s) URL"),
                });
            }
        }
        if let Some(url) = opt!(public_rtmp_url)
            && !(url.starts_with("rtmp://") || url.starts_with("rtmps://"))
        {
            return Err(ConfigError::Invalid {
                name: "public-rtmp-url",
                reason: format!("{url:?} is not an rtmp(s):// URL"),
            });
        }
        let signup_role = match opt!(signup_role).as_deref() {
            None | Some("viewer") => crate::db::users::Role::Viewer,
            Some("broadcaster") => crate::db::users::Role::Broadcaster,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "signup-role",
                    reason: format!("{other:?} is not viewer or broadcaster"),
                });
            }
        };
        let node_name = opt!(node_name).unwrap_or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "onair".to_owned())
        });
        let cluster = cluster_settings(
            opt!(cluster_secret),
            opt!(node_internal_url),
            self.node_ttl.or(file.node_ttl),
            opt!(database_url).as_deref(),
        )?;
        let cluster = match (cluster, self.drain_timeout.or(file.drain_timeout)) {
            (Some(c), Some(t)) => Some(ClusterSettings {
                drain_timeout: secs("drain-timeout", t, 0.0, 3600.0)?,
                ..c
            }),
            (None, Some(_)) => {
                return Err(ConfigError::Invalid {
                    name: "drain-timeout",
                    reason: "draining is for cluster nodes (--cluster-secret)".into(),
                });
            }
            (c, None) => c,
        };
        Ok(Settings {
            cluster,
            database_url: opt!(database_url),
            publish_auth,
            publish_takeover: pick!(publish_takeover, false),
            allow_signup: pick!(allow_signup, true),
            signup_role,
            public_url: opt!(public_url).map(|u| u.trim_end_matches('/').to_owned()),
            public_rtmp_url: opt!(public_rtmp_url).map(|u| u.trim_end_matches('/').to_owned()),
            smtp_url: opt!(smtp_url),
            mail_from: pick!(mail_from, "OnAir <onair@localhost>".to_owned()),
            playback_signing_key: opt!(playback_signing_key),
            playback_signing_key_secondary: opt!(playback_signing_key_secondary),
            alibaba_auth_key: opt!(alibaba_auth_key),
            alibaba_auth_key_secondary: opt!(alibaba_auth_key_secondary),
            alibaba_auth_ttl: secs(
                "alibaba-auth-ttl",
                pick!(alibaba_auth_ttl, 1800.0),
                1.0,
                31_536_000.0,
            )?,
            on_publish_url: opt!(on_publish_url),
            on_publish_done_url: opt!(on_publish_done_url),
            webhook_allow_private_targets: pick!(webhook_allow_private_targets, false),
            node_name,
            session_ttl: secs(
                "session-ttl-hours",
                pick!(session_ttl_hours, 336.0) * 3600.0,
                60.0,
                31_536_000.0,
            )?,
            admin_email: pick!(admin_email, "admin@localhost".to_owned()).to_ascii_lowercase(),
            admin_password: opt!(admin_password),
            metrics_token: opt!(metrics_token),
            trusted_proxies: parse_networks(
                "trusted-proxies",
                &opt!(trusted_proxies).unwrap_or_default(),
            )?,
            web_dir: self
                .web_dir
                .clone()
                .or(file.web_dir.clone())
                .filter(|p| !p.as_os_str().is_empty()),
            dvr_window: secs("dvr-window", pick!(dvr_window, 7200.0), 0.0, 30.0 * 86400.0)?,
            storage: self
                .storage
                .resolve(&file.storage, &pick!(data_dir, PathBuf::from("onair-data")))?,
            limits: limits::LimitSettings::default(),
            rtmp_listen: pick!(rtmp_listen, ([0, 0, 0, 0], 1935).into()),
            http_listen: pick!(http_listen, ([0, 0, 0, 0], 8080).into()),
            data_dir: pick!(data_dir, PathBuf::from("onair-data")),
            rtmp_app: pick!(rtmp_app, "live".to_owned()),
            segment_duration,
            part_duration,
            window_segments,
            unpublish_grace: secs("unpublish-grace", pick!(unpublish_grace, 10.0), 0.0, 3600.0)?,
            ended_retention: secs(
                "ended-retention",
                pick!(ended_retention, 60.0),
                0.0,
                86400.0,
            )?,
            max_rtmp_connections: pick!(max_rtmp_connections, limits::DEFAULT_RTMP_CONNECTIONS)
                .max(1),
            rtmp_handshake_timeout: secs(
                "rtmp-handshake-timeout",
                pick!(rtmp_handshake_timeout, 10.0),
                0.1,
                600.0,
            )?,
            rtmp_idle_timeout: secs(
                "rtmp-idle-timeout",
                pick!(rtmp_idle_timeout, 30.0),
                0.1,
                3600.0,
            )?,
            rtmp_publish_timeout: secs(
                "rtmp-publish-timeout",
                pick!(rtmp_publish_timeout, 10.0),
                0.1,
                600.0,
            )?,
            max_rtmp_pending_per_ip: pick!(
                max_rtmp_pending_per_ip,
                limits::DEFAULT_RTMP_PENDING_PER_IP
            ),
            rtmp_buffer_budget: pick!(rtmp_buffer_budget, limits::DEFAULT_RTMP_BUFFER_BUDGET)
                .max(onair_rtmp::chunk::MAX_PARTIAL_BYTES),
            tls,
            http_limits: {
                use limits as d;
                d::HttpLimits {
                    max_connections: pick!(max_http_connections, d::DEFAULT_MAX_CONNECTIONS).max(1),
                    max_connections_per_ip: pick!(
                        max_http_connections_per_ip,
                        d::DEFAULT_MAX_CONNECTIONS_PER_IP
                    )
                    .max(1),
                    header_timeout: secs(
                        "http-header-timeout",
                        pick!(http_header_timeout, d::DEFAULT_HEADER_TIMEOUT.as_secs_f64()),
                        0.1,
                        600.0,
                    )?,
                    idle_timeout: secs(
                        "http-idle-timeout",
                        pick!(http_idle_timeout, d::DEFAULT_IDLE_TIMEOUT.as_secs_f64()),
                        0.1,
                        3600.0,
                    )?,
                    max_event_subscribers_per_user: pick!(
                        max_event_subscribers_per_user,
                        d::DEFAULT_MAX_EVENT_SUBSCRIBERS_PER_USER
                    )
                    .max(1),
                    max_event_subscribers_per_ip: pick!(
                        max_event_subscribers_per_ip,
                        d::DEFAULT_MAX_EVENT_SUBSCRIBERS_PER_IP
                    )
                    .max(1),
                }
            },
            log_json,
        })
    }
}

impl Settings {
    /// Defaults, as `onair serve` with no options gives.
    pub fn defaults() -> Self {
        ServeArgs::default()
            .resolve()
            .unwrap_or_else(|e| unreachable!("defaults are valid: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_file() {
        let s = Settings::defaults();
        assert_eq!(s.rtmp_listen.port(), 1935);
        assert_eq!(s.http_listen.port(), 8080);
        assert_eq!(s.part_duration, Duration::from_millis(200));
        assert!(!s.webhook_allow_private_targets);
        assert!(s.trusted_proxies.is_empty());
        assert_eq!(s.http_limits, limits::HttpLimits::default());
    }

    #[test]
    fn http_limits_come_from_the_file_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "max-http-connections = 100\nmax-http-connections-per-ip = 10\nhttp-header-timeout = 2.5\nhttp-idle-timeout = 30\nmax-event-subscribers-per-user = 2\nmax-event-subscribers-per-ip = 0\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path),
            max_http_connections_per_ip: Some(20),
            ..Default::default()
        };
        let l = args.clone().resolve().unwrap().http_limits;
        assert_eq!(l.max_connections, 100);
        assert_eq!(l.max_connections_per_ip, 20, "the flag wins");
        assert_eq!(l.header_timeout, Duration::from_millis(2500));
        assert_eq!(l.idle_timeout, Duration::from_secs(30));
        assert_eq!(l.max_event_subscribers_per_user, 2);
        assert_eq!(l.max_event_subscribers_per_ip, 1, "at least one");
        let bad = ServeArgs {
            http_header_timeout: Some(0.0),
            ..args
        }
        .resolve();
        assert!(
            matches!(
                bad,
                Err(ConfigError::Invalid {
                    name: "http-header-timeout",
                    ..
                })
            ),
            "{bad:?}"
        );
    }

    #[test]
    fn trusted_proxies_are_networks_or_addresses() {
        let s = ServeArgs {
            trusted_proxies: Some("10.0.0.0/8, 192.0.2.10,2001:db8::/32".into()),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        let want: Vec<ipnet::IpNet> = ["10.0.0.0/8", "192.0.2.10/32", "2001:db8::/32"]
            .iter()
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(s.trusted_proxies, want);
        let bad = ServeArgs {
            trusted_proxies: Some("10.0.0.0/8,edge.example".into()),
            ..Default::default()
        }
        .resolve();
        assert!(
            matches!(
                bad,
                Err(ConfigError::Invalid {
                    name: "trusted-proxies",
                    ..
                })
            ),
            "{bad:?}"
        );
    }

    #[test]
    fn storage_comes_from_the_storage_table_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "data-dir = \"/srv/onair\"\n[storage]\nbackend = \"s3\"\ns3-bucket = \"live\"\ns3-endpoint = \"http://127.0.0.1:9000\"\nspool-max-bytes = 10000000\n",
        )
        .unwrap();
        let mut args = ServeArgs {
            config: Some(path.clone()),
            ..Default::default()
        };
        let s = args.clone().resolve().unwrap();
        assert_eq!(
            s.storage.backend,
            storage::Backend::S3 {
                endpoint: Some("http://127.0.0.1:9000".into()),
                region: "us-east-1".into(),
                bucket: "live".into(),
                access_key_id: None,
                secret_access_key: None,
                virtual_hosted: false,
            }
        );
        assert_eq!(s.storage.spool_max_bytes, 10_000_000);
        assert_eq!(s.storage.spool_dir, PathBuf::from("/srv/onair/spool"));
        args.storage.storage_backend = Some("local".into());
        let s = args.clone().resolve().unwrap();
        assert_eq!(
            s.storage.backend,
            storage::Backend::Local {
                dir: PathBuf::from("/srv/onair/store")
            }
        );
        args.storage.storage_backend = Some("ftp".into());
        assert!(args.clone().resolve().is_err());
        args.storage.storage_backend = Some("s3".into());
        std::fs::write(&path, "[storage]\nbackend = \"s3\"\n").unwrap();
        assert!(args.resolve().is_err(), "s3 needs a bucket");
    }

    #[test]
    fn webhook_private_targets_opt_in() {
        let dir = std::env::temp_dir().join(format!("onair-cfg-wh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(&path, "webhook-allow-private-targets = true\n").unwrap();
        let args = ServeArgs {
            config: Some(path.clone()),
            ..Default::default()
        };
        assert!(args.resolve().unwrap().webhook_allow_private_targets);
        let args = ServeArgs {
            config: Some(path),
            webhook_allow_private_targets: Some(false),
            ..Default::default()
        };
        assert!(!args.resolve().unwrap().webhook_allow_private_targets);
    }

    #[test]
    fn flags_override_file_which_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("onair-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(&path, "segment-duration = 4.0\nwindow-segments = 5\n").unwrap();
        let args = ServeArgs {
            config: Some(path.clone()),
            window_segments: Some(7),
            ..Default::default()
        };
        let s = args.resolve().unwrap();
        assert_eq!(s.segment_duration, Duration::from_secs(4));
        assert_eq!(s.window_segments, 7);
        std::fs::write(&path, "no-such-key = 1\n").unwrap();
        let args = ServeArgs {
            config: Some(path),
            ..Default::default()
        };
        assert!(matches!(args.resolve(), Err(ConfigError::Parse { .. })));
    }

    #[test]
    fn invalid_values_are_refused() {
        let args = ServeArgs {
            part_duration: Some(3.0),
            ..Default::default()
        };
        assert!(args.resolve().is_err());
        let args = ServeArgs {
            window_segments: Some(1),
            ..Default::default()
        };
        assert!(args.resolve().is_err());
    }

    /// Cluster settings: none without a secret; the secret needs PostgreSQL (SQLite serves one
    /// node) and 16 characters; the other cluster settings need the secret.
    #[test]
    fn cluster_settings_are_checked() {
        let invalid = |args: ServeArgs| match args.resolve() {
            Err(ConfigError::Invalid { name, reason }) => format!("{name}: {reason}"),
            other => panic!("{other:?}"),
        };
        assert_eq!(ServeArgs::default().resolve().unwrap().cluster, None);
        let secret = Some("s".repeat(MIN_CLUSTER_SECRET));
        let pg = Some("postgres://db.internal/onair".to_owned());
        let sqlite = invalid(ServeArgs {
            cluster_secret: secret.clone(),
            ..Default::default()
        });
        assert!(
            sqlite.contains("PostgreSQL") && sqlite.contains("SQLite"),
            "{sqlite}"
        );
        let short = invalid(ServeArgs {
            cluster_secret: Some("short".into()),
            database_url: pg.clone(),
            ..Default::default()
        });
        assert!(
            short.starts_with("cluster-secret: must be at least 16"),
            "{short}"
        );
        let no_secret = invalid(ServeArgs {
            node_ttl: Some(5.0),
            database_url: pg.clone(),
            ..Default::default()
        });
        assert!(no_secret.contains("--cluster-secret"), "{no_secret}");
        let bad_url = invalid(ServeArgs {
            cluster_secret: secret.clone(),
            database_url: pg.clone(),
            node_internal_url: Some("10.0.0.5:8080".into()),
            ..Default::default()
        });
        assert!(bad_url.starts_with("node-internal-url"), "{bad_url}");
        let c = ServeArgs {
            cluster_secret: secret.clone(),
            database_url: pg,
            node_internal_url: Some("http://10.0.0.5:8080/".into()),
            ..Default::default()
        }
        .resolve()
        .unwrap()
        .cluster
        .unwrap();
        assert_eq!(c.internal_url.as_deref(), Some("http://10.0.0.5:8080"));
        assert_eq!(c.node_ttl, Duration::from_secs(3));
    }
}
