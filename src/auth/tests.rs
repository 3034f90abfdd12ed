use bson::doc;

use super::*;

const SECRET: &str = "Tr0ub4dor&3-secret";

fn no_leak(text: &str) {
    assert!(!text.contains(SECRET), "password leaked: {text}");
}

#[test]
fn mechanism_names_round_trip() {
    for m in [
        AuthMechanism::ScramSha1,
        AuthMechanism::ScramSha256,
        AuthMechanism::Plain,
        AuthMechanism::MongoDbX509,
    ] {
        assert_eq!(m.as_str().parse::<AuthMechanism>().unwrap(), m);
        assert_eq!(m.to_string(), m.as_str());
    }
    assert_eq!(
        "scram-sha-1".parse::<AuthMechanism>().unwrap(),
        AuthMechanism::ScramSha1
    );
    assert!("SCRAM-SHA-3".parse::<AuthMechanism>().is_err());
}

/// Mechanism, username, password, source, and the error expected.
type Case<'a> = (
    AuthMechanism,
    Option<&'a str>,
    Option<&'a Password>,
    Option<&'a str>,
    &'a str,
);

#[test]
fn conversation_validates_credentials_per_mechanism() {
    let pw = Password::new(SECRET);
    let cases: [Case<'_>; 7] = [
        (
            AuthMechanism::ScramSha1,
            None,
            Some(&pw),
            None,
            "requires a username",
        ),
        (
            AuthMechanism::ScramSha256,
            Some(""),
            Some(&pw),
            None,
            "requires a username",
        ),
        (
            AuthMechanism::ScramSha256,
            Some("u"),
            None,
            None,
            "requires a password",
        ),
        (
            AuthMechanism::Plain,
            Some("u"),
            None,
            None,
            "requires a password",
        ),
        (
            AuthMechanism::Plain,
            None,
            Some(&pw),
            None,
            "requires a username",
        ),
        (
            AuthMechanism::MongoDbX509,
            None,
            Some(&pw),
            None,
            "does not take a password",
        ),
        (
            AuthMechanism::MongoDbX509,
            None,
            None,
            Some("admin"),
            "$external only",
        ),
    ];
    for (m, user, pass, source, want) in cases {
        let e = Conversation::new(m, user, pass, source).unwrap_err();
        assert!(e.to_string().contains(want), "{m}: {e}");
        assert!(matches!(*e.kind, crate::ErrorKind::Authentication { .. }));
        no_leak(&format!("{e} {e:?}"));
    }
}

#[test]
fn sources_default_per_mechanism() {
    let pw = Password::new(SECRET);
    let source = |m, s| {
        let user = (m != AuthMechanism::MongoDbX509).then_some("u");
        let pass = (m != AuthMechanism::MongoDbX509).then_some(&pw);
        Conversation::new(m, user, pass, s)
            .unwrap()
            .source()
            .to_owned()
    };
    assert_eq!(source(AuthMechanism::ScramSha1, None), "admin");
    assert_eq!(source(AuthMechanism::ScramSha256, Some("db")), "db");
    assert_eq!(source(AuthMechanism::Plain, None), "$external");
    assert_eq!(source(AuthMechanism::Plain, Some("ldap")), "ldap");
    assert_eq!(source(AuthMechanism::MongoDbX509, None), "$external");
    assert_eq!(
        source(AuthMechanism::MongoDbX509, Some("$external")),
        "$external"
    );
}

#[test]
fn speculative_support_by_mechanism() {
    let pw = Password::new(SECRET);
    let scram = Conversation::new(AuthMechanism::ScramSha256, Some("u"), Some(&pw), None).unwrap();
    let spec = scram.speculative_authenticate().unwrap();
    assert_eq!(spec.get_str("mechanism").unwrap(), "SCRAM-SHA-256");
    assert_eq!(spec.get_str("db").unwrap(), "admin");
    let plain = Conversation::new(AuthMechanism::Plain, Some("u"), Some(&pw), None).unwrap();
    assert!(plain.speculative_authenticate().is_none());
    let x509 = Conversation::new(AuthMechanism::MongoDbX509, None, None, None).unwrap();
    assert_eq!(
        x509.speculative_authenticate()
            .unwrap()
            .get_str("db")
            .unwrap(),
        "$external"
    );
}

