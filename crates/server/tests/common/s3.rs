//! A real S3-protocol server for tests: `s3s-fs` (files under a temporary directory) served
//! in-process over HTTP on loopback, with SigV4 authentication. It can be stopped and started
//! again on the same port to simulate an outage. Anonymous GETs are served too, as a public
//! bucket behind a CDN would be.

use std::net::SocketAddr;
use std::path::PathBuf;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::S3Result;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

pub const ACCESS_KEY: &str = "onair-test-access";
pub const SECRET_KEY: &str = "onair-test-secret-key-0123456789";
pub const BUCKET: &str = "media";

/// Signed requests may do anything; anonymous ones may only read (a public-read bucket).
struct PublicRead;

#[async_trait::async_trait]
impl S3Access for PublicRead {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        if cx.credentials().is_some()
            || *cx.method() == axum::http::Method::GET
            || *cx.method() == axum::http::Method::HEAD
        {
            Ok(())
        } else {
            Err(s3s::s3_error!(
                AccessDenied,
                "anonymous writes are not allowed"
            ))
        }
    }
}

/// Points a test node's storage at `s3`.
pub fn use_s3(s: &mut onair_server::config::Settings, s3: &S3Server) {
    s.storage.backend = onair_server::store::Backend::S3 {
        endpoint: Some(s3.endpoint()),
        region: "us-east-1".into(),
        bucket: BUCKET.into(),
        access_key_id: Some(ACCESS_KEY.into()),
        secret_access_key: Some(SECRET_KEY.into()),
        virtual_hosted: false,
    };
}

pub struct S3Server {
    pub addr: SocketAddr,
    pub root: tempfile::TempDir,
    tasks: Option<JoinSet<()>>,
}

impl S3Server {
    /// Starts a server with an empty bucket [`BUCKET`].
    pub async fn start() -> Self {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join(BUCKET)).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut s = Self {
            addr,
            root,
            tasks: None,
        };
        s.serve(listener);
        s
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where object `key` of the bucket lives on disk.
    pub fn object_path(&self, key: &str) -> PathBuf {
        self.root.path().join(BUCKET).join(key)
    }

    /// Public URL of an object (path-style).
    pub fn url(&self, key: &str) -> String {
        format!("http://{}/{BUCKET}/{key}", self.addr)
    }

    fn serve(&mut self, listener: TcpListener) {
        let fs = s3s_fs::FileSystem::new(self.root.path()).unwrap();
        let mut b = S3ServiceBuilder::new(fs);
        b.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        b.set_access(PublicRead);
        let service = b.build();
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let service = service.clone();
                conns.spawn(async move {
                    let http = ConnBuilder::new(TokioExecutor::new());
                    let _ = http.serve_connection(TokioIo::new(socket), service).await;
                });
            }
        });
        self.tasks = Some(tasks);
    }

    /// Stops answering: the listener and every open connection go away (connections are
    /// refused until [`S3Server::restart`]).
    pub async fn stop(&mut self) {
        if let Some(mut t) = self.tasks.take() {
            t.abort_all();
            while t.join_next().await.is_some() {}
        }
    }

    /// Serves again on the same address and files.
    pub async fn restart(&mut self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if std::time::Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => panic!("rebinding the S3 server on {}: {e}", self.addr),
            }
        };
        self.serve(listener);
    }
}
