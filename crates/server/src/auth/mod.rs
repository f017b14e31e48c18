//! Publish authorization: the one seam between the protocol code and whoever decides who may
//! publish where. The RTMP driver asks a [`PublishAuthorizer`] before a publish starts and tells
//! it when the publish started and ended. [`stream_key::StreamKeyAuthorizer`] looks device
//! stream keys up in the database (the default); [`ChannelNameAuthorizer`] maps the stream name
//! to the channel of the same name, without credentials (`--publish-auth open`).

pub mod on_publish;
pub mod stream_key;

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

pub use onair_auth::{MAX_CHANNEL_NAME, is_valid_channel_name};

/// Publishing to `rtmp://host/{app}/{name}` publishes channel `{name}`, for the configured app.
pub struct ChannelNameAuthorizer {
    pub app: String,
}

impl PublishAuthorizer for ChannelNameAuthorizer {
    fn authorize<'a>(&'a self, request: &'a PublishRequest) -> AuthFuture<'a> {
        Box::pin(async move {
            if request.app != self.app {
                return Err(PublishDenied::BadName(format!(
                    "unknown application {:?}; publish to /{}/NAME",
                    request.app, self.app
                )));
            }
            if !is_valid_channel_name(&request.name) {
                return Err(PublishDenied::BadName(
                    "stream name must match [A-Za-z0-9_-]{1,64}".to_owned(),
                ));
            }
            Ok(PublishGrant {
                channel: request.name.clone(),
                ..PublishGrant::default()
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(app: &str, name: &str) -> PublishRequest {
        PublishRequest {
            app: app.into(),
            name: name.into(),
            query: None,
            peer: "127.0.0.1:1".parse().unwrap(),
        }
    }

    #[tokio::test]
    async fn channel_names_are_checked() {
        let a = ChannelNameAuthorizer { app: "live".into() };
        assert_eq!(
            a.authorize(&req("live", "cam_1-A")).await.unwrap().channel,
            "cam_1-A"
        );
        assert!(matches!(
            a.authorize(&req("live", "")).await,
            Err(PublishDenied::BadName(_))
        ));
        assert!(a.authorize(&req("live", "a/b")).await.is_err());
        assert!(a.authorize(&req("live", &"x".repeat(65))).await.is_err());
        assert!(a.authorize(&req("other", "x")).await.is_err());
        assert!(a.authorize(&req("live", "ünï")).await.is_err());
    }
}