#[test]
fn x509_speculative_reply_completes_the_conversation() {
    let mut conv = Conversation::new(AuthMechanism::MongoDbX509, None, None, None).unwrap();
    let hello_reply = doc! {
        "isWritablePrimary": true,
        "speculativeAuthenticate": { "dbname": "$external", "user": "CN=client" },
        "ok": 1.0,
    };
    let spec = hello_reply.get_document("speculativeAuthenticate").unwrap();
    assert_eq!(conv.handle_reply(spec).unwrap(), AuthStep::Done);
}

#[test]
fn debug_output_never_contains_the_password() {
    let pw = Password::new(SECRET);
    let mut text = format!("{pw:?}");
    for m in [
        AuthMechanism::ScramSha1,
        AuthMechanism::ScramSha256,
        AuthMechanism::Plain,
    ] {
        let conv = Conversation::new(m, Some("user"), Some(&pw), None).unwrap();
        text.push_str(&format!("{conv:?} {conv:#?}"));
    }
    assert!(text.contains("<redacted>"));
    no_leak(&text);
}

#[test]
fn errors_never_contain_the_password() {
    let pw = Password::new(SECRET);
    let mut errors = Vec::new();
    for m in [
        AuthMechanism::ScramSha1,
        AuthMechanism::ScramSha256,
        AuthMechanism::Plain,
    ] {
        let mut conv = Conversation::new(m, Some("user"), Some(&pw), None).unwrap();
        // A reply whose payload echoes the password back must not make it into the error.
        let payload = bson::Binary {
            subtype: bson::spec::BinarySubtype::Generic,
            bytes: format!("r=bogus,s={SECRET},i=1").into_bytes(),
        };
        errors.push(
            conv.handle_reply(&doc! { "conversationId": 1, "done": false, "payload": payload })
                .unwrap_err(),
        );
        errors.push(conv.handle_reply(&doc! { "ok": 1 }).unwrap_err());
    }
    // SASLprep failure on a password with a prohibited character.
    let bad = Password::new(format!("{SECRET}\u{0007}"));
    errors.push(
        Conversation::new(AuthMechanism::ScramSha256, Some("u"), Some(&bad), None).unwrap_err(),
    );
    for e in errors {
        no_leak(&format!("{e} {e:?}"));
    }
}

#[test]
fn sasl_reply_parsing_errors() {
    let ok = |d: Document| SaslReply::parse(&d).map(|_| ()).unwrap_err().to_string();
    assert!(ok(doc! { "done": true, "payload": "" }).contains("no conversationId"));
    assert!(ok(doc! { "conversationId": 1, "done": 1, "payload": "" }).contains("not a boolean"));
    assert!(ok(doc! { "conversationId": 1, "done": true }).contains("no payload"));
    assert!(ok(doc! { "conversationId": 1, "payload": 5 }).contains("not binary data"));
    assert!(ok(doc! { "conversationId": 1, "payload": "%%" }).contains("not valid base64"));
    assert!(ok(doc! { "ok": false }).contains("server replied: no errmsg"));
    let r =
        SaslReply::parse(&doc! { "conversationId": 2, "payload": "cj1h", "ok": 1_i64 }).unwrap();
    assert_eq!(r.payload, b"r=a");
    assert!(!r.done);
}

#[test]
fn sasl_command_shapes() {
    let start = sasl_start("M", b"p".to_vec(), true);
    assert_eq!(
        start,
        doc! {
            "saslStart": 1,
            "mechanism": "M",
            "payload": binary(b"p".to_vec()),
            "autoAuthorize": 1,
            "options": { "skipEmptyExchange": true },
        }
    );
    assert_eq!(
        sasl_continue(Bson::Int32(7), vec![]),
        doc! { "saslContinue": 1, "conversationId": 7, "payload": binary(vec![]) }
    );
}
