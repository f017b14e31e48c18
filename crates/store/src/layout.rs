//! Object keys. One stream life (`sid`, the id in its live media URLs) of one channel is one
//! prefix; within it, names are the ones its stored playlists use, relative to the playlist:
//!
//! ```text
//! live/{owner}/{sid}/index.m3u8       CMAF playlist (EVENT while live, VOD when finished)
//! live/{owner}/{sid}/init.mp4         init section (init-{id}.mp4 after a codec change)
//! live/{owner}/{sid}/seg/{msn}.m4s    CMAF segments
//! live/{owner}/{sid}/ts/index.m3u8    MPEG-TS playlist
//! live/{owner}/{sid}/ts/{msn}.ts      MPEG-TS segments
//! ```
//!
//! `{owner}` is the channel's database id, never its slug: a slug can be renamed away and
//! given to another channel, and keys built from it would then name the first channel's
//! objects under the second one's name. Streams without a channel row (open publishing) have
//! only their slug. Recordings stored before this layout keep the prefix their row names
//! (`live/{slug}/{sid}/`).

/// What names a stream's objects: its channel's id, or its slug without a channel row.
pub fn owner<'a>(channel_id: Option<&'a str>, slug: &'a str) -> &'a str {
    channel_id.unwrap_or(slug)
}

/// The prefix (ending in `/`) of a stream's objects.
pub fn prefix(owner: &str, sid: &str) -> String {
    format!("live/{owner}/{sid}/")
}

/// The prefix of a live stream's objects.
pub fn stream_prefix(stream: &onair_live::stream::Stream) -> String {
    prefix(
        owner(stream.channel_id.as_deref(), &stream.channel),
        &stream.sid,
    )
}

/// Init section `id` (the packager numbers them from 1), relative to the prefix.
pub fn init(id: u32) -> String {
    if id <= 1 {
        "init.mp4".to_owned()
    } else {
        format!("init-{id}.mp4")
    }
}

pub fn segment(msn: u64) -> String {
    format!("seg/{msn}.m4s")
}

pub fn ts_segment(msn: u64) -> String {
    format!("ts/{msn}.ts")
}

pub const PLAYLIST: &str = "index.m3u8";
pub const TS_PLAYLIST: &str = "ts/index.m3u8";
