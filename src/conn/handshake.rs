//! The connection handshake, pure: the `hello` command a new connection sends (the
//! mongodb-handshake spec's client metadata, compression negotiation, speculative
//! authentication) and what the driver keeps of the reply.

use bson::{doc, oid::ObjectId, Bson, Document};

use crate::{options::Compressor, wire::SizeLimits, Error, Result};

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
