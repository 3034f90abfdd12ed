//! The connection handshake: the `hello` command a new connection sends (the
//! mongodb-handshake spec's client metadata, compression negotiation, speculative
//! authentication) and what the driver keeps of the reply, both pure; and the awaitable
//! `hello` exchange of a streaming server monitor (the Server Monitoring spec), the one
//! conversation on a connection that is not one request, one reply.

use std::{io::Write, net::Shutdown, time::Duration};

use bson::{Bson, Document, doc, oid::ObjectId};

use super::{Connection, DEFAULT_CONNECT_TIMEOUT, check_reply, stream::Stream};
use crate::{
    Error, Result,
    options::Compressor,
    wire::{self, Message, MessageFlags, SizeLimits},
};

/// What goes into the first `hello`.
#[derive(Debug, Default, Clone)]
pub(crate) struct HelloOptions<'a> {
    pub(crate) app_name: Option<&'a str>,
    pub(crate) compressors: &'a [Compressor],
    pub(crate) load_balanced: bool,
    /// `db.user` to ask for `saslSupportedMechs` (credential without a mechanism).
    pub(crate) sasl_supported_mechs: Option<String>,
    pub(crate) speculative_authenticate: Option<Document>,
}

/// The `hello` command of a new connection.
pub(crate) fn hello_command(options: &HelloOptions<'_>) -> Document {
    let mut hello =
        doc! { "hello": 1, "helloOk": true, "client": client_metadata(options.app_name) };
    if options.load_balanced {
        hello.insert("loadBalanced", true);
    }
    if !options.compressors.is_empty() {
        let names: Vec<&str> = options.compressors.iter().map(|c| c.as_str()).collect();
        hello.insert("compression", names);
    }
    if let Some(user) = &options.sasl_supported_mechs {
        hello.insert("saslSupportedMechs", user.as_str());
    }
    if let Some(spec) = &options.speculative_authenticate {
        hello.insert("speculativeAuthenticate", spec.clone());
    }
    hello
}

/// The handshake spec's `client` document (kept well under its 512-byte limit).
fn client_metadata(app_name: Option<&str>) -> Document {
    let mut client = Document::new();
    if let Some(name) = app_name {
        client.insert("application", doc! { "name": name });
    }
    client.insert(
        "driver",
        doc! { "name": "greenmongo", "version": env!("CARGO_PKG_VERSION") },
    );
    let os_type = match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Darwin",
        "windows" => "Windows",
        other => other,
    };
    client.insert(
        "os",
        doc! { "type": os_type, "architecture": std::env::consts::ARCH },
    );
    client.insert("platform", "Rust, greenmongo-runtime (stackful coroutines)");
    client
}

/// What the driver keeps of a `hello` reply.
#[derive(Debug, Clone, Default)]
pub(crate) struct HelloReply {
    pub(crate) max_wire_version: i32,
    pub(crate) limits: SizeLimits,
    /// The first of our compressors that the server also offers.
    pub(crate) compressor: Option<Compressor>,
    pub(crate) sasl_supported_mechs: Option<Vec<String>>,
    pub(crate) speculative_authenticate: Option<Document>,
    /// The service behind a load balancer that answered (load-balanced mode only).
    pub(crate) service_id: Option<ObjectId>,
}

impl HelloReply {
    /// Parses a successful `hello` reply, choosing the compressor from `ours` (in our
    /// order of preference) among those the server lists.
    ///
    /// # Errors
    /// A field of the wrong type.
    pub(crate) fn parse(reply: &Document, ours: &[Compressor]) -> Result<HelloReply> {
        let int = |key: &str| -> Result<Option<i64>> {
            match reply.get(key) {
                None | Some(Bson::Null) => Ok(None),
                Some(Bson::Int32(v)) => Ok(Some(i64::from(*v))),
                Some(Bson::Int64(v)) => Ok(Some(*v)),
                Some(Bson::Double(v)) if v.fract() == 0.0 => Ok(Some(*v as i64)),
                Some(other) => Err(Error::invalid_response(format!(
                    "hello reply: {key} is {other}, not a number"
                ))),
            }
        };
        let strings = |key: &str| -> Option<Vec<String>> {
            reply.get_array(key).ok().map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
        };
        let mut limits = SizeLimits::default();
        if let Some(v) = int("maxBsonObjectSize")? {
            limits.max_bson_object_size = usize::try_from(v).unwrap_or(limits.max_bson_object_size);
        }
        if let Some(v) = int("maxMessageSizeBytes")? {
            limits.max_message_size_bytes =
                usize::try_from(v).unwrap_or(limits.max_message_size_bytes);
        }
        let offered = strings("compression").unwrap_or_default();
        Ok(HelloReply {
            max_wire_version: int("maxWireVersion")?.unwrap_or(0) as i32,
            limits,
            compressor: ours
                .iter()
                .copied()
                .find(|c| offered.iter().any(|o| o == c.as_str())),
            sasl_supported_mechs: strings("saslSupportedMechs"),
            speculative_authenticate: reply.get_document("speculativeAuthenticate").ok().cloned(),
            service_id: reply.get_object_id("serviceId").ok(),
        })
    }
}

