//! What follows a change to a channel, in one place: the handlers that change channels say
//! *what* happened ([`ChannelEvent`]); [`System::channel_changed`] does what every such change
//! needs — the per-node channel and playback-permission caches forget it, a live stream that may
//! no longer play is ended, the recordings sweeper is woken — so no handler can forget a step.
//! (Issue #13: these sequences were repeated in four handlers. In a cluster this is where the
//! change is announced to the other nodes.)

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

impl System {
    /// Applies what `event` implies to this node's caches and live streams.
    pub fn channel_changed(&self, event: ChannelEvent<'_>) {
        match event {
            ChannelEvent::Updated {
                channel,
                renamed_from,
            } => {
                if let Some(old) = renamed_from {
                    self.channels.invalidate(old);
                    self.registry.kick_channel(old, "channel_renamed");
                }
                self.channels.invalidate(&channel.slug);
                self.playback_grants.forget_channel(&channel.id);
            }
            ChannelEvent::Deleted { channel } => {
                self.registry.kick_channel(&channel.slug, "channel_deleted");
                self.channels.invalidate(&channel.slug);
                self.playback_grants.forget_channel(&channel.id);
                // Its recordings now belong to no channel: the sweeper deletes them.
                self.recordings_sweep.notify_one();
            }
            ChannelEvent::Banned { channel } => {
                self.channels.invalidate(&channel.slug);
                self.registry.kick_channel(&channel.slug, "banned");
            }
            ChannelEvent::Resumed { channel } => self.channels.invalidate(&channel.slug),
            ChannelEvent::GrantRevoked { channel } => {
                self.channels.invalidate(&channel.slug);
                self.playback_grants.forget_channel(&channel.id);
            }
        }
    }
}
