//! `[storage]` settings: which object store holds segments and recordings, and the local spool
//! in front of it.

use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;

/// A storage setting that cannot be used: its name (as the flag) and why.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {name}: {reason}")]
pub struct InvalidSetting {
    pub name: &'static str,
    pub reason: String,
}

/// Default bound of the local spool (bytes not yet in the object store).
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 2 << 30;

/// Storage options: flags, `ONAIR_STORAGE_*` variables, or the `[storage]` table of the TOML
/// file (keys without the `storage-` prefix, e.g. `backend = "s3"`, `s3-bucket = "live"`).
#[derive(Args, Debug, Default, Deserialize, Clone)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct StorageArgs {
    /// Object store: `local` (files under --storage-dir), `s3` (any S3-compatible service:
    /// AWS S3, Alibaba OSS, MinIO, Garage) or `memory` (tests) [default: local].
    #[arg(long = "storage", env = "ONAIR_STORAGE")]
    #[serde(rename = "backend")]
    pub storage_backend: Option<String>,
    /// Directory of the `local` store [default: DATA_DIR/store].
    #[arg(long, env = "ONAIR_STORAGE_DIR")]
    #[serde(rename = "dir")]
    pub storage_dir: Option<PathBuf>,
    /// S3 endpoint URL, e.g. `https://oss-cn-hangzhou.aliyuncs.com` or `http://127.0.0.1:9000`
    /// [default: AWS for the region].
    #[arg(long, env = "ONAIR_STORAGE_S3_ENDPOINT")]
    #[serde(rename = "s3-endpoint")]
    pub storage_s3_endpoint: Option<String>,
    /// S3 region [default: us-east-1].
    #[arg(long, env = "ONAIR_STORAGE_S3_REGION")]
    #[serde(rename = "s3-region")]
    pub storage_s3_region: Option<String>,
    /// S3 bucket.
    #[arg(long, env = "ONAIR_STORAGE_S3_BUCKET")]
    #[serde(rename = "s3-bucket")]
    pub storage_s3_bucket: Option<String>,
    /// S3 access key id.
    #[arg(long, env = "ONAIR_STORAGE_S3_ACCESS_KEY_ID")]
    #[serde(rename = "s3-access-key-id")]
    pub storage_s3_access_key_id: Option<String>,
    /// S3 secret access key.
    #[arg(
        long,
        env = "ONAIR_STORAGE_S3_SECRET_ACCESS_KEY",
        hide_env_values = true
    )]
    #[serde(rename = "s3-secret-access-key")]
    pub storage_s3_secret_access_key: Option<String>,
    /// Address buckets as `https://BUCKET.endpoint/` (AWS, Alibaba OSS) rather than
    /// `https://endpoint/BUCKET/` (MinIO, Garage) [default: false: path style].
    #[arg(long, env = "ONAIR_STORAGE_S3_VIRTUAL_HOSTED")]
    #[serde(rename = "s3-virtual-hosted")]
    pub storage_s3_virtual_hosted: Option<bool>,
    /// Most bytes the local spool may hold while the store is slow or down; past it, new
    /// segments are not stored (live playback goes on) [default: 2 GiB].
    #[arg(long, env = "ONAIR_STORAGE_SPOOL_MAX_BYTES")]
    #[serde(rename = "spool-max-bytes")]
    pub storage_spool_max_bytes: Option<u64>,
}

/// Where objects go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    Local {
        dir: PathBuf,
    },
    S3 {
        endpoint: Option<String>,
        region: String,
        bucket: String,
        access_key_id: Option<String>,
        secret_access_key: Option<String>,
        virtual_hosted: bool,
    },
    Memory,
}

/// Resolved storage settings.
#[derive(Clone, Debug)]
pub struct StorageSettings {
    pub backend: Backend,
    /// Segments are written here first and removed once stored.
    pub spool_dir: PathBuf,
    pub spool_max_bytes: u64,
}

impl StorageArgs {
    /// Flags/environment (`self`) over the file's `[storage]` table over defaults.
    pub fn resolve(
        &self,
        file: &StorageArgs,
        data_dir: &Path,
    ) -> Result<StorageSettings, InvalidSetting> {
        macro_rules! opt {
            ($f:ident) => {
                self.$f.clone().or(file.$f.clone())
            };
        }
        let text = |v: Option<String>| v.filter(|s| !s.is_empty());
        let backend = match text(opt!(storage_backend)).as_deref().unwrap_or("local") {
            "local" => Backend::Local {
                dir: opt!(storage_dir).unwrap_or_else(|| data_dir.join("store")),
            },
            "memory" => Backend::Memory,
            "s3" => {
                let bucket = text(opt!(storage_s3_bucket)).ok_or(InvalidSetting {
                    name: "storage-s3-bucket",
                    reason: "the s3 backend needs a bucket".into(),
                })?;
                let endpoint = text(opt!(storage_s3_endpoint));
                if let Some(e) = &endpoint
                    && !(e.starts_with("http://") || e.starts_with("https://"))
                {
                    return Err(InvalidSetting {
                        name: "storage-s3-endpoint",
                        reason: format!("{e:?} is not an http(s) URL"),
                    });
                }
                Backend::S3 {
                    endpoint,
                    region: text(opt!(storage_s3_region)).unwrap_or_else(|| "us-east-1".into()),
                    bucket,
                    access_key_id: text(opt!(storage_s3_access_key_id)),
                    secret_access_key: text(opt!(storage_s3_secret_access_key)),
                    virtual_hosted: opt!(storage_s3_virtual_hosted).unwrap_or(false),
                }
            }
            other => {
                return Err(InvalidSetting {
                    name: "storage",
                    reason: format!("{other:?} is not local, s3 or memory"),
                });
            }
        };
        let spool_max_bytes = opt!(storage_spool_max_bytes).unwrap_or(DEFAULT_SPOOL_MAX_BYTES);
        if spool_max_bytes < 1 << 20 {
            return Err(InvalidSetting {
                name: "storage-spool-max-bytes",
                reason: "must be at least 1 MiB".into(),
            });
        }
        Ok(StorageSettings {
            backend,
            spool_dir: data_dir.join("spool"),
            spool_max_bytes,
        })
    }
}
