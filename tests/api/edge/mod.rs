//! The HTTP edge under attack: characters PostgreSQL cannot store (NUL), slow and silent
//! clients, too many connections, missing or doubled `Host`, and error bodies that would
//! echo huge input back. Each is answered the same way on both backends, with a 4xx and
//! a stable code, never a 5xx.

mod connections;
mod echoes;
mod nul;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::TestApp;

/// A raw TCP connection to the app, for what an HTTP client library would not send.
async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .expect("connect")
}

/// Reads one response from `stream` (head, then a `Content-Length` body): status and body.
async fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.expect("read the response");
        assert!(
            n > 0,
            "the server closed without a full answer: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.expect("read the body");
        assert!(n > 0, "the server closed mid-body");
        buf.extend_from_slice(&chunk[..n]);
    }
    (
        status,
        String::from_utf8_lossy(&buf[head_end..head_end + length]).into_owned(),
    )
}

/// Sends `request` on a new connection and reads the answer.
pub(crate) async fn exchange(app: &TestApp, request: &str) -> (u16, String) {
    let mut stream = connect(app).await;
    stream.write_all(request.as_bytes()).await.expect("send");
    read_response(&mut stream).await
}

/// Whether the server closes the connection (end of stream or reset) within `within`,
/// discarding whatever it sends first.
async fn closed_within<R: AsyncReadExt + Unpin>(stream: &mut R, within: Duration) -> bool {
    let mut chunk = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}
