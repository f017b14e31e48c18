//! The port through which a stream's finished media leaves the live edge for durable storage.
//!
//! The packager hands each finished segment to a [`SegmentSink`]; the node's storage
//! (`onair-store`) implements it and opens one per stream life through [`SinkFactory`]. The
//! live edge never waits on storage: implementations queue and return.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

/// A segment the packager finished.
#[derive(Clone, Debug)]
pub struct ClosedSegment {
    pub msn: u64,
    pub duration: f64,
    pub discontinuity: bool,
    pub program_date_time: SystemTime,
    pub init_id: u32,
    pub fmp4: Vec<Bytes>,
    pub ts: Vec<Bytes>,
}

/// What the packager tells storage. Implementations never block.
pub trait SegmentSink: Send + Sync {
    fn init(&self, id: u32, data: Bytes);
    fn segment(&self, segment: ClosedSegment);
    /// The stream ended: the stored playlists get EXT-X-ENDLIST.
    fn end(&self);
}

/// Which stream life a sink stores.
#[derive(Clone, Copy, Debug)]
pub struct SinkTarget<'a> {
    /// The channel's slug.
    pub channel: &'a str,
    /// The channel's database id (`None` without a channel row: open publishing).
    pub channel_id: Option<&'a str>,
    /// The stream life's id.
    pub sid: &'a str,
}

/// Opens the sink of a new stream life (the node's durable storage).
pub trait SinkFactory: Send + Sync {
    fn open_sink(self: Arc<Self>, target: SinkTarget<'_>) -> Arc<dyn SegmentSink>;
}
