//! Webhook delivery: a bounded queue drained by one background task.
//!
//! ```text
//!  ingest path ──send()──► mpsc (≤ queue_capacity) ──► worker ──spawn──► delivery task ×≤max_active
//!  (try_send; full ⇒ drop + count)                                       │ each HTTP attempt holds
//!                                                                        │ one of max_in_flight permits
//!                                                                        ▼
//!                                                             DeliveryLog::record(attempt)
//! ```
//!
//! * [`Dispatcher::send`] serializes the event once and enqueues one delivery per endpoint
//!   with `try_send`: it never awaits, so a slow or dead receiver can never stall ingest. A full
//!   queue drops the delivery, logs, and counts `onair_webhook_dropped_total{reason}`.
//! * Each delivery is a task that POSTs the JSON body, signed per attempt
//!   ([`super::signature`]), with [`DispatchConfig::request_timeout`]. Outcomes:
//!   - 2xx: success;
//!   - 408, 429, 5xx, timeouts, connection and other transport errors: retried after
//!     `initial_backoff · 2^(n−1)` (capped at `max_backoff`, and never earlier than a 429/503
//!     `Retry-After` of whole seconds, also capped), times a random factor in [0.5, 1.5);
//!   - anything else (other 4xx, 3xx: redirects are not followed, 1xx): permanent failure.
//!
//!   After `max_attempts` attempts a retryable failure becomes final.
//! * Concurrency has two bounds: at most `max_in_flight` HTTP requests at once (a permit is
//!   held only during the request, not during backoff sleeps, so endpoints that are down do
//!   not starve healthy ones), and at most `max_active` deliveries started and not finished
//!   (in a request or waiting to retry). When `max_active` is reached the worker stops taking
//!   from the queue, the queue fills, and `send` drops: memory stays bounded.
//! * Every attempt is reported to the [`DeliveryLog`] (the database layer implements it), and
//!   counted in `onair_webhook_deliveries_total{result="success|retry|failure"}`, where
//!   `failure` is a final failure.
//! * [`Dispatcher::close`] stops accepting, lets queued and running deliveries (with their
//!   retries) finish until a deadline, then aborts what is left.
//!
//! Deliveries live in memory only: whatever is queued or waiting to retry when the process
//! stops is lost (logged and counted as dropped with `reason="shutdown"`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::{JoinError, JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::endpoint::{Endpoint, validate_endpoint_target};
use super::event::{EventError, EventKind, WebhookEvent};
use super::signature::{DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, sign};

/// Default bound of the delivery queue.
pub const MAX_QUEUED_DELIVERIES: usize = 10_000;
/// Default bound of concurrent HTTP requests.
pub const MAX_IN_FLIGHT: usize = 16;
/// Default bound of deliveries started and not finished (including those waiting to retry).
pub const MAX_ACTIVE_DELIVERIES: usize = 1_000;
/// Longest error text put in an [`AttemptRecord`].
pub const MAX_ERROR_LEN: usize = 512;

/// Tuning. [`Default`] is the production setting; tests shrink the delays.
#[derive(Clone, Debug)]
pub struct DispatchConfig {
    /// Deliveries waiting to start, at most (≥ 1).
    pub queue_capacity: usize,
    /// Concurrent HTTP requests, at most (≥ 1).
    pub max_in_flight: usize,
    /// Deliveries started and not finished, at most (≥ 1).
    pub max_active: usize,
    /// Attempts per delivery, including the first (≥ 1).
    pub max_attempts: u32,
    /// Whole-request timeout of one attempt (connect, send, response headers).
    pub request_timeout: Duration,
    /// Delay before the second attempt; doubles for each further one.
    pub initial_backoff: Duration,
    /// Longest delay between attempts (at most one hour).
    pub max_backoff: Duration,
    /// Deliver to endpoints whose URL host is a loopback, private, link-local or otherwise
    /// non-public IP address. When false (the default), such attempts fail permanently before
    /// connecting; host names must be left to a client from [`super::delivery_client`] with
    /// the same setting, whose resolver applies the rule to what the name resolves to.
    pub allow_private_targets: bool,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            queue_capacity: MAX_QUEUED_DELIVERIES,
            max_in_flight: MAX_IN_FLIGHT,
            max_active: MAX_ACTIVE_DELIVERIES,
            max_attempts: 6,
            request_timeout: Duration::from_secs(10),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            allow_private_targets: false,
        }
    }
}

