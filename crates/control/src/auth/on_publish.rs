//! nginx-rtmp–compatible `on_publish` / `on_publish_done` HTTP callbacks, so operators can keep
//! an authorization backend written for nginx-rtmp.
//!
//! Reference: the `on_play`, `on_publish` and `on_publish_done` directives in nginx-rtmp-module's
//! directive documentation (<https://github.com/arut/nginx-rtmp-module/wiki/Directives#on_publish>)
//! and its implementation, `ngx_rtmp_notify_module.c` / `ngx_rtmp_netcall_module.c`.
//!
//! # Request
//!
//! `POST {url}` with `Content-Type: application/x-www-form-urlencoded` and, in nginx-rtmp's
//! order, the fields
//!
//! `app`, `flashver`, `swfurl`, `tcurl`, `pageurl`, `addr`, `clientid`, `call=publish`, `name`,
//! `type=live`, then the query arguments of the publish URL
//! (`rtmp://host/live/key?token=abc` adds `token=abc`).
//!
//! The names are the lowercase ones nginx-rtmp actually sends (its documentation spells some
//! as `flashVer`, `swfUrl`, `tcUrl`, `pageUrl`). `addr` is the client IP without port. OnAir's
//! [`PublishRequest`] carries no `flashver`, `swfurl`, `tcurl`, `pageurl` or connection number,
//! so [`OnPublishRequest::from_publish`] leaves them empty; they are still sent, as empty
//! values, like nginx-rtmp does for clients (OBS, ffmpeg) that omit them. `type` is always
//! `live`, the only publish type OnAir accepts.
//!
//! One deliberate difference: query arguments whose name collides with one of the fields
//! above are not forwarded. nginx-rtmp appends them verbatim, which lets a publisher send a
//! second `addr` or `call`, and backends where the last value wins would believe it.
//!
//! # Answer
//!
//! * **2xx**: allow.
//! * **3xx** with a `Location` header: allow, renaming the stream to the header's value (the
//!   value itself, not resolved as a URL, like nginx-rtmp). Without `Location`: allow unchanged
//!   (as nginx-rtmp). A `Location` starting with `rtmp://` asks nginx-rtmp to relay the stream
//!   elsewhere, which OnAir does not do: deny.
//! * **anything else**, and any failure to get an answer (connection error, **timeout**):
//!   deny. The callback fails closed: if the auth backend is down, nobody publishes.
//!
//! The HTTP client must not follow redirects ([`crate::webhooks::http_client`]); a response that comes
//! from another URL than the one configured is refused as a misconfiguration.
//!
//! `on_publish_done` ([`OnPublishDone`]) sends the same fields with `call=publish_done` and no
//! `type`; its answer is ignored, as in nginx-rtmp.
//!
//! [`OnPublishAuthorizer`] plugs the callback into ingest: the wrapped authorizer decides
//! first, then the callback; a rename replaces the granted channel.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::LOCATION;
use tokio::task::JoinHandle;

use crate::auth::{
    AuthFuture, HookFuture, PublishAuthorizer, PublishDenied, PublishEnded, PublishRequest,
    PublishStarted, is_valid_channel_name,
};
use crate::webhooks::endpoint::{UrlError, validate_endpoint_url};

/// Longest stream name a redirect may set (nginx-rtmp's `NGX_RTMP_MAX_NAME`).
pub const MAX_NAME_LEN: usize = 256;
/// Query arguments forwarded at most.
pub const MAX_ARGS: usize = 64;
/// A reasonable [`OnPublishCallback::timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// What a refused publisher is told; details go to the log, not to the client.
const REFUSED: &str = "publish refused by the authorization service";
/// Longest error text kept from the HTTP client.
const MAX_ERROR_LEN: usize = 512;

/// Fields nginx-rtmp sends itself, which query arguments may not override.
const RESERVED: [&str; 11] = [
    "app", "flashver", "swfurl", "tcurl", "pageurl", "addr", "clientid", "call", "name", "type",
    "epoch",
];

