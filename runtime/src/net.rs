//! Sockets shaped like `std::net`: blocking calls that park a coroutine and block a
//! thread.
//!
//! Every socket is non-blocking underneath. When a call would block, a coroutine
//! registers the socket with its worker's reactor (once) and parks until it is ready; a
//! plain thread waits in `poll(2)`. So the same socket works in both worlds, and because
//! the types implement `std::io::Read` and `Write` (also on `&TcpStream`), rustls'
//! `StreamOwned` and any blocking codec run on them unchanged.
//!
//! Host names are resolved on the blocking pool inside coroutines (`getaddrinfo` blocks);
//! IP literals are parsed in place.

#[macro_use]
mod source;
mod tcp;
mod unix;

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6},
};

pub use tcp::{TcpListener, TcpStream};
pub use unix::{UnixListener, UnixStream};

use crate::{blocking::spawn_blocking, park};

/// Addresses a socket can connect or bind to: what `std::net::ToSocketAddrs` takes
/// (socket addresses, `(host, port)`, `"host:port"`), resolved without blocking a worker.
///
/// # Examples
/// ```
/// use greenmongo_runtime::net::ToSocketAddrs;
/// let addrs = ("127.0.0.1", 27017).to_socket_addrs().unwrap();
/// assert_eq!(addrs[0].port(), 27017);
/// ```
pub trait ToSocketAddrs {
    /// Resolves to a list of addresses (in a coroutine, on the blocking pool when a host
    /// name must be looked up).
    ///
    /// # Errors
    /// When the name does not resolve.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenmongo_runtime::net::ToSocketAddrs;
    ///
    /// let addrs = "127.0.0.1:27017".to_socket_addrs()?;
    /// assert_eq!(addrs[0].to_string(), "127.0.0.1:27017");
    /// assert!("no port here".to_socket_addrs().is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>>;
}

impl ToSocketAddrs for SocketAddr {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![*self])
    }
}

macro_rules! literal_addrs {
    ($($t:ty),*) => {$(
        impl ToSocketAddrs for $t {
            fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
                Ok(vec![SocketAddr::from(*self)])
            }
        }
    )*};
}
literal_addrs!(
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl ToSocketAddrs for (&str, u16) {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        let (host, port) = *self;
        match host.parse::<IpAddr>() {
            Ok(ip) => Ok(vec![SocketAddr::new(ip, port)]),
            Err(_) => lookup(format!("{host}:{port}")),
        }
    }
}

impl ToSocketAddrs for (String, u16) {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        (self.0.as_str(), self.1).to_socket_addrs()
    }
}

impl ToSocketAddrs for str {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        match self.parse::<SocketAddr>() {
            Ok(addr) => Ok(vec![addr]),
            Err(_) => lookup(self.to_owned()),
        }
    }
}

impl ToSocketAddrs for String {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        self.as_str().to_socket_addrs()
    }
}

impl ToSocketAddrs for [SocketAddr] {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(self.to_vec())
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    fn to_socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        (**self).to_socket_addrs()
    }
}

/// `getaddrinfo` through std, off the worker when in a coroutine.
fn lookup(host_port: String) -> io::Result<Vec<SocketAddr>> {
    let resolve =
        move || std::net::ToSocketAddrs::to_socket_addrs(&host_port).map(Iterator::collect);
    if park::in_coroutine() {
        spawn_blocking(resolve).join()?
    } else {
        resolve()
    }
}

/// Tries each address in turn; the last error if none works.
fn each_addr<A: ToSocketAddrs + ?Sized, T>(
    addr: &A,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for addr in addr.to_socket_addrs()? {
        match f(addr) {
            Ok(value) => return Ok(value),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}
