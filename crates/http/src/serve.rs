//! The HTTP listener: accepts TCP connections (plain HTTP/1.1 and h2c, or TLS with ALPN) under
//! a global and a per-address cap, and bounds how long a connection may sit without a request.
//!
//! Before anything is authenticated, a client can only hold connections, so this is where a
//! slow or flooding client is stopped:
//!
//! * **Connection caps.** Beyond `max_connections` open HTTP connections, or
//!   `max_connections_per_ip` from one address ([`AddrKey`]: IPv4 address, IPv6 /64), a new
//!   connection is closed as soon as it is accepted: it never queues, and the connections
//!   already open keep working. The file descriptors RTMP ingest, the database and the store
//!   need stay available. Our own proxies (`--trusted-proxies`) are exempt from the per-address
//!   cap: an edge carries many viewers (one connection per HTTP-FLV viewer), and only the global
//!   cap applies to it.
//! * **Header timeout.** A request head must arrive within `header_timeout`: from accept for
//!   the first request (TLS handshake, the HTTP/2 preface and the first HEADERS included), and
//!   on a kept-alive HTTP/1 connection from the first byte of the next head. A connection that
//!   misses it is closed (slowloris).
//! * **Idle timeout.** A connection with no request in flight and no new request for
//!   `idle_timeout` is closed (HTTP/2: GOAWAY first). Responses in flight (HTTP-FLV, the event
//!   stream, a blocking playlist reload) never count as idle.
//!
//! hyper's own `header_read_timeout` is not used: its clock starts when an HTTP/1 connection
//! goes idle, not when a head starts, so it would also close idle keep-alive connections (CDN
//! edges' upstream pools, players between segments) after the header timeout. The watchdog
//! here tells the two apart by watching reads.

use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, Version};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower_service::Service as _;

use crate::security::ratelimit::AddrKey;
use crate::security::slots::Slots;

pub use crate::config::limits::{
    DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS_PER_IP, DEFAULT_MAX_EVENT_SUBSCRIBERS_PER_IP,
    DEFAULT_MAX_EVENT_SUBSCRIBERS_PER_USER, HttpLimits,
};

/// HTTP/2 streams a connection may have open at once (RFC 9113 §6.5.2 advises at least 100): a
/// player needs a few (a blocking reload, a preload-hinted part, a segment).
pub const MAX_H2_STREAMS: u32 = 100;
/// Largest decoded HTTP/2 header list (hyper's default, stated here).
pub const MAX_H2_HEADER_LIST: u32 = 16 * 1024;
/// Most header fields in an HTTP/1 request head (hyper's default, stated here); its size is
/// bounded by hyper's read buffer (about 400 KiB).
pub const MAX_H1_HEADERS: usize = 100;
/// How long a connection being closed (idle, or the node stopping) may take to finish what is
/// in flight before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// Pause after an accept error that is not about one connection (out of file descriptors):
/// retrying at once would spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_secs(1);

/// Descriptors counted for everything but connections (database pool, store and spool files,
/// listeners, logs) when checking the caps against the open-file limit.
pub const RESERVED_FDS: usize = 256;

/// Warns when the connection caps do not fit under the process's open-file limit (Linux; read
/// from /proc): accepting would then fail for lack of descriptors before the caps refuse
/// anything, and the database and the store would fail with it.
pub fn check_open_file_limit(max_http: usize, max_rtmp: usize) {
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("Max open files"))?;
            line.split_whitespace().nth(3)?.parse::<usize>().ok()
        });
    let needed = max_http
        .saturating_add(max_rtmp)
        .saturating_add(RESERVED_FDS);
    if let Some(limit) = limit.filter(|l| *l < needed) {
        tracing::warn!(
            limit,
            needed,
            "the open-file limit (ulimit -n; systemd LimitNOFILE) is below --max-http-connections \
             + --max-rtmp-connections + {RESERVED_FDS}: raise it or lower the caps"
        );
    }
}

/// Why the TLS configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {source}")]
    Pem {
        path: std::path::PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
}