impl DispatchConfig {
    /// Clamps values that would deadlock (zero capacities) or overflow.
    fn normalized(mut self) -> Self {
        const MAX_BOUND: usize = 1 << 20;
        self.queue_capacity = self.queue_capacity.clamp(1, MAX_BOUND);
        self.max_in_flight = self.max_in_flight.clamp(1, MAX_BOUND);
        self.max_active = self.max_active.clamp(1, MAX_BOUND);
        self.max_attempts = self.max_attempts.max(1);
        self.max_backoff = self.max_backoff.min(Duration::from_secs(3600));
        self.initial_backoff = self.initial_backoff.min(self.max_backoff);
        self
    }
}

/// One delivery attempt, as reported to the [`DeliveryLog`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    /// ULID; the same for every attempt of one (event, endpoint) delivery.
    pub delivery_id: String,
    pub endpoint_id: String,
    pub event_id: String,
    /// `publish.started`, …
    pub event_kind: String,
    /// A test event (see `WebhookEvent::test`).
    pub test: bool,
    /// 1-based.
    pub attempt: u32,
    /// HTTP status, if a response arrived.
    pub status: Option<u16>,
    /// Why the attempt failed, if it did (at most [`MAX_ERROR_LEN`] bytes).
    pub error: Option<String>,
    pub duration_ms: u64,
    pub succeeded: bool,
    /// No further attempt follows (success, permanent failure or attempts exhausted).
    pub final_attempt: bool,
    /// When the attempt started.
    pub at_unix_ms: i64,
}

/// Where attempts are recorded. Implementations should not fail loudly (log and carry on) and
/// should be quick: a delivery waits for its record before retrying.
pub trait DeliveryLog: Send + Sync + 'static {
    fn record(&self, rec: AttemptRecord) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Why [`Dispatcher::send`] did not enqueue every delivery. Already logged and counted; callers
/// on the ingest path may ignore it.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("webhook dispatcher is closed; {dropped} deliveries dropped")]
    Closed { dropped: usize },
    #[error("webhook queue is full; {dropped} of {total} deliveries dropped")]
    QueueFull { dropped: usize, total: usize },
    #[error(transparent)]
    Encode(#[from] EventError),
}

/// Handle to the delivery task. Cheap to clone; the task ends after [`Dispatcher::close`] or
/// once every handle is dropped and the queue is drained.
#[derive(Clone)]
pub struct Dispatcher {
    tx: mpsc::Sender<Job>,
    shared: Arc<Shared>,
}

struct Shared {
    closing: CancellationToken,
    /// Cancelled when the worker has exited (also if it panicked or was aborted).
    done: CancellationToken,
    grace: parking_lot::Mutex<Duration>,
    dropped: AtomicU64,
}

struct Job {
    delivery_id: String,
    event_id: Arc<str>,
    kind: EventKind,
    test: bool,
    body: Bytes,
    endpoint: Endpoint,
}

struct Ctx {
    client: reqwest::Client,
    log: Arc<dyn DeliveryLog>,
    config: DispatchConfig,
    in_flight: Semaphore,
}

impl Dispatcher {
    /// Starts the delivery task on the current tokio runtime.
    ///
    /// `client` should not follow redirects, and should keep host names from resolving to
    /// non-public addresses unless `config.allow_private_targets`: build it with
    /// [`super::delivery_client`].
    pub fn spawn(
        client: reqwest::Client,
        log: Arc<dyn DeliveryLog>,
        config: DispatchConfig,
    ) -> (Dispatcher, JoinHandle<()>) {
        let config = config.normalized();
        let (tx, rx) = mpsc::channel(config.queue_capacity);
        let shared = Arc::new(Shared {
            closing: CancellationToken::new(),
            done: CancellationToken::new(),
            grace: parking_lot::Mutex::new(Duration::ZERO),
            dropped: AtomicU64::new(0),
        });
        let ctx = Arc::new(Ctx {
            client,
            log,
            in_flight: Semaphore::new(config.max_in_flight),
            config,
        });
        let handle = tokio::spawn(run(ctx, rx, shared.clone()));
        (Dispatcher { tx, shared }, handle)
    }

