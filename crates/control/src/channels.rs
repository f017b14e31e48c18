//! The channel service: every change to a channel, each with everything it implies — the
//! repository write, then what the change means for this node's caches and live streams
//! ([`ChannelEvent`], applied by [`System::channel_changed`]). The API's handlers decide who may
//! do it and whether the request is well-formed (and audit it); they call one of these to do
//! it, so no handler can write a channel and forget a consequence.

use crate::channel_events::{ChannelChange, ChannelEvent};
use crate::db::DbError;
use crate::db::channels::{Channel, ChannelChanges, Visibility};
use crate::stream::Phase;
use crate::system::System;

/// Why a channel operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("no such channel")]
    NotFound,
    #[error("no such user")]
    NoSuchUser,
    #[error("no such grant")]
    NoSuchGrant,
    /// The name cannot be taken now; the message says why, and whether waiting helps.
    #[error("{0}")]
    NameTaken(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A new channel.
#[derive(Clone, Copy, Debug)]
pub struct NewChannel<'a> {
    pub owner_id: &'a str,
    pub slug: &'a str,
    pub title: &'a str,
    pub visibility: Visibility,
    /// The channel's own segment and part targets (`None`: the node's).
    pub segment_duration_ms: Option<i64>,
    pub part_duration_ms: Option<i64>,
}

impl System {
    /// Applies what `event` implies to this node's caches and live streams, and tells the
    /// other nodes of the cluster (they apply it to theirs: see `cluster`).
    pub fn channel_changed(&self, event: ChannelEvent<'_>) {
        let change = ChannelChange::from(&event);
        self.apply_channel_change(&change);
        self.announce(crate::cluster::Announcement::Channel(change));
    }

    /// Whether `slug` can be given to a channel: no other channel has it and no stream on this
    /// node still goes by it (live, reconnecting or recently ended) — that stream's viewers and
    /// publisher would be taken over.
    pub async fn slug_free(&self, slug: &str) -> Result<(), ChannelError> {
        if self.db.channel_by_slug(slug).await?.is_some() {
            return Err(ChannelError::NameTaken(format!(
                "another channel is already named \u{201c}{slug}\u{201d}; choose another name"
            )));
        }
        if let Some(stream) = self.registry.get(slug) {
            return Err(ChannelError::NameTaken(match stream.phase() {
                Phase::Ended { since } => {
                    let left = self
                        .registry
                        .config()
                        .ended_retention
                        .saturating_sub(since.elapsed())
                        .as_secs()
                        + 1;
                    format!(
                        "a stream named \u{201c}{slug}\u{201d} ended moments ago and its viewers \
                         are still told so; the name is free again in {left} s"
                    )
                }
                Phase::Live | Phase::Grace { .. } => format!(
                    "a stream is live as \u{201c}{slug}\u{201d} on this node (published without a \
                     channel); the name is free once it ends"
                ),
            }));
        }
        Ok(())
    }

    /// Creates a channel (its slug checked with [`System::slug_free`], its owner found first).
    pub async fn create_channel(&self, new: NewChannel<'_>) -> Result<Channel, ChannelError> {
        let channel = self
            .db
            .create_channel(new.owner_id, new.slug, new.title, new.visibility)
            .await?;
        if new.segment_duration_ms.is_none() && new.part_duration_ms.is_none() {
            return Ok(channel);
        }
        let changes = ChannelChanges {
            segment_duration_ms: Some(new.segment_duration_ms),
            part_duration_ms: Some(new.part_duration_ms),
            ..ChannelChanges::default()
        };
        Ok(self
            .db
            .update_channel(&channel.id, changes)
            .await?
            .unwrap_or(channel))
    }

    /// Changes `current` (a new slug checked with [`System::slug_free`] first). A new slug
    /// applies from the next publish: a stream still live under the old one is ended.
    pub async fn update_channel(
        &self,
        current: &Channel,
        changes: ChannelChanges,
    ) -> Result<Channel, ChannelError> {
        let channel = self
            .db
            .update_channel(&current.id, changes)
            .await?
            .ok_or(ChannelError::NotFound)?;
        self.channel_changed(ChannelEvent::Updated {
            channel: &channel,
            renamed_from: (channel.slug != current.slug).then_some(current.slug.as_str()),
        });
        Ok(channel)
    }

    /// Deletes `channel` with its devices and history; its live publisher is disconnected and
    /// its recordings are swept.
    pub async fn delete_channel(&self, channel: &Channel) -> Result<(), ChannelError> {
        self.db.delete_channel(&channel.id).await?;
        self.channel_changed(ChannelEvent::Deleted { channel });
        Ok(())
    }

    /// Bans channel `id` for `reason`: its publisher is disconnected and refused until resumed.
    pub async fn ban_channel(&self, id: &str, reason: &str) -> Result<Channel, ChannelError> {
        let channel = self
            .db
            .set_channel_banned(id, Some(reason))
            .await?
            .ok_or(ChannelError::NotFound)?;
        self.channel_changed(ChannelEvent::Banned { channel: &channel });
        Ok(channel)
    }

    /// Lifts the ban of channel `id`.
    pub async fn resume_channel(&self, id: &str) -> Result<Channel, ChannelError> {
        let channel = self
            .db
            .set_channel_banned(id, None)
            .await?
            .ok_or(ChannelError::NotFound)?;
        self.channel_changed(ChannelEvent::Resumed { channel: &channel });
        Ok(channel)
    }

    /// Disconnects `channel`'s publisher (it may publish again), on whichever node of the
    /// cluster it publishes to; false when it is not live anywhere.
    pub async fn kick_publisher(&self, channel: &Channel) -> Result<bool, ChannelError> {
        if self.registry.kick_channel(&channel.slug, "kicked") {
            return Ok(true);
        }
        let Some(cluster) = &self.settings.cluster else {
            return Ok(false);
        };
        let ttl_ms = cluster.node_ttl.as_millis() as i64;
        let owner = self
            .db
            .stream_owner(
                &channel.slug,
                onair_live::directory::SOURCE_RENDITION,
                ttl_ms,
            )
            .await?;
        if owner.is_none() {
            return Ok(false);
        }
        self.announce(crate::cluster::Announcement::KickChannel {
            slug: channel.slug.clone(),
            reason: "kicked".to_owned(),
        });
        Ok(true)
    }

    /// Lets user `user_id` watch channel `channel_id`.
    pub async fn grant_channel(&self, channel_id: &str, user_id: &str) -> Result<(), ChannelError> {
        if self.db.user(user_id).await?.is_none() {
            return Err(ChannelError::NoSuchUser);
        }
        Ok(self.db.grant_channel(channel_id, user_id).await?)
    }

    /// Withdraws `user_id`'s permission to watch `channel`; the signed URLs they were given end
    /// too (the channel's playback epoch moves on).
    pub async fn revoke_grant(&self, channel: &Channel, user_id: &str) -> Result<(), ChannelError> {
        if !self.db.revoke_channel_grant(&channel.id, user_id).await? {
            return Err(ChannelError::NoSuchGrant);
        }
        self.db.bump_playback_epoch(&channel.id).await?;
        self.channel_changed(ChannelEvent::GrantRevoked { channel });
        Ok(())
    }
}