/// Why a callback failed or denied.
#[derive(Debug, thiserror::Error)]
pub enum OnPublishError {
    #[error("invalid callback URL: {0}")]
    Url(#[from] UrlError),
    #[error("callback denied the publish with HTTP {status}")]
    Denied { status: u16 },
    #[error("callback did not answer within {0:?}")]
    Timeout(Duration),
    #[error("callback request failed: {0}")]
    Request(String),
    #[error("callback redirected to {0:?}: relaying to another RTMP server is not supported")]
    RelayRedirect(String),
    #[error("callback redirect has an unusable Location: {0}")]
    BadLocation(&'static str),
    #[error("the HTTP client followed the callback's redirect; build it without redirects")]
    FollowedRedirect,
}

/// What an `on_publish` callback allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnPublishOutcome {
    /// Publish under the requested name.
    Allow,
    /// Publish under this name instead.
    Rename(String),
}

/// The fields of an nginx-rtmp notify request. Unknown fields are `None` and sent empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OnPublishRequest {
    pub app: String,
    /// Stream name, without the query string.
    pub name: String,
    /// Client IP address, without port.
    pub addr: String,
    /// nginx-rtmp's connection number.
    pub clientid: Option<String>,
    pub flashver: Option<String>,
    pub swfurl: Option<String>,
    pub tcurl: Option<String>,
    pub pageurl: Option<String>,
    /// Query arguments of the publish URL, in order.
    pub args: Vec<(String, String)>,
}

impl OnPublishRequest {
    /// Fills what a [`PublishRequest`] knows: `app`, `name`, `addr` and the query arguments
    /// (at most [`MAX_ARGS`]; an undecodable query string is dropped).
    pub fn from_publish(req: &PublishRequest) -> Self {
        let args = match req.query.as_deref() {
            None | Some("") => Vec::new(),
            Some(q) => match serde_urlencoded::from_str::<Vec<(String, String)>>(q) {
                Ok(mut args) => {
                    args.truncate(MAX_ARGS);
                    args
                }
                Err(e) => {
                    tracing::debug!(error = %e, "publish query string not forwarded to on_publish");
                    Vec::new()
                }
            },
        };
        Self {
            app: req.app.clone(),
            name: req.name.clone(),
            addr: req.peer.ip().to_string(),
            clientid: None,
            flashver: None,
            swfurl: None,
            tcurl: None,
            pageurl: None,
            args,
        }
    }

    /// The form fields for `call`, in nginx-rtmp's order.
    fn form(&self, call: &'static str) -> Vec<(&str, &str)> {
        fn opt(v: &Option<String>) -> &str {
            v.as_deref().unwrap_or("")
        }
        let mut form = vec![
            ("app", self.app.as_str()),
            ("flashver", opt(&self.flashver)),
            ("swfurl", opt(&self.swfurl)),
            ("tcurl", opt(&self.tcurl)),
            ("pageurl", opt(&self.pageurl)),
            ("addr", self.addr.as_str()),
            ("clientid", opt(&self.clientid)),
            ("call", call),
            ("name", self.name.as_str()),
        ];
        if call == "publish" {
            form.push(("type", "live"));
        }
        form.extend(
            self.args
                .iter()
                .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
                .take(MAX_ARGS)
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        form
    }
}

/// The `on_publish` callback.
#[derive(Clone, Debug)]
pub struct OnPublishCallback {
    pub url: String,
    /// Must not follow redirects ([`crate::webhooks::http_client`]).
    pub client: reqwest::Client,
    /// Whole-request timeout; when it passes, the publish is denied.
    pub timeout: Duration,
}

impl OnPublishCallback {
    /// Checks the URL like a webhook endpoint's (http/https, no credentials).
    pub fn new(
        url: impl Into<String>,
        client: reqwest::Client,
        timeout: Duration,
    ) -> Result<Self, OnPublishError> {
        let url = url.into();
        validate_endpoint_url(&url)?;
        Ok(Self {
            url,
            client,
            timeout,
        })
    }

