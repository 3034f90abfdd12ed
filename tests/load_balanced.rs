//! Load-balanced mode (`loadBalanced=true`) against the live server behind a test load
//! balancer.
//!
//! SecantusDB cannot run behind a real load balancer, so this file puts a small TCP
//! proxy in front of it that plays one: it forwards every byte both ways and, as a
//! mongos behind a load balancer does, adds a `serviceId` to each `hello` reply. Each
//! client connection is assigned one of two "services" in turn, and the test can cut
//! every connection to one service (the service dies). Everything else is the real
//! server: CRUD, cursors, sessions.

mod util {
    pub mod server;
}

use std::{
    io::{self, Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
};

use bson::{Document, RawDocumentBuf, doc, oid::ObjectId};
use greenmongo::{
    Client,
    event::{CommandEvent, EventHandler},
    options::{ClientOptions, FindOptions, ServerAddress},
    pool::CmapEvent,
    sdam::{ServerType, TopologyType},
    wire::{HEADER_LEN, Message, SizeLimits},
};

/// The test load balancer: a proxy that tags `hello` replies with a `serviceId`.
struct LoadBalancer {
    port: u16,
    services: [ObjectId; 2],
    /// Client-side sockets of live connections, by service, to cut them.
    connections: Mutex<Vec<(ObjectId, TcpStream)>>,
    /// Whether `hello` replies get a `serviceId` (a load balancer in front of servers
    /// that are not configured for it does not).
    tag_hello: bool,
}

impl LoadBalancer {
    fn start(upstream: SocketAddr, tag_hello: bool) -> Arc<LoadBalancer> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let lb = Arc::new(LoadBalancer {
            port: listener.local_addr().unwrap().port(),
            services: [ObjectId::new(), ObjectId::new()],
            connections: Mutex::new(Vec::new()),
            tag_hello,
        });
        let next = AtomicUsize::new(0);
        let proxy = lb.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let service = proxy.services[next.fetch_add(1, Ordering::Relaxed) % 2];
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                proxy
                    .connections
                    .lock()
                    .unwrap()
                    .push((service, client.try_clone().unwrap()));
                let (client_in, server_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                thread::spawn(move || forward_requests(client_in, server_out));
                let tag = proxy.tag_hello.then_some(service);
                thread::spawn(move || forward_replies(server, client, tag));
            }
        });
        lb
    }

    fn options(&self) -> ClientOptions {
        ClientOptions::parse(&format!(
            "mongodb://127.0.0.1:{}/?loadBalanced=true",
            self.port
        ))
        .unwrap()
    }

    /// Cuts every connection to `service`, as if the service behind the balancer died.
    fn kill(&self, service: ObjectId) {
        for (s, socket) in self.connections.lock().unwrap().iter() {
            if *s == service {
                let _ = socket.shutdown(Shutdown::Both);
            }
        }
    }
}

fn forward_requests(mut from: TcpStream, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Both);
}

/// Copies replies message by message, adding `serviceId: tag` to `hello` replies.
fn forward_replies(mut from: TcpStream, mut to: TcpStream, tag: Option<ObjectId>) {
    let result = (|| -> io::Result<()> {
        loop {
            let mut header = [0u8; HEADER_LEN];
            from.read_exact(&mut header)?;
            let len = i32::from_le_bytes(header[..4].try_into().unwrap()) as usize;
            let mut bytes = header.to_vec();
            bytes.resize(len, 0);
            from.read_exact(&mut bytes[HEADER_LEN..])?;
            if let Some(service) = tag {
                bytes = with_service_id(bytes, service);
            }
            to.write_all(&bytes)?;
        }
    })();
    let _ = result;
    let _ = to.shutdown(Shutdown::Both);
}

