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
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::net::{UnixListener, UnixStream};
    ///
    /// let path = std::env::temp_dir().join(format!("gm-doc-connect-{}.sock", std::process::id()));
    /// let _ = std::fs::remove_file(&path);
    /// let _listener = UnixListener::bind(&path)?;
    /// let stream = UnixStream::connect(&path)?; // e.g. mongodb://%2Ftmp%2Fmongodb-27017.sock
    /// assert_eq!(stream.peer_addr()?.as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use greenmongo_runtime::net::UnixStream;
    ///
    /// let (mut a, mut b) = UnixStream::pair()?;
    /// b.write_all(b"pong")?;
    /// let mut buf = [0; 4];
    /// a.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"pong");
    /// # Ok::<(), std::io::Error>(())
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::net::UnixStream;
    ///
    /// let (a, _b) = UnixStream::pair()?;
    /// assert!(a.peer_addr()?.is_unnamed()); // a socketpair has no path
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
    /// use greenmongo_runtime::net::UnixStream;
    ///
    /// let (a, _b) = UnixStream::pair()?;
    /// assert_eq!(a.local_addr()?.as_pathname(), None);
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
    /// use greenmongo_runtime::net::UnixStream;
    ///
    /// let (a, mut b) = UnixStream::pair()?;
    /// a.shutdown(Shutdown::Write)?;
    /// assert_eq!(b.read(&mut [0; 4])?, 0); // end of stream
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.source.get_ref().shutdown(how)
    }

    /// Read timeout; see [`TcpStream::set_read_timeout`](super::TcpStream::set_read_timeout).
    ///
    /// # Errors
    /// `InvalidInput` for a zero duration.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{io::{self, Read}, time::Duration};
    /// use greenmongo_runtime::net::UnixStream;
    ///
    /// let (mut a, _b) = UnixStream::pair()?;
    /// a.set_read_timeout(Some(Duration::from_millis(10)))?;
    /// assert_eq!(a.read(&mut [0; 4]).unwrap_err().kind(), io::ErrorKind::TimedOut);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.source.set_timeout(Direction::Read, timeout)
    }

    /// Write timeout.
    ///
    /// # Errors
    /// `InvalidInput` for a zero duration.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::{io, time::Duration};
    /// use greenmongo_runtime::net::UnixStream;
    ///
    /// let (a, _b) = UnixStream::pair()?;
    /// a.set_write_timeout(Some(Duration::from_secs(5)))?;
    /// assert_eq!(a.set_write_timeout(Some(Duration::ZERO)).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.source.set_timeout(Direction::Write, timeout)
    }

    /// A second handle to the same socket.
    ///
    /// # Errors
    /// From `dup`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use greenmongo_runtime::net::UnixStream;
    ///
    /// let (a, mut b) = UnixStream::pair()?;
    /// let mut writer = a.try_clone()?;
    /// writer.write_all(b"x")?;
    /// let mut buf = [0; 1];
    /// b.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"x");
    /// # Ok::<(), std::io::Error>(())
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::net::UnixListener;
    ///
    /// let path = std::env::temp_dir().join(format!("gm-doc-bind-{}.sock", std::process::id()));
    /// let _ = std::fs::remove_file(&path);
    /// let listener = UnixListener::bind(&path)?;
    /// assert!(UnixListener::bind(&path).is_err()); // the path exists now
    /// # drop(listener);
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        Ok(UnixListener {
            source: IoSource::new(mio::net::UnixListener::bind(path)?),
        })
    }

    /// Waits for a connection.
    ///
    /// # Errors
    /// From `accept(2)`, or `TimedOut` under a deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use greenmongo_runtime::net::{UnixListener, UnixStream};
    ///
    /// let path = std::env::temp_dir().join(format!("gm-doc-accept-{}.sock", std::process::id()));
    /// let _ = std::fs::remove_file(&path);
    /// let listener = UnixListener::bind(&path)?;
    /// let mut client = UnixStream::connect(&path)?;
    /// let (mut server_side, _) = listener.accept()?;
    /// client.write_all(b"hello")?;
    /// let mut buf = [0; 5];
    /// server_side.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"hello");
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, addr) = self.source.do_io(Direction::Read, |l| l.accept())?;
        Ok((UnixStream::from_mio(stream), addr))
    }

    /// The bound address.
    ///
    /// # Errors
    /// From `getsockname`.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::net::UnixListener;
    ///
    /// let path = std::env::temp_dir().join(format!("gm-doc-addr-{}.sock", std::process::id()));
    /// let _ = std::fs::remove_file(&path);
    /// let listener = UnixListener::bind(&path)?;
    /// assert_eq!(listener.local_addr()?.as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.get_ref().local_addr()
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.source.get_ref().as_raw_fd()
    }
}