    /// Enqueues one delivery of `event` per endpoint. Never blocks: deliveries that do not fit
    /// in the queue are dropped (logged, counted) and reported in the error.
    pub fn send(&self, event: WebhookEvent, endpoints: Vec<Endpoint>) -> Result<(), DispatchError> {
        let total = endpoints.len();
        if total == 0 {
            return Ok(());
        }
        if self.shared.closing.is_cancelled() {
            self.count_dropped(total, "closed");
            tracing::warn!(event_id = %event.id, kind = %event.kind(), dropped = total, "webhook dispatcher closed; event dropped");
            return Err(DispatchError::Closed { dropped: total });
        }
        let body = match event.to_json() {
            Ok(b) => Bytes::from(b),
            Err(e) => {
                self.count_dropped(total, "encode");
                tracing::error!(error = %e, "webhook event not sent");
                return Err(e.into());
            }
        };
        let kind = event.kind();
        let test = event.test;
        let event_id: Arc<str> = event.id.into();
        let (mut full, mut closed) = (0, 0);
        for endpoint in endpoints {
            let job = Job {
                delivery_id: ulid::Ulid::generate().to_string(),
                event_id: event_id.clone(),
                kind,
                test,
                body: body.clone(),
                endpoint,
            };
            match self.tx.try_send(job) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => full += 1,
                Err(mpsc::error::TrySendError::Closed(_)) => closed += 1,
            }
        }
        if full > 0 {
            self.count_dropped(full, "queue_full");
        }
        if closed > 0 {
            self.count_dropped(closed, "closed");
        }
        let dropped = full + closed;
        if dropped == 0 {
            return Ok(());
        }
        tracing::warn!(event_id = %event_id, %kind, dropped, total, "webhook deliveries dropped");
        if closed > 0 {
            Err(DispatchError::Closed { dropped })
        } else {
            Err(DispatchError::QueueFull { dropped, total })
        }
    }

    /// Deliveries dropped so far by this dispatcher (queue full, closed, encoding errors,
    /// abandoned at shutdown).
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Deliveries waiting in the queue.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Stops accepting deliveries, lets queued and running ones finish for up to `grace`,
    /// aborts the rest, and returns when the worker has exited. Later calls (and calls from
    /// other clones) just wait; the first call's `grace` applies.
    pub async fn close(&self, grace: Duration) {
        {
            let mut g = self.shared.grace.lock();
            if !self.shared.closing.is_cancelled() {
                *g = grace;
                self.shared.closing.cancel();
            }
        }
        self.shared.done.cancelled().await;
    }

    fn count_dropped(&self, n: usize, reason: &'static str) {
        self.shared.dropped.fetch_add(n as u64, Ordering::Relaxed);
        metrics::counter!("onair_webhook_dropped_total", "reason" => reason).increment(n as u64);
    }
}

async fn run(ctx: Arc<Ctx>, mut rx: mpsc::Receiver<Job>, shared: Arc<Shared>) {
    let _done = shared.done.clone().drop_guard();
    let active = Arc::new(Semaphore::new(ctx.config.max_active));
    let mut tasks = JoinSet::new();

    loop {
        while let Some(r) = tasks.try_join_next() {
            log_join(r);
        }
        let permit = tokio::select! {
            biased;
            _ = shared.closing.cancelled() => break,
            p = active.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let job = tokio::select! {
            biased;
            _ = shared.closing.cancelled() => break,
            j = rx.recv() => match j {
                Some(j) => j,
                None => break,
            },
        };
        tasks.spawn(deliver(ctx.clone(), job, permit));
    }

    // Closing, or every handle is gone: finish what was accepted.
    rx.close();
    // No deadline when every handle was dropped without `close`, or for an absurd grace.
    let deadline = if shared.closing.is_cancelled() {
        Instant::now().checked_add(*shared.grace.lock())
    } else {
        None
    };
    let drain = async {
        while let Some(job) = rx.recv().await {
            let Ok(permit) = active.clone().acquire_owned().await else {
                break;
            };
            tasks.spawn(deliver(ctx.clone(), job, permit));
        }
        while let Some(r) = tasks.join_next().await {
            log_join(r);
        }
    };
    let finished = match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, drain).await.is_ok(),
        None => {
            drain.await;
            true
        }
    };
    if !finished {
        let queued = rx.len();
        let running = tasks.len();
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        let abandoned = queued + running;
        shared
            .dropped
            .fetch_add(abandoned as u64, Ordering::Relaxed);
        metrics::counter!("onair_webhook_dropped_total", "reason" => "shutdown")
            .increment(abandoned as u64);
        tracing::warn!(
            queued,
            running,
            "webhook dispatcher closed with deliveries unfinished"
        );
    }
}

