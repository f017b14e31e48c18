//! The recordings catalogue: keeps a `recordings` row per stored stream life up to date as the
//! storage sink stores it, and when a stream is completely stored either announces the
//! recording (`record.done` webhook) or, for channels that do not record and channels deleted
//! meanwhile, deletes its objects. A background sweeper deletes recordings past their channel's
//! retention and those of deleted channels.
//!
//! A stored stream belongs to the channel that published it, by id (carried from publish time
//! in the sink's state): its slug may have been renamed away and taken by another channel by
//! the time the stream is stored (a store outage, a spool resumed after a restart).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

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
/// A recording of a deleted channel still being stored is left to the uploader (which deletes
/// it when it completes) unless it has not progressed for this long: its spool is gone.
pub const ORPHAN_STALE_AFTER: Duration = Duration::from_secs(86_400);

pub struct Recorder {
    pub sys: Arc<System>,
    pub store: Store,
}

/// Whose a stored stream is.
enum Owner {
    Channel(Channel),
    /// Its channel was deleted: the recording goes with it.
    Deleted,
    /// No channel row (open publishing), or the database did not answer.
    Unknown,
}

impl Recorder {
    /// The channel a stored stream belongs to, if it still exists.
    async fn owner(&self, state: &StoredState) -> Owner {
        let db = &self.sys.db;
        let found: crate::db::DbResult<Owner> = async {
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
            Ok(match id {
                Some(id) => db
                    .channel(&id)
                    .await?
                    .map_or(Owner::Deleted, Owner::Channel),
                // Without a channel row: the slug's channel, if one has it.
                None => db
                    .channel_by_slug(&state.channel)
                    .await?
                    .map_or(Owner::Unknown, Owner::Channel),
            })
        }
        .await;
        found.unwrap_or_else(|e| {
            tracing::warn!(error = %e, sid = %state.sid, "the recording's channel was not looked up");
            Owner::Unknown
        })
    }

    async fn record(&self, state: &StoredState, complete: bool) {
        let owner = self.owner(state).await;
        if matches!(owner, Owner::Deleted) && !complete {
            // Not brought back to life while the rest is stored; deleted once complete.
            return;
        }
        let duration_ms = state
            .segments
            .iter()
            .map(|s| s.duration * 1000.0)
            .sum::<f64>()
            .round() as i64;
        // The size a download has (the fMP4 media; the MP4 export adds only its index), and
        // what the recording takes in the store (the TS copy too).
        let bytes: u64 = state.segments.iter().map(|s| s.fmp4_len).sum();
        let stored_bytes: u64 = state.segments.iter().map(|s| s.fmp4_len + s.ts_len).sum();
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
        let channel_id = match &owner {
            Owner::Channel(c) => c.id.as_str(),
            _ => state.channel_id.as_deref().unwrap_or(""),
        };
        let progress = RecordingProgress {
            id: &state.sid,
            channel_id,
            channel_slug: &state.channel,
            prefix: &prefix,
            // Before its first segment is stored, a recording started now; the first segment's
            // time replaces this (`upsert_recording`).
            started_at: state
                .segments
                .first()
                .map_or_else(crate::db::now_ms, |s| s.pdt_ms),
            duration_ms,
            bytes: bytes as i64,
            stored_bytes: stored_bytes as i64,
            segments: state.segments.len() as i64,
            complete,
            codecs: codecs.as_deref(),
            width: size.map(|s| s.0),
            height: size.map(|s| s.1),
        };
        // For a deleted channel this is a complete row of no channel, which the sweeper
        // deletes should the deletion below fail.
        if let Err(e) = self.sys.db.upsert_recording(&progress).await {
            tracing::warn!(error = %e, sid = %state.sid, "recording row not updated");
        }
        if !complete {
            return;
        }
        match owner {
            // The channel does not keep recordings: the stored copy was only for the stream's
            // own durability.
            Owner::Channel(c) if !c.record => {
                self.delete(&state.sid, &prefix).await;
            }
            Owner::Deleted => {
                self.delete(&state.sid, &prefix).await;
            }
            Owner::Channel(c) => {
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
            Owner::Unknown => {}
        }
    }

    /// Deletes a recording's objects, then its row; returns whether both went. The row stays
    /// while objects may be left, so the deletion can be tried again.
    async fn delete(&self, id: &str, prefix: &str) -> bool {
        match self.store.delete_prefix(prefix).await {
            Ok(_) => self.sys.db.delete_recording(id).await.unwrap_or(false),
            Err(e) => {
                tracing::warn!(error = %e, %prefix, "deleting a recording failed; tried again later");
                false
            }
        }
    }

    /// Sweeps every [`SWEEP_EVERY`], and at once when asked to (`System::recordings_sweep`,
    /// after a channel was deleted), until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.sys.recordings_sweep.notified() => {}
                _ = shutdown.cancelled() => break,
            }
            self.sweep().await;
        }
    }

    /// Deletes recordings past their channel's retention, and those of deleted channels;
    /// returns how many.
    pub async fn sweep(&self) -> usize {
        let now = crate::db::now_ms();
        let db = &self.sys.db;
        let stale = now - ORPHAN_STALE_AFTER.as_millis() as i64;
        let (expired, orphaned) = match tokio::try_join!(
            db.expired_recordings(now, MAX_SWEEP_BATCH),
            db.orphaned_recordings(stale, MAX_SWEEP_BATCH),
        ) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "recordings sweep failed");
                return 0;
            }
        };
        let mut n = [0usize; 2];
        for (i, list) in [expired, orphaned].into_iter().enumerate() {
            for r in list {
                if self.delete(&r.id, &r.prefix).await {
                    n[i] += 1;
                }
            }
        }
        if n != [0, 0] {
            tracing::info!(expired = n[0], channel_deleted = n[1], "recordings sweep");
            metrics::counter!("onair_recordings_expired_total").increment(n[0] as u64);
            metrics::counter!("onair_recordings_orphans_deleted_total").increment(n[1] as u64);
        }
        n[0] + n[1]
    }
}

impl StorageEvents for Recorder {
    fn stored<'a>(&'a self, state: &'a StoredState) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if !state.ended {
                self.record(state, false).await;
            }
        })
    }

    fn finished<'a>(&'a self, state: &'a StoredState) -> BoxFuture<'a, ()> {
        Box::pin(self.record(state, true))
    }
}
