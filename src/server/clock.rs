//! A connection's clocks (see the parent module): what the connection is doing, shared
//! by its socket and its requests, and the socket wrapper whose reads and writes fail
//! once the clock for that state runs out. Must not: decide limits (they come in
//! [`Limits`]) or touch requests beyond counting them.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use super::Limits;

/// What a connection is doing, shared by its socket and its requests. Times are
/// milliseconds since `origin`.
pub(super) struct ConnState {
    origin: Instant,
    in_flight: AtomicUsize,
    /// When the head now being read began (`IDLE`: none is being read). A new connection
    /// starts its first head at once.
    head_started: AtomicU64,
    /// When the connection last finished a request or wrote something.
    quiet_since: AtomicU64,
    /// The task whose read waits with no clock while a request runs: hyper polls the
    /// request before it next reads, so the request's end must wake it to start one.
    reader: Mutex<Option<Waker>>,
}

const IDLE: u64 = u64::MAX;

impl ConnState {
    pub(super) fn new() -> ConnState {
        ConnState {
            origin: Instant::now(),
            in_flight: AtomicUsize::new(0),
            head_started: AtomicU64::new(0),
            quiet_since: AtomicU64::new(0),
            reader: Mutex::new(None),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(IDLE - 1)
    }

    fn at(&self, ms: u64) -> Instant {
        self.origin + Duration::from_millis(ms)
    }

    pub(super) fn begin_request(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.head_started.store(IDLE, Ordering::SeqCst);
        Busy(self.clone())
    }

    fn on_read(&self) {
        if self.in_flight.load(Ordering::SeqCst) == 0 {
            let _ = self.head_started.compare_exchange(
                IDLE,
                self.now(),
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
        }
    }

    fn on_write(&self) {
        self.quiet_since.store(self.now(), Ordering::SeqCst);
    }

    /// When a read still waiting must give up: the head's deadline while one is being
    /// read, the idle deadline between requests, none while a request is handled.
    fn read_deadline(&self, limits: &Limits) -> Option<Instant> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        match self.head_started.load(Ordering::SeqCst) {
            IDLE => Some(self.at(self.quiet_since.load(Ordering::SeqCst)) + limits.idle_timeout),
            started => Some(self.at(started) + limits.header_read_timeout),
        }
    }

    /// When a write making no progress must give up.
    fn write_deadline(&self, limits: &Limits) -> Instant {
        self.at(self.quiet_since.load(Ordering::SeqCst)) + limits.idle_timeout
    }
}

/// A request in progress; its end starts the idle clock.
pub(super) struct Busy(Arc<ConnState>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.quiet_since.store(self.0.now(), Ordering::SeqCst);
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            let waker = self.0.reader.lock().ok().and_then(|mut w| w.take());
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

/// A socket whose reads and writes fail once the connection's clock runs out.
pub(super) struct Watched {
    stream: TcpStream,
    state: Arc<ConnState>,
    limits: Limits,
    read_timer: Timer,
    write_timer: Timer,
}

impl Watched {
    pub(super) fn new(stream: TcpStream, state: Arc<ConnState>, limits: Limits) -> Watched {
        Watched {
            stream,
            state,
            limits,
            read_timer: Timer::new(),
            write_timer: Timer::new(),
        }
    }
}

/// A sleep re-armed only when its deadline moves.
struct Timer {
    sleep: Pin<Box<Sleep>>,
    deadline: Option<Instant>,
}

impl Timer {
    fn new() -> Timer {
        Timer {
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            deadline: None,
        }
    }

    /// Whether `deadline` has passed; otherwise the task is woken when it does.
    fn expired(&mut self, deadline: Instant, cx: &mut Context<'_>) -> bool {
        if self.deadline != Some(deadline) {
            self.sleep.as_mut().reset(deadline);
            self.deadline = Some(deadline);
        }
        self.sleep.as_mut().poll(cx).is_ready()
    }
}

fn timed_out(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what)
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.state.on_read();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.state.read_deadline(&this.limits) {
                Some(deadline) if this.read_timer.expired(deadline, cx) => {
                    Poll::Ready(Err(timed_out("the client was too slow or idle too long")))
                }
                Some(_) => Poll::Pending,
                None => {
                    if let Ok(mut reader) = this.state.reader.lock()
                        && !reader.as_ref().is_some_and(|w| w.will_wake(cx.waker()))
                    {
                        *reader = Some(cx.waker().clone());
                    }
                    // An HTTP/2 request may have ended on another thread meanwhile.
                    if this.state.in_flight.load(Ordering::SeqCst) == 0 {
                        cx.waker().wake_by_ref();
                    }
                    Poll::Pending
                }
            },
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.stream).poll_write(cx, buf) {
            Poll::Ready(result) => {
                this.state.on_write();
                Poll::Ready(result)
            }
            Poll::Pending => {
                let deadline = this.state.write_deadline(&this.limits);
                if this.write_timer.expired(deadline, cx) {
                    Poll::Ready(Err(timed_out("the client stopped reading")))
                } else {
                    Poll::Pending
                }
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.stream).poll_write_vectored(cx, bufs) {
            Poll::Ready(result) => {
                this.state.on_write();
                Poll::Ready(result)
            }
            Poll::Pending => {
                let deadline = this.state.write_deadline(&this.limits);
                if this.write_timer.expired(deadline, cx) {
                    Poll::Ready(Err(timed_out("the client stopped reading")))
                } else {
                    Poll::Pending
                }
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