    /// Asks the callback; `Err` means deny.
    pub async fn check(&self, req: &OnPublishRequest) -> Result<OnPublishOutcome, OnPublishError> {
        let resp = post(&self.client, &self.url, self.timeout, &req.form("publish")).await?;
        let status = resp.status();
        if status.is_success() {
            return Ok(OnPublishOutcome::Allow);
        }
        if !status.is_redirection() {
            return Err(OnPublishError::Denied {
                status: status.as_u16(),
            });
        }
        let Some(location) = resp.headers().get(LOCATION) else {
            return Ok(OnPublishOutcome::Allow);
        };
        let location = location
            .to_str()
            .map_err(|_| OnPublishError::BadLocation("not ASCII"))?
            .trim();
        if location.is_empty() {
            return Ok(OnPublishOutcome::Allow);
        }
        if location
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("rtmp://"))
        {
            return Err(OnPublishError::RelayRedirect(location.to_owned()));
        }
        if location.len() > MAX_NAME_LEN {
            return Err(OnPublishError::BadLocation("longer than 256 bytes"));
        }
        Ok(OnPublishOutcome::Rename(location.to_owned()))
    }
}

/// The `on_publish_done` notification.
#[derive(Clone, Debug)]
pub struct OnPublishDone {
    pub url: String,
    pub client: reqwest::Client,
    pub timeout: Duration,
}

impl OnPublishDone {
    pub fn new(
        url: impl Into<String>,
        client: reqwest::Client,
        timeout: Duration,
    ) -> Result<Self, OnPublishError> {
        let url = url.into();
        validate_endpoint_url(&url)?;
        Ok(Self {
            url,
            client,
            timeout,
        })
    }

    /// Sends `call=publish_done`; any HTTP answer is success (the status is not checked, as
    /// in nginx-rtmp).
    pub async fn send(&self, req: &OnPublishRequest) -> Result<(), OnPublishError> {
        let resp = post(
            &self.client,
            &self.url,
            self.timeout,
            &req.form("publish_done"),
        )
        .await?;
        tracing::debug!(status = %resp.status(), "on_publish_done answered");
        Ok(())
    }

    /// Fire and forget: sends in a task on the current runtime, logs a failure. The handle
    /// may be dropped.
    pub fn notify(&self, req: &OnPublishRequest) -> JoinHandle<()> {
        let this = self.clone();
        let req = req.clone();
        tokio::spawn(async move {
            if let Err(e) = this.send(&req).await {
                tracing::warn!(error = %e, name = %req.name, "on_publish_done notification failed");
            }
        })
    }
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
    form: &[(&str, &str)],
) -> Result<reqwest::Response, OnPublishError> {
    let resp = client
        .post(url)
        .timeout(timeout)
        .form(form)
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                OnPublishError::Timeout(timeout)
            } else {
                OnPublishError::Request(crate::webhooks::describe_error(e, MAX_ERROR_LEN))
            }
        })?;
    if reqwest::Url::parse(url).ok().as_ref() != Some(resp.url()) {
        return Err(OnPublishError::FollowedRedirect);
    }
    Ok(resp)
}

/// A [`PublishAuthorizer`] that asks `inner` first and then the `on_publish` callback.
///
/// * `inner` denies: denied, the callback is not called.
/// * callback denies, fails or times out: [`PublishDenied::Unauthorized`], with a generic
///   message for the client (details are logged).
/// * callback renames: the grant's channel becomes the new name, which must be a valid
///   channel name ([`is_valid_channel_name`]), otherwise the publish is refused.
pub struct OnPublishAuthorizer {
    inner: Arc<dyn PublishAuthorizer>,
    callback: Option<OnPublishCallback>,
    done: Option<OnPublishDone>,
}