fn with_service_id(bytes: Vec<u8>, service: ObjectId) -> Vec<u8> {
    let Ok(mut message) = Message::decode_with_limits(&bytes, &SizeLimits::default()) else {
        return bytes;
    };
    let Ok(mut body) = message.body_document() else {
        return bytes;
    };
    if !body.contains_key("isWritablePrimary") && !body.contains_key("ismaster") {
        return bytes;
    }
    body.insert("serviceId", service);
    message.body = RawDocumentBuf::try_from(&body).unwrap();
    message.encode(None)
}

/// The load balancer in front of the live server, if there is one.
fn balancer(tag_hello: bool) -> Option<Arc<LoadBalancer>> {
    balancer_of(&util::server::uri()?, tag_hello)
}

/// A load balancer in front of the server of `uri`.
fn balancer_of(uri: &str, tag_hello: bool) -> Option<Arc<LoadBalancer>> {
    let options = ClientOptions::parse(uri).unwrap();
    let address = options.hosts[0].clone();
    let upstream = format!("{}:{}", address.host().unwrap(), address.port().unwrap())
        .parse()
        .unwrap();
    Some(LoadBalancer::start(upstream, tag_hello))
}

/// Commands started: name, driver connection id, service id.
type Started = Arc<Mutex<Vec<(String, u64, Option<ObjectId>)>>>;

/// A client of `options` recording CMAP events and started commands.
fn client_with_events(mut options: ClientOptions) -> (Client, Arc<Mutex<Vec<CmapEvent>>>, Started) {
    options.server_selection_timeout = Some(std::time::Duration::from_secs(5));
    let started: Started = Arc::default();
    let sink = started.clone();
    options.command_event_handler = Some(EventHandler::new(move |e: &CommandEvent| {
        if let CommandEvent::Started(s) = e {
            let c = &s.connection;
            sink.lock()
                .unwrap()
                .push((s.command_name.clone(), c.id, c.service_id));
        }
    }));
    let (client, events) = util::server::recording_client(options);
    (client, events, started)
}

/// The load balancer's address, as the client knows it.
fn lb_address(client: &Client) -> ServerAddress {
    let topology = client.topology_description();

    topology.servers().next().unwrap().address.clone()
}

/// The `serviceId` of every `PoolCleared` event, in order.
fn cleared_services(events: &Mutex<Vec<CmapEvent>>) -> Vec<Option<ObjectId>> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            CmapEvent::PoolCleared { service_id, .. } => Some(*service_id),
            _ => None,
        })
        .collect()
}

#[test]
fn crud_and_sessions_work_through_a_load_balancer_without_monitoring() {
    let Some(lb) = balancer(true) else { return };
    let (client, events, _) = client_with_events(lb.options());
    let coll = client
        .database("greenmongo_tests")
        .collection::<Document>(&util::server::unique("lb_crud"));
    coll.insert_many((0..5).map(|i| doc! { "i": i }))
        .run()
        .unwrap();
    assert_eq!(coll.count_documents(doc! {}).run().unwrap(), 5);
    let topology = client.topology_description();
    assert_eq!(topology.topology_type(), TopologyType::LoadBalanced);
    let server = topology.servers().next().unwrap();
    assert_eq!(server.server_type, ServerType::LoadBalancer);
    // No monitor: every connection the client made is a pooled one.
    let created = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, CmapEvent::ConnectionCreated { .. }))
        .count();
    assert_eq!(created, lb.connections.lock().unwrap().len());
    coll.drop().run().unwrap();
}

