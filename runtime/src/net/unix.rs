//! Unix domain sockets.

use std::{
    fmt, io,
    net::Shutdown,
    os::{
        fd::{AsFd, AsRawFd, RawFd},
        unix::net::SocketAddr,
    },
    path::Path,
    time::Duration,
};

use super::source::IoSource;
use crate::reactor::Direction;

/// A Unix stream socket, like `std::os::unix::net::UnixStream`.
///
/// # Examples
/// ```
/// use std::io::{Read, Write};
/// use greenmongo_runtime::net::UnixStream;
///
/// let (mut a, mut b) = UnixStream::pair().unwrap();
/// a.write_all(b"ping").unwrap();
/// let mut buf = [0; 4];
/// b.read_exact(&mut buf).unwrap();
/// assert_eq!(&buf, b"ping");
/// ```
pub struct UnixStream {
    source: IoSource<mio::net::UnixStream>,
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.source.get_ref(), f)
    }
}

impl UnixStream {
    /// Connects to the socket at `path`.
    ///
    /// # Errors
    /// From `connect(2)`, e.g. `NotFound` or `ConnectionRefused`.
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let stream = UnixStream {
            source: IoSource::new(mio::net::UnixStream::connect(path)?),
        };
        stream.source.do_io(Direction::Write, |s| {
            if let Some(e) = s.take_error()? {
                return Err(e);
            }
            match s.peer_addr() {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                    Err(io::ErrorKind::WouldBlock.into())
                }
                Err(e) => Err(e),
            }
        })?;
        Ok(stream)
    }

    /// A connected pair.
    ///
    /// # Errors
    /// From `socketpair(2)`.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = mio::net::UnixStream::pair()?;
        Ok((UnixStream::from_mio(a), UnixStream::from_mio(b)))
    }

    fn from_mio(stream: mio::net::UnixStream) -> UnixStream {
        UnixStream {
            source: IoSource::new(stream),
        }
    }

    /// The peer's address.
    ///
    /// # Errors
    /// From `getpeername`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    /// From `getsockname`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().local_addr()
    }

    /// Shuts down reading, writing or both.
    ///
    /// # Errors
    /// From `shutdown(2)`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.source.get_ref().shutdown(how)
    }

    /// Read timeout; see [`TcpStream::set_read_timeout`](super::TcpStream::set_read_timeout).
    ///
    /// # Errors
    /// `InvalidInput` for a zero duration.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.source.set_timeout(Direction::Read, timeout)
    }

    /// Write timeout.
    ///
    /// # Errors
    /// `InvalidInput` for a zero duration.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.source.set_timeout(Direction::Write, timeout)
    }

    /// A second handle to the same socket.
    ///
    /// # Errors
    /// From `dup`.
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        let fd = self.source.get_ref().as_fd().try_clone_to_owned()?;
        let clone = UnixStream::from_mio(mio::net::UnixStream::from_std(fd.into()));
        clone.set_read_timeout(self.source.timeout(Direction::Read))?;
        clone.set_write_timeout(self.source.timeout(Direction::Write))?;
        Ok(clone)
    }
}

stream_io!(UnixStream);

/// A Unix listening socket.
///
/// # Examples
/// ```
/// use greenmongo_runtime::net::{UnixListener, UnixStream};
/// let dir = std::env::temp_dir().join(format!("gm-doc-{}.sock", std::process::id()));
/// let _ = std::fs::remove_file(&dir);
/// let listener = UnixListener::bind(&dir).unwrap();
/// let _client = UnixStream::connect(&dir).unwrap();
/// let (_server_side, _) = listener.accept().unwrap();
/// std::fs::remove_file(&dir).unwrap();
/// ```
pub struct UnixListener {
    source: IoSource<mio::net::UnixListener>,
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.source.get_ref(), f)
    }
}

impl UnixListener {
    /// Binds to `path` (which must not exist).
    ///
    /// # Errors
    /// From `bind(2)`, e.g. `AddrInUse`.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        Ok(UnixListener {
            source: IoSource::new(mio::net::UnixListener::bind(path)?),
        })
    }

    /// Waits for a connection.
    ///
    /// # Errors
    /// From `accept(2)`, or `TimedOut` under a deadline.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, addr) = self.source.do_io(Direction::Read, |l| l.accept())?;
        Ok((UnixStream::from_mio(stream), addr))
    }

    /// The bound address.
    ///
    /// # Errors
    /// From `getsockname`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().local_addr()
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.source.get_ref().as_raw_fd()
    }
}
