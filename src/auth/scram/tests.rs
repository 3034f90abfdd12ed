use bson::{Binary, doc, spec::BinarySubtype};

use super::*;

fn reply(payload: &str, done: bool) -> Document {
    let payload = Binary {
        subtype: BinarySubtype::Generic,
        bytes: payload.as_bytes().to_vec(),
    };
    doc! { "conversationId": 1, "done": done, "payload": payload, "ok": 1.0 }
}

/// The payload of a `Continue` step's command, as text.
fn sent(step: AuthStep) -> String {
    match step {
        AuthStep::Continue(cmd) => {
            assert_eq!(cmd.get_i32("saslContinue").unwrap(), 1);
            assert_eq!(cmd.get_i32("conversationId").unwrap(), 1);
            String::from_utf8(cmd.get_binary_generic("payload").unwrap().clone()).unwrap()
        }
        AuthStep::Done => panic!("expected another command"),
    }
}

fn first_payload(conv: &ScramConversation) -> String {
    let cmd = conv.start_command();
    String::from_utf8(cmd.get_binary_generic("payload").unwrap().clone()).unwrap()
}

/// Runs a whole conversation against canned server messages; returns what the client sent.
fn converse(mut conv: ScramConversation, server_first: &str, server_final: &str) -> String {
    let client_final = sent(conv.handle_reply(&reply(server_first, false)).unwrap());
    assert_eq!(
        conv.handle_reply(&reply(server_final, true)).unwrap(),
        AuthStep::Done
    );
    client_final
}