#[test]
fn a_cursor_keeps_its_connection_until_exhausted() {
    let Some(lb) = balancer(true) else { return };
    let (client, _, seen) = client_with_events(lb.options());
    let coll = client
        .database("greenmongo_tests")
        .collection::<Document>(&util::server::unique("lb_cursor"));
    coll.insert_many((0..10).map(|i| doc! { "i": i }))
        .run()
        .unwrap();
    let address = lb_address(&client);

    let mut cursor = coll
        .find(doc! {})
        .with_options(FindOptions::builder().batch_size(3u32).build())
        .run()
        .unwrap();
    cursor.next().unwrap().unwrap();
    // The cursor holds its connection between batches.
    assert_eq!(client.pool_counts(&address).unwrap().checked_out, 1);
    // Meanwhile other operations use other connections.
    assert_eq!(coll.count_documents(doc! {}).run().unwrap(), 10);
    assert_eq!(cursor.count(), 9);
    assert_eq!(client.pool_counts(&address).unwrap().checked_out, 0);

    let commands = seen.lock().unwrap().clone();
    let find = commands.iter().find(|c| c.0 == "find").unwrap();
    let get_mores: Vec<_> = commands.iter().filter(|c| c.0 == "getMore").collect();
    assert_eq!(get_mores.len(), 3);
    assert!(get_mores.iter().all(|g| g.1 == find.1), "{commands:?}");
    assert!(find.2.is_some(), "command events name the service");

    // Dropped before the end: killCursors goes on the pinned connection too.
    seen.lock().unwrap().clear();
    let mut cursor = coll
        .find(doc! {})
        .with_options(FindOptions::builder().batch_size(2u32).build())
        .run()
        .unwrap();
    cursor.next().unwrap().unwrap();
    drop(cursor);
    let commands = seen.lock().unwrap().clone();
    assert_eq!(commands[1].0, "killCursors", "{commands:?}");
    assert_eq!(commands[1].1, commands[0].1);
    assert_eq!(client.pool_counts(&address).unwrap().checked_out, 0);
    coll.drop().run().unwrap();
}

#[test]
fn a_transaction_keeps_its_connection_until_it_ends() {
    let Some(lb) = balancer(true) else { return };
    let (client, _, seen) = client_with_events(lb.options());
    let coll = client
        .database("greenmongo_tests")
        .collection::<Document>(&util::server::unique("lb_txn"));
    coll.insert_many((0..6).map(|i| doc! { "i": i }))
        .run()
        .unwrap();
    let address = lb_address(&client);
    seen.lock().unwrap().clear();
    let mut session = client.start_session().run().unwrap();
    session.start_transaction().run().unwrap();
    coll.insert_one(doc! { "i": 6 })
        .session(&mut session)
        .run()
        .unwrap();
    // Pinned between statements (the load-balancer spec): the connection stays out.
    assert!(session.is_pinned());
    assert_eq!(client.pool_counts(&address).unwrap().checked_out, 1);
    // Operations outside the transaction use other connections meanwhile.
    assert_eq!(coll.count_documents(doc! {}).run().unwrap(), 6);
    let mut cursor = coll
        .find(doc! {})
        .batch_size(2)
        .session(&mut session)
        .run()
        .unwrap();
    assert_eq!(cursor.iter(&mut session).count(), 7);
    session.commit_transaction().run().unwrap();
    // Kept after the commit (a commit may be retried), let go by the next operation.
    coll.find_one(doc! {}).session(&mut session).run().unwrap();
    assert!(!session.is_pinned());
    assert_eq!(client.pool_counts(&address).unwrap().checked_out, 0);

    let commands = seen.lock().unwrap().clone();
    let in_transaction: Vec<_> = commands
        .iter()
        .filter(|c| ["insert", "find", "getMore", "commitTransaction"].contains(&c.0.as_str()))
        .take(6) // insert, find, 3 getMores, commit
        .collect();
    let pinned = in_transaction[0].1;
    assert!(
        in_transaction.iter().all(|c| c.1 == pinned),
        "every command of the transaction on connection {pinned}: {commands:?}"
    );
    let count = commands.iter().find(|c| c.0 == "aggregate").unwrap();
    assert_ne!(
        count.1, pinned,
        "the count outside the transaction used another connection"
    );

    // An aborted transaction lets its connection go at once.
    session.start_transaction().run().unwrap();
    coll.insert_one(doc! { "i": 7 })
        .session(&mut session)
        .run()
        .unwrap();
    session.abort_transaction().run().unwrap();
    assert!(!session.is_pinned());
    assert_eq!(client.pool_counts(&address).unwrap().checked_out, 0);
    assert_eq!(coll.count_documents(doc! {}).run().unwrap(), 7);
    coll.drop().run().unwrap();
}

