//! Durable output: every completed segment of every live stream goes to an object store
//! (local files by default; any S3-compatible service; memory for tests) under a fixed layout,
//! with a stored playlist that only ever names objects already stored. A stream's stored prefix
//! with its ENDLIST playlist is its recording.
//!
//! * [`Store`] wraps `object_store` with the object metadata a CDN needs (Content-Type,
//!   Cache-Control) and whole-object, atomic writes.
//! * [`layout`] names the objects: `live/{channel}/{sid}/init.mp4`, `seg/{msn}.m4s`,
//!   `ts/{msn}.ts`, `index.m3u8`, `ts/index.m3u8`.
//! * [`sink`] is the per-stream write path: segments are written to a local spool first (so
//!   nothing acknowledged is lost when the store is down or the process dies), then uploaded
//!   in order with bounded concurrency, retries and backoff; the stored playlists are rewritten
//!   after the objects they name are stored.

pub mod layout;
pub mod sink;
pub mod spool;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::TryStreamExt;
use object_store::path::Path;
use object_store::{
    Attribute, AttributeValue, Attributes, ObjectStore, ObjectStoreExt, PutOptions, PutPayload,
};

pub mod settings;

pub use settings::{Backend, InvalidSetting, StorageArgs, StorageSettings};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("configuring the object store: {0}")]
    Config(String),
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("invalid object key {0:?}")]
    Key(String),
}

/// Cache-Control of objects that never change under their key.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Cache-Control of a playlist that still grows.
pub const GROWING_PLAYLIST: &str = "public, max-age=1";
/// Cache-Control of a finished (VOD) playlist.
pub const FINISHED_PLAYLIST: &str = "public, max-age=3600";

/// Content-Type of an object, by its key's extension.
pub fn content_type(key: &str) -> &'static str {
    match key.rsplit('.').next() {
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("mp4") | Some("m4s") => "video/mp4",
        Some("ts") => "video/mp2t",
        Some("json") => "application/json",
        Some("jpg") => "image/jpeg",
        _ => "application/octet-stream",
    }
}

/// An object store with OnAir's conventions.
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    /// Whether the backend keeps Content-Type / Cache-Control (local files do not: the origin
    /// derives them from the key).
    attributes: bool,
    name: &'static str,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.name)
            .finish()
    }
}

impl Store {
    pub fn open(settings: &StorageSettings) -> Result<Self, StoreError> {
        match &settings.backend {
            Backend::Local { dir } => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::Config(format!("{}: {e}", dir.display())))?;
                let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)?
                    .with_automatic_cleanup(true);
                Ok(Self {
                    inner: Arc::new(fs),
                    attributes: false,
                    name: "local",
                })
            }
            Backend::Memory => Ok(Self::memory()),
            Backend::S3 {
                endpoint,
                region,
                bucket,
                access_key_id,
                secret_access_key,
                virtual_hosted,
            } => {
                let mut b = object_store::aws::AmazonS3Builder::new()
                    .with_region(region)
                    .with_bucket_name(bucket)
                    .with_virtual_hosted_style_request(*virtual_hosted)
                    // Our uploader retries with its own backoff and spools; the client's own
                    // retries are kept short so a dead store is noticed quickly.
                    .with_retry(object_store::RetryConfig {
                        backoff: object_store::BackoffConfig::default(),
                        max_retries: 2,
                        retry_timeout: Duration::from_secs(10),
                    })
                    .with_client_options(
                        object_store::ClientOptions::new()
                            .with_timeout(Duration::from_secs(30))
                            .with_connect_timeout(Duration::from_secs(5)),
                    );
                if let Some(e) = endpoint {
                    b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
                }
                if let (Some(k), Some(s)) = (access_key_id, secret_access_key) {
                    b = b.with_access_key_id(k).with_secret_access_key(s);
                } else {
                    b = b.with_skip_signature(true);
                }
                let s3 = b.build().map_err(|e| StoreError::Config(e.to_string()))?;
                Ok(Self {
                    inner: Arc::new(s3),
                    attributes: true,
                    name: "s3",
                })
            }
        }
    }

    pub fn memory() -> Self {
        Self {
            inner: Arc::new(object_store::memory::InMemory::new()),
            attributes: true,
            name: "memory",
        }
    }

    pub fn backend_name(&self) -> &'static str {
        self.name
    }

    fn path(key: &str) -> Result<Path, StoreError> {
        Path::parse(key).map_err(|_| StoreError::Key(key.to_owned()))
    }

    /// Writes a whole object (atomically: readers see the old object or the new one).
    pub async fn put(
        &self,
        key: &str,
        chunks: Vec<Bytes>,
        cache_control: &'static str,
    ) -> Result<(), StoreError> {
        let mut opts = PutOptions::default();
        if self.attributes {
            let mut a = Attributes::new();
            a.insert(
                Attribute::ContentType,
                AttributeValue::from(content_type(key)),
            );
            a.insert(Attribute::CacheControl, AttributeValue::from(cache_control));
            opts.attributes = a;
        }
        let payload: PutPayload = chunks.into_iter().collect();
        self.inner
            .put_opts(&Self::path(key)?, payload, opts)
            .await?;
        Ok(())
    }

    /// The object under `key`, or `None`.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        match self.inner.get(&Self::path(key)?).await {
            Ok(r) => Ok(Some(r.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Keys and sizes of the objects under `prefix`.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let p = Self::path(prefix.trim_end_matches('/'))?;
        let metas: Vec<_> = self.inner.list(Some(&p)).try_collect().await?;
        Ok(metas
            .into_iter()
            .map(|m| (m.location.to_string(), m.size))
            .collect())
    }

    /// Deletes every object under `prefix`; returns how many.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize, StoreError> {
        let keys = self.list(prefix).await?;
        for (k, _) in &keys {
            match self.inner.delete(&Self::path(k)?).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(keys.len())
    }
}