/// A TLS acceptor for the PEM certificate chain and key, offering HTTP/2 and HTTP/1.1 (ALPN).
pub fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    fn pem(path: &std::path::Path) -> impl FnOnce(rustls::pki_types::pem::Error) -> TlsError {
        let path = path.to_owned();
        move |source| TlsError::Pem { path, source }
    }
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(pem(cert))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(pem(key))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// What every connection of one listener shares.
pub struct ServeConfig {
    pub limits: HttpLimits,
    /// Peers exempt from the per-address cap (`--trusted-proxies`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `Some`: HTTPS.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Serves `app` on `listener` until `shutdown`, then lets open connections finish (each at most
/// [`CLOSE_GRACE`]). Dropping the future drops every connection.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: ServeConfig,
    shutdown: CancellationToken,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .keep_alive(true)
        .max_headers(MAX_H1_HEADERS)
        // The watchdog below times heads (see the module docs).
        .header_read_timeout(None);
    builder
        .http2()
        .max_concurrent_streams(MAX_H2_STREAMS)
        .max_header_list_size(MAX_H2_HEADER_LIST);
    let shared = Arc::new(Shared {
        config,
        builder,
        app,
    });
    let permits = Arc::new(Semaphore::new(shared.config.limits.max_connections));
    let per_ip: Arc<Slots<AddrKey>> = Arc::default();
    let mut connections = JoinSet::new();
    loop {
        let (tcp, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                    continue;
                }
            },
        };
        // Closing at once (dropping the socket) rather than waiting for a free slot: a queued
        // connection would hold its descriptor and look alive to the client.
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            refused(peer, "max_connections");
            continue;
        };
        let ip = peer.ip().to_canonical();
        let slot = if shared.is_trusted(ip) {
            None
        } else {
            match per_ip.try_acquire(AddrKey::of(ip), shared.config.limits.max_connections_per_ip) {
                Some(slot) => Some(slot),
                None => {
                    refused(peer, "max_connections_per_ip");
                    continue;
                }
            }
        };
        metrics::gauge!("onair_http_connections").increment(1.0);
        let held = Held {
            _permit: permit,
            _slot: slot,
        };
        let (shared, shutdown) = (shared.clone(), shutdown.clone());
        connections.spawn(async move {
            connection(tcp, peer, &shared, &shutdown).await;
            drop(held);
        });
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

struct Shared {
    config: ServeConfig,
    builder: auto::Builder<TokioExecutor>,
    app: Router,
}

impl Shared {
    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.config.trusted_proxies.iter().any(|n| n.contains(&ip))
    }
}

/// A connection's place under the caps; dropping it frees them.
struct Held {
    _permit: tokio::sync::OwnedSemaphorePermit,
    _slot: Option<crate::security::slots::Slot<AddrKey>>,
}

impl Drop for Held {
    fn drop(&mut self) {
        metrics::gauge!("onair_http_connections").decrement(1.0);
    }
}

fn refused(peer: SocketAddr, reason: &'static str) {
    metrics::counter!("onair_http_connections_refused_total", "reason" => reason).increment(1);
    tracing::debug!(%peer, reason, "HTTP connection refused");
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    shutdown: &CancellationToken,
) {
    let activity = Arc::new(Activity::new());
    match &shared.config.tls {
        None => drive(tcp, peer, activity, shared, shutdown).await,
        Some(acceptor) => {
            // The handshake counts toward the first request's header timeout.
            let deadline = activity.accepted + shared.config.limits.header_timeout;
            match tokio::time::timeout_at(deadline, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => drive(tls, peer, activity, shared, shutdown).await,
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => timed_out(peer, "header"),
            }
        }
    }
}

fn timed_out(peer: SocketAddr, which: &'static str) {
    metrics::counter!("onair_http_connections_timed_out_total", "timeout" => which).increment(1);
    tracing::debug!(%peer, timeout = which, "HTTP connection timed out");
}

/// Serves one connection, closing it when the watchdog says so.
async fn drive<I>(
    io: I,
    peer: SocketAddr,
    activity: Arc<Activity>,
    shared: &Shared,
    shutdown: &CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let app = shared.app.clone();
    let in_service = activity.clone();
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let busy = in_service.begin(req.version() == Version::HTTP_2);
        req.extensions_mut().insert(ConnectInfo(peer));
        // A Router is always ready: `call` without `poll_ready` is what axum::serve does too.
        let response = app.clone().call(req);
        async move {
            let response = response.await.unwrap_or_else(|never| match never {});
            Ok::<_, Infallible>(response.map(|body| Tracked { body, _busy: busy }))
        }
    });
    let io = TokioIo::new(Watched {
        io,
        activity: activity.clone(),
    });
    let conn = shared.builder.serve_connection(io, service);
    tokio::pin!(conn);
    let limits = &shared.config.limits;
    // Set once the connection is asked to close: it is dropped at this instant.
    let mut close_by: Option<Instant> = None;
    loop {
        let wake = close_by.or_else(|| activity.deadline(limits));
        let far = Instant::now() + Duration::from_secs(86_400);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "HTTP connection ended");
                }
                return;
            }
            _ = activity.changed.notified(), if close_by.is_none() => {}
            _ = tokio::time::sleep_until(wake.unwrap_or(far)), if wake.is_some() => {
                if close_by.is_some() {
                    return;
                }
                match activity.expired(limits) {
                    Some(Expired::Header) => {
                        // Mid-head: nothing to finish, drop it now.
                        timed_out(peer, "header");
                        return;
                    }
                    Some(Expired::Idle) => {
                        timed_out(peer, "idle");
                        conn.as_mut().graceful_shutdown();
                        close_by = Some(Instant::now() + CLOSE_GRACE);
                    }
                    None => {}
                }
            }
            _ = shutdown.cancelled(), if close_by.is_none() => {
                conn.as_mut().graceful_shutdown();
                close_by = Some(Instant::now() + CLOSE_GRACE);
            }
        }
    }
}

