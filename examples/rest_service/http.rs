//! Server side of HTTP/1.1, just enough for a JSON API: read a request (head parsed by
//! `httparse`, body by `Content-Length`), write a response, keep the connection alive.
//!
//! Everything here is blocking-style I/O on a runtime socket: a read parks the connection's
//! coroutine, never the worker thread. Malformed input becomes a [`ReadError::Reject`]
//! carrying the 4xx (or 501) response to send before closing, never a panic.

use std::{
    io::{self, Read, Write},
    net::Shutdown,
    time::Duration,
};

use greenmongo::runtime::{net::TcpStream, time::with_timeout};
use serde_json::{Value, json};

/// Largest request head (request line and headers) accepted.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Largest request body accepted; an item is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Most headers in one request.
const MAX_HEADERS: usize = 32;
/// Most input discarded while closing (see [`Connection::close`]).
const MAX_LINGER_BYTES: usize = 1024 * 1024;

/// A parsed request. The path is split from its query string; both stay percent-encoded.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Vec<u8>,
    /// Whether the client wants the connection kept open after the response.
    pub keep_alive: bool,
}

/// A JSON response (or none, for 204).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Option<Value>,
    pub headers: Vec<(&'static str, String)>,
}

impl Response {
    pub fn json(status: u16, body: Value) -> Response {
        Response {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    pub fn no_content() -> Response {
        Response {
            status: 204,
            body: None,
            headers: Vec::new(),
        }
    }

    /// The API's one error shape: `{ "error": "..." }`.
    pub fn error(status: u16, message: impl Into<String>) -> Response {
        Response::json(status, json!({ "error": message.into() }))
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }
}

/// Why no request could be read.
#[derive(Debug)]
pub enum ReadError {
    /// The client closed the connection between requests: the normal end of keep-alive.
    Closed,
    /// The socket failed or timed out; nothing more can be said to the client.
    Io,
    /// The request is malformed or refused: send this response, then close.
    Reject(Response),
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> Self {
        ReadError::Io
    }
}

/// One keep-alive connection. Bytes read past the current request (a pipelined next
/// request) stay in `buffer`.
pub struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

/// The parts of a request head the server acts on.
struct Head {
    method: String,
    target: String,
    keep_alive: bool,
    content_length: usize,
    expects_continue: bool,
    /// Bytes of the head, to drop from the buffer.
    len: usize,
}

impl Connection {
    pub fn new(stream: TcpStream) -> Connection {
        Connection {
            stream,
            buffer: Vec::with_capacity(4096),
        }
    }

    /// Reads the next request.
    ///
    /// # Errors
    /// [`ReadError::Closed`] at a clean end of the connection, [`ReadError::Reject`] for a
    /// request to refuse, [`ReadError::Io`] when the socket fails.
    pub fn read_request(&mut self) -> Result<Request, ReadError> {
        let head = self.read_head()?;
        self.buffer.drain(..head.len);
        if head.expects_continue && self.buffer.len() < head.content_length {
            // curl waits a second for this before sending a body over 1 KiB.
            self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let body = self.read_body(head.content_length)?;
        let (path, query) = match head.target.split_once('?') {
            Some((path, query)) => (path.to_owned(), query.to_owned()),
            None => (head.target, String::new()),
        };
        Ok(Request {
            method: head.method,
            path,
            query,
            body,
            keep_alive: head.keep_alive,
        })
    }

    /// Writes `response`, saying whether the connection stays open.
    ///
    /// # Errors
    /// When the socket fails.
    pub fn write_response(&mut self, response: &Response, keep_alive: bool) -> io::Result<()> {
        self.stream
            .write_all(&encode_response(response, keep_alive))
    }

    /// Closes the connection from our side without losing the last response: stop
    /// writing, then discard what the client still sends for up to `linger`. Closing with
    /// unread input would make the kernel send a reset, which can destroy the response
    /// before the client has read it.
    pub fn close(self, linger: Duration) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let mut sink = [0u8; 4096];
        let _ = with_timeout(linger, || -> io::Result<()> {
            let mut drained = 0;
            while drained < MAX_LINGER_BYTES {
                match (&self.stream).read(&mut sink)? {
                    0 => break,
                    n => drained += n,
                }
            }
            Ok(())
        });
    }

    fn read_head(&mut self) -> Result<Head, ReadError> {
        loop {
            if let Some(head) = parse_head(&self.buffer)? {
                return Ok(head);
            }
            if self.buffer.len() >= MAX_HEAD_BYTES {
                return Err(reject(431, "request head is over 16 KiB"));
            }
            if self.fill()? == 0 {
                return Err(if self.buffer.is_empty() {
                    ReadError::Closed
                } else {
                    reject(400, "connection closed in the middle of the request head")
                });
            }
        }
    }

    fn read_body(&mut self, len: usize) -> Result<Vec<u8>, ReadError> {
        while self.buffer.len() < len {
            if self.fill()? == 0 {
                return Err(reject(
                    400,
                    "connection closed before the whole body (Content-Length) arrived",
                ));
            }
        }
        Ok(self.buffer.drain(..len).collect())
    }

    /// Reads what the socket has into the buffer; 0 at end of stream.
    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk)?;
        self.buffer.extend_from_slice(&chunk[..n]);
        Ok(n)
    }
}

