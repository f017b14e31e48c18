//! Publish authorization by device stream key: `rtmp://HOST/{app}/{stream_key}`.
//!
//! The key is hashed (SHA-256) and looked up by its hash, so neither the lookup's timing nor
//! the database reveals the key; the stored hash is then compared in constant time. A publish is
//! granted when the device is enabled, its owner is active and its channel is not banned. Every
//! refusal is audited and counted, and failed guesses are rate-limited per publisher IP, so
//! stream keys cannot be brute-forced.

use std::sync::Arc;
use std::time::Instant;

use super::{
    AuthFuture, HookFuture, PublishAuthorizer, PublishDenied, PublishEnded, PublishGrant,
    PublishRequest, PublishStarted,
};
use crate::db::audit::{AuditResult, NewAudit};
use crate::db::publish_sessions::SessionEnd;
use crate::security::constant_time_eq;
use crate::security::secret::{self, MAX_SECRET_LEN};
use crate::system::System;
use crate::webhooks::WebhookEvent;
use crate::webhooks::event::{
    EndReason, EventData, PublishRef, PublishStarted as StartedEvent, PublishStopped,
};

pub struct StreamKeyAuthorizer {
    sys: Arc<System>,
}

impl StreamKeyAuthorizer {
    pub fn new(sys: Arc<System>) -> Self {
        Self { sys }
    }

    /// Audits and counts a refused key, and charges the publisher's IP one failed attempt.
    async fn refuse(
        &self,
        request: &PublishRequest,
        device: Option<&str>,
        why: &str,
    ) -> PublishDenied {
        let ip = request.peer.ip();
        let _ = self.sys.limiters.stream_key_ip.check(&ip, Instant::now());
        metrics::counter!("onair_stream_key_refused_total").increment(1);
        let ip_text = ip.to_string();
        if let Err(e) = self
            .sys
            .db
            .audit(NewAudit {
                actor: device.map_or("anonymous", |_| "device"),
                actor_id: None,
                action: "publish.start",
                target_type: device.map(|_| "device"),
                target_id: device,
                ip: Some(&ip_text),
                result: Some(AuditResult::Denied),
                detail: Some(why),
            })
            .await
        {
            tracing::warn!(error = %e, "audit write failed");
        }
        PublishDenied::Unauthorized(why.to_owned())
    }

    async fn check(&self, request: &PublishRequest) -> Result<PublishGrant, PublishDenied> {
        let sys = &self.sys;
        if request.app != sys.settings.rtmp_app {
            return Err(PublishDenied::BadName(format!(
                "unknown application {:?}; publish to /{}/STREAM_KEY",
                request.app, sys.settings.rtmp_app
            )));
        }
        let ip = request.peer.ip();
        if sys
            .limiters
            .stream_key_ip
            .peek(&ip, Instant::now())
            .is_err()
        {
            metrics::counter!("onair_stream_key_rate_limited_total").increment(1);
            return Err(PublishDenied::Unauthorized(
                "too many failed attempts from this address; try again later".to_owned(),
            ));
        }
        let key = request.name.as_str();
        if key.is_empty() || key.len() > MAX_SECRET_LEN {
            return Err(self.refuse(request, None, "invalid stream key").await);
        }
        let hash = secret::digest(key);
        let device = match sys.db.device_by_key_hash(&hash).await {
            Ok(Some(d)) if constant_time_eq(d.stream_key_hash.as_bytes(), hash.as_bytes()) => d,
            Ok(_) => return Err(self.refuse(request, None, "invalid stream key").await),
            Err(e) => {
                tracing::error!(error = %e, "stream key lookup failed");
                return Err(PublishDenied::Unauthorized(
                    "authorization unavailable".to_owned(),
                ));
            }
        };
        if !device.enabled {
            return Err(self
                .refuse(request, Some(&device.id), "device disabled")
                .await);
        }
        let owner = sys.db.user(&device.owner_id).await.ok().flatten();
        if owner.is_none_or(|o| o.status != crate::db::users::UserStatus::Active) {
            return Err(self
                .refuse(request, Some(&device.id), "device owner is not active")
                .await);
        }
        let Some(channel) = sys.db.channel(&device.channel_id).await.ok().flatten() else {
            return Err(self
                .refuse(request, Some(&device.id), "device has no channel")
                .await);
        };
        if channel.banned {
            return Err(self
                .refuse(request, Some(&device.id), "channel is banned")
                .await);
        }
        let packager = channel_packager(&channel, &sys.settings);
        Ok(PublishGrant {
            channel: channel.slug,
            channel_id: Some(channel.id),
            device_id: Some(device.id),
            owner_id: Some(channel.owner_id),
            takeover: sys.settings.publish_takeover,
            packager,
        })
    }
}

/// The channel's own segment/part targets over the node's, if it set any (and they fit
/// together: a part never exceeds its segment).
fn channel_packager(
    channel: &crate::db::channels::Channel,
    settings: &crate::config::Settings,
) -> Option<crate::packager::PackagerConfig> {
    if channel.segment_duration_ms.is_none() && channel.part_duration_ms.is_none() {
        return None;
    }
    let ms = |v: Option<i64>, default: std::time::Duration| {
        v.map(|m| std::time::Duration::from_millis(m as u64))
            .unwrap_or(default)
    };
    let segment_target = ms(channel.segment_duration_ms, settings.segment_duration);
    let part_target = ms(channel.part_duration_ms, settings.part_duration).min(segment_target);
    Some(crate::packager::PackagerConfig {
        segment_target,
        part_target,
    })
}

