//! Publish authorization: the one seam between the protocol code and whoever decides who may
//! publish where. The RTMP driver asks an [`PublishAuthorizer`]; today's implementation maps the
//! stream name to the channel of the same name, later ones look up device stream keys.

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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishGrant {
    /// Channel the stream is published to (the public name in playback URLs).
    pub channel: String,
}

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

/// Decides whether a publish may start and on which channel.
pub trait PublishAuthorizer: Send + Sync + 'static {
    fn authorize<'a>(&'a self, request: &'a PublishRequest) -> AuthFuture<'a>;
}

/// Longest channel name.
pub const MAX_CHANNEL_NAME: usize = 64;

/// True for a valid channel name: `[A-Za-z0-9_-]{1,64}`.
pub fn is_valid_channel_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_CHANNEL_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

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
