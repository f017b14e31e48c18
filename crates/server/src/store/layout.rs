//! Object keys. One stream life (`sid`, the id in its live media URLs) of one channel is one
//! prefix; within it, names are the ones its stored playlists use, relative to the playlist:
//!
//! ```text
//! live/{channel}/{sid}/index.m3u8       CMAF playlist (EVENT while live, VOD when finished)
//! live/{channel}/{sid}/init.mp4         init section (init-{id}.mp4 after a codec change)
//! live/{channel}/{sid}/seg/{msn}.m4s    CMAF segments
//! live/{channel}/{sid}/ts/index.m3u8    MPEG-TS playlist
//! live/{channel}/{sid}/ts/{msn}.ts      MPEG-TS segments
//! ```

/// The prefix (ending in `/`) of a stream's objects.
pub fn prefix(channel: &str, sid: &str) -> String {
    format!("live/{channel}/{sid}/")
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
