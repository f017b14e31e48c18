//! Limits and their defaults, as settings: RTMP and HTTP connection caps and timeouts, rate
//! limits and lockout. Plain data, so the modules that enforce them depend on the settings and
//! never the other way round.

use std::time::Duration;

use crate::security::ratelimit::RateLimit;

/// RTMP limits are the ingest driver's own.
pub use onair_ingest::limits::{
    DEFAULT_RTMP_BUFFER_BUDGET, DEFAULT_RTMP_CONNECTIONS, DEFAULT_RTMP_PENDING_PER_IP,
};

/// Default `--max-http-connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;
/// Default `--max-http-connections-per-ip`: a NAT or a campus network puts many viewers behind
/// one address (one connection per HTTP-FLV viewer, one or two per LL-HLS player on HTTP/1.1).
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 1024;
/// Default `--http-header-timeout`: a request head is one packet, a TLS handshake two round
/// trips; ten seconds leaves room for a poor mobile link.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `--http-idle-timeout`: longer than the 60 s an nginx edge keeps idle upstream
/// connections (deploy/nginx-cdn.conf), so the edge, not the origin, closes them and never
/// sends a request on a connection the origin is closing.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);
/// Default `--max-event-subscribers-per-user`: one per open console tab.
pub const DEFAULT_MAX_EVENT_SUBSCRIBERS_PER_USER: usize = 8;
/// Default `--max-event-subscribers-per-ip`: several users behind one NAT.
pub const DEFAULT_MAX_EVENT_SUBSCRIBERS_PER_IP: usize = 64;

/// Limits on HTTP clients (`--max-http-connections` and the settings next to it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    /// Concurrent `/api/v1/streams/events` subscribers per signed-in user …
    pub max_event_subscribers_per_user: usize,
    /// … and per client address (behind `--trusted-proxies`, the forwarded client).
    pub max_event_subscribers_per_ip: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_event_subscribers_per_user: DEFAULT_MAX_EVENT_SUBSCRIBERS_PER_USER,
            max_event_subscribers_per_ip: DEFAULT_MAX_EVENT_SUBSCRIBERS_PER_IP,
        }
    }
}

/// Rate limits and lockout policy. Defaults suit production; tests shrink them.
#[derive(Clone, Debug)]
pub struct LimitSettings {
    /// Login attempts per client IP.
    pub login_per_ip: RateLimit,
    /// Consecutive failed logins after which an account is locked …
    pub lockout_threshold: i64,
    /// … for this long.
    pub lockout: Duration,
    /// Failed stream-key lookups per publisher IP.
    pub stream_key_failures_per_ip: RateLimit,
    /// Sign-ups, verification and reset mails per client IP.
    pub mail_per_ip: RateLimit,
    /// Webhook test events per user.
    pub webhook_tests_per_user: RateLimit,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            login_per_ip: RateLimit {
                max: 30,
                per: Duration::from_secs(300),
            },
            lockout_threshold: 5,
            lockout: Duration::from_secs(15 * 60),
            stream_key_failures_per_ip: RateLimit {
                max: 10,
                per: Duration::from_secs(60),
            },
            mail_per_ip: RateLimit {
                max: 10,
                per: Duration::from_secs(3600),
            },
            webhook_tests_per_user: RateLimit {
                max: 10,
                per: Duration::from_secs(60),
            },
        }
    }
}
