//! Authentication against a real server started with `--auth` (`GREENMONGO_TEST_AUTH_URI`,
//! set by `scripts/test`: user `greenmongo` with root, user `nobody` with no roles).

mod util {
    pub mod server;
}

use std::sync::{Arc, Mutex};

use bson::{Document, doc};
use greenmongo::{
    Client, ClientOptions, ErrorKind,
    event::EventHandler,
    options::AuthMechanism,
    pool::CmapEvent,
    runtime::Runtime,
    sdam::{SdamEvent, ServerType},
};
use util::server;

fn auth_options() -> Option<ClientOptions> {
    let uri = server::uri_from("GREENMONGO_TEST_AUTH_URI")?;
    Some(ClientOptions::parse(&uri).expect("auth URI parses"))
}

fn with_user(mut options: ClientOptions, user: &str, password: &str) -> Client {
    let credential = options
        .credential
        .as_mut()
        .expect("the auth URI has a user");
    credential.username = Some(user.to_owned());
    credential.password = Some(password.to_owned());
    Client::with_options(options).unwrap()
}

#[test]
fn scram_sha_256_succeeds_negotiated_and_explicit_from_threads_and_coroutines() {
    let Some(options) = auth_options() else {
        return;
    };
    let negotiated = Client::with_options(options.clone()).unwrap();
    assert!(!negotiated.list_database_names().run().unwrap().is_empty());

    let mut explicit = options.clone();
    explicit.credential.as_mut().unwrap().mechanism = Some(AuthMechanism::ScramSha256);
    let explicit = Client::with_options(explicit).unwrap();
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let names = rt.block_on(move || {
        // Several coroutines authenticate new connections at once.
        let hs: Vec<_> = (0..20)
            .map(|_| {
                let c = explicit.clone();
                greenmongo::runtime::spawn(move || {
                    c.database("admin")
                        .run_command(doc! { "connectionStatus": 1 })
                        .run()
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect::<Vec<_>>()
    });
    for status in names {
        let users = status
            .get_document("authInfo")
            .unwrap()
            .get_array("authenticatedUsers")
            .unwrap();
        assert_eq!(
            users[0].as_document().unwrap().get_str("user").unwrap(),
            "greenmongo",
            "{status}"
        );
    }
}

#[test]
fn a_wrong_password_is_a_clear_authentication_error_without_the_password() {
    let Some(options) = auth_options() else {
        return;
    };
    let client = with_user(options, "greenmongo", "not-the-password-123");
    let err = client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .run()
        .unwrap_err();
    assert!(
        matches!(*err.kind, ErrorKind::Authentication { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("greenmongo"), "names the user: {text}");
    assert!(
        text.to_lowercase().contains("auth"),
        "says what failed: {text}"
    );
    assert!(
        !text.contains("not-the-password-123"),
        "leaks the password: {text}"
    );
    assert!(!format!("{err:?}").contains("not-the-password-123"));
    assert!(!format!("{client:?}").contains("not-the-password-123"));
}

#[test]
fn a_user_without_rights_gets_the_servers_unauthorized_error() {
    let Some(options) = auth_options() else {
        return;
    };
    let client = with_user(options, "nobody", "n0-rights");
    // Authentication itself succeeds...
    client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .run()
        .unwrap();
    // ...but reading data is refused with the server's code and message.
    let err = client
        .database("admin")
        .run_command(doc! { "find": "system.users" })
        .run()
        .unwrap_err();
    match &*err.kind {
        ErrorKind::Command(c) => {
            assert_eq!(c.code, 13, "{err}");
            assert_eq!(c.code_name, "Unauthorized", "{err}");
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}

#[test]
fn no_credentials_on_an_auth_server_is_refused() {
    let Some(mut options) = auth_options() else {
        return;
    };
    options.credential = None;
    let client = Client::with_options(options).unwrap();
    let err = client
        .database("admin")
        .run_command(doc! { "listDatabases": 1 })
        .run()
        .unwrap_err();
    assert_eq!(err.code(), Some(13), "{err}");
}

/// What a client under test saw: pool clears and server types it moved to.
#[derive(Debug, Default, PartialEq)]
struct Seen {
    pool_cleared: usize,
    server_types: Vec<ServerType>,
}

#[test]
fn a_network_error_while_authenticating_resets_the_server_and_its_pool() {
    let Some(options) = auth_options() else {
        return;
    };
    // The next saslContinue of this app's connections closes the connection, as SDAM's
    // auth-network-error spec test does.
    let app_name = server::unique("auth_net_err");
    let admin = Client::with_options(options.clone()).unwrap();
    server::fail_next_sasl_continue(&admin, &app_name);

    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut options = options;
    options.app_name = Some(app_name);
    options.retry_writes = Some(false);
    let sink = seen.clone();
    options.sdam_event_handler = Some(EventHandler::new(move |e: &SdamEvent| {
        if let SdamEvent::ServerDescriptionChanged { new, .. } = e {
            sink.lock().unwrap().server_types.push(new.server_type);
        }
    }));
    let sink = seen.clone();
    let client = Client::with_cmap_event_handler(
        options,
        greenmongo::event::EventHandler::new(move |e: &CmapEvent| {
            if matches!(e, CmapEvent::PoolCleared { .. }) {
                sink.lock().unwrap().pool_cleared += 1;
            }
        }),
    )
    .unwrap();
    let coll = client
        .database("greenmongo_tests")
        .collection::<Document>(&server::unique("auth_net_err"));

    let err = coll.insert_one(doc! { "x": 1 }).run().unwrap_err();
    assert!(err.is_network_error(), "{err:?}");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.pool_cleared, 1, "{seen:?}");
        assert_eq!(
            seen.server_types.last(),
            Some(&ServerType::Unknown),
            "{seen:?}"
        );
    }
    // The fail point fired once: the same client recovers.
    coll.insert_one(doc! { "x": 2 }).run().unwrap();
    assert_eq!(coll.count_documents(doc! {}).run().unwrap(), 1);
    coll.drop().run().unwrap();
}
