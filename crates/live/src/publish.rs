//! The publish port: what a protocol driver (RTMP today; SRT, WHIP later) asks before a publish
//! starts — may this publisher publish, and on which channel — and tells when it started,
//! was refused after all, and ended. The node's account system implements it (device stream
//! keys, on-publish webhooks); the drivers only know this trait.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

/// What the publisher asked for.
#[derive(Clone, Debug)]
pub struct PublishRequest {
    /// RTMP application (the first path element of the URL, e.g. `live`).
    pub app: String,
    /// Stream name (OBS's "stream key"), without any query string.
    pub name: String,
    /// Query string after `?` in the stream name, if any.
    pub query: Option<String>,
    pub peer: SocketAddr,
}

/// A granted publish.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PublishGrant {
    /// Channel the stream is published to (the public name in playback URLs).
    pub channel: String,
    /// The channel's database id, when publishing is backed by the database.
    pub channel_id: Option<String>,
    /// The device whose stream key was used.
    pub device_id: Option<String>,
    /// The channel's owner.
    pub owner_id: Option<String>,
    /// A live publisher on the channel is replaced rather than this publish refused.
    pub takeover: bool,
    /// The channel's own segment/part targets, when it has them.
    pub packager: Option<crate::packager::PackagerConfig>,
}

/// A publish that started: the grant, the publish session id and the publisher's address.
#[derive(Clone, Debug)]
pub struct PublishStarted {
    /// What the publisher asked for.
    pub request: PublishRequest,
    pub grant: PublishGrant,
    pub session_id: String,
    pub peer: SocketAddr,
}

/// How a publish ended.
#[derive(Clone, Debug, Default)]
pub struct PublishEnded {
    pub bytes: u64,
    pub duration: std::time::Duration,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// `unpublished`, `disconnected`, `kicked`, `shutdown`, `error`.
    pub reason: String,
}

pub type HookFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// A refused publish, mapped to an RTMP `onStatus` error code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PublishDenied {
    /// `NetStream.Publish.BadName`: the name is not acceptable.
    #[error("bad name: {0}")]
    BadName(String),
    /// `NetStream.Publish.Unauthorized`: the credentials are not valid.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
}

impl PublishDenied {
    /// The RTMP status code for this refusal.
    pub fn code(&self) -> &'static str {
        match self {
            PublishDenied::BadName(_) => "NetStream.Publish.BadName",
            PublishDenied::Unauthorized(_) => "NetStream.Publish.Unauthorized",
        }
    }
}

pub type AuthFuture<'a> =
    Pin<Box<dyn Future<Output = Result<PublishGrant, PublishDenied>> + Send + 'a>>;

/// Decides whether a publish may start and on which channel, and hears when it starts and ends.
pub trait PublishAuthorizer: Send + Sync + 'static {
    fn authorize<'a>(&'a self, request: &'a PublishRequest) -> AuthFuture<'a>;

    /// An authorized publish was refused after all (its channel is already live, or the node
    /// is shutting down); `reason` is what the publisher was told.
    fn refused<'a>(
        &'a self,
        _request: &'a PublishRequest,
        _grant: &'a PublishGrant,
        _reason: &'a str,
    ) -> HookFuture<'a> {
        Box::pin(async {})
    }

    /// The publish was accepted (the RTMP session answered `NetStream.Publish.Start`).
    fn started<'a>(&'a self, _started: &'a PublishStarted) -> HookFuture<'a> {
        Box::pin(async {})
    }

    /// The publish ended. Called off the ingest path: it may take its time.
    fn ended<'a>(
        &'a self,
        _started: &'a PublishStarted,
        _ended: &'a PublishEnded,
    ) -> HookFuture<'a> {
        Box::pin(async {})
    }
}
