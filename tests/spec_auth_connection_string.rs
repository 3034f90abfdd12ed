//! The auth spec's connection string tests (`auth/tests/legacy/connection-string.json`).

mod util {
    pub mod spec;
}

use greenmongo::ClientOptions;
use serde::Deserialize;
use serde_json::{Map, Value};
use util::spec::{self, Tally};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthTestFile {
    tests: Vec<AuthTest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthTest {
    description: String,
    uri: String,
    valid: bool,
    credential: Option<ExpectedCredential>,
}

/// Every key is present in the current file; a `null` means "not set".
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedCredential {
    username: Option<String>,
    password: Option<String>,
    source: Option<String>,
    mechanism: Option<String>,
    mechanism_properties: Option<Map<String, Value>>,
}

/// Checks one case as the auth tests' README says: `credential: null` means no credential;
/// otherwise each field must match, and `mechanism_properties` lists a subset of the
/// credential's properties.
fn run(test: &AuthTest) -> Result<(), String> {
    let options = match (ClientOptions::parse(&test.uri), test.valid) {
        (Err(_), false) => return Ok(()),
        (Ok(o), false) => return Err(format!("expected an error, got {:?}", o.credential)),
        (Err(e), true) => return Err(format!("unexpected error: {e}")),
        (Ok(o), true) => o,
    };
    let (expected, actual) = match (&test.credential, &options.credential) {
        (None, None) => return Ok(()),
        (None, Some(c)) => return Err(format!("expected no credential, got {c:?}")),
        (Some(_), None) => return Err("expected a credential, got none".into()),
        (Some(e), Some(a)) => (e, a),
    };
    let fields = [
        ("username", &expected.username, actual.username.clone()),
        ("password", &expected.password, actual.password.clone()),
        ("source", &expected.source, actual.source.clone()),
        (
            "mechanism",
            &expected.mechanism,
            actual.mechanism.map(|m| m.as_str().to_owned()),
        ),
    ];
    for (name, want, got) in fields {
        if *want != got {
            return Err(format!("{name}: expected {want:?}, got {got:?}"));
        }
    }
    let props = actual.mechanism_properties.as_ref();
    match &expected.mechanism_properties {
        None if props.is_some_and(|p| !p.is_empty()) => {
            return Err(format!("expected no mechanism properties, got {props:?}"));
        }
        None => {}
        Some(want) => {
            for (key, value) in want {
                let got = props.and_then(|p| p.get(key)).map(|v| match v {
                    bson::Bson::String(s) => Value::String(s.clone()),
                    bson::Bson::Boolean(b) => Value::Bool(*b),
                    other => Value::String(other.to_string()),
                });
                if got.as_ref() != Some(value) {
                    return Err(format!(
                        "mechanism property {key}: expected {value}, got {got:?}"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The file holds both sides of DRIVERS-3131 (MONGODB-AWS no longer takes credentials from
/// the client): the older cases that accept them and the newer ones that must reject them.
/// The driver implements the newer rule, so the older cases are skipped.
const DRIVERS_3131: &str = "superseded by DRIVERS-3131: MONGODB-AWS credentials come from the \
    environment only, and the same file's newer cases require rejecting them in the URI";

/// Cases this driver skips, with the reason.
const SKIPS: &[(&str, &str)] = &[
    (
        "should use username and password if specified (MONGODB-AWS)",
        DRIVERS_3131,
    ),
    (
        "should use username, password and session token if specified (MONGODB-AWS)",
        DRIVERS_3131,
    ),
];

#[test]
fn auth_connection_string_spec() {
    let Some((root, dir)) = spec::spec_dir("auth/tests/legacy") else {
        return;
    };
    let path = dir.join("connection-string.json");
    let file: AuthTestFile = spec::read_json(&path);
    let mut tally = Tally::new(&root, &path);
    for test in &file.tests {
        match SKIPS.iter().find(|(d, _)| *d == test.description) {
            Some((_, reason)) => tally.skip(&test.description, reason),
            None => tally.record(&test.description, run(test)),
        }
    }
    spec::report(&[tally]);
}