impl OnPublishAuthorizer {
    pub fn new(inner: Arc<dyn PublishAuthorizer>, callback: OnPublishCallback) -> Self {
        Self {
            inner,
            callback: Some(callback),
            done: None,
        }
    }

    /// `inner` with only (or also) the `on_publish_done` notification.
    pub fn with_done(
        inner: Arc<dyn PublishAuthorizer>,
        callback: Option<OnPublishCallback>,
        done: Option<OnPublishDone>,
    ) -> Self {
        Self {
            inner,
            callback,
            done,
        }
    }
}

impl PublishAuthorizer for OnPublishAuthorizer {
    fn authorize<'a>(&'a self, request: &'a PublishRequest) -> AuthFuture<'a> {
        Box::pin(async move {
            let mut grant = self.inner.authorize(request).await?;
            let Some(callback) = &self.callback else {
                return Ok(grant);
            };
            let req = OnPublishRequest::from_publish(request);
            match callback.check(&req).await {
                Ok(OnPublishOutcome::Allow) => Ok(grant),
                Ok(OnPublishOutcome::Rename(name)) => {
                    if !is_valid_channel_name(&name) {
                        tracing::warn!(peer = %request.peer, from = %grant.channel, to = %name, "on_publish renamed to an invalid channel name; publish refused");
                        return Err(PublishDenied::Unauthorized(REFUSED.to_owned()));
                    }
                    tracing::info!(peer = %request.peer, from = %grant.channel, to = %name, "on_publish renamed the stream");
                    grant.channel = name;
                    Ok(grant)
                }
                Err(e @ OnPublishError::Denied { .. }) => {
                    tracing::info!(peer = %request.peer, channel = %grant.channel, reason = %e, "on_publish refused the publish");
                    Err(PublishDenied::Unauthorized(REFUSED.to_owned()))
                }
                Err(e) => {
                    tracing::warn!(peer = %request.peer, channel = %grant.channel, error = %e, "on_publish callback failed; publish refused");
                    Err(PublishDenied::Unauthorized(REFUSED.to_owned()))
                }
            }
        })
    }

