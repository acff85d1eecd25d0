//! The HTTP edge: accepts TCP connections and serves them with hyper (HTTP/1.1, and h2c
//! with prior knowledge) inside limits a client cannot stretch — a budget of concurrent
//! connections, a header-read timeout, an idle keep-alive timeout, and a bound on the size
//! of a request head. Routing and middleware stay poem's; poem's own `Server` offers only
//! an inactivity timeout, which a client trickling one byte at a time defeats, so this
//! module runs the accept loop instead. It must not know about routes or the API.
//!
//! The clocks, per connection (what nginx calls `client_header_timeout` and
//! `keepalive_timeout`):
//! - a new connection must deliver its first complete request head within
//!   `header_read_timeout`; later heads within it from their first byte;
//! - between requests, a connection may idle for `idle_timeout`;
//! - while a request is being handled no clock runs; once its answer is out, writes that
//!   make no progress for `idle_timeout` (a client that stopped reading) end it too.
//!
//! A closed clock fails the socket read (or write), hyper drops the connection, and its
//! slot in the budget is free again. A streaming answer (server-sent events) therefore
//! has to write something at least once per `idle_timeout`. h2c connections run on the
//! same clocks, a stream in progress counting as a request.

mod clock;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use poem::endpoint::BoxEndpoint;
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use self::clock::{ConnState, Watched};
use crate::config::Settings;
use crate::error::{ApiError, Code};

/// The limits of the edge, read from [`Settings`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub connection_queue: Duration,
    pub max_header_bytes: usize,
}

impl Limits {
    pub fn from_settings(s: &Settings) -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(s.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(s.idle_timeout_secs),
            max_connections: s.max_connections,
            connection_queue: Duration::from_millis(s.connection_queue_ms),
            max_header_bytes: s.max_header_bytes,
        }
    }
}

/// Serves `endpoint` on `listener` until `signal` resolves, then stops accepting, lets
/// requests in progress finish for up to `grace`, and closes what is left.
pub async fn serve(
    listener: TcpListener,
    endpoint: BoxEndpoint<'static>,
    limits: Limits,
    signal: impl Future<Output = ()>,
    grace: Duration,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    let edge = Arc::new(Edge {
        endpoint,
        limits,
        local,
        slots: Arc::new(Semaphore::new(limits.max_connections)),
        // Connections waiting for a slot, or being told there is none. Beyond this many
        // they are closed unanswered, so a flood cannot pile up open sockets.
        queue: Arc::new(Semaphore::new(limits.max_connections)),
        stopping: CancellationToken::new(),
        force: CancellationToken::new(),
        last_refusal_logged: AtomicU64::new(u64::MAX),
    });
    tokio::pin!(signal);
    loop {
        tokio::select! {
            _ = &mut signal => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => edge.admit(stream, peer),
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    edge.stopping.cancel();
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, edge.slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            grace_secs = grace.as_secs(),
            "closing connections still busy after the shutdown grace period"
        );
        edge.force.cancel();
    }
    Ok(())
}

static PROCESS_START: std::sync::LazyLock<std::time::Instant> =
    std::sync::LazyLock::new(std::time::Instant::now);

struct Edge {
    endpoint: BoxEndpoint<'static>,
    limits: Limits,
    local: SocketAddr,
    slots: Arc<Semaphore>,
    queue: Arc<Semaphore>,
    /// Graceful shutdown: finish the request in progress, take no new one.
    stopping: CancellationToken,
    /// The grace period is over: drop every connection.
    force: CancellationToken,
    /// Second (of the process clock) of the last refusal logged: one line a second at
    /// most, so a flood cannot flood the log too.
    last_refusal_logged: AtomicU64,
}

