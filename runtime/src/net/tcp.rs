//! TCP sockets.

use std::{
    fmt, io,
    net::{Shutdown, SocketAddr},
    os::fd::{AsFd, AsRawFd, RawFd},
    time::{Duration, Instant},
};

use super::{ToSocketAddrs, each_addr, source::IoSource};
use crate::reactor::Direction;

/// A TCP connection, like `std::net::TcpStream`.
///
/// # Examples
/// ```
/// use std::io::{Read, Write};
/// use greenmongo_runtime::{net::{TcpListener, TcpStream}, Runtime};
///
/// let rt = Runtime::new().unwrap();
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// rt.spawn(move || {
///     let (mut conn, _) = listener.accept().unwrap();
///     let mut buf = [0; 5];
///     conn.read_exact(&mut buf).unwrap();
///     conn.write_all(&buf).unwrap();
/// });
/// let echoed = rt.block_on(move || {
///     let mut stream = TcpStream::connect(addr).unwrap();
///     stream.write_all(b"hello").unwrap();
///     let mut buf = [0; 5];
///     stream.read_exact(&mut buf).unwrap();
///     buf
/// });
/// assert_eq!(&echoed, b"hello");
/// ```
pub struct TcpStream {
    source: IoSource<mio::net::TcpStream>,
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.source.get_ref(), f)
    }
}

