//! The OnAir node: RTMP ingest, the hub, packaging into LL-HLS / HLS / HTTP-FLV, and HTTP
//! delivery, wired together. The `onair` binary is a thin CLI over [`Server`]; tests embed it.
//!
//! Protocol and container logic lives in the sans-IO crates `onair-rtmp`, `onair-media` and
//! `onair-hls`; this crate owns sockets, clocks and tasks.
#![forbid(unsafe_code)]

pub mod auth;
pub mod config;
pub mod http;
pub mod hub;
pub mod ingest;
pub mod packager;
pub mod playlists;
pub mod security;
pub mod stream;
pub mod viewers;
pub mod webhooks;
pub mod window;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::auth::{ChannelNameAuthorizer, PublishAuthorizer};
use crate::config::Settings;
use crate::http::AppState;
use crate::ingest::{Ingest, IngestConfig};
use crate::packager::PackagerConfig;
use crate::stream::{Registry, StreamConfig};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("binding {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("creating data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("loading TLS certificate/key: {0}")]
    Tls(std::io::Error),
}

/// A running node.
pub struct Server {
    pub rtmp_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub registry: Arc<Registry>,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

impl Server {
    /// Binds the listeners and starts serving, with the default publish authorization
    /// (stream name = channel name).
    pub async fn start(settings: Settings) -> Result<Self, StartError> {
        let authorizer = Arc::new(ChannelNameAuthorizer {
            app: settings.rtmp_app.clone(),
        });
        Self::start_with(settings, authorizer).await
    }

    /// Like [`Server::start`] with a given publish authorizer.
    pub async fn start_with(
        settings: Settings,
        authorizer: Arc<dyn PublishAuthorizer>,
    ) -> Result<Self, StartError> {
        std::fs::create_dir_all(&settings.data_dir).map_err(|source| StartError::DataDir {
            path: settings.data_dir.clone(),
            source,
        })?;
        let rtmp = TcpListener::bind(settings.rtmp_listen)
            .await
            .map_err(|source| StartError::Bind {
                what: "RTMP",
                addr: settings.rtmp_listen,
                source,
            })?;
        let http = TcpListener::bind(settings.http_listen)
            .await
            .map_err(|source| StartError::Bind {
                what: "HTTP",
                addr: settings.http_listen,
                source,
            })?;
        let rtmp_addr = rtmp.local_addr().map_err(|source| StartError::Bind {
            what: "RTMP",
            addr: settings.rtmp_listen,
            source,
        })?;
        let http_addr = http.local_addr().map_err(|source| StartError::Bind {
            what: "HTTP",
            addr: settings.http_listen,
            source,
        })?;

        let registry = Registry::new(StreamConfig {
            packager: PackagerConfig {
                segment_target: settings.segment_duration,
                part_target: settings.part_duration,
            },
            window_segments: settings.window_segments,
            unpublish_grace: settings.unpublish_grace,
            ended_retention: settings.ended_retention,
        });
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();

        let ingest = Arc::new(Ingest::new(
            registry.clone(),
            authorizer,
            IngestConfig {
                max_connections: settings.max_rtmp_connections,
                handshake_timeout: settings.rtmp_handshake_timeout,
                idle_timeout: settings.rtmp_idle_timeout,
            },
        ));
        tasks.spawn(ingest.serve(rtmp, shutdown.clone()));

        let state = AppState {
            registry: registry.clone(),
            metrics: http::metrics_handle(),
            max_block: Duration::from_secs(10),
        };
        let app = http::router(state).into_make_service_with_connect_info::<SocketAddr>();
        match &settings.tls {
            None => {
                let token = shutdown.clone();
                tasks.spawn(async move {
                    if let Err(e) = axum::serve(http, app)
                        .with_graceful_shutdown(token.cancelled_owned())
                        .await
                    {
                        tracing::error!(error = %e, "HTTP server failed");
                    }
                });
            }
            Some((cert, key)) => {
                let _ = rustls::crypto::ring::default_provider().install_default();
                let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                    .await
                    .map_err(StartError::Tls)?;
                let std_listener = http.into_std().map_err(StartError::Tls)?;
                let handle = axum_server::Handle::new();
                let token = shutdown.clone();
                let h2 = handle.clone();
                tasks.spawn(async move {
                    token.cancelled().await;
                    h2.graceful_shutdown(Some(Duration::from_secs(5)));
                });
                let server =
                    axum_server::from_tcp_rustls(std_listener, tls).map_err(StartError::Tls)?;
                tasks.spawn(async move {
                    if let Err(e) = server.handle(handle).serve(app).await {
                        tracing::error!(error = %e, "HTTPS server failed");
                    }
                });
            }
        }

        let reg = registry.clone();
        let token = shutdown.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = tick.tick() => {
                        reg.sweep(Instant::now());
                        reg.measure(Instant::now());
                    }
                }
            }
        });

        Ok(Self {
            rtmp_addr,
            http_addr,
            registry,
            shutdown,
            tasks,
        })
    }

    /// Stops accepting, ends every stream (playlists get EXT-X-ENDLIST, publishers are closed)
    /// and waits for the listeners to finish, at most `grace`.
    pub async fn shutdown(mut self, grace: Duration) {
        self.registry.shutdown();
        self.shutdown.cancel();
        let _ = tokio::time::timeout(grace, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        self.tasks.abort_all();
    }
}
