//! The HTTP server: an acceptor coroutine and one coroutine per connection, each serving
//! requests one after another on its keep-alive connection.

use std::{
    io,
    net::SocketAddr,
    os::fd::{AsRawFd, RawFd},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering::Relaxed},
    },
    time::Duration,
};

use greenmongo::runtime::{
    coroutine::{self, JoinHandle},
    net::{TcpListener, TcpStream},
    sleep,
    time::with_timeout,
};

use super::{
    api::{Api, Stats},
    http::{Connection, ReadError, Response},
};

/// A keep-alive connection idle this long is closed (so are slow-drip requests).
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// A client that does not read its response within this is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a close waits for the client to stop sending (see `Connection::close`).
const LINGER: Duration = Duration::from_secs(1);

/// A running service. [`Service::shutdown`] stops it; dropping the runtime also does,
/// less politely.
#[derive(Debug)]
pub struct Service {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    stats: Arc<Stats>,
    acceptor: JoinHandle<()>,
}

impl Service {
    /// Serves `api` on `listener` until [`Service::shutdown`].
    ///
    /// # Errors
    /// When the listener has no local address.
    ///
    /// # Panics
    /// Outside a coroutine of a runtime (it spawns the acceptor there).
    pub fn start(listener: TcpListener, api: Api) -> io::Result<Service> {
        let addr = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let stats = api.stats().clone();
        let acceptor = coroutine::Builder::new().name("http-acceptor").spawn({
            let stopping = stopping.clone();
            move || accept_connections(&listener, Arc::new(api), &stopping)
        });
        Ok(Service {
            addr,
            stopping,
            stats,
            acceptor,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Stops accepting, answers in-flight requests with `Connection: close`, and waits up
    /// to `drain` for the open connections to end. Returns how many are still open (idle
    /// keep-alive clients); dropping the runtime unwinds those. Works from a coroutine or
    /// a plain thread.
    pub fn shutdown(self, drain: Duration) -> usize {
        self.stopping.store(true, Relaxed);
        // The acceptor is parked in accept(): a connection of our own wakes it to see the flag.
        let _ = TcpStream::connect(self.addr);
        let _ = self.acceptor.join();
        let _ = with_timeout(drain, || self.stats.connections_open.wait());
        self.stats.connections_open.count()
    }
}

fn accept_connections(listener: &TcpListener, api: Arc<Api>, stopping: &Arc<AtomicBool>) {
    loop {
        let accepted = listener.accept();
        if stopping.load(Relaxed) {
            return;
        }
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // E.g. out of file descriptors: say so, back off, go on.
                eprintln!("rest_service: accept failed: {e}");
                let _ = sleep(Duration::from_millis(100));
                continue;
            }
        };
        let socket = stream.as_raw_fd();
        api.stats().connection_opened(socket);
        let (api, stopping) = (api.clone(), stopping.clone());
        coroutine::Builder::new()
            .name(format!("http-conn {peer}"))
            .spawn(move || {
                let _open = OpenConnection {
                    stats: api.stats(),
                    socket,
                    stopping: &stopping,
                };
                serve_connection(stream, &api, &stopping);
            });
    }
}

/// Counts a connection as closed when its coroutine ends, also by a panic, which it
/// counts too unless the runtime is unwinding everything after a shutdown.
struct OpenConnection<'a> {
    stats: &'a Stats,
    socket: RawFd,
    stopping: &'a AtomicBool,
}

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() && !self.stopping.load(Relaxed) {
            self.stats.panics.fetch_add(1, Relaxed);
        }
        self.stats.connection_closed(self.socket);
    }
}

/// Request, response, repeat, until the client closes, asks to close, sends something
/// malformed, or the service stops.
fn serve_connection(stream: TcpStream, api: &Api, stopping: &AtomicBool) {
    let _ = stream.set_nodelay(true);
    let mut conn = Connection::new(stream);
    loop {
        let request = match with_timeout(IDLE_TIMEOUT, || conn.read_request()) {
            Ok(request) => request,
            Err(ReadError::Reject(response)) => {
                if send(&mut conn, api, &response, false) {
                    conn.close(LINGER);
                }
                return;
            }
            Err(ReadError::Closed | ReadError::Io) => return,
        };
        let response = api.handle(&request);
        let keep_alive = request.keep_alive && !stopping.load(Relaxed);
        if !send(&mut conn, api, &response, keep_alive) {
            return;
        }
        if !keep_alive {
            conn.close(LINGER);
            return;
        }
    }
}

/// Writes a response and counts it; `false` if the client is gone.
fn send(conn: &mut Connection, api: &Api, response: &Response, keep_alive: bool) -> bool {
    api.stats().record(response.status);
    with_timeout(WRITE_TIMEOUT, || conn.write_response(response, keep_alive)).is_ok()
}
