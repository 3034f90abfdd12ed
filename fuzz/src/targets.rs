//! The fuzz targets: each takes one input and runs it through a group of the driver's
//! parsers of server input. A target returns whether the input got past the first layer
//! (a whole message, a document, an accepted connection string), which the harness counts
//! and uses to keep such inputs as bases for further mutation.

use greenmongo::{
    ClientOptions, fuzzing,
    sdam::TopologyDescription,
    wire::{Message, SizeLimits, read_message, read_message_bytes},
};

use crate::mutate::Shape;

/// A fuzz target.
#[derive(Debug)]
pub struct Target {
    pub name: &'static str,
    pub about: &'static str,
    pub shape: Shape,
    pub run: fn(&[u8]) -> bool,
    /// Tokens worth inserting, besides the keys of the corpus documents.
    pub dictionary: &'static [&'static str],
}

pub const TARGETS: &[Target] = &[
    Target {
        name: "wire",
        about: "wire decoder: Message::decode(_with_limits), read_message, OP_COMPRESSED unwrap",
        shape: Shape::Message,
        run: wire,
        dictionary: &[],
    },
    Target {
        name: "uri",
        about: "connection strings: ClientOptions::parse, validate, SRV records, topology",
        shape: Shape::Text,
        run: uri,
        dictionary: URI_TOKENS,
    },
    Target {
        name: "scram",
        about: "SCRAM server-first and server-final messages",
        shape: Shape::Text,
        run: fuzzing::scram_server_messages,
        dictionary: &[
            "r=",
            "s=",
            "i=",
            "v=",
            "e=",
            "m=",
            ",",
            "=",
            "==",
            "4096",
            "rOprNGfwEbeRWgbNEkqO",
        ],
    },
    Target {
        name: "hello",
        about: "hello replies: server description, SDAM update, selection, handshake fields",
        shape: Shape::Document,
        run: fuzzing::hello_reply,
        dictionary: &[],
    },
    Target {
        name: "cursor",
        about: "cursor replies (find, aggregate, getMore): ok check, cursor id, batch",
        shape: Shape::Document,
        run: fuzzing::cursor_reply,
        dictionary: &[],
    },
    Target {
        name: "write",
        about: "write replies: write errors, write concern errors, insert_many, client bulkWrite",
        shape: Shape::Document,
        run: fuzzing::write_reply,
        dictionary: &[],
    },
    Target {
        name: "command-error",
        about: "failed commands: ok: 0 into an error, SDAM's view, error labels, SASL replies",
        shape: Shape::Document,
        run: fuzzing::command_error,
        dictionary: &[],
    },
];

pub fn find(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

const URI_TOKENS: &[&str] = &[
    "mongodb://",
    "mongodb+srv://",
    "@",
    ":",
    "/",
    "?",
    "&",
    "=",
    ",",
    "%",
    "%2F",
    "%3A",
    "%40",
    "%00",
    "%zz",
    "[",
    "]",
    "[::1]",
    ".sock",
    "%2Ftmp%2Fm.sock",
    ":0",
    ":65536",
    ":27017",
    "localhost",
    "true",
    "false",
    "-1",
    "0",
    "999999999999",
    "authMechanism=",
    "MONGODB-X509",
    "SCRAM-SHA-256",
    "MONGODB-OIDC",
    "authMechanismProperties=",
    "SERVICE_NAME:",
    "TOKEN_RESOURCE:",
    "ENVIRONMENT:azure",
    "readPreference=",
    "readPreferenceTags=",
    "dc:ny,rack:1",
    "maxStalenessSeconds=",
    "w=majority",
    "wtimeoutMS=",
    "journal=",
    "replicaSet=",
    "tls=",
    "tlsInsecure=",
    "tlsCAFile=",
    "compressors=",
    "zlib,snappy,zstd",
    "zlibCompressionLevel=",
    "directConnection=",
    "loadBalanced=",
    "srvMaxHosts=",
    "srvServiceName=",
    "timeoutMS=",
    "proxyHost=",
    "proxyPort=",
    "serverApi=",
];

/// The wire decoder, as the connection uses it and under small limits, plus the
/// OP_COMPRESSED unwrapping on its own. Whatever decodes must encode and decode again to
/// the same message.
fn wire(data: &[u8]) -> bool {
    let decoded = Message::decode(data);
    if let Ok(msg) = &decoded {
        let again = Message::decode(&msg.encode(None)).expect("a re-encoded message decodes");
        assert_eq!(&again, msg, "a message survives a re-encode");
        let _ = msg.command_name();
        let _ = msg.body_document();
        for seq in &msg.sequences {
            let _ = seq.identifier();
            for doc in seq.documents() {
                let _ = bson::Document::try_from(doc.as_ref());
            }
        }
    }
    let small = SizeLimits {
        max_message_size_bytes: 512,
        max_bson_object_size: 128,
        max_write_batch_size: 2,
    };
    let _ = Message::decode_with_limits(data, &small);
    // The framing reader must agree with the decoder about where a message ends.
    let mut reader = data;
    if let Ok(bytes) = read_message_bytes(&mut reader, &SizeLimits::default()) {
        assert!(bytes.len() <= data.len());
    }
    let _ = read_message(&mut &data[..], &small);
    let _ = fuzzing::op_compressed(data);
    decoded.is_ok()
}

/// The connection-string parser and what a client does next with the options.
fn uri(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    let Ok(mut options) = ClientOptions::parse(&text) else {
        return false;
    };
    let _ = options.validate();
    let _ = options.unsupported_settings();
    let _ = format!("{options:?}");
    if let Some(lookup) = options.srv_lookup() {
        let _ = lookup.srv_name();
        let _ = lookup.txt_name();
        let _ = lookup.check_target("a.b.example.com");
        let targets = [
            ("a.b.example.com".to_owned(), 27017),
            ("c.example.com".to_owned(), 1),
        ];
        let txt = [
            "replicaSet=rs&authSource=admin".to_owned(),
            "loadBalanced=true".to_owned(),
        ];
        let _ = options.apply_srv_records(&targets, &txt);
    }
    let _ = TopologyDescription::new(&options);
    true
}
