//! A tiny blocking HTTP/1.1 client over one keep-alive connection, for the load
//! generator and the end-to-end test. On a runtime socket, so it parks a coroutine or
//! blocks a plain thread alike.

use std::{
    io::{self, Read, Write},
    net::SocketAddr,
};

use greenmongo::runtime::net::TcpStream;
use serde_json::Value;

/// Most headers a response may have; the service sends five.
const MAX_HEADERS: usize = 32;

/// A response as received.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The `error` message of a JSON error body.
    pub fn error(&self) -> Option<String> {
        self.json()["error"].as_str().map(str::to_owned)
    }
}

/// One connection to the service.
#[derive(Debug)]
pub struct HttpClient {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl HttpClient {
    /// # Errors
    /// When the connection fails.
    pub fn connect(addr: SocketAddr) -> io::Result<HttpClient> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(HttpClient {
            stream,
            buffer: Vec::new(),
        })
    }

    /// Sends a request (with a JSON body, if any) and reads the reply.
    ///
    /// # Errors
    /// Socket errors; `InvalidData` for a reply that is not HTTP.
    pub fn request(
        &mut self,
        method: &str,
        target: &str,
        body: Option<&Value>,
    ) -> io::Result<Reply> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut request = format!("{method} {target} HTTP/1.1\r\nHost: rest-service\r\n");
        if !body.is_empty() {
            request.push_str("Content-Type: application/json\r\n");
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        self.send_raw(request.as_bytes())?;
        self.read_reply()
    }

    /// Writes bytes as they are: for malformed requests.
    ///
    /// # Errors
    /// Socket errors.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Tells the server nothing more is coming (a half close).
    ///
    /// # Errors
    /// Socket errors.
    #[allow(dead_code)] // only tests/rest_service.rs half-closes
    pub fn finish_sending(&self) -> io::Result<()> {
        self.stream.shutdown(std::net::Shutdown::Write)
    }

    /// Reads one reply, skipping `100 Continue`.
    ///
    /// # Errors
    /// Socket errors, `UnexpectedEof` if the server closes first, `InvalidData` for a reply
    /// that is not HTTP.
    pub fn read_reply(&mut self) -> io::Result<Reply> {
        loop {
            let reply = self.read_head()?;
            if reply.status != 100 {
                return self.read_body(reply);
            }
        }
    }

    /// Status and headers, taken out of the buffer; the body is still to read.
    fn read_head(&mut self) -> io::Result<Reply> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&self.buffer) {
                Ok(httparse::Status::Complete(len)) => {
                    let reply = Reply {
                        status: response.code.unwrap_or_default(),
                        headers: response
                            .headers
                            .iter()
                            .map(|h| {
                                let value = String::from_utf8_lossy(h.value).into_owned();
                                (h.name.to_owned(), value)
                            })
                            .collect(),
                        body: Vec::new(),
                    };
                    self.buffer.drain(..len);
                    return Ok(reply);
                }
                Ok(httparse::Status::Partial) => {
                    if self.fill()? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
        }
    }

    /// The body: `Content-Length` bytes, none for 204, or up to the close without a length.
    fn read_body(&mut self, mut reply: Reply) -> io::Result<Reply> {
        let length = reply.header("content-length").map(str::parse::<usize>);
        match length {
            _ if reply.status == 204 || reply.status == 304 => {}
            Some(Ok(len)) => {
                while self.buffer.len() < len {
                    if self.fill()? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                reply.body = self.buffer.drain(..len).collect();
            }
            Some(Err(e)) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            None => {
                while self.fill()? > 0 {}
                reply.body = std::mem::take(&mut self.buffer);
            }
        }
        Ok(reply)
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk)?;
        self.buffer.extend_from_slice(&chunk[..n]);
        Ok(n)
    }
}