/// What a connection's watchdog knows of it.
struct Activity {
    accepted: Instant,
    state: Mutex<State>,
    /// Woken when a deadline may have moved earlier (the connection went idle, a head started).
    changed: Notify,
}

struct State {
    /// Requests whose responses are not finished.
    in_flight: usize,
    /// A request has reached the application; until then the header timeout runs from accept.
    served: bool,
    /// HTTP/2 (known from the first request): reads while idle are pings and window updates,
    /// not the start of a head.
    h2: bool,
    /// When the last response finished.
    idle_since: Instant,
    /// HTTP/1: when the first byte of the next head arrived.
    head_started: Option<Instant>,
}

#[derive(Debug, PartialEq, Eq)]
enum Expired {
    Header,
    Idle,
}

impl Activity {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            accepted: now,
            state: Mutex::new(State::new(now)),
            changed: Notify::new(),
        }
    }

    /// When the connection must close if nothing changes (`None`: a request is in flight).
    fn deadline(&self, limits: &HttpLimits) -> Option<Instant> {
        self.state
            .lock()
            .next(self.accepted, limits)
            .map(|(at, _)| at)
    }

    fn expired(&self, limits: &HttpLimits) -> Option<Expired> {
        self.state
            .lock()
            .next(self.accepted, limits)
            .filter(|(at, _)| *at <= Instant::now())
            .map(|(_, why)| why)
    }

    fn begin(self: &Arc<Self>, h2: bool) -> Busy {
        self.state.lock().begin(h2);
        Busy(self.clone())
    }

    fn read(&self) {
        if self.state.lock().read(Instant::now()) {
            self.changed.notify_one();
        }
    }
}

impl State {
    fn new(accepted: Instant) -> Self {
        Self {
            in_flight: 0,
            served: false,
            h2: false,
            idle_since: accepted,
            head_started: None,
        }
    }

    fn next(&self, accepted: Instant, limits: &HttpLimits) -> Option<(Instant, Expired)> {
        if self.in_flight > 0 {
            None
        } else if !self.served {
            Some((accepted + limits.header_timeout, Expired::Header))
        } else if let Some(head) = self.head_started {
            Some((head + limits.header_timeout, Expired::Header))
        } else {
            Some((self.idle_since + limits.idle_timeout, Expired::Idle))
        }
    }

    fn begin(&mut self, h2: bool) {
        self.in_flight += 1;
        self.served = true;
        self.h2 = h2;
        self.head_started = None;
    }

    /// Bytes arrived; true when they start a head (the deadline moved).
    fn read(&mut self, now: Instant) -> bool {
        let starts_head =
            self.in_flight == 0 && self.served && !self.h2 && self.head_started.is_none();
        if starts_head {
            self.head_started = Some(now);
        }
        starts_head
    }

    /// A response finished; true when the connection went idle.
    fn finish(&mut self, now: Instant) -> bool {
        self.in_flight -= 1;
        let idle = self.in_flight == 0;
        if idle {
            self.idle_since = now;
            self.head_started = None;
        }
        idle
    }
}

/// A request in flight, until its response body is finished or dropped.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.state.lock().finish(Instant::now()) {
            self.0.changed.notify_one();
        }
    }
}

/// A response body that keeps its request counted as in flight.
struct Tracked {
    body: axum::body::Body,
    _busy: Busy,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The connection's socket (or TLS stream), noting reads for the watchdog.
struct Watched<I> {
    io: I,
    activity: Arc<Activity>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.read();
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> HttpLimits {
        HttpLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            ..Default::default()
        }
    }

    #[test]
    fn deadlines_follow_the_connection() {
        let l = limits();
        let t0 = Instant::now();
        let at = |secs| t0 + Duration::from_secs(secs);
        let mut s = State::new(t0);
        // Before the first request, the header timeout runs from accept, reads or not.
        assert!(!s.read(at(1)));
        assert_eq!(s.next(t0, &l), Some((at(10), Expired::Header)));
        s.begin(false);
        assert_eq!(
            s.next(t0, &l),
            None,
            "a request in flight is never timed out"
        );
        assert!(!s.read(at(2)), "request bodies are not heads");
        assert!(s.finish(at(100)));
        assert_eq!(s.next(t0, &l), Some((at(175), Expired::Idle)));
        // The next head starts: it has the header timeout from its first byte.
        assert!(s.read(at(130)));
        assert!(!s.read(at(131)));
        assert_eq!(s.next(t0, &l), Some((at(140), Expired::Header)));
        s.begin(false);
        assert!(s.finish(at(150)));
        assert_eq!(s.next(t0, &l), Some((at(225), Expired::Idle)));
        // HTTP/2: reads between requests (pings, window updates) are not heads; concurrent
        // requests keep the connection busy until the last one finishes.
        let mut s = State::new(t0);
        s.begin(true);
        s.begin(true);
        assert!(!s.finish(at(5)));
        assert_eq!(s.next(t0, &l), None);
        assert!(s.finish(at(6)));
        assert!(!s.read(at(7)));
        assert_eq!(s.next(t0, &l), Some((at(81), Expired::Idle)));
    }
}