    fn refused<'a>(
        &'a self,
        request: &'a PublishRequest,
        grant: &'a crate::auth::PublishGrant,
        reason: &'a str,
    ) -> HookFuture<'a> {
        self.inner.refused(request, grant, reason)
    }

    fn started<'a>(&'a self, started: &'a PublishStarted) -> HookFuture<'a> {
        self.inner.started(started)
    }

    fn ended<'a>(&'a self, started: &'a PublishStarted, ended: &'a PublishEnded) -> HookFuture<'a> {
        if let Some(done) = &self.done {
            done.notify(&OnPublishRequest::from_publish(&started.request));
        }
        self.inner.ended(started, ended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::ChannelNameAuthorizer;
    use crate::webhooks::testutil::serve;
    use axum::Router;
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Response, StatusCode as S};
    use axum::routing::post as axum_post;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::sync::mpsc;

    type Received = (HeaderMap, Vec<(String, String)>);

    /// An auth backend answering every request with `status` and an optional `Location`,
    /// reporting what it received.
    async fn backend(
        status: u16,
        location: Option<&'static str>,
    ) -> (String, mpsc::UnboundedReceiver<Received>, Arc<AtomicUsize>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let app = Router::new().route(
            "/auth",
            axum_post(move |headers: HeaderMap, body: Bytes| {
                h.fetch_add(1, Ordering::SeqCst);
                let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap();
                let _ = tx.send((headers, fields));
                async move {
                    let mut resp = Response::builder().status(status);
                    if let Some(l) = location {
                        resp = resp.header("location", l);
                    }
                    resp.body(axum::body::Body::empty()).unwrap()
                }
            }),
        );
        let addr = serve(app).await;
        (format!("http://{addr}/auth"), rx, hits)
    }

    fn callback(url: &str, timeout: Duration) -> OnPublishCallback {
        OnPublishCallback::new(url, crate::webhooks::http_client().unwrap(), timeout).unwrap()
    }

    fn publish(name: &str, query: Option<&str>) -> PublishRequest {
        PublishRequest {
            app: "live".into(),
            name: name.into(),
            query: query.map(Into::into),
            peer: "203.0.113.7:50123".parse().unwrap(),
        }
    }

    fn authorizer(cb: OnPublishCallback) -> OnPublishAuthorizer {
        OnPublishAuthorizer::new(Arc::new(ChannelNameAuthorizer { app: "live".into() }), cb)
    }

    #[tokio::test]
    async fn form_fields_match_nginx_rtmp() {
        let (url, mut rx, _) = backend(200, None).await;
        let req = OnPublishRequest::from_publish(&publish(
            "cam1",
            Some("token=a%20b&x=1&call=publish_done&addr=6.6.6.6&flag"),
        ));
        assert_eq!(
            callback(&url, DEFAULT_TIMEOUT).check(&req).await.unwrap(),
            OnPublishOutcome::Allow
        );
        let (headers, fields) = rx.recv().await.unwrap();
        assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
        let expected: Vec<(String, String)> = [
            ("app", "live"),
            ("flashver", ""),
            ("swfurl", ""),
            ("tcurl", ""),
            ("pageurl", ""),
            ("addr", "203.0.113.7"),
            ("clientid", ""),
            ("call", "publish"),
            ("name", "cam1"),
            ("type", "live"),
            ("token", "a b"),
            ("x", "1"),
            ("flag", ""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(fields, expected);
    }

    #[tokio::test]
    async fn publish_done_is_sent_without_type() {
        let (url, mut rx, _) = backend(500, None).await;
        let done = OnPublishDone::new(
            &url,
            crate::webhooks::http_client().unwrap(),
            DEFAULT_TIMEOUT,
        )
        .unwrap();
        let req = OnPublishRequest::from_publish(&publish("cam1", Some("k=v")));
        done.notify(&req).await.unwrap();
        let (_, fields) = rx.recv().await.unwrap();
        let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "app", "flashver", "swfurl", "tcurl", "pageurl", "addr", "clientid", "call",
                "name", "k"
            ]
        );
        assert_eq!(fields[7].1, "publish_done");
        // The answer (500) does not matter.
        assert!(done.send(&req).await.is_ok());
    }

    #[tokio::test]
    async fn answers_map_like_nginx_rtmp() {
        let req = OnPublishRequest::from_publish(&publish("cam1", None));
        for (status, location, expected) in [
            (200, None, Ok(OnPublishOutcome::Allow)),
            (204, None, Ok(OnPublishOutcome::Allow)),
            (
                302,
                Some("studio-b"),
                Ok(OnPublishOutcome::Rename("studio-b".into())),
            ),
            (
                301,
                Some(" other "),
                Ok(OnPublishOutcome::Rename("other".into())),
            ),
            (302, None, Ok(OnPublishOutcome::Allow)),
            (403, None, Err("denied 403")),
            (401, None, Err("denied 401")),
            (404, None, Err("denied 404")),
            (500, None, Err("denied 500")),
            (302, Some("rtmp://elsewhere/live/x"), Err("relay")),
        ] {
            let (url, _rx, _) = backend(status, location).await;
            let got = callback(&url, DEFAULT_TIMEOUT).check(&req).await;
            match (expected, got) {
                (Ok(want), Ok(got)) => assert_eq!(got, want, "{status}"),
                (Err("relay"), Err(OnPublishError::RelayRedirect(l))) => {
                    assert_eq!(l, "rtmp://elsewhere/live/x")
                }
                (Err(want), Err(OnPublishError::Denied { status: s })) => {
                    assert_eq!(want, format!("denied {s}"))
                }
                (want, got) => panic!("{status}: expected {want:?}, got {got:?}"),
            }
        }
    }

    #[tokio::test]
    async fn unreachable_and_slow_backends_deny() {
        let port = {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap().port()
        };
        let req = OnPublishRequest::from_publish(&publish("cam1", None));
        let unreachable = callback(&format!("http://127.0.0.1:{port}/auth"), DEFAULT_TIMEOUT);
        assert!(matches!(
            unreachable.check(&req).await,
            Err(OnPublishError::Request(_))
        ));

        let app = Router::new().route(
            "/auth",
            axum_post(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                S::OK
            }),
        );
        let addr = serve(app).await;
        let slow = callback(&format!("http://{addr}/auth"), Duration::from_millis(100));
        let started = std::time::Instant::now();
        assert!(matches!(
            slow.check(&req).await,
            Err(OnPublishError::Timeout(_))
        ));
        assert!(started.elapsed() < Duration::from_secs(5));

        // Through the authorizer: fail closed, generic message.
        for cb in [unreachable, slow] {
            let denied = authorizer(cb)
                .authorize(&publish("cam1", None))
                .await
                .unwrap_err();
            assert_eq!(denied, PublishDenied::Unauthorized(REFUSED.to_owned()));
        }
    }

    #[tokio::test]
    async fn authorizer_combines_inner_and_callback() {
        let (ok_url, _rx1, _) = backend(200, None).await;
        let grant = authorizer(callback(&ok_url, DEFAULT_TIMEOUT))
            .authorize(&publish("cam1", None))
            .await
            .unwrap();
        assert_eq!(grant.channel, "cam1");

        let (rename_url, _rx2, _) = backend(302, Some("studio-b")).await;
        let grant = authorizer(callback(&rename_url, DEFAULT_TIMEOUT))
            .authorize(&publish("cam1", None))
            .await
            .unwrap();
        assert_eq!(grant.channel, "studio-b");

        let (bad_rename_url, _rx3, _) = backend(302, Some("../etc")).await;
        assert!(matches!(
            authorizer(callback(&bad_rename_url, DEFAULT_TIMEOUT))
                .authorize(&publish("cam1", None))
                .await,
            Err(PublishDenied::Unauthorized(_))
        ));

        let (deny_url, _rx4, deny_hits) = backend(403, None).await;
        let a = authorizer(callback(&deny_url, DEFAULT_TIMEOUT));
        assert_eq!(
            a.authorize(&publish("cam1", None)).await,
            Err(PublishDenied::Unauthorized(REFUSED.to_owned()))
        );
        assert_eq!(deny_hits.load(Ordering::SeqCst), 1);
        // The inner authorizer refuses first; the callback is not asked.
        assert!(matches!(
            a.authorize(&publish("bad/name", None)).await,
            Err(PublishDenied::BadName(_))
        ));
        assert_eq!(deny_hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn following_redirects_is_refused() {
        let (target, _rx, _) = backend(200, None).await;
        let app = Router::new().route(
            "/auth",
            axum_post(move || {
                let target = target.clone();
                async move { (S::TEMPORARY_REDIRECT, [("location", target)]) }
            }),
        );
        let addr = serve(app).await;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let following = reqwest::Client::builder().build().unwrap();
        let cb = OnPublishCallback::new(format!("http://{addr}/auth"), following, DEFAULT_TIMEOUT)
            .unwrap();
        let req = OnPublishRequest::from_publish(&publish("cam1", None));
        assert!(matches!(
            cb.check(&req).await,
            Err(OnPublishError::FollowedRedirect)
        ));
    }

    #[test]
    fn callback_urls_are_validated() {
        let client = || reqwest::Client::builder().build().unwrap();
        let _ = rustls::crypto::ring::default_provider().install_default();
        assert!(matches!(
            OnPublishCallback::new("ftp://x/", client(), DEFAULT_TIMEOUT),
            Err(OnPublishError::Url(UrlError::Scheme(_)))
        ));
        assert!(OnPublishDone::new("http://u:p@x/", client(), DEFAULT_TIMEOUT).is_err());
    }
}