impl Edge {
    /// Serves `stream` in a free slot, or queues it briefly for one, or refuses it.
    fn admit(self: &Arc<Self>, stream: TcpStream, peer: SocketAddr) {
        if let Ok(slot) = self.slots.clone().try_acquire_owned() {
            tokio::spawn(self.clone().serve(stream, peer, slot));
            return;
        }
        let Ok(queued) = self.queue.clone().try_acquire_owned() else {
            self.log_refusal(
                peer,
                "connection closed unanswered: the connection queue is full",
            );
            return;
        };
        let edge = self.clone();
        tokio::spawn(async move {
            let wait = edge.limits.connection_queue;
            match tokio::time::timeout(wait, edge.slots.clone().acquire_owned()).await {
                Ok(Ok(slot)) => {
                    drop(queued);
                    edge.serve(stream, peer, slot).await;
                }
                _ => {
                    edge.log_refusal(peer, "connection answered 503: at the connection limit");
                    edge.refuse(stream).await;
                    drop(queued);
                }
            }
        });
    }

    fn log_refusal(&self, peer: SocketAddr, what: &'static str) {
        let second = PROCESS_START.elapsed().as_secs();
        if self.last_refusal_logged.swap(second, Ordering::Relaxed) != second {
            tracing::warn!(%peer, max_connections = self.limits.max_connections, "{what}");
        }
    }

    async fn serve(
        self: Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        slot: OwnedSemaphorePermit,
    ) {
        let state = Arc::new(ConnState::new());
        let io = TokioIo::new(Watched::new(stream, state.clone(), self.limits));
        let edge = self.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            // Marked before hyper reads on, so the body of this request is not taken for
            // the head of the next one.
            let busy = state.begin_request();
            let edge = edge.clone();
            async move {
                let req = poem::Request::from((
                    req,
                    LocalAddr(Addr::SocketAddr(edge.local)),
                    RemoteAddr(Addr::SocketAddr(peer)),
                    Scheme::HTTP,
                ));
                let resp = edge.endpoint.get_response(req).await;
                drop(busy);
                Ok::<_, Infallible>(hyper::Response::from(resp))
            }
        });
        let builder = self.builder(true);
        // No upgrades (WebSocket): an upgraded socket would outlive the clocks' meaning.
        let conn = builder.serve_connection(io, service);
        tokio::pin!(conn);
        tokio::select! {
            result = conn.as_mut() => log_end(result, peer),
            _ = self.stopping.cancelled() => {
                conn.as_mut().graceful_shutdown();
                tokio::select! {
                    result = conn.as_mut() => log_end(result, peer),
                    _ = self.force.cancelled() => {}
                }
            }
        }
        drop(slot);
    }

    /// Answers the first request of `stream` with 503 `unavailable` and closes it.
    async fn refuse(&self, stream: TcpStream) {
        let io = TokioIo::new(Watched::new(
            stream,
            Arc::new(ConnState::new()),
            self.limits,
        ));
        let service = hyper::service::service_fn(|_req: hyper::Request<Incoming>| async {
            let error = ApiError::new(
                Code::Unavailable,
                "the server is at its connection limit; retry in a moment",
            )
            .with_header("retry-after", "1".into());
            let resp = poem::error::ResponseError::as_response(&error);
            Ok::<_, Infallible>(hyper::Response::from(resp))
        });
        let builder = self.builder(false);
        let conn = builder.serve_connection(io, service);
        tokio::select! {
            _ = conn => {}
            _ = self.force.cancelled() => {}
        }
    }

    fn builder(&self, keep_alive: bool) -> auto::Builder<TokioExecutor> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .keep_alive(keep_alive)
            // Our own clock (below) replaces hyper's, which would also close a
            // kept-alive connection after the header timeout instead of the idle one.
            .header_read_timeout(None)
            // The read buffer bounds the head: 431 when it fills before the head ends.
            .max_buf_size(self.limits.max_header_bytes);
        builder
            .http2()
            .max_header_list_size(u32::try_from(self.limits.max_header_bytes).unwrap_or(u32::MAX))
            .max_pending_accept_reset_streams(Some(20));
        builder
    }
}

fn log_end(result: Result<(), Box<dyn std::error::Error + Send + Sync>>, peer: SocketAddr) {
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