/// One reply of a streaming `hello`.
#[derive(Debug)]
pub(crate) struct StreamedHello {
    /// The reply, `ok: 1` (an `ok: 0` reply is an error).
    pub(crate) reply: Document,
    /// The server will send another reply without being asked (OP_MSG `moreToCome`).
    pub(crate) more_to_come: bool,
}

/// Shuts a monitor's socket down from another coroutine or thread: its blocked read
/// returns at once (end of stream), which is how a check in progress is cancelled.
pub(crate) type Interrupt = Box<dyn Fn() + Send + Sync>;

impl Connection {
    /// Starts the streaming `hello` of the Server Monitoring spec: an awaitable `hello`
    /// (`topologyVersion` from the previous reply, `maxAwaitTimeMS`) with the OP_MSG
    /// `exhaustAllowed` flag, and returns its first reply, which the server sends when
    /// its topology version changes or `max_await` has passed.
    ///
    /// From here on the socket read timeout is `connectTimeoutMS + max_await` (unlimited
    /// when `connectTimeoutMS` is 0): a server that misses a reply by more than
    /// `connectTimeoutMS` is unresponsive.
    ///
    /// # Errors
    /// Network errors and timeouts; a command error for an `ok: 0` reply; a reply to
    /// another request. Any error leaves the connection broken.
    pub(crate) fn start_streaming_hello(
        &mut self,
        topology_version: Document,
        max_await: Duration,
        connect_timeout: Option<Duration>,
    ) -> Result<StreamedHello> {
        let connect_timeout = connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        let read_timeout = (!connect_timeout.is_zero()).then(|| connect_timeout + max_await);
        let max_await_ms = i64::try_from(max_await.as_millis()).unwrap_or(i64::MAX);
        let command = doc! {
            "hello": 1,
            "helloOk": true,
            "topologyVersion": topology_version,
            "maxAwaitTimeMS": max_await_ms,
            "$db": "admin",
        };
        let result = (|| {
            self.stream.get_ref().set_timeouts(read_timeout)?;
            let mut body = crate::nesting::encode(&command)?;
            // The Stable API covers monitoring's hello too (versioned-api spec).
            self.append_api_fields(&command, &mut body)?;
            let mut message = Message::new(body);
            message.flags.insert(MessageFlags::EXHAUST_ALLOWED);
            let bytes = message.encode(self.compressor.as_ref());
            self.in_flight = true;
            self.stream.get_mut().write_all(&bytes)?;
            self.read_streamed(Some(message.request_id))
        })();
        self.settle_streamed(result)
    }

    /// Reads the next reply of a streaming `hello` after one that had `moreToCome`.
    ///
    /// # Errors
    /// As [`start_streaming_hello`](Self::start_streaming_hello).
    pub(crate) fn next_streamed_hello(&mut self) -> Result<StreamedHello> {
        let result = self.read_streamed(None);
        self.settle_streamed(result)
    }

