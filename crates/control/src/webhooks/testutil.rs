//! Test helpers: loopback receivers and an in-memory delivery log.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::dispatcher::{AttemptRecord, DeliveryLog};

/// Serves `app` on 127.0.0.1 on an ephemeral port until the test runtime ends.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// Polls `cond` every 5 ms until it holds (true) or `limit` passes (false).
pub async fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[derive(Default)]
pub struct MemoryLog {
    records: parking_lot::Mutex<Vec<AttemptRecord>>,
}

impl MemoryLog {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    pub fn records(&self) -> Vec<AttemptRecord> {
        self.records.lock().clone()
    }

    pub fn len(&self) -> usize {
        self.records.lock().len()
    }
}

impl DeliveryLog for MemoryLog {
    fn record(&self, rec: AttemptRecord) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.records.lock().push(rec);
        Box::pin(std::future::ready(()))
    }
}