fn log_join(r: Result<(), JoinError>) {
    if let Err(e) = r
        && e.is_panic()
    {
        tracing::error!(error = %e, "webhook delivery task panicked");
    }
}

/// What one attempt led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Success,
    Retry,
    Permanent,
}

struct AttemptResult {
    status: Option<u16>,
    error: Option<String>,
    verdict: Verdict,
    retry_after: Option<Duration>,
}

async fn deliver(ctx: Arc<Ctx>, job: Job, _active: OwnedSemaphorePermit) {
    let max = ctx.config.max_attempts;
    for attempt in 1..=max {
        // Timed from when the request can start, not while waiting for an in-flight slot.
        let mut at_unix_ms = unix_ms();
        let mut started = Instant::now();
        // Re-checked on every attempt: the URL may have been stored before the rule, or under
        // another setting. Host names are checked by the client's resolver when connecting.
        let result =
            match validate_endpoint_target(&job.endpoint.url, ctx.config.allow_private_targets) {
                Err(e) => AttemptResult {
                    status: None,
                    error: Some(format!("invalid endpoint URL: {e}")),
                    verdict: Verdict::Permanent,
                    retry_after: None,
                },
                Ok(()) => match ctx.in_flight.acquire().await {
                    Ok(_permit) => {
                        at_unix_ms = unix_ms();
                        started = Instant::now();
                        ctx.attempt(&job).await
                    }
                    Err(_) => AttemptResult {
                        status: None,
                        error: Some("dispatcher stopped".to_owned()),
                        verdict: Verdict::Permanent,
                        retry_after: None,
                    },
                },
            };
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let succeeded = result.verdict == Verdict::Success;
        let final_attempt = result.verdict != Verdict::Retry || attempt == max;
        let label = match (succeeded, final_attempt) {
            (true, _) => "success",
            (false, true) => "failure",
            (false, false) => "retry",
        };
        metrics::counter!("onair_webhook_deliveries_total", "result" => label).increment(1);
        if succeeded {
            tracing::debug!(delivery_id = %job.delivery_id, endpoint_id = %job.endpoint.id, attempt, "webhook delivered");
        } else if final_attempt {
            tracing::warn!(
                delivery_id = %job.delivery_id, endpoint_id = %job.endpoint.id, kind = %job.kind,
                attempt, status = ?result.status, error = ?result.error,
                "webhook delivery failed"
            );
        } else {
            tracing::debug!(
                delivery_id = %job.delivery_id, endpoint_id = %job.endpoint.id, attempt,
                status = ?result.status, error = ?result.error, "webhook attempt failed; will retry"
            );
        }
        ctx.log
            .record(AttemptRecord {
                delivery_id: job.delivery_id.clone(),
                endpoint_id: job.endpoint.id.clone(),
                event_id: job.event_id.to_string(),
                event_kind: job.kind.as_str().to_owned(),
                test: job.test,
                attempt,
                status: result.status,
                error: result.error,
                duration_ms,
                succeeded,
                final_attempt,
                at_unix_ms,
            })
            .await;
        if final_attempt {
            return;
        }
        let delay = backoff(&ctx.config, attempt).max(
            result
                .retry_after
                .map_or(Duration::ZERO, |d| d.min(ctx.config.max_backoff)),
        );
        tokio::time::sleep(delay).await;
    }
}

