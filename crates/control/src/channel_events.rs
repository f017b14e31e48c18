//! What follows a change to a channel, in one place: the channel service says *what* happened
//! ([`ChannelEvent`], through `System::channel_changed` in `channels`);
//! [`System::apply_channel_change`] does what every such change needs on a node — the channel
//! and playback-permission caches forget it, a live stream that may no longer play is ended,
//! the recordings sweeper is woken — so no handler can forget a step. (Issue #13: these
//! sequences were repeated in four handlers.) In a cluster the change travels as a
//! [`ChannelChange`] and every other node applies it here too.

use crate::db::channels::Channel;
use crate::system::System;

/// A change to a channel, as the API made it.
pub enum ChannelEvent<'a> {
    /// Settings changed; `renamed_from` is the old slug when the slug changed (the live stream
    /// registered under it is ended rather than left playable under a name the channel no
    /// longer has).
    Updated {
        channel: &'a Channel,
        renamed_from: Option<&'a str>,
    },
    /// Deleted: its live publisher is disconnected and its recordings swept.
    Deleted {
        channel: &'a Channel,
    },
    /// Banned (publisher disconnected) or the ban lifted.
    Banned {
        channel: &'a Channel,
    },
    Resumed {
        channel: &'a Channel,
    },
    /// A user's permission to watch was withdrawn (their signed URLs end with the epoch).
    GrantRevoked {
        channel: &'a Channel,
    },
}

/// A channel change as the other nodes of a cluster hear of it (owned, serializable).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChannelChange {
    pub kind: ChangeKind,
    pub channel_id: String,
    pub slug: String,
    /// The slug it had, when an update renamed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Updated,
    Deleted,
    Banned,
    Resumed,
    GrantRevoked,
}

impl From<&ChannelEvent<'_>> for ChannelChange {
    fn from(e: &ChannelEvent<'_>) -> Self {
        let (kind, channel, renamed_from) = match e {
            ChannelEvent::Updated {
                channel,
                renamed_from,
            } => (
                ChangeKind::Updated,
                channel,
                renamed_from.map(str::to_owned),
            ),
            ChannelEvent::Deleted { channel } => (ChangeKind::Deleted, channel, None),
            ChannelEvent::Banned { channel } => (ChangeKind::Banned, channel, None),
            ChannelEvent::Resumed { channel } => (ChangeKind::Resumed, channel, None),
            ChannelEvent::GrantRevoked { channel } => (ChangeKind::GrantRevoked, channel, None),
        };
        Self {
            kind,
            channel_id: channel.id.clone(),
            slug: channel.slug.clone(),
            renamed_from,
        }
    }
}

impl System {
    /// What a channel change means for this node (on the node that made it and, in a
    /// cluster, on every other).
    pub fn apply_channel_change(&self, change: &ChannelChange) {
        let slug = change.slug.as_str();
        match change.kind {
            ChangeKind::Updated => {
                if let Some(old) = &change.renamed_from {
                    self.channels.invalidate(old);
                    self.registry.kick_channel(old, "channel_renamed");
                }
                self.channels.invalidate(slug);
                self.playback_grants.forget_channel(&change.channel_id);
            }
            ChangeKind::Deleted => {
                self.registry.kick_channel(slug, "channel_deleted");
                self.channels.invalidate(slug);
                self.playback_grants.forget_channel(&change.channel_id);
                // Its recordings now belong to no channel: the sweeper deletes them.
                self.recordings_sweep.notify_one();
            }
            ChangeKind::Banned => {
                self.channels.invalidate(slug);
                self.registry.kick_channel(slug, "banned");
            }
            ChangeKind::Resumed => self.channels.invalidate(slug),
            ChangeKind::GrantRevoked => {
                self.channels.invalidate(slug);
                self.playback_grants.forget_channel(&change.channel_id);
            }
        }
    }
}