impl TcpStream {
    /// Connects to the first address that accepts.
    ///
    /// # Errors
    /// The last address's error, or a resolution error.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?; // also ("localhost", port), "host:port"
    /// assert_eq!(stream.peer_addr()?, listener.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(&addr, |addr| TcpStream::connect_until(addr, None))
    }

    /// Connects to one address, giving up after `timeout` with `TimedOut`.
    ///
    /// # Errors
    /// `TimedOut`, or the connection's error (e.g. `ConnectionRefused`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenmongo_runtime::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect_timeout(&listener.local_addr()?, Duration::from_secs(1))?;
    /// # let _ = stream;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        TcpStream::connect_until(*addr, Some(Instant::now() + timeout))
    }

    fn connect_until(addr: SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
        let stream = TcpStream {
            source: IoSource::new(mio::net::TcpStream::connect(addr)?),
        };
        stream.source.do_io_until(Direction::Write, deadline, |s| {
            if let Some(e) = s.take_error()? {
                return Err(e);
            }
            match s.peer_addr() {
                Ok(_) => Ok(()),
                // Still in progress: wait for writability.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                    Err(io::ErrorKind::WouldBlock.into())
                }
                Err(e) => Err(e),
            }
        })?;
        Ok(stream)
    }

    /// Wraps a connected std stream (switching it to non-blocking mode).
    ///
    /// # Errors
    /// When the mode cannot be set.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let std_stream = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let stream = TcpStream::from_std(std_stream)?; // now parks coroutines instead of blocking workers
    /// assert_eq!(stream.peer_addr()?, listener.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        Ok(TcpStream {
            source: IoSource::new(mio::net::TcpStream::from_std(stream)),
        })
    }

    fn from_mio(stream: mio::net::TcpStream) -> TcpStream {
        TcpStream {
            source: IoSource::new(stream),
        }
    }

    /// The remote address.
    ///
    /// # Errors
    /// When the socket is not connected.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let client = TcpStream::connect(listener.local_addr()?)?;
    /// let (server_side, from) = listener.accept()?;
    /// assert_eq!(server_side.peer_addr()?, from);
    /// assert_eq!(from, client.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    /// From `getsockname`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// assert!(stream.local_addr()?.ip().is_loopback());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().local_addr()
    }

    /// Shuts down reading, writing or both.
    ///
    /// # Errors
    /// From `shutdown(2)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{io::Read, net::Shutdown};
    /// use greenmongo_runtime::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let client = TcpStream::connect(listener.local_addr()?)?;
    /// let (mut server_side, _) = listener.accept()?;
    /// client.shutdown(Shutdown::Write)?;
    /// assert_eq!(server_side.read(&mut [0; 8])?, 0); // end of stream
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.source.get_ref().shutdown(how)
    }

    /// Sets `TCP_NODELAY`.
    ///
    /// # Errors
    /// From `setsockopt`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// stream.set_nodelay(true)?; // small requests go out at once
    /// assert!(stream.nodelay()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.source.get_ref().set_nodelay(nodelay)
    }

    /// Reads `TCP_NODELAY`.
    ///
    /// # Errors
    /// From `getsockopt`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// stream.set_nodelay(false)?;
    /// assert!(!stream.nodelay()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn nodelay(&self) -> io::Result<bool> {
        self.source.get_ref().nodelay()
    }

    /// Read timeout: a read waiting longer fails with `TimedOut`. `None` waits forever.
    ///
    /// # Errors
    /// `InvalidInput` for a zero duration (as std).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{io::{self, Read}, time::Duration};
    /// use greenmongo_runtime::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let mut stream = TcpStream::connect(listener.local_addr()?)?;
    /// stream.set_read_timeout(Some(Duration::from_millis(10)))?;
    /// let err = stream.read(&mut [0; 8]).unwrap_err(); // the server never writes
    /// assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.source.set_timeout(Direction::Read, timeout)
    }

    /// Write timeout: a write waiting longer fails with `TimedOut`.
    ///
    /// # Errors
    /// `InvalidInput` for a zero duration.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{io, time::Duration};
    /// use greenmongo_runtime::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    /// assert_eq!(stream.set_write_timeout(Some(Duration::ZERO)).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.source.set_timeout(Direction::Write, timeout)
    }

    /// The read timeout.
    ///
    /// # Errors
    /// Never; `Result` for std compatibility.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenmongo_runtime::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// assert_eq!(stream.read_timeout()?, None);
    /// stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    /// assert_eq!(stream.read_timeout()?, Some(Duration::from_secs(30)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.source.timeout(Direction::Read))
    }

    /// The write timeout.
    ///
    /// # Errors
    /// Never; `Result` for std compatibility.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use greenmongo_runtime::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// stream.set_write_timeout(Some(Duration::from_secs(1)))?;
    /// assert_eq!(stream.write_timeout()?, Some(Duration::from_secs(1)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.source.timeout(Direction::Write))
    }

    /// A second handle to the same connection (a `dup` of the socket).
    ///
    /// # Errors
    /// From `dup`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use greenmongo_runtime::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let reader = TcpStream::connect(listener.local_addr()?)?;
    /// let mut writer = reader.try_clone()?; // e.g. one coroutine reads, another writes
    /// let (mut server_side, _) = listener.accept()?;
    /// writer.write_all(b"hi")?;
    /// let mut buf = [0; 2];
    /// server_side.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"hi");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        let fd = self.source.get_ref().as_fd().try_clone_to_owned()?;
        let clone = TcpStream::from_mio(mio::net::TcpStream::from_std(fd.into()));
        clone.set_read_timeout(self.source.timeout(Direction::Read))?;
        clone.set_write_timeout(self.source.timeout(Direction::Write))?;
        Ok(clone)
    }

    /// The pending socket error (`SO_ERROR`), clearing it.
    ///
    /// # Errors
    /// From `getsockopt`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// assert!(stream.take_error()?.is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.source.get_ref().take_error()
    }

    /// Reads without consuming.
    ///
    /// # Errors
    /// As [`Read::read`](std::io::Read::read).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use greenmongo_runtime::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let mut client = TcpStream::connect(listener.local_addr()?)?;
    /// let (mut server_side, _) = listener.accept()?;
    /// client.write_all(b"abc")?;
    /// let mut buf = [0; 3];
    /// assert_eq!(server_side.peek(&mut buf)?, 3);
    /// server_side.read_exact(&mut buf)?; // the same bytes again
    /// assert_eq!(&buf, b"abc");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.source.do_io(Direction::Read, |s| s.peek(buf))
    }
}

stream_io!(TcpStream);

