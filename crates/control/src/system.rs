//! What the management API, publish authorization and playback authorization share: the
//! database, the live registry, rate limiters, mail, playback signing keys and webhook events.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use data_encoding::BASE64URL_NOPAD;

use crate::config::Settings;
use crate::db::Db;
use crate::db::webhooks::NewDelivery;
use crate::mail::Mailer;
use crate::security::ratelimit::{AddrLimiter, RateLimiter};
use crate::security::secret;
use crate::security::signed_url::SigningKeys;
use crate::stream::Registry;
use crate::webhooks::{AttemptRecord, DeliveryLog, Dispatcher, Endpoint, WebhookEvent};

/// Keys tracked at most by each rate limiter.
pub const MAX_LIMITER_KEYS: usize = 100_000;

pub use crate::config::limits::LimitSettings;

pub struct Limiters {
    pub login_ip: AddrLimiter,
    pub stream_key_ip: AddrLimiter,
    pub mail_ip: AddrLimiter,
    /// Webhook test events, by user id.
    pub webhook_test_user: RateLimiter<String>,
    /// Failed logins for addresses without an account: they lock out exactly like real
    /// accounts, so lockout does not tell which addresses exist.
    pub unknown_account: UnknownAccountLockout,
}

/// The lockout policy of real accounts ([`Db::record_login_failure`]), kept in memory for
/// addresses that have no account: `threshold` consecutive failures lock the address for
/// `lockout`; a failure after a lock has passed starts counting again.
///
/// This used to be a GCRA rate limiter (`threshold` per `lockout`), which hands back one
/// attempt every `lockout / threshold`: an unknown address unlocked long before a real account
/// did, so probing a locked address part-way through the lockout told whether it existed.
pub struct UnknownAccountLockout {
    threshold: u32,
    lockout: Duration,
    max_keys: usize,
    state: parking_lot::Mutex<std::collections::HashMap<String, Failures>>,
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    locked_until: Option<Instant>,
}