#[test]
fn a_dead_service_clears_only_its_own_connections() {
    let Some(lb) = balancer(true) else { return };
    let (client, events, _) = client_with_events(lb.options());
    let coll = client
        .database("greenmongo_tests")
        .collection::<Document>(&util::server::unique("lb_services"));
    coll.insert_many((0..4).map(|i| doc! { "i": i }))
        .run()
        .unwrap();
    let two_cursors = || {
        let batches_of_one = || FindOptions::builder().batch_size(1u32).build();
        let a = coll
            .find(doc! {})
            .with_options(batches_of_one())
            .run()
            .unwrap();
        let b = coll
            .find(doc! {})
            .with_options(batches_of_one())
            .run()
            .unwrap();
        drop((a, b));
    };
    // Two cursors open at once pin two connections: the balancer gives one to each
    // service. Back in the pool, both are used again by the next two cursors.
    two_cursors();
    let [dead, alive] = lb.services;
    lb.kill(dead);
    // The find on the dead service's connection fails with a network error (retried
    // once, on a new connection), and only that service's connections are cleared.
    two_cursors();
    let cleared = cleared_services(&events);
    assert_eq!(cleared, [Some(dead)], "only the dead service is cleared");
    assert!(!cleared.contains(&Some(alive)));
    let _ = coll.drop().run();
}

#[test]
fn a_server_without_load_balancer_support_is_refused() {
    let Some(lb) = balancer(false) else { return };
    let mut options = lb.options();
    options.server_selection_timeout = Some(std::time::Duration::from_secs(2));
    let client = Client::with_options(options).unwrap();
    let err = client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .run()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("Driver attempted to initialize in load balancing mode"),
        "{err}"
    );
}

#[test]
fn an_error_while_authenticating_clears_only_its_service() {
    let Some(auth_uri) = util::server::uri_from("GREENMONGO_TEST_AUTH_URI") else {
        return;
    };
    let Some(lb) = balancer_of(&auth_uri, true) else {
        return;
    };
    // The next saslContinue of this app's connections closes the connection (the
    // load-balancer spec's "errors during authentication are processed").
    let app_name = util::server::unique("lb_auth_err");
    let admin = Client::with_uri_str(&auth_uri).unwrap();
    util::server::fail_next_sasl_continue(&admin, &app_name);

    let mut options = ClientOptions::parse(&auth_uri).unwrap();
    options.hosts = vec![ServerAddress::tcp("127.0.0.1", lb.port)];
    options.direct_connection = None;
    options.load_balanced = Some(true);
    options.app_name = Some(app_name);
    options.retry_writes = Some(false);
    let (client, events, _) = client_with_events(options);
    let coll = client
        .database("greenmongo_tests")
        .collection::<Document>(&util::server::unique("lb_auth_err"));

    // The first connection goes to the first service, and its authentication fails
    // after the hello named that service: only that service is cleared.
    let err = coll.insert_one(doc! { "x": 1 }).run().unwrap_err();
    assert!(err.is_network_error(), "{err:?}");
    let cleared = cleared_services(&events);
    assert_eq!(cleared, [Some(lb.services[0])]);
    // The load balancer is never marked Unknown, and the client goes on.
    let topology = client.topology_description();
    assert_eq!(topology.topology_type(), TopologyType::LoadBalanced);
    assert_eq!(
        topology.servers().next().unwrap().server_type,
        ServerType::LoadBalancer
    );
    coll.insert_one(doc! { "x": 2 }).run().unwrap();
    coll.drop().run().unwrap();
}
