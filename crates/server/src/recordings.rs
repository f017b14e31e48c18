//! The recordings catalogue: keeps a `recordings` row per stored stream life up to date as the
//! storage sink stores it, and when a stream is completely stored either announces the
//! recording (`record.done` webhook) or, for channels that do not record, deletes its objects.
//! A background sweeper deletes recordings past their channel's retention.
//!
//! A stored stream belongs to the channel that published it, by id (carried from publish time
//! in the sink's state): its slug may have been renamed away and taken by another channel by
//! the time the stream is stored (a store outage, a spool resumed after a restart).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::db::channels::Channel;
use crate::db::recordings::RecordingProgress;
use crate::store::Store;
use crate::store::sink::StorageEvents;
use crate::store::spool::StoredState;
use crate::system::System;
use crate::webhooks::WebhookEvent;
use crate::webhooks::event::{EventData, PublishRef, RecordDone};

/// How often the retention sweeper looks for expired recordings.
pub const SWEEP_EVERY: Duration = Duration::from_secs(3600);
/// Recordings deleted per sweep at most (the next sweep continues).
pub const MAX_SWEEP_BATCH: i64 = 500;

pub struct Recorder {
    pub sys: Arc<System>,
    pub store: Store,
}

impl Recorder {
    /// The channel a stored stream belongs to, if it has one.
    async fn channel(&self, state: &StoredState) -> Option<Channel> {
        let db = &self.sys.db;
        let found: crate::db::DbResult<Option<Channel>> = async {
            let id = match &state.channel_id {
                Some(id) => Some(id.clone()),
                // Open publishing, or the state of an earlier version that did not keep the
                // id: the channel the recording was first attributed to, if any.
                None => db
                    .recording(&state.sid)
                    .await?
                    .map(|r| r.channel_id)
                    .filter(|id| !id.is_empty()),
            };
            match id {
                Some(id) => db.channel(&id).await,
                // Without a channel row: the slug's channel, if one has it.
                None => db.channel_by_slug(&state.channel).await,
            }
        }
        .await;
        found.unwrap_or_else(|e| {
            tracing::warn!(error = %e, sid = %state.sid, "the recording's channel was not looked up");
            None
        })
    }

    async fn record(&self, state: &StoredState, bytes: u64, complete: bool) {
        let channel = self.channel(state).await;
        let duration_ms = state
            .segments
            .iter()
            .map(|s| s.duration * 1000.0)
            .sum::<f64>()
            .round() as i64;
        let prefix = state.prefix();
        // Codecs and picture size from the live stream, while it is still registered.
        let tracks = self
            .sys
            .registry
            .get(&state.channel)
            .filter(|s| s.sid == state.sid)
            .and_then(|s| s.tracks());
        let codecs = tracks
            .as_ref()
            .map(|t| t.codecs())
            .filter(|c| !c.is_empty());
        let size = tracks
            .as_ref()
            .and_then(|t| t.video.as_ref())
            .map(|v| (i64::from(v.width()), i64::from(v.height())));
        let progress = RecordingProgress {
            id: &state.sid,
            channel_id: channel
                .as_ref()
                .map_or(state.channel_id.as_deref().unwrap_or(""), |c| c.id.as_str()),
            channel_slug: &state.channel,
            prefix: &prefix,
            started_at: state.segments.first().map_or(0, |s| s.pdt_ms),
            duration_ms,
            bytes: bytes as i64,
            segments: state.segments.len() as i64,
            complete,
            codecs: codecs.as_deref(),
            width: size.map(|s| s.0),
            height: size.map(|s| s.1),
        };
        if let Err(e) = self.sys.db.upsert_recording(&progress).await {
            tracing::warn!(error = %e, sid = %state.sid, "recording row not updated");
        }
        if !complete {
            return;
        }
        match channel {
            Some(c) if !c.record => {
                // The channel does not keep recordings: the stored copy was only for the
                // stream's own durability.
                if let Err(e) = self.store.delete_prefix(&prefix).await {
                    tracing::warn!(error = %e, %prefix, "deleting an unwanted recording failed");
                }
                let _ = self.sys.db.delete_recording(&state.sid).await;
            }
            Some(c) => {
                metrics::counter!("onair_recordings_completed_total").increment(1);
                self.sys.emit(
                    &c.owner_id,
                    WebhookEvent::new(EventData::RecordDone(RecordDone {
                        publish: PublishRef {
                            channel_id: c.id.clone(),
                            channel_slug: c.slug.clone(),
                            device_id: None,
                            // A recording can span several publish sessions (reconnects):
                            // it is named by its own id.
                            publish_session_id: state.sid.clone(),
                        },
                        recording_id: state.sid.clone(),
                        playlist_path: format!("/vod/{}/index.m3u8", state.sid),
                        object_prefix: prefix,
                        duration_ms: duration_ms.max(0) as u64,
                    })),
                );
            }
            None => {}
        }
    }

    /// Deletes recordings past their channel's retention; returns how many.
    pub async fn sweep(&self) -> usize {
        let now = crate::db::now_ms();
        let expired = match self.sys.db.expired_recordings(now, MAX_SWEEP_BATCH).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "retention sweep failed");
                return 0;
            }
        };
        let mut n = 0;
        for r in expired {
            match self.store.delete_prefix(&r.prefix).await {
                Ok(_) => {
                    if self.sys.db.delete_recording(&r.id).await.unwrap_or(false) {
                        n += 1;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, prefix = %r.prefix, "deleting an expired recording failed")
                }
            }
        }
        if n > 0 {
            tracing::info!(deleted = n, "retention sweep");
            metrics::counter!("onair_recordings_expired_total").increment(n as u64);
        }
        n
    }
}

impl StorageEvents for Recorder {
    fn stored<'a>(&'a self, state: &'a StoredState, bytes: u64) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if !state.ended {
                self.record(state, bytes, false).await;
            }
        })
    }

    fn finished<'a>(&'a self, state: &'a StoredState, bytes: u64) -> BoxFuture<'a, ()> {
        Box::pin(self.record(state, bytes, true))
    }
}