#[test]
fn rfc5802_sha1_vector_with_raw_password() {
    // RFC 5802 section 5 hashes the password itself; MongoDB's SHA-1 hashes a digest of it,
    // so the raw vector goes through the prepared-password constructor.
    let conv = ScramConversation::with_prepared_password(
        ScramVersion::Sha1,
        "user",
        Password::new("pencil"),
        "admin",
        "fyko+d2lbbFgONRv9qkxdawL".into(),
    );
    assert_eq!(first_payload(&conv), "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
    let client_final = converse(
        conv,
        "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
        "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
    );
    assert_eq!(
        client_final,
        "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
    );
}

#[test]
fn mongodb_sha1_conversation_from_the_auth_spec() {
    let conv = ScramConversation::with_nonce(
        ScramVersion::Sha1,
        "user",
        &Password::new("pencil"),
        "admin",
        "fyko+d2lbbFgONRv9qkxdawL".into(),
    )
    .unwrap();
    let start = conv.start_command();
    assert_eq!(start.get_str("mechanism").unwrap(), "SCRAM-SHA-1");
    assert_eq!(start.get_i32("autoAuthorize").unwrap(), 1);
    assert_eq!(
        start.get_document("options").unwrap(),
        &doc! { "skipEmptyExchange": true }
    );
    assert_eq!(
        BASE64.encode(start.get_binary_generic("payload").unwrap()),
        "biwsbj11c2VyLHI9ZnlrbytkMmxiYkZnT05Sdjlxa3hkYXdM"
    );
    let client_final = converse(
        conv,
        "r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,s=rQ9ZY3MntBeuP3E1TDVC4w==,i=10000",
        "v=UMWeI25JD1yNYZRMpZ4VHvhZ9e0=",
    );
    assert_eq!(
        client_final,
        "c=biws,r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,p=MC2T8BvbmWRckDw8oWl5IVghwCY="
    );
}

const SHA256_FIRST: &str =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const SHA256_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
const SHA256_CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";

fn sha256(password: &str) -> ScramConversation {
    ScramConversation::with_nonce(
        ScramVersion::Sha256,
        "user",
        &Password::new(password),
        "admin",
        "rOprNGfwEbeRWgbNEkqO".into(),
    )
    .unwrap()
}

#[test]
fn rfc7677_sha256_vector() {
    let conv = sha256("pencil");
    assert_eq!(first_payload(&conv), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    assert_eq!(
        BASE64.encode(conv.start_command().get_binary_generic("payload").unwrap()),
        "biwsbj11c2VyLHI9ck9wck5HZndFYmVSV2diTkVrcU8="
    );
    assert_eq!(
        converse(conv, SHA256_FIRST, SHA256_FINAL),
        SHA256_CLIENT_FINAL
    );
}

#[test]
fn sha256_saslpreps_the_password() {
    // SOFT HYPHEN maps to nothing, so this is the same password as "pencil".
    assert_eq!(
        converse(sha256("pen\u{00AD}cil"), SHA256_FIRST, SHA256_FINAL),
        SHA256_CLIENT_FINAL
    );
    let err = ScramConversation::new(
        ScramVersion::Sha256,
        "user",
        &Password::new("bad\u{0007}pw"),
        "admin",
    )
    .unwrap_err();
    assert!(err.to_string().contains("SASLprep"), "{err}");
}

#[test]
fn old_servers_get_an_empty_final_round_trip() {
    let mut conv = sha256("pencil");
    sent(conv.handle_reply(&reply(SHA256_FIRST, false)).unwrap());
    let empty = sent(conv.handle_reply(&reply(SHA256_FINAL, false)).unwrap());
    assert_eq!(empty, "");
    assert_eq!(conv.handle_reply(&reply("", true)).unwrap(), AuthStep::Done);
    for _ in 0..2 {
        let e = conv.handle_reply(&reply("", true)).unwrap_err().to_string();
        assert!(e.contains("already complete"), "{e}");
    }

    let mut stubborn = sha256("pencil");
    sent(stubborn.handle_reply(&reply(SHA256_FIRST, false)).unwrap());
    sent(stubborn.handle_reply(&reply(SHA256_FINAL, false)).unwrap());
    assert!(stubborn.handle_reply(&reply("", false)).is_err());
}

#[test]
fn usernames_are_escaped_not_prepared() {
    let conv = ScramConversation::with_nonce(
        ScramVersion::Sha256,
        "a=b,c\u{2168}",
        &Password::new("pw"),
        "admin",
        "N".into(),
    )
    .unwrap();
    assert_eq!(first_payload(&conv), "n,,n=a=3Db=2Cc\u{2168},r=N");
}

#[test]
fn speculative_document_is_sasl_start_plus_db() {
    let conv = sha256("pencil");
    let mut spec = conv.speculative_authenticate();
    assert_eq!(spec.remove("db"), Some(Bson::from("admin")));
    assert_eq!(spec, conv.start_command());
}

#[test]
fn random_nonces_are_fresh_and_comma_free() {
    let pw = Password::new("pencil");
    let a = ScramConversation::new(ScramVersion::Sha1, "u", &pw, "admin").unwrap();
    let b = ScramConversation::new(ScramVersion::Sha1, "u", &pw, "admin").unwrap();
    assert_ne!(a.client_nonce, b.client_nonce);
    assert_eq!(a.client_nonce.len(), 32);
    assert!(!a.client_nonce.contains(','));
}

#[test]
fn verification_failures_end_the_conversation() {
    let cases = [
        // Server nonce that does not extend ours.
        (
            "r=XXprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            None,
            "does not start with the client nonce",
        ),
        (
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095",
            None,
            "4095 iterations, fewer than the minimum of 4096",
        ),
        (
            "m=ext,r=rOprNGfwEbeRWgbNEkqO,s=QQ==,i=4096",
            None,
            "mandatory extension",
        ),
        ("r=rOprNGfwEbeRWgbNEkqOx,i=4096", None, "no s= field"),
        (
            "r=rOprNGfwEbeRWgbNEkqOx,s=!!,i=4096",
            None,
            "salt is not valid base64",
        ),
        (
            "r=rOprNGfwEbeRWgbNEkqOx,s=QQ==,i=many",
            None,
            "\"many\" is not a number",
        ),
        ("", None, "no r= field"),
        (SHA256_FIRST, Some("v=AAAA"), "server signature is wrong"),
        (SHA256_FIRST, Some("v=***"), "not valid base64"),
        (
            SHA256_FIRST,
            Some("e=invalid-proof"),
            "server reported error \"invalid-proof\"",
        ),
        (SHA256_FIRST, Some("x=1"), "no verifier"),
    ];
    for (first, last, want) in cases {
        let mut conv = sha256("pencil");
        let err = match last {
            None => conv.handle_reply(&reply(first, false)).unwrap_err(),
            Some(last) => {
                sent(conv.handle_reply(&reply(first, false)).unwrap());
                conv.handle_reply(&reply(last, true)).unwrap_err()
            }
        };
        let text = err.to_string();
        assert!(text.contains(want), "want {want:?}: {text}");
        assert!(
            text.starts_with("authentication failed: SCRAM-SHA-256: "),
            "{text}"
        );
        assert!(!format!("{text} {err:?}").contains("pencil"));
        let again = conv.handle_reply(&reply(SHA256_FIRST, false)).unwrap_err();
        assert!(again.to_string().contains("already failed"), "{again}");
    }
}

#[test]
fn server_first_that_claims_done_is_rejected() {
    let mut conv = sha256("pencil");
    let e = conv.handle_reply(&reply(SHA256_FIRST, true)).unwrap_err();
    assert!(e.to_string().contains("before verifying"), "{e}");
}

#[test]
fn server_refusal_is_reported_with_its_message() {
    let mut conv = sha256("pencil");
    let e = conv
        .handle_reply(&doc! { "ok": 0.0, "errmsg": "Authentication failed.", "code": 18 })
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "authentication failed: server replied: Authentication failed. (code 18)"
    );
}

#[test]
fn cache_reuses_salted_passwords() {
    let cache = Arc::new(ScramCache::new());
    for _ in 0..2 {
        let conv = sha256("pencil").with_cache(cache.clone());
        assert_eq!(
            converse(conv, SHA256_FIRST, SHA256_FINAL),
            SHA256_CLIENT_FINAL
        );
        assert_eq!(cache.len(), 1);
    }
    // A different iteration count is a different entry.
    let mut conv = sha256("pencil").with_cache(cache.clone());
    let other = SHA256_FIRST.replace("i=4096", "i=4097");
    sent(conv.handle_reply(&reply(&other, false)).unwrap());
    assert_eq!(cache.len(), 2);
    assert_eq!(format!("{cache:?}"), "ScramCache { entries: 2 }");
}

#[test]
fn debug_never_shows_the_password_or_its_digest() {
    let pw = Password::new("pencil");
    let sha1 = ScramConversation::with_nonce(ScramVersion::Sha1, "user", &pw, "admin", "n".into())
        .unwrap();
    let digest = sha1.prepared_password.expose().to_owned();
    assert_eq!(digest.len(), 32); // hex MD5 of "user:mongo:pencil"
    let mut dbg = format!("{sha1:?}");
    let mut conv = sha256("pencil");
    sent(conv.handle_reply(&reply(SHA256_FIRST, false)).unwrap());
    dbg.push_str(&format!("{conv:?}"));
    assert!(dbg.contains("<redacted>"));
    assert!(!dbg.contains("pencil"), "{dbg}");
    assert!(!dbg.contains(&digest), "{dbg}");
}
