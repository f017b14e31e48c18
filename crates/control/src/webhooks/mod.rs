//! Outgoing HTTP integrations: signed webhooks about publishes and recordings, and an
//! nginx-rtmp–compatible `on_publish` authorization callback.
//!
//! # Webhooks
//!
//! * [`event`] defines what is sent: a [`WebhookEvent`] (`publish.started`,
//!   `publish.stopped`, `record.done`) serialized as one JSON object.
//! * [`signature`] defines how receivers know it came from us: every POST carries
//!   `OnAir-Signature: t={unix},v1={hex hmac-sha256(secret, "{t}.{body}")}`, plus `OnAir-Event`
//!   and `OnAir-Delivery`. [`signature::verify`] is the reference check for receivers.
//! * [`dispatcher`] delivers: the ingest path calls [`Dispatcher::send`], which never blocks or
//!   awaits (a full queue drops the delivery and counts it); a background task POSTs each
//!   (event, endpoint) pair with a timeout, retries 5xx / 408 / 429 / transport errors with
//!   exponential backoff and jitter, and reports every attempt to a [`DeliveryLog`].
//! * [`endpoint`] holds [`Endpoint`] and [`validate_endpoint_target`], which the API layer uses
//!   when a broadcaster registers a URL and the dispatcher before every attempt.
//! * [`target`] keeps deliveries away from the node's own network: by default an endpoint
//!   must be a public address, checked on IP-literal URLs and, through the resolver of
//!   [`delivery_client`], on every address a host name resolves to when connecting (so DNS
//!   rebinding cannot slip past). `--webhook-allow-private-targets` lifts the rule for
//!   on-premise receivers.
//!
//! The nginx-rtmp compatible `on_publish` callbacks (a publish authorizer, in `auth`) use this
//! module's [`http_client`] too, without the destination rule of [`target`]: their URLs come
//! from the operator's own configuration, not from API users.
//!
//! # HTTP client
//!
//! Both use a caller-provided [`reqwest::Client`]. It must **not follow redirects** (a 3xx is an
//! answer here, not a hop); [`http_client`] builds a suitable one, and [`delivery_client`] the
//! one webhooks are delivered with.

pub mod dispatcher;
pub mod endpoint;
pub mod event;
pub mod signature;
pub mod target;

#[cfg(test)]
pub(crate) mod testutil;

use std::time::Duration;

pub use dispatcher::{AttemptRecord, DeliveryLog, DispatchConfig, DispatchError, Dispatcher};
pub use endpoint::{
    Endpoint, MAX_URL_LEN, UrlError, validate_endpoint_target, validate_endpoint_url,
};
pub use event::{
    EndReason, EventData, EventKind, PublishRef, PublishStarted, PublishStopped, RecordDone,
    WebhookEvent,
};

/// `User-Agent` of every outgoing request made with [`http_client`].
pub const USER_AGENT: &str = concat!("OnAir-Webhooks/", env!("CARGO_PKG_VERSION"));

/// Builds the HTTP client for webhooks and `on_publish`: redirects are not followed, connects
/// time out after 5 s, and the ring TLS provider is installed as the process default if none
/// is (reqwest is built without a provider of its own).
///
/// Per-request timeouts are set by the callers ([`DispatchConfig::request_timeout`],
/// [`OnPublishCallback::timeout`]).
pub fn http_client() -> reqwest::Result<reqwest::Client> {
    base_client().build()
}

/// The client webhooks are delivered with: [`http_client`], and unless `allow_private_targets`,
/// host names are resolved by [`target::PublicOnlyResolver`] (only public addresses are
/// connected to) and no proxy from the environment is used (through a proxy, the resolver
/// would see the proxy's name, not the receiver's).
///
/// IP-literal URLs are not resolved, so they are not covered here: the dispatcher checks them
/// with [`validate_endpoint_target`] before each attempt.
pub fn delivery_client(allow_private_targets: bool) -> reqwest::Result<reqwest::Client> {
    let builder = base_client();
    if allow_private_targets {
        return builder.build();
    }
    builder
        .no_proxy()
        .dns_resolver(target::PublicOnlyResolver)
        .build()
}

fn base_client() -> reqwest::ClientBuilder {
    // Fails only when a provider is already installed, which is what we need anyway.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT)
        .connect_timeout(Duration::from_secs(5))
        .pool_idle_timeout(Duration::from_secs(60))
}

/// An HTTP client error and its causes on one line, without the request URL (which may carry
/// tokens), cut to at most `max` bytes.
pub(crate) fn describe_error(e: reqwest::Error, max: usize) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}