fn publish_ref(started: &PublishStarted) -> PublishRef {
    PublishRef {
        channel_id: started.grant.channel_id.clone().unwrap_or_default(),
        channel_slug: started.grant.channel.clone(),
        device_id: started.grant.device_id.clone(),
        publish_session_id: started.session_id.clone(),
    }
}

fn end_reason(reason: &str) -> EndReason {
    match reason {
        "unpublished" => EndReason::Unpublished,
        "disconnected" => EndReason::Disconnected,
        "shutdown" => EndReason::Shutdown,
        "error" => EndReason::Error,
        _ => EndReason::Kicked,
    }
}

impl PublishAuthorizer for StreamKeyAuthorizer {
    fn authorize<'a>(&'a self, request: &'a PublishRequest) -> AuthFuture<'a> {
        Box::pin(self.check(request))
    }

    fn refused<'a>(
        &'a self,
        request: &'a PublishRequest,
        grant: &'a PublishGrant,
        reason: &'a str,
    ) -> HookFuture<'a> {
        Box::pin(async move {
            // A valid key is not charged against the address's failure budget: the refusal is
            // about the channel's state, not a guess.
            let ip_text = request.peer.ip().to_string();
            if let Err(e) = self
                .sys
                .db
                .audit(NewAudit {
                    actor: "device",
                    actor_id: None,
                    action: "publish.start",
                    target_type: grant.device_id.as_ref().map(|_| "device"),
                    target_id: grant.device_id.as_deref(),
                    ip: Some(&ip_text),
                    result: Some(AuditResult::Denied),
                    detail: Some(reason),
                })
                .await
            {
                tracing::warn!(error = %e, "audit write failed");
            }
        })
    }

    fn started<'a>(&'a self, started: &'a PublishStarted) -> HookFuture<'a> {
        Box::pin(async move {
            let sys = &self.sys;
            let g = &started.grant;
            let (Some(channel_id), Some(device_id)) = (&g.channel_id, &g.device_id) else {
                return;
            };
            let ip = started.peer.ip().to_string();
            let r = async {
                sys.db
                    .start_publish_session(
                        &started.session_id,
                        channel_id,
                        Some(device_id),
                        &sys.settings.node_name,
                        &ip,
                    )
                    .await?;
                sys.db
                    .set_device_live(device_id, Some(&started.session_id), Some(&ip))
                    .await?;
                sys.db
                    .audit(NewAudit {
                        actor: "device",
                        action: "publish.start",
                        target_type: Some("channel"),
                        target_id: Some(channel_id),
                        ip: Some(&ip),
                        detail: Some(device_id),
                        ..NewAudit::default()
                    })
                    .await
            }
            .await;
            if let Err(e) = r {
                tracing::warn!(error = %e, "recording publish start failed");
            }
            // A ban (or a disabled device) committed between the authorization (maybe from a
            // cache) and now found nothing live to disconnect: look again, from the database,
            // now that the publisher is registered (any later ban finds it live and kicks it).
            let channel = sys.db.channel(channel_id).await;
            let device = sys.db.device(device_id).await;
            let refused = match (&channel, &device) {
                (Ok(Some(c)), _) if c.banned => Some("banned"),
                (Ok(None), _) => Some("channel_deleted"),
                (_, Ok(Some(d))) if !d.enabled => Some("device_disabled"),
                (_, Ok(None)) => Some("device_deleted"),
                _ => None,
            };
            if let Some(reason) = refused {
                tracing::info!(channel = %g.channel, reason, "publish ended: refused since it was authorized");
                sys.registry.kick_device(device_id, reason);
            }
            if let Some(owner) = &g.owner_id {
                sys.emit(
                    owner,
                    WebhookEvent::new(EventData::PublishStarted(StartedEvent {
                        publish: publish_ref(started),
                    })),
                );
            }
        })
    }

    fn ended<'a>(&'a self, started: &'a PublishStarted, ended: &'a PublishEnded) -> HookFuture<'a> {
        Box::pin(async move {
            let sys = &self.sys;
            let g = &started.grant;
            let (Some(channel_id), Some(device_id)) = (&g.channel_id, &g.device_id) else {
                return;
            };
            let end = SessionEnd {
                bytes: ended.bytes as i64,
                video_codec: ended.video_codec.clone(),
                audio_codec: ended.audio_codec.clone(),
                width: ended.width.map(i64::from),
                height: ended.height.map(i64::from),
                reason: ended.reason.clone(),
            };
            let ip = started.peer.ip().to_string();
            let r = async {
                sys.db
                    .end_publish_session(&started.session_id, &end)
                    .await?;
                // Only clear the device's live session if it is still this one.
                if let Some(d) = sys.db.device(device_id).await?
                    && d.current_session_id.as_deref() == Some(started.session_id.as_str())
                {
                    sys.db.set_device_live(device_id, None, None).await?;
                }
                sys.db
                    .audit(NewAudit {
                        actor: "device",
                        action: "publish.stop",
                        target_type: Some("channel"),
                        target_id: Some(channel_id),
                        ip: Some(&ip),
                        detail: Some(&ended.reason),
                        ..NewAudit::default()
                    })
                    .await
            }
            .await;
            if let Err(e) = r {
                tracing::warn!(error = %e, "recording publish end failed");
            }
            if let Some(owner) = &g.owner_id {
                sys.emit(
                    owner,
                    WebhookEvent::new(EventData::PublishStopped(PublishStopped {
                        publish: publish_ref(started),
                        duration_ms: ended.duration.as_millis() as u64,
                        bytes: ended.bytes,
                        end_reason: end_reason(&ended.reason),
                    })),
                );
            }
        })
    }
}