impl UnknownAccountLockout {
    pub fn new(threshold: i64, lockout: Duration, max_keys: usize) -> Self {
        Self {
            threshold: threshold.clamp(1, i64::from(u32::MAX)) as u32,
            lockout,
            max_keys: max_keys.max(1),
            state: parking_lot::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Whether `key` is locked at `now`.
    pub fn is_locked(&self, key: &str, now: Instant) -> bool {
        self.state
            .lock()
            .get(key)
            .and_then(|f| f.locked_until)
            .is_some_and(|t| t > now)
    }

    /// Counts a failed login for `key` at `now`, locking it at the threshold.
    pub fn record_failure(&self, key: &str, now: Instant) {
        let mut state = self.state.lock();
        if !state.contains_key(key) && state.len() >= self.max_keys {
            // Bounded memory: forget addresses that are not locked right now. If every
            // tracked address is locked, the new one is not tracked (it only loses its count).
            state.retain(|_, f| f.locked_until.is_some_and(|t| t > now));
            if state.len() >= self.max_keys {
                return;
            }
        }
        let f = state.entry(key.to_owned()).or_insert(Failures {
            count: 0,
            locked_until: None,
        });
        if f.locked_until.is_some_and(|t| t <= now) {
            *f = Failures {
                count: 0,
                locked_until: None,
            };
        }
        f.count = f.count.saturating_add(1);
        if f.count >= self.threshold {
            f.locked_until = Some(now.checked_add(self.lockout).unwrap_or(now));
        }
    }
}

/// Keys for playback URL authorization.
pub struct PlaybackKeys {
    /// OnAir's own HMAC-SHA256 tokens (`?token=`).
    pub signed: SigningKeys,
    /// Alibaba Cloud CDN type A keys (`?auth_key=`), primary first; empty when not configured.
    pub alibaba: Vec<Vec<u8>>,
    pub alibaba_ttl: Duration,
}

/// Everything the management side shares.
pub struct System {
    pub db: Db,
    pub settings: Settings,
    pub registry: Arc<Registry>,
    pub limits: LimitSettings,
    pub limiters: Limiters,
    pub mailer: Mailer,
    pub playback: PlaybackKeys,
    /// Channels by slug, for playback authorization.
    pub channels: crate::channel_cache::ChannelCache,
    /// Recent playback permissions of signed-in callers.
    pub playback_grants: crate::channel_cache::GrantCache,
    /// Wakes the recordings sweeper before its hour is up (a deleted channel's recordings).
    pub recordings_sweep: tokio::sync::Notify,
    webhooks: Dispatcher,
    /// Passwords hashed through [`System::hash_password`].
    password_hashes: AtomicU64,
    /// Set once the node drains (see `cluster`): it takes no new work.
    pub(crate) draining: std::sync::atomic::AtomicBool,
}

#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error(transparent)]
    Mail(#[from] crate::mail::MailError),
    #[error("playback signing key: {0}")]
    SigningKey(String),
    #[error("HTTP client: {0}")]
    Http(String),
}

fn decode_key(name: &str, text: &str) -> Result<Vec<u8>, SystemError> {
    // Keys are given as URL-safe base64 (as `onair` generates them) or as raw text. Text that
    // happens to be valid base64 but decodes to too few bytes is taken as raw text.
    let decoded = BASE64URL_NOPAD
        .decode(text.trim_end_matches('=').as_bytes())
        .ok()
        .filter(|b| b.len() >= 32);
    let bytes = decoded.unwrap_or_else(|| text.as_bytes().to_vec());
    if bytes.len() < 32 {
        return Err(SystemError::SigningKey(format!(
            "{name} must be at least 32 bytes"
        )));
    }
    Ok(bytes)
}

impl System {
    pub async fn new(
        db: Db,
        settings: Settings,
        registry: Arc<Registry>,
    ) -> Result<Arc<Self>, SystemError> {
        let limits = settings.limits.clone();
        let primary = match &settings.playback_signing_key {
            Some(k) => decode_key("playback-signing-key", k)?,
            None => {
                let stored = db
                    .secret_or_create("playback_signing_key", || {
                        BASE64URL_NOPAD.encode(&secret::random_bytes(32))
                    })
                    .await?;
                decode_key("stored playback signing key", &stored)?
            }
        };
        let secondary = settings
            .playback_signing_key_secondary
            .as_deref()
            .map(|k| decode_key("playback-signing-key-secondary", k))
            .transpose()?;
        let signed = SigningKeys::new(&primary, secondary.as_deref())
            .map_err(|e| SystemError::SigningKey(e.to_string()))?;
        let alibaba = [
            &settings.alibaba_auth_key,
            &settings.alibaba_auth_key_secondary,
        ]
        .into_iter()
        .flatten()
        .map(|k| k.as_bytes().to_vec())
        .collect();
        let mailer = Mailer::new(
            db.clone(),
            &settings.mail_from,
            settings.smtp_url.as_deref(),
        )?;
        let allow_private = settings.webhook_allow_private_targets;
        let client = crate::webhooks::delivery_client(allow_private)
            .map_err(|e| SystemError::Http(e.to_string()))?;
        let (webhooks, _task) = Dispatcher::spawn(
            client,
            Arc::new(db.clone()),
            crate::webhooks::DispatchConfig {
                allow_private_targets: allow_private,
                ..Default::default()
            },
        );
        Ok(Arc::new(Self {
            limiters: Limiters {
                login_ip: AddrLimiter::new(limits.login_per_ip, MAX_LIMITER_KEYS),
                stream_key_ip: AddrLimiter::new(
                    limits.stream_key_failures_per_ip,
                    MAX_LIMITER_KEYS,
                ),
                mail_ip: AddrLimiter::new(limits.mail_per_ip, MAX_LIMITER_KEYS),
                webhook_test_user: RateLimiter::new(
                    limits.webhook_tests_per_user,
                    MAX_LIMITER_KEYS,
                ),
                unknown_account: UnknownAccountLockout::new(
                    limits.lockout_threshold,
                    limits.lockout,
                    MAX_LIMITER_KEYS,
                ),
            },
            limits,
            playback: PlaybackKeys {
                signed,
                alibaba,
                alibaba_ttl: settings.alibaba_auth_ttl,
            },
            db,
            settings,
            registry,
            mailer,
            channels: Default::default(),
            playback_grants: Default::default(),
            recordings_sweep: Default::default(),
            webhooks,
            password_hashes: AtomicU64::new(0),
            draining: false.into(),
        }))
    }

    /// Hashes a password (Argon2id, on the blocking pool) for the API, and counts it in
    /// [`System::password_hashes`] and `onair_password_hashes_total`. Hashing is the costliest
    /// thing an anonymous request can ask for (sign-up), so a flood shows in the counter; and
    /// the count is how the tests see that sign-up does the same work for every address.
    pub async fn hash_password(
        &self,
        password: &str,
    ) -> Result<String, crate::security::password::PasswordError> {
        self.password_hashes.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("onair_password_hashes_total").increment(1);
        crate::security::password::hash(password).await
    }

    /// How many passwords this node's API has hashed since it started.
    pub fn password_hashes(&self) -> u64 {
        self.password_hashes.load(Ordering::Relaxed)
    }

    /// The base URL for URLs handed back to the client of a request: `--public-url`, else the
    /// address that client used (`origin`), else the listener's.
    /// `origin` is the request's `scheme://host[:port]` (see `http::origin`).
    pub fn public_url_for(&self, origin: Option<String>) -> String {
        match (&self.settings.public_url, origin) {
            (Some(u), _) => u.clone(),
            (None, Some(o)) => o,
            (None, None) => self.public_url(),
        }
    }

    /// The base URL for links in e-mail: `--public-url`, else the listener on localhost. Never
    /// the request's `Host` (see `http::origin`).
    pub fn public_url(&self) -> String {
        match &self.settings.public_url {
            Some(u) => u.clone(),
            None => {
                let scheme = if self.settings.tls.is_some() {
                    "https"
                } else {
                    "http"
                };
                format!("{scheme}://localhost:{}", self.settings.http_listen.port())
            }
        }
    }

    /// Sends `event` to the webhooks of the channel owner (and admins) subscribed to it. Never
    /// waits for delivery.
    pub fn emit(self: &Arc<Self>, owner_id: &str, event: WebhookEvent) {
        let this = self.clone();
        let owner_id = owner_id.to_owned();
        tokio::spawn(async move {
            let kind = event.kind().as_str();
            let hooks = match this.db.webhooks_for_event(&owner_id, kind).await {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(error = %e, "looking up webhooks failed");
                    return;
                }
            };
            if hooks.is_empty() {
                return;
            }
            let endpoints = hooks
                .into_iter()
                .map(|h| Endpoint {
                    id: h.id,
                    url: h.url,
                    secret: h.secret,
                })
                .collect();
            if let Err(e) = this.webhooks.send(event, endpoints) {
                tracing::warn!(error = %e, "webhook event dropped");
            }
        });
    }

    /// Sends `event` to exactly these endpoints (the API's "send a test event").
    pub fn emit_to(&self, event: WebhookEvent, endpoints: Vec<Endpoint>) -> bool {
        self.webhooks.send(event, endpoints).is_ok()
    }

    pub async fn close(&self) {
        self.webhooks.close(Duration::from_secs(5)).await;
    }
}

impl DeliveryLog for Db {
    fn record(
        &self,
        rec: AttemptRecord,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let r = self
                .record_delivery(NewDelivery {
                    webhook_id: &rec.endpoint_id,
                    delivery_id: &rec.delivery_id,
                    event_id: &rec.event_id,
                    event_kind: &rec.event_kind,
                    test: rec.test,
                    attempt: i64::from(rec.attempt),
                    status: rec.status.map(i64::from),
                    error: rec.error.as_deref(),
                    duration_ms: rec.duration_ms as i64,
                    succeeded: rec.succeeded,
                    final_attempt: rec.final_attempt,
                    at: rec.at_unix_ms,
                })
                .await;
            if let Err(e) = r {
                tracing::warn!(error = %e, "recording a webhook delivery failed");
            }
        })
    }
}

