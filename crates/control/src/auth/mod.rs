//! Publish authorization: the implementations of the one seam between the protocol code and
//! whoever decides who may publish where (the [`PublishAuthorizer`] port is `onair-live`'s).
//! The RTMP driver asks it before a publish starts and tells it when the publish started and
//! ended. [`stream_key::StreamKeyAuthorizer`] looks device
//! stream keys up in the database (the default); [`ChannelNameAuthorizer`] maps the stream name
//! to the channel of the same name, without credentials (`--publish-auth open`).

pub mod on_publish;
pub mod stream_key;

pub use onair_auth::{MAX_CHANNEL_NAME, is_valid_channel_name};
pub use onair_live::publish::{
    AuthFuture, HookFuture, PublishAuthorizer, PublishDenied, PublishEnded, PublishGrant,
    PublishRequest, PublishStarted,
};

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