impl Ctx {
    async fn attempt(&self, job: &Job) -> AttemptResult {
        let t = unix_ms().div_euclid(1000);
        let signature = sign(job.endpoint.secret.as_bytes(), t, &job.body);
        let response = self
            .client
            .post(&job.endpoint.url)
            .timeout(self.config.request_timeout)
            .header(CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(EVENT_HEADER, job.kind.as_str())
            .header(DELIVERY_HEADER, job.delivery_id.as_str())
            .body(job.body.clone())
            .send()
            .await;
        match response {
            Ok(resp) => classify(resp.status(), resp.headers()),
            Err(e) => {
                // A name that resolves only to refused addresses will not get better by
                // retrying soon; failing at once also keeps the log from timing the refusal.
                let verdict = if e.is_builder() || super::target::is_refused_target(&e) {
                    Verdict::Permanent
                } else {
                    Verdict::Retry
                };
                let error = if e.is_timeout() {
                    format!("timed out after {:?}", self.config.request_timeout)
                } else {
                    super::describe_error(e, MAX_ERROR_LEN)
                };
                AttemptResult {
                    status: None,
                    error: Some(error),
                    verdict,
                    retry_after: None,
                }
            }
        }
    }
}

fn classify(status: StatusCode, headers: &HeaderMap) -> AttemptResult {
    let code = status.as_u16();
    let (verdict, error) = if status.is_success() {
        (Verdict::Success, None)
    } else if code == 408 || code == 429 || status.is_server_error() {
        (Verdict::Retry, Some(format!("HTTP {status}")))
    } else if status.is_redirection() {
        (
            Verdict::Permanent,
            Some(format!("HTTP {status}: redirects are not followed")),
        )
    } else {
        (Verdict::Permanent, Some(format!("HTTP {status}")))
    };
    let retry_after = (code == 429 || code == 503)
        .then(|| headers.get(RETRY_AFTER))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    AttemptResult {
        status: Some(code),
        error,
        verdict,
        retry_after,
    }
}

/// `initial · 2^(attempt−1)`, capped, times a random factor in [0.5, 1.5).
fn backoff(config: &DispatchConfig, attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(30);
    let base = config
        .initial_backoff
        .saturating_mul(1u32 << exp)
        .min(config.max_backoff);
    base.mul_f64(rand::random_range(0.5..1.5))
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::event::{EventData, PublishRef, PublishStarted};
    use crate::webhooks::signature::{DEFAULT_TOLERANCE, verify};
    use crate::webhooks::testutil::{MemoryLog, serve, wait_until};
    use axum::Router;
    use axum::http::{HeaderMap as AxumHeaders, StatusCode as AxumStatus};
    use axum::routing::post;
    use std::sync::atomic::AtomicUsize;

    const WAIT: Duration = Duration::from_secs(5);

    fn event() -> WebhookEvent {
        WebhookEvent::new(EventData::PublishStarted(PublishStarted {
            publish: PublishRef {
                channel_id: "ch_1".into(),
                channel_slug: "studio-a".into(),
                device_id: Some("dev_1".into()),
                publish_session_id: "ps_1".into(),
            },
        }))
    }

    fn endpoint(id: &str, url: String) -> Endpoint {
        Endpoint {
            id: id.into(),
            url,
            secret: format!("secret-{id}"),
        }
    }

    fn fast_config() -> DispatchConfig {
        DispatchConfig {
            // The receivers here are on loopback.
            allow_private_targets: true,
            max_attempts: 4,
            request_timeout: Duration::from_secs(2),
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            ..DispatchConfig::default()
        }
    }

    fn start(log: &Arc<MemoryLog>, config: DispatchConfig) -> (Dispatcher, JoinHandle<()>) {
        let client = crate::webhooks::http_client().unwrap();
        Dispatcher::spawn(client, log.clone(), config)
    }

    /// A receiver answering the i-th request (0-based) with `statuses[min(i, len-1)]`.
    async fn scripted(statuses: &'static [u16]) -> (String, Arc<AtomicUsize>) {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let app = Router::new().route(
            "/hook",
            post(move || {
                let h = h.clone();
                async move {
                    let i = h.fetch_add(1, Ordering::SeqCst);
                    AxumStatus::from_u16(statuses[i.min(statuses.len() - 1)]).unwrap()
                }
            }),
        );
        let addr = serve(app).await;
        (format!("http://{addr}/hook"), hits)
    }

