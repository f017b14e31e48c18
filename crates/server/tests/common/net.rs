//! Raw clients for the tests that speak to a node below HTTP libraries and ffmpeg: sockets from
//! chosen loopback addresses, "was it closed", our own RTMP publisher, a self-signed TLS
//! certificate.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use onair_rtmp::{ClientConfig, ClientEvent, ClientSession};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A TCP connection to `addr` from the loopback address `src` (all of 127/8 is local, so one
/// test can be several clients).
pub async fn connect_from(src: [u8; 4], addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((src, 0))).unwrap();
    socket.connect(addr).await.unwrap()
}

/// True if the server closes the connection within `limit` (EOF or reset on read).
pub async fn closed_within(sock: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = vec![0u8; 8192];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, sock.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// Our own RTMP client (`onair_rtmp::ClientSession`), connected to `addr` and publishing `name`
/// at `rtmp://{addr}/live/{name}` once this returns.
pub async fn rtmp_publish(addr: SocketAddr, name: &str) -> (TcpStream, ClientSession) {
    let mut sock = TcpStream::connect(addr).await.unwrap();
    let mut c = ClientSession::new(ClientConfig {
        app: "live".into(),
        tc_url: format!("rtmp://{addr}/live"),
        stream_name: name.into(),
        chunk_size: 4096,
    });
    let mut buf = vec![0u8; 65536];
    let start = Instant::now();
    loop {
        flush(&mut sock, &mut c).await;
        let n = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "server closed the connection");
        c.handle_input(&buf[..n]).unwrap();
        while let Some(e) = c.poll_event() {
            if e == ClientEvent::Publishing {
                return (sock, c);
            }
        }
        assert!(start.elapsed() < Duration::from_secs(10));
    }
}

/// Writes what the client has to send.
pub async fn flush(sock: &mut TcpStream, c: &mut ClientSession) {
    while let Some(out) = c.poll_output() {
        sock.write_all(&out).await.unwrap();
    }
}

/// A self-signed certificate for `localhost` and its key, as PEM files in `dir`.
pub fn self_signed_tls(dir: &Path) -> (PathBuf, PathBuf) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    (cert_path, key_path)
}