/// What the first start of a node created, to print once.
#[derive(Clone, Debug)]
pub struct Bootstrap {
    pub admin_email: String,
    /// Generated (and shown once) when `ONAIR_ADMIN_PASSWORD` was not given.
    pub generated_password: Option<String>,
    pub channel_slug: String,
    pub stream_key: String,
}

/// On an empty database: creates the admin (from the settings, or with a generated password),
/// a public channel `main` and a device with a stream key, so a new node can be pushed to and
/// watched at once.
pub async fn bootstrap(db: &Db, settings: &Settings) -> Result<Option<Bootstrap>, SystemError> {
    use crate::db::users::{NewUser, Role, UserStatus};
    if db.count_users().await? > 0 {
        return Ok(None);
    }
    let generated = settings.admin_password.is_none().then(|| {
        // 20 characters of URL-safe base64: ~120 bits.
        secret::generate(secret::SecretKind::Csrf)
            .chars()
            .take(20)
            .collect::<String>()
    });
    let password = settings
        .admin_password
        .clone()
        .or_else(|| generated.clone())
        .unwrap_or_default();
    let hash = crate::security::password::hash(&password)
        .await
        .map_err(|e| SystemError::SigningKey(e.to_string()))?;
    let admin = match db
        .create_user(NewUser {
            email: &settings.admin_email,
            display_name: "Administrator",
            password_hash: &hash,
            role: Role::Admin,
            status: UserStatus::Active,
            email_verified: true,
        })
        .await
    {
        Ok(admin) => admin,
        // Another node of the cluster, started at the same moment on the same empty database,
        // made the first account: it shows the login, this node has nothing to show.
        Err(crate::db::DbError::Conflict(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let channel = db
        .create_channel(
            &admin.id,
            "main",
            "Main",
            crate::db::channels::Visibility::Public,
        )
        .await?;
    let key = secret::generate(secret::SecretKind::StreamKey);
    db.create_device(
        &admin.id,
        &channel.id,
        "Default encoder",
        crate::db::devices::DeviceKind::Other,
        &secret::digest(&key),
        &secret::visible_prefix(&key),
    )
    .await?;
    db.audit(crate::db::audit::NewAudit {
        actor: "system",
        action: "system.bootstrap",
        target_type: Some("user"),
        target_id: Some(&admin.id),
        ..Default::default()
    })
    .await?;
    Ok(Some(Bootstrap {
        admin_email: admin.email,
        generated_password: generated,
        channel_slug: channel.slug,
        stream_key: key,
    }))
}