/// A TCP listening socket, like `std::net::TcpListener`.
///
/// # Examples
/// ```
/// use greenmongo_runtime::net::TcpListener;
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// assert_ne!(listener.local_addr().unwrap().port(), 0);
/// ```
pub struct TcpListener {
    source: IoSource<mio::net::TcpListener>,
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.source.get_ref(), f)
    }
}

impl TcpListener {
    /// Binds to the first address that works (with `SO_REUSEADDR`), with the largest
    /// accept backlog the system allows (`net.core.somaxconn`): a server of ten thousand
    /// coroutines sees connection bursts that a short backlog turns into SYN retries.
    ///
    /// # Errors
    /// The last address's error.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?; // port 0: the OS picks one
    /// assert_ne!(listener.local_addr()?.port(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        each_addr(&addr, |addr| {
            let listener = mio::net::TcpListener::bind(addr)?;
            // SAFETY: `listen` on a socket we own; calling it again on a listening socket
            // only changes the backlog (-1 or more than the cap means somaxconn).
            if unsafe { libc::listen(listener.as_raw_fd(), i32::MAX) } != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(TcpListener {
                source: IoSource::new(listener),
            })
        })
    }

    /// Wraps a bound std listener (switching it to non-blocking mode).
    ///
    /// # Errors
    /// When the mode cannot be set.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::net::TcpListener;
    ///
    /// let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let addr = std_listener.local_addr()?;
    /// let listener = TcpListener::from_std(std_listener)?;
    /// assert_eq!(listener.local_addr()?, addr);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Ok(TcpListener {
            source: IoSource::new(mio::net::TcpListener::from_std(listener)),
        })
    }

    /// Waits for a connection.
    ///
    /// # Errors
    /// From `accept(2)` (e.g. out of file descriptors), or `TimedOut` under a deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::{net::{TcpListener, TcpStream}, Runtime};
    ///
    /// let rt = Runtime::builder().worker_threads(1).build()?;
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let server = rt.spawn(move || listener.accept().map(|(_, from)| from)); // parks until a client comes
    /// let client = TcpStream::connect(addr)?;
    /// assert_eq!(server.join().unwrap()?, client.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, addr) = self.source.do_io(Direction::Read, |l| l.accept())?;
        Ok((TcpStream::from_mio(stream), addr))
    }

    /// An endless iterator of accepted connections.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    /// use greenmongo_runtime::{coroutine, net::{TcpListener, TcpStream}, Runtime};
    ///
    /// let rt = Runtime::builder().worker_threads(1).build()?;
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// rt.spawn(move || {
    ///     for conn in listener.incoming() {
    ///         let mut conn = conn.unwrap();
    ///         coroutine::spawn(move || conn.write_all(b"welcome").unwrap()); // one coroutine per client
    ///     }
    /// });
    /// let mut greeting = String::new();
    /// std::io::Read::read_to_string(&mut TcpStream::connect(addr)?, &mut greeting)?;
    /// assert_eq!(greeting, "welcome");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn incoming(&self) -> impl Iterator<Item = io::Result<TcpStream>> + '_ {
        std::iter::repeat_with(|| self.accept().map(|(s, _)| s))
    }

    /// The bound address.
    ///
    /// # Errors
    /// From `getsockname`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::net::TcpListener;
    ///
    /// let listener = TcpListener::bind(("127.0.0.1", 0))?;
    /// assert!(listener.local_addr()?.is_ipv4());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().local_addr()
    }

    /// A second handle to the same listener.
    ///
    /// # Errors
    /// From `dup`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let second = listener.try_clone()?; // e.g. two accepting coroutines
    /// let _client = TcpStream::connect(listener.local_addr()?)?;
    /// let (_conn, _) = second.accept()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        let fd = self.source.get_ref().as_fd().try_clone_to_owned()?;
        Ok(TcpListener {
            source: IoSource::new(mio::net::TcpListener::from_std(fd.into())),
        })
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.source.get_ref().as_raw_fd()
    }
}
