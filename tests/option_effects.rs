//! No connection-string option is parsed and forgotten (issue 14): for every option the
//! parser knows ([`greenmongo::uri::OPTIONS`]) this test knows either the `ClientOptions`
//! field it sets, which the driver must read outside the parsing code (checked in the
//! sources), or that the client says it cannot act on it
//! ([`ClientOptions::unsupported_settings`]). A new option without an entry here fails.
//! What each field does is tested where it is used (`tests/live_*`, the spec runners).

use std::{fs, path::Path};

use greenmongo::ClientOptions;

/// How an option takes effect.
enum Effect {
    /// It sets this field (an identifier) that the driver reads.
    Field(&'static str),
    /// The client says it has no effect (`unsupported_settings`).
    Unsupported,
}
use Effect::*;

/// Every option with a valid value to try and its effect.
const OPTIONS: &[(&str, &str, Effect)] = &[
    ("appname", "inventory", Field("app_name")),
    ("authmechanism", "SCRAM-SHA-256", Field("credential")),
    ("authmechanismproperties", "SERVICE_NAME:mongo", Unsupported),
    ("authsource", "admin", Field("credential")),
    ("compressors", "zstd", Field("compressors")),
    ("connecttimeoutms", "1234", Field("connect_timeout")),
    ("directconnection", "true", Field("direct_connection")),
    ("enableoverloadretargeting", "true", Unsupported),
    ("heartbeatfrequencyms", "1234", Field("heartbeat_frequency")),
    ("journal", "true", Field("write_concern")),
    ("loadbalanced", "true", Field("load_balanced")),
    ("localthresholdms", "20", Field("local_threshold")),
    ("maxadaptiveretries", "3", Unsupported),
    ("maxconnecting", "3", Field("max_connecting")),
    ("maxidletimems", "1234", Field("max_idle_time")),
    ("maxpoolsize", "7", Field("max_pool_size")),
    ("maxstalenessseconds", "120", Field("read_preference")),
    ("minpoolsize", "1", Field("min_pool_size")),
    ("proxyhost", "proxy.example", Field("proxy")),
    ("proxypassword", "pw", Field("proxy")),
    ("proxyport", "1081", Field("proxy")),
    ("proxyusername", "user", Field("proxy")),
    ("readconcernlevel", "majority", Field("read_concern")),
    ("readpreference", "secondary", Field("read_preference")),
    ("readpreferencetags", "dc:ny", Field("read_preference")),
    ("replicaset", "rs0", Field("repl_set_name")),
    ("retryreads", "false", Field("retry_reads")),
    ("retrywrites", "false", Field("retry_writes")),
    (
        "servermonitoringmode",
        "poll",
        Field("server_monitoring_mode"),
    ),
    (
        "serverselectiontimeoutms",
        "1234",
        Field("server_selection_timeout"),
    ),
    ("serverselectiontryonce", "false", Unsupported),
    ("sockettimeoutms", "1234", Field("socket_timeout")),
    ("srvmaxhosts", "2", Field("srv_max_hosts")),
    ("srvservicename", "custom", Field("srv_service_name")),
    ("ssl", "true", Field("is_enabled")),
    ("timeoutms", "1234", Field("timeout")),
    ("tls", "true", Field("is_enabled")),
    (
        "tlsallowinvalidcertificates",
        "true",
        Field("allow_invalid_certificates"),
    ),
    (
        "tlsallowinvalidhostnames",
        "true",
        Field("allow_invalid_hostnames"),
    ),
    ("tlscafile", "ca.pem", Field("ca_file")),
    (
        "tlscertificatekeyfile",
        "client.pem",
        Field("cert_key_file"),
    ),
    (
        "tlscertificatekeyfilepassword",
        "pw",
        Field("cert_key_file_password"),
    ),
    ("tlsdisablecertificaterevocationcheck", "true", Unsupported),
    ("tlsdisableocspendpointcheck", "true", Unsupported),
    ("tlsinsecure", "true", Field("allow_invalid_hostnames")),
    ("w", "majority", Field("write_concern")),
    ("waitqueuetimeoutms", "1234", Field("wait_queue_timeout")),
    ("wtimeout", "1234", Field("write_concern")),
    ("wtimeoutms", "1234", Field("write_concern")),
    ("zlibcompressionlevel", "4", Field("zlib_compression_level")),
];

/// The driver's sources outside the parsing code (`src/uri/query.rs` and the options
/// types), concatenated.
fn driver_sources() -> String {
    fn walk(dir: &Path, out: &mut String) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.to_string_lossy().replace('\\', "/");
            if path.is_dir() {
                if !rel.ends_with("src/options") {
                    walk(&path, out);
                }
            } else if rel.ends_with(".rs")
                && !rel.ends_with("src/uri/query.rs")
                && !rel.ends_with("src/options.rs")
            {
                out.push_str(&fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut all = String::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut all);
    all
}

#[test]
fn every_option_has_an_entry_here() {
    for known in greenmongo::uri::OPTIONS {
        assert!(
            OPTIONS.iter().any(|(name, ..)| name == known),
            "option {known} is parsed but this test does not know its effect: add it"
        );
    }
    assert_eq!(
        OPTIONS.len(),
        greenmongo::uri::OPTIONS.len(),
        "entries for options the parser no longer knows"
    );
}

#[test]
fn every_option_is_used_or_said_to_have_no_effect() {
    let sources = driver_sources();
    let default = format!(
        "{:?}",
        ClientOptions::parse("mongodb://example.com/").unwrap()
    );
    for (name, value, effect) in OPTIONS {
        // Options that need a partner to be valid get one.
        let partner = match *name {
            "authmechanismproperties" => "&authMechanism=GSSAPI",
            "proxyport" => "&proxyHost=proxy.example",
            "proxyusername" => "&proxyHost=proxy.example&proxyPassword=pw",
            "proxypassword" => "&proxyHost=proxy.example&proxyUsername=user",
            "maxstalenessseconds" | "readpreferencetags" => "&readPreference=secondary",
            _ => "",
        };
        let user = if name.starts_with("auth") { "u:p@" } else { "" };
        let scheme = if name.starts_with("srv") {
            "mongodb+srv"
        } else {
            "mongodb"
        };
        let uri = format!("{scheme}://{user}example.com/?{name}={value}{partner}");
        let options = ClientOptions::parse(&uri).unwrap_or_else(|e| panic!("{uri}: {e}"));
        // Deprecated spellings still take effect, with a warning that says so.
        let deprecated = options.warnings.iter().all(|w| w.contains("deprecated"));
        assert!(deprecated, "{uri}: {:?}", options.warnings);
        assert_ne!(format!("{options:?}"), default, "{uri} changed no option");
        let unsupported = options.unsupported_settings();
        match effect {
            Field(field) => {
                assert!(
                    sources.contains(&format!(".{field}")),
                    "option {name} sets `{field}`, which the driver never reads"
                );
                assert!(unsupported.is_empty(), "{uri}: {unsupported:?}");
            }
            Unsupported => assert!(
                unsupported
                    .iter()
                    .any(|s| s.to_ascii_lowercase().contains(name)),
                "option {name} has no effect but the client does not say so: {unsupported:?}"
            ),
        }
    }
}