    /// Reads one reply; `request_id`, for the first, is the request it must answer
    /// (later ones follow the previous reply, OP_MSG's `moreToCome` rule).
    fn read_streamed(&mut self, request_id: Option<i32>) -> Result<StreamedHello> {
        if self.broken {
            return Err(Error::internal(
                "the connection is broken; it must not be reused",
            ));
        }
        let message = wire::read_message(&mut self.stream, &self.hello.limits)?;
        if let Some(id) = request_id.filter(|id| *id != message.response_to) {
            return Err(Error::invalid_response(format!(
                "reply to request {} arrived while waiting for {id}",
                message.response_to
            )));
        }
        let more_to_come = message.flags.contains(MessageFlags::MORE_TO_COME);
        let reply = crate::nesting::to_document(&check_reply(message.body)?)?;
        Ok(StreamedHello {
            reply,
            more_to_come,
        })
    }

    /// Keeps the connection's state in step with a streamed reply: any error breaks it;
    /// a reply without `moreToCome` ends the stream (the next `hello` is a new request).
    fn settle_streamed(&mut self, result: Result<StreamedHello>) -> Result<StreamedHello> {
        match &result {
            Ok(streamed) => self.in_flight = streamed.more_to_come,
            Err(_) => self.broken = true,
        }
        result
    }

    /// A way to cancel this connection's blocked read from elsewhere (see [`Interrupt`]).
    ///
    /// # Errors
    /// When the socket cannot be duplicated (out of file descriptors).
    pub(crate) fn interrupter(&self) -> Result<Interrupt> {
        Ok(match self.stream.get_ref() {
            Stream::Tcp(s) => {
                let socket = s.try_clone()?;
                Box::new(move || {
                    let _ = socket.shutdown(Shutdown::Both);
                })
            }
            Stream::Unix(s) => {
                let socket = s.try_clone()?;
                Box::new(move || {
                    let _ = socket.shutdown(Shutdown::Both);
                })
            }
            Stream::Tls(s) => {
                let socket = s.sock.try_clone()?;
                Box::new(move || {
                    let _ = socket.shutdown(Shutdown::Both);
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_carries_metadata_compression_and_auth_hints() {
        let hello = hello_command(&HelloOptions {
            app_name: Some("inventory"),
            compressors: &[Compressor::Zstd, Compressor::Snappy],
            load_balanced: false,
            sasl_supported_mechs: Some("admin.alice".into()),
            speculative_authenticate: Some(doc! { "saslStart": 1 }),
        });
        assert_eq!(hello.get_i32("hello").unwrap(), 1);
        let client = hello.get_document("client").unwrap();
        assert_eq!(
            client
                .get_document("application")
                .unwrap()
                .get_str("name")
                .unwrap(),
            "inventory"
        );
        assert_eq!(
            client
                .get_document("driver")
                .unwrap()
                .get_str("name")
                .unwrap(),
            "greenmongo"
        );
        assert!(client.get_document("os").unwrap().get_str("type").is_ok());
        assert!(
            bson::RawDocumentBuf::try_from(client)
                .unwrap()
                .as_bytes()
                .len()
                <= 512
        );
        let compression: Vec<&str> = hello
            .get_array("compression")
            .unwrap()
            .iter()
            .filter_map(|b| b.as_str())
            .collect();
        assert_eq!(compression, ["zstd", "snappy"]);
        assert_eq!(hello.get_str("saslSupportedMechs").unwrap(), "admin.alice");
        assert!(hello.get_document("speculativeAuthenticate").is_ok());
        assert!(!hello.contains_key("loadBalanced"));
    }

    #[test]
    fn negotiation_picks_our_first_compressor_the_server_offers() {
        let reply = doc! { "isWritablePrimary": true, "maxWireVersion": 21, "compression": ["zlib", "snappy"], "ok": 1 };
        let parsed = HelloReply::parse(
            &reply,
            &[Compressor::Zstd, Compressor::Snappy, Compressor::Zlib],
        )
        .unwrap();
        assert_eq!(parsed.compressor, Some(Compressor::Snappy));
        assert_eq!(parsed.max_wire_version, 21);
        // A server that offers none (SecantusDB): no compression.
        let none = HelloReply::parse(&doc! { "ok": 1 }, &[Compressor::Zstd]).unwrap();
        assert_eq!(none.compressor, None);
    }

    #[test]
    fn malformed_fields_are_errors_not_panics() {
        let err = HelloReply::parse(&doc! { "maxWireVersion": "lots" }, &[]).unwrap_err();
        assert!(err.to_string().contains("maxWireVersion"), "{err}");
    }
}