fn reject(status: u16, message: impl Into<String>) -> ReadError {
    ReadError::Reject(Response::error(status, message))
}

/// The head at the start of `bytes`, or `None` if it is not complete yet.
fn parse_head(bytes: &[u8]) -> Result<Option<Head>, ReadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(reject(431, format!("more than {MAX_HEADERS} headers")));
        }
        Err(e) => return Err(reject(400, format!("malformed HTTP request: {e}"))),
    };
    let version = request.version.unwrap_or(1);
    let mut head = Head {
        method: request.method.unwrap_or_default().to_owned(),
        target: request.path.unwrap_or_default().to_owned(),
        // HTTP/1.1 keeps connections open unless told otherwise; HTTP/1.0 closes them.
        keep_alive: version == 1,
        content_length: 0,
        expects_continue: false,
        len,
    };
    let mut content_length = None;
    for header in request.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or("").trim();
        match header.name.to_ascii_lowercase().as_str() {
            "content-length" => {
                let n = parse_content_length(value)?;
                if content_length.is_some_and(|previous| previous != n) {
                    return Err(reject(400, "conflicting Content-Length headers"));
                }
                content_length = Some(n);
            }
            "transfer-encoding" => {
                return Err(reject(
                    501,
                    "Transfer-Encoding is not supported: send a Content-Length body",
                ));
            }
            "connection" => {
                for option in value.split(',').map(str::trim) {
                    if option.eq_ignore_ascii_case("close") {
                        head.keep_alive = false;
                    } else if option.eq_ignore_ascii_case("keep-alive") {
                        head.keep_alive = true;
                    }
                }
            }
            "expect" => head.expects_continue = value.eq_ignore_ascii_case("100-continue"),
            _ => {}
        }
    }
    head.content_length = content_length.unwrap_or(0);
    Ok(Some(head))
}

fn parse_content_length(value: &str) -> Result<usize, ReadError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(reject(400, format!("invalid Content-Length `{value}`")));
    }
    match value.parse::<usize>() {
        Ok(n) if n <= MAX_BODY_BYTES => Ok(n),
        // All digits, so a parse failure is an overflow: too large as well.
        _ => Err(reject(
            413,
            format!("request body of {value} bytes is over the {MAX_BODY_BYTES}-byte limit"),
        )),
    }
}

/// Status line, headers and body in one buffer: one write, one TCP segment for small replies.
fn encode_response(response: &Response, keep_alive: bool) -> Vec<u8> {
    let body = response
        .body
        .as_ref()
        .map(|b| serde_json::to_vec(b).expect("a serde_json::Value always serializes"));
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nConnection: {}\r\n",
        response.status,
        reason(response.status),
        if keep_alive { "keep-alive" } else { "close" }
    );
    if let Some(body) = &body {
        out.push_str("Content-Type: application/json\r\n");
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for (name, value) in &response.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body.as_deref().unwrap_or_default());
    bytes
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        _ => "",
    }
}

/// Decodes an `application/x-www-form-urlencoded` query component (`%XX`, `+` for space).
///
/// # Errors
/// A bad `%` escape, or bytes that are not UTF-8.
pub fn percent_decode(component: &str) -> Result<String, String> {
    let bytes = component.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                // Checked digit by digit: from_str_radix would take a sign ("%+1").
                let hex = bytes
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => out.push(byte),
                    None => return Err(format!("bad percent-escape in `{component}`")),
                }
                i += 2;
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("`{component}` does not decode to UTF-8"))
}
