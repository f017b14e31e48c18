//! The OnAir node, wired: [`Server`] starts the repository, durable storage, the stream
//! registry and its directory, the ingest drivers, the control services and HTTP on the
//! settings it is given, and stops them in order. The `onair` binary is a thin CLI over it;
//! tests embed it.
//!
//! Everything else lives in the crates along the data flow (see `docs/architecture.md`): the
//! sans-IO protocol crates (`onair-rtmp`, `onair-media`, `onair-hls`), `onair-ingest`,
//! `onair-live`, `onair-store`, `onair-db`, `onair-control` and `onair-http`, re-exported here
//! under the paths they had when they were modules of this crate.
#![forbid(unsafe_code)]

/// Control: settings, system management and the services (crate `onair-control`), under the
/// old paths.
pub use onair_control::{
    auth, channel_cache, channel_events, config, mail, recordings, security, system, thumbnails,
    webhooks,
};
/// The metadata repository (crate `onair-db`), under its old path.
pub use onair_db as db;
/// HTTP delivery and the API (crate `onair-http`), under its old path.
pub use onair_http as http;
/// The ingest drivers (crate `onair-ingest`): `ingest` is the RTMP driver, under its old path.
pub use onair_ingest::{limits as ingest_limits, rtmp as ingest};
/// The live edge (crate `onair-live`), under the old paths.
pub use onair_live::{directory, edge, health, hub, packager, playlists, stream, viewers, window};
/// Durable output (crate `onair-store`), under its old path.
pub use onair_store as store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::auth::stream_key::StreamKeyAuthorizer;
use crate::auth::{ChannelNameAuthorizer, PublishAuthorizer};
use crate::config::{PublishAuthMode, Settings};
use crate::db::Db;
use crate::http::AppState;
use crate::ingest::{Ingest, IngestConfig};
use crate::packager::PackagerConfig;
use crate::stream::{Registry, StreamConfig};
use crate::system::{Bootstrap, System};

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
    Tls(#[from] crate::http::serve::TlsError),
    #[error("opening the database: {0}")]
    Db(#[from] crate::db::DbError),
    #[error("opening the object store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    System(#[from] crate::system::SystemError),
    #[error("on-publish callback: {0}")]
    OnPublish(String),
}

/// Where this node claims its streams: the shared database in a cluster, memory otherwise.
fn stream_directory(settings: &Settings, db: &Db) -> Arc<dyn directory::StreamDirectory> {
    match &settings.cluster {
        Some(c) => Arc::new(onair_control::cluster::DbDirectory::new(
            db.clone(),
            settings.node_name.clone(),
            c.node_ttl,
        )),
        None => Arc::new(directory::LocalDirectory::new(settings.node_name.clone())),
    }
}

/// A running node.
pub struct Server {
    pub rtmp_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub registry: Arc<Registry>,
    pub sys: Arc<System>,
    /// Durable storage of segments and recordings.
    pub storage: Arc<store::sink::Storage>,
    /// What the first start created (admin login, stream key), to show once.
    pub bootstrap: Option<Bootstrap>,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

impl Server {
    /// Binds the listeners and starts serving, with the publish authorization the settings
    /// name (device stream keys by default).
    pub async fn start(settings: Settings) -> Result<Self, StartError> {
        Self::start_inner(settings, None).await
    }

    /// Like [`Server::start`] with a given publish authorizer.
    pub async fn start_with(
        settings: Settings,
        authorizer: Arc<dyn PublishAuthorizer>,
    ) -> Result<Self, StartError> {
        Self::start_inner(settings, Some(authorizer)).await
    }

    async fn start_inner(
        settings: Settings,
        authorizer: Option<Arc<dyn PublishAuthorizer>>,
    ) -> Result<Self, StartError> {
        // reqwest (webhooks) and rustls (HTTPS) use the process-wide provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        std::fs::create_dir_all(&settings.data_dir).map_err(|source| StartError::DataDir {
            path: settings.data_dir.clone(),
            source,
        })?;
        let db = match &settings.database_url {
            Some(url) => Db::connect(url).await?,
            None => Db::open_sqlite(&settings.data_dir.join("onair.db")).await?,
        };
        let bootstrap = system::bootstrap(&db, &settings).await?;
        // No publisher survives a restart of this node.
        db.end_orphan_sessions(&settings.node_name).await?;
        db.clear_device_sessions(&settings.node_name).await?;
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

        let store = store::Store::open(&settings.storage)?;
        let storage = store::sink::Storage::new(store, &settings.storage);
        let resumed = storage.resume().await;
        if resumed > 0 {
            tracing::info!(
                streams = resumed,
                "uploading what the last run left in the spool"
            );
        }
        let registry = Registry::with_ports(
            StreamConfig {
                packager: PackagerConfig {
                    segment_target: settings.segment_duration,
                    part_target: settings.part_duration,
                },
                window_segments: settings.window_segments,
                unpublish_grace: settings.unpublish_grace,
                ended_retention: settings.ended_retention,
            },
            stream_directory(&settings, &db),
            Some(storage.clone()),
        );
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        // Links in mail and the publish URLs the API hands out name the ports actually bound
        // (the configured ones may be 0).
        let mut settings = settings;
        settings.http_listen = http_addr;
        settings.rtmp_listen = rtmp_addr;
        let sys = System::new(db, settings.clone(), registry.clone()).await?;
        let recorder = Arc::new(recordings::Recorder {
            sys: sys.clone(),
            store: storage.store().clone(),
        });
        storage.set_events(recorder.clone());
        if let Some(cluster) = &settings.cluster {
            let node = onair_control::cluster::OwnNode {
                name: settings.node_name.clone(),
                internal_url: cluster
                    .internal_url
                    .clone()
                    .unwrap_or_else(|| format!("http://{http_addr}")),
                rtmp_url: format!("rtmp://{rtmp_addr}/{}", settings.rtmp_app),
            };
            // Announced before the first publish can be accepted: a claim by a node without a
            // heartbeat would lapse at once.
            sys.db.register_node(&node.info()).await?;
            if let Some(url) = &settings.database_url {
                tasks.spawn(onair_control::cluster::run_listener(
                    url.clone(),
                    sys.clone(),
                    shutdown.clone(),
                ));
            }
            tasks.spawn(onair_control::cluster::run_heartbeat(
                sys.db.clone(),
                node,
                registry.clone(),
                sys.limits.lockout,
                shutdown.clone(),
            ));
        }
        tasks.spawn(thumbnails::run(
            registry.clone(),
            storage.store().clone(),
            shutdown.clone(),
        ));
        // Recordings past their channel's retention, or of deleted channels, are deleted hourly
        // (and at once after a channel is deleted).
        tasks.spawn(recorder.run(shutdown.clone()));
        let authorizer: Arc<dyn PublishAuthorizer> = match authorizer {
            Some(a) => a,
            None => match settings.publish_auth {
                PublishAuthMode::StreamKey => Arc::new(StreamKeyAuthorizer::new(sys.clone())),
                PublishAuthMode::Open => Arc::new(ChannelNameAuthorizer {
                    app: settings.rtmp_app.clone(),
                }),
            },
        };
        let authorizer =
            if settings.on_publish_url.is_some() || settings.on_publish_done_url.is_some() {
                let client =
                    webhooks::http_client().map_err(|e| StartError::OnPublish(e.to_string()))?;
                let callback = settings
                    .on_publish_url
                    .as_ref()
                    .map(|url| {
                        auth::on_publish::OnPublishCallback::new(
                            url.clone(),
                            client.clone(),
                            Duration::from_secs(5),
                        )
                    })
                    .transpose()
                    .map_err(|e| StartError::OnPublish(e.to_string()))?;
                let done = settings
                    .on_publish_done_url
                    .as_ref()
                    .map(|url| {
                        auth::on_publish::OnPublishDone::new(
                            url.clone(),
                            client.clone(),
                            Duration::from_secs(5),
                        )
                    })
                    .transpose()
                    .map_err(|e| StartError::OnPublish(e.to_string()))?;
                Arc::new(auth::on_publish::OnPublishAuthorizer::with_done(
                    authorizer, callback, done,
                )) as Arc<dyn PublishAuthorizer>
            } else {
                authorizer
            };

        let ingest = Arc::new(Ingest::new(
            registry.clone(),
            authorizer,
            IngestConfig {
                max_connections: settings.max_rtmp_connections,
                handshake_timeout: settings.rtmp_handshake_timeout,
                idle_timeout: settings.rtmp_idle_timeout,
                publish_timeout: settings.rtmp_publish_timeout,
                max_pending_per_ip: settings.max_rtmp_pending_per_ip,
                buffer_budget: settings.rtmp_buffer_budget,
                trusted_proxies: settings.trusted_proxies.clone(),
                new_session_id: db::new_id,
            },
        ));
        tasks.spawn(ingest.serve(rtmp, shutdown.clone()));

        let state = AppState {
            edge: Arc::new(edge::LocalEdge::new(registry.clone())),
            registry: registry.clone(),
            metrics: http::metrics_handle(),
            max_block: Duration::from_secs(10),
            sys: sys.clone(),
            store: storage.store().clone(),
            storage: storage.clone(),
            started: std::time::SystemTime::now(),
            event_subscribers: Default::default(),
        };
        let app = http::router(state);
        http::serve::check_open_file_limit(
            settings.http_limits.max_connections,
            settings.max_rtmp_connections,
        );
        let tls = settings
            .tls
            .as_ref()
            .map(|(cert, key)| http::serve::tls_acceptor(cert, key))
            .transpose()?;
        tasks.spawn(http::serve::serve(
            http,
            app,
            http::serve::ServeConfig {
                limits: settings.http_limits.clone(),
                trusted_proxies: settings.trusted_proxies.clone(),
                tls,
            },
            shutdown.clone(),
        ));

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
            sys,
            storage,
            bootstrap,
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
        // Ended streams finish uploading if the store lets them in time; the rest stays in
        // the spool for the next start.
        self.storage.close(grace).await;
        self.sys.close().await;
        self.sys.db.close().await;
    }
}
