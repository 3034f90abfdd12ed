//! Interrupting connections: `clear(interrupt_in_use_connections = true)` closes the
//! sockets of connections being established or in use, so that whoever waits on them
//! fails at once instead of at the end of a long wait.

use std::sync::{Arc, Mutex, PoisonError};

/// How to abort one connection's I/O from another thread (e.g. shut its socket down).
type Abort = Box<dyn Fn() + Send + Sync>;

/// One connection's interrupt switch, shared by the pool and the connection's holder.
#[derive(Default)]
pub(super) struct Interrupter {
    state: Mutex<Switch>,
}

#[derive(Default)]
struct Switch {
    interrupted: bool,
    abort: Option<Abort>,
}

impl Interrupter {
    /// Registers how to abort; runs it at once if the connection was interrupted already.
    fn set(&self, abort: Abort) {
        let mut switch = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if switch.interrupted {
            drop(switch);
            abort();
        } else {
            switch.abort = Some(abort);
        }
    }

    /// Aborts the connection's I/O (once), now or as soon as it says how.
    pub(super) fn interrupt(&self) {
        let abort = {
            let mut switch = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            switch.interrupted = true;
            switch.abort.take()
        };
        if let Some(abort) = abort {
            abort();
        }
    }
}

/// A connection being established, as the pool's `connect` closure sees it: the pool
/// generation it belongs to, and where to say how to abort it. A closure that calls
/// [`Establishing::on_interrupt`] once its socket exists lets
/// [`Pool::clear(true)`](super::Pool::clear) cut the establishment short, and later the
/// connection's operations while it is checked out.
///
/// # Examples
///
/// ```
/// use greenmongo::{options::ServerAddress, pool::{Establishing, Pool, PoolOptions}};
/// use std::sync::{atomic::{AtomicBool, Ordering}, Arc};
///
/// let aborted = Arc::new(AtomicBool::new(false));
/// let flag = aborted.clone();
/// let pool = Pool::new(ServerAddress::default(), PoolOptions::default(), move |_: &ServerAddress, e: &Establishing| {
///     let flag = flag.clone();
///     e.on_interrupt(move || flag.store(true, Ordering::SeqCst)); // e.g. shut the socket down
///     Ok(())
/// });
/// pool.ready();
/// let conn = pool.check_out()?;
/// pool.clear(true); // interrupts the connection in use
/// assert!(aborted.load(Ordering::SeqCst));
/// # drop(conn);
/// # Ok::<(), greenmongo::Error>(())
/// ```
pub struct Establishing {
    pub(super) generation: u64,
    pub(super) interrupter: Arc<Interrupter>,
}

impl Establishing {
    /// The pool generation the new connection belongs to.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo::{options::ServerAddress, pool::{Establishing, Pool, PoolConnection, PoolOptions}};
    ///
    /// struct Conn { generation: u64 }
    /// impl PoolConnection for Conn {
    ///     fn is_reusable(&self) -> bool { true }
    /// }
    ///
    /// let pool = Pool::new(ServerAddress::default(), PoolOptions::default(), |_: &ServerAddress, e: &Establishing| {
    ///     Ok(Conn { generation: e.generation() })
    /// });
    /// pool.ready();
    /// pool.clear(false);
    /// pool.ready();
    /// assert_eq!(pool.check_out()?.generation, 1);
    /// # Ok::<(), greenmongo::Error>(())
    /// ```
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Says how to abort this connection's I/O from another thread (typically: shut its
    /// socket down, so that a parked read or write fails). Called by a clear with
    /// `interrupt_in_use_connections` while the connection is being established or is
    /// checked out; at once if that clear has happened already. A second call replaces
    /// the first.
    ///
    /// # Examples
    ///
    /// A pool of real sockets, each shut down by an interrupting clear (see also
    /// [`Establishing`]):
    ///
    /// ```no_run
    /// use std::net::Shutdown;
    /// use greenmongo::{options::ServerAddress, pool::{Establishing, Pool, PoolConnection, PoolOptions}, runtime::net::TcpStream};
    ///
    /// struct Conn(TcpStream);
    /// impl PoolConnection for Conn {
    ///     fn is_reusable(&self) -> bool { true }
    /// }
    ///
    /// let pool = Pool::new(ServerAddress::tcp("localhost", 27017), PoolOptions::default(), |_: &ServerAddress, e: &Establishing| {
    ///     let stream = TcpStream::connect(("localhost", 27017))?;
    ///     let socket = stream.try_clone()?;
    ///     e.on_interrupt(move || { let _ = socket.shutdown(Shutdown::Both); });
    ///     Ok(Conn(stream))
    /// });
    /// # drop(pool);
    /// ```
    pub fn on_interrupt(&self, abort: impl Fn() + Send + Sync + 'static) {
        self.interrupter.set(Box::new(abort));
    }
}

impl std::fmt::Debug for Establishing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Establishing")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}