    #[tokio::test]
    async fn delivers_signed_json_with_headers() {
        let (tx, mut rx) = mpsc::channel::<(AxumHeaders, Bytes)>(4);
        let app = Router::new().route(
            "/hook",
            post(move |headers: AxumHeaders, body: Bytes| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send((headers, body)).await;
                    AxumStatus::NO_CONTENT
                }
            }),
        );
        let addr = serve(app).await;
        let log = MemoryLog::new();
        let (d, handle) = start(&log, fast_config());
        let ev = event();
        let ep = endpoint("ep1", format!("http://{addr}/hook"));
        d.send(ev.clone(), vec![ep.clone()]).unwrap();

        let (headers, body) = tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap()
            .unwrap();
        let h = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
        assert_eq!(h("content-type"), "application/json");
        assert_eq!(h("onair-event"), "publish.started");
        assert!(h("user-agent").starts_with("OnAir-Webhooks/"));
        let now = unix_ms() / 1000;
        verify(
            ep.secret.as_bytes(),
            &h("onair-signature"),
            &body,
            now,
            DEFAULT_TOLERANCE,
        )
        .unwrap();
        assert!(
            verify(
                b"wrong",
                &h("onair-signature"),
                &body,
                now,
                DEFAULT_TOLERANCE
            )
            .is_err()
        );
        let received: WebhookEvent = serde_json::from_slice(&body).unwrap();
        assert_eq!(received, ev);

        assert!(wait_until(WAIT, || log.len() == 1).await);
        let rec = &log.records()[0];
        assert_eq!(rec.delivery_id, h("onair-delivery"));
        assert_eq!(rec.delivery_id.len(), 26);
        assert_eq!(
            (
                rec.endpoint_id.as_str(),
                rec.event_id.as_str(),
                rec.event_kind.as_str()
            ),
            ("ep1", ev.id.as_str(), "publish.started")
        );
        assert_eq!(
            (rec.attempt, rec.status, rec.succeeded, rec.final_attempt),
            (1, Some(204), true, true)
        );
        assert_eq!(rec.error, None);
        assert!(rec.at_unix_ms > 1_600_000_000_000);

        d.close(Duration::from_secs(1)).await;
        handle.await.unwrap();
    }

    #[tokio::test]
    async fn refuses_non_public_targets_without_connecting() {
        let (url, hits) = scripted(&[200]).await;
        let port = url
            .trim_start_matches("http://127.0.0.1:")
            .trim_end_matches("/hook")
            .to_owned();
        let log = MemoryLog::new();
        let config = DispatchConfig {
            allow_private_targets: false,
            ..fast_config()
        };
        let client = crate::webhooks::delivery_client(false).unwrap();
        let (d, _h) = Dispatcher::spawn(client, log.clone(), config);
        d.send(
            event(),
            vec![
                // An IP literal: refused by the URL check before each attempt.
                endpoint("literal", url.clone()),
                endpoint("mapped", format!("http://[::ffff:127.0.0.1]:{port}/hook")),
                // A name resolving to loopback: refused by the resolver.
                endpoint("name", format!("http://localhost:{port}/hook")),
            ],
        )
        .unwrap();
        assert!(
            wait_until(WAIT, || log.len() == 3).await,
            "{:?}",
            log.records()
        );
        for rec in log.records() {
            assert_eq!(rec.attempt, 1, "{rec:?}");
            assert!(rec.final_attempt && !rec.succeeded, "{rec:?}");
            assert_eq!(rec.status, None, "{rec:?}");
            let error = rec.error.as_deref().unwrap_or("");
            assert!(error.contains("non-public"), "{rec:?}");
        }
        assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing was connected to");

        // The same receiver is reached when private targets are allowed.
        let log = MemoryLog::new();
        let client = crate::webhooks::delivery_client(true).unwrap();
        let (d, _h) = Dispatcher::spawn(client, log.clone(), fast_config());
        d.send(
            event(),
            vec![
                endpoint("literal", url),
                endpoint("name", format!("http://localhost:{port}/hook")),
            ],
        )
        .unwrap();
        assert!(
            wait_until(WAIT, || log.len() == 2).await,
            "{:?}",
            log.records()
        );
        assert!(
            log.records().iter().all(|r| r.succeeded),
            "{:?}",
            log.records()
        );
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn retries_server_errors_until_success() {
        let (url, hits) = scripted(&[503, 503, 200]).await;
        let log = MemoryLog::new();
        let (d, _h) = start(&log, fast_config());
        d.send(event(), vec![endpoint("ep", url)]).unwrap();
        assert!(wait_until(WAIT, || log.records().iter().any(|r| r.final_attempt)).await);
        let recs = log.records();
        assert_eq!(recs.len(), 3);
        assert_eq!(hits.load(Ordering::SeqCst), 3);
        assert_eq!(
            recs.iter()
                .map(|r| (r.attempt, r.status, r.succeeded, r.final_attempt))
                .collect::<Vec<_>>(),
            [
                (1, Some(503), false, false),
                (2, Some(503), false, false),
                (3, Some(200), true, true)
            ]
        );
        assert!(recs.iter().all(|r| r.delivery_id == recs[0].delivery_id));
        d.close(Duration::from_secs(1)).await;
    }

    #[tokio::test]
    async fn client_errors_are_not_retried_but_408_and_429_are() {
        let (url400, hits400) = scripted(&[400, 200]).await;
        let (url429, hits429) = scripted(&[429, 408, 204]).await;
        let log = MemoryLog::new();
        let (d, _h) = start(&log, fast_config());
        d.send(
            event(),
            vec![endpoint("bad", url400), endpoint("busy", url429)],
        )
        .unwrap();
        assert!(
            wait_until(WAIT, || log
                .records()
                .iter()
                .filter(|r| r.final_attempt)
                .count()
                == 2)
            .await
        );
        let recs = log.records();
        let bad: Vec<_> = recs.iter().filter(|r| r.endpoint_id == "bad").collect();
        assert_eq!(bad.len(), 1);
        assert_eq!(
            (bad[0].status, bad[0].succeeded, bad[0].final_attempt),
            (Some(400), false, true)
        );
        assert_eq!(hits400.load(Ordering::SeqCst), 1);
        let busy: Vec<_> = recs
            .iter()
            .filter(|r| r.endpoint_id == "busy")
            .map(|r| r.status)
            .collect();
        assert_eq!(busy, [Some(429), Some(408), Some(204)]);
        assert_eq!(hits429.load(Ordering::SeqCst), 3);
        d.close(Duration::from_secs(1)).await;
    }

    #[tokio::test]
    async fn timeouts_are_retried_up_to_max_attempts() {
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let app = Router::new().route(
            "/hook",
            post(move || {
                h.fetch_add(1, Ordering::SeqCst);
                async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    AxumStatus::OK
                }
            }),
        );
        let addr = serve(app).await;
        let log = MemoryLog::new();
        let config = DispatchConfig {
            max_attempts: 3,
            request_timeout: Duration::from_millis(100),
            ..fast_config()
        };
        let (d, _h) = start(&log, config);
        d.send(
            event(),
            vec![endpoint("slow", format!("http://{addr}/hook"))],
        )
        .unwrap();
        assert!(wait_until(WAIT, || log.records().iter().any(|r| r.final_attempt)).await);
        let recs = log.records();
        assert_eq!(recs.len(), 3);
        assert_eq!(hits.load(Ordering::SeqCst), 3);
        for (i, r) in recs.iter().enumerate() {
            assert_eq!(r.attempt, i as u32 + 1);
            assert_eq!(r.status, None);
            assert!(!r.succeeded);
            assert_eq!(r.final_attempt, i == 2);
            assert!(
                r.error.as_deref().unwrap().contains("timed out"),
                "{:?}",
                r.error
            );
            assert!(r.duration_ms >= 90, "{}", r.duration_ms);
        }
        d.close(Duration::from_millis(100)).await;
    }

    #[tokio::test]
    async fn connection_errors_are_retried_and_invalid_urls_are_not() {
        // Bind and drop a listener to get a port nobody listens on.
        let port = {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap().port()
        };
        let log = MemoryLog::new();
        let (d, _h) = start(
            &log,
            DispatchConfig {
                max_attempts: 2,
                ..fast_config()
            },
        );
        d.send(
            event(),
            vec![
                endpoint("refused", format!("http://127.0.0.1:{port}/hook")),
                endpoint("invalid", "ftp://127.0.0.1/hook".into()),
            ],
        )
        .unwrap();
        assert!(
            wait_until(WAIT, || log
                .records()
                .iter()
                .filter(|r| r.final_attempt)
                .count()
                == 2)
            .await
        );
        let recs = log.records();
        let refused: Vec<_> = recs.iter().filter(|r| r.endpoint_id == "refused").collect();
        assert_eq!(refused.len(), 2);
        assert!(
            refused
                .iter()
                .all(|r| r.status.is_none() && r.error.is_some())
        );
        assert!(!refused[0].error.as_deref().unwrap().contains("127.0.0.1"));
        let invalid: Vec<_> = recs.iter().filter(|r| r.endpoint_id == "invalid").collect();
        assert_eq!(invalid.len(), 1);
        assert!(
            invalid[0]
                .error
                .as_deref()
                .unwrap()
                .starts_with("invalid endpoint URL")
        );
        d.close(Duration::from_secs(1)).await;
    }

    #[tokio::test]
    async fn full_queue_drops_without_blocking() {
        let (url, _hits) = scripted(&[200]).await;
        let log = MemoryLog::new();
        let (d, _h) = start(
            &log,
            DispatchConfig {
                queue_capacity: 4,
                ..fast_config()
            },
        );
        // On the current-thread test runtime the worker cannot run until this test yields,
        // so exactly `queue_capacity` deliveries fit.
        let started = std::time::Instant::now();
        let mut errors = 0;
        for _ in 0..10 {
            if let Err(e) = d.send(event(), vec![endpoint("ep", url.clone())]) {
                assert!(
                    matches!(
                        e,
                        DispatchError::QueueFull {
                            dropped: 1,
                            total: 1
                        }
                    ),
                    "{e}"
                );
                errors += 1;
            }
        }
        let fan_out = d.send(
            event(),
            vec![endpoint("a", url.clone()), endpoint("b", url.clone())],
        );
        assert!(matches!(
            fan_out,
            Err(DispatchError::QueueFull {
                dropped: 2,
                total: 2
            })
        ));
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(errors, 6);
        assert_eq!(d.dropped(), 8);
        assert_eq!(d.queued(), 4);

        // The queued ones are still delivered, and the queue accepts again.
        assert!(wait_until(WAIT, || log.len() == 4).await);
        d.send(event(), vec![endpoint("ep", url)]).unwrap();
        assert!(wait_until(WAIT, || log.len() == 5).await);
        assert_eq!(d.dropped(), 8);
        d.close(Duration::from_secs(1)).await;
    }

    #[tokio::test]
    async fn close_drains_the_queue_then_refuses() {
        let (url, hits) = scripted(&[200]).await;
        let log = MemoryLog::new();
        let (d, handle) = start(&log, fast_config());
        for _ in 0..3 {
            d.send(event(), vec![endpoint("ep", url.clone())]).unwrap();
        }
        tokio::time::timeout(WAIT, d.close(Duration::from_secs(2)))
            .await
            .unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 3);
        assert_eq!(log.len(), 3);
        assert!(handle.is_finished());
        assert!(matches!(
            d.send(event(), vec![endpoint("ep", url)]),
            Err(DispatchError::Closed { dropped: 1 })
        ));
        assert_eq!(d.dropped(), 1);
    }

    #[tokio::test]
    async fn close_gives_up_at_the_deadline() {
        let app = Router::new().route(
            "/hook",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                AxumStatus::OK
            }),
        );
        let addr = serve(app).await;
        let log = MemoryLog::new();
        let (d, _h) = start(
            &log,
            DispatchConfig {
                max_in_flight: 1,
                ..fast_config()
            },
        );
        for _ in 0..3 {
            d.send(
                event(),
                vec![endpoint("slow", format!("http://{addr}/hook"))],
            )
            .unwrap();
        }
        let started = std::time::Instant::now();
        tokio::time::timeout(WAIT, d.close(Duration::from_millis(100)))
            .await
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(d.dropped(), 3);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let c = DispatchConfig::default();
        for (attempt, nominal) in [(1, 1u64), (2, 2), (3, 4), (4, 8), (5, 16)] {
            for _ in 0..20 {
                let d = backoff(&c, attempt);
                let n = Duration::from_secs(nominal);
                assert!(d >= n / 2 && d < n * 3 / 2, "attempt {attempt}: {d:?}");
            }
        }
        for _ in 0..20 {
            assert!(backoff(&c, 100) < c.max_backoff * 3 / 2);
        }
    }

    #[test]
    fn zero_config_values_are_clamped() {
        let c = DispatchConfig {
            queue_capacity: 0,
            max_in_flight: 0,
            max_active: 0,
            max_attempts: 0,
            ..DispatchConfig::default()
        }
        .normalized();
        assert_eq!(
            (
                c.queue_capacity,
                c.max_in_flight,
                c.max_active,
                c.max_attempts
            ),
            (1, 1, 1, 1)
        );
    }

    #[test]
    fn retry_after_is_read_for_429_and_503_only() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, &h).retry_after,
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            classify(StatusCode::SERVICE_UNAVAILABLE, &h).retry_after,
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            classify(StatusCode::INTERNAL_SERVER_ERROR, &h).retry_after,
            None
        );
        assert_eq!(classify(StatusCode::FOUND, &h).verdict, Verdict::Permanent);
        assert_eq!(
            classify(StatusCode::NOT_FOUND, &h).verdict,
            Verdict::Permanent
        );
    }
}
