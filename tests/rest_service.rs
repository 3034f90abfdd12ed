//! End to end: the REST service example (`examples/rest_service.rs`), its modules compiled
//! in here as they are, on an ephemeral port against the test server, driven by a real
//! HTTP client over TCP; what it stores is checked with the driver directly.
//!
//! ```sh
//! MONGODB_URI=$(scripts/test-server start --name rsdev) cargo test --test rest_service
//! ```

mod util {
    pub mod server;
}

#[path = "../examples/rest_service/api.rs"]
mod api;
#[path = "../examples/rest_service/client.rs"]
mod client;
#[path = "../examples/rest_service/http.rs"]
mod http;
#[path = "../examples/rest_service/service.rs"]
mod service;

use std::{
    io::{self, Read, Write},
    net::SocketAddr,
    sync::atomic::Ordering::Relaxed,
    time::Duration,
};

use bson::{Bson, Document, doc, oid::ObjectId};
use greenmongo::{
    Client, Collection, Database,
    runtime::{
        Runtime,
        net::{TcpListener, TcpStream},
        time::with_timeout,
    },
};
use serde_json::{Value, json};

use api::{Api, Item};
use client::{HttpClient, Reply};
use service::Service;
use util::server;

/// No reply in a test takes this long; past it the test fails instead of hanging.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// The service on its own runtime and database; shut down and dropped at the end.
struct TestService {
    service: Option<Service>,
    runtime: Option<Runtime>,
    db: Database,
}

impl TestService {
    /// Against `MONGODB_URI`, or `None` after saying why the test skips.
    fn start() -> Option<TestService> {
        let client = server::client()?;
        let db = client.database(&server::unique("rest_service"));
        Some(TestService::start_with(db, true))
    }

    fn start_with(db: Database, create_indexes: bool) -> TestService {
        let runtime = Runtime::builder().worker_threads(2).build().unwrap();
        let (service_db, handle) = (db.clone(), runtime.handle());
        let service = runtime.block_on(move || {
            if create_indexes {
                api::create_indexes(&service_db).expect("createIndexes");
            }
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            Service::start(listener, Api::new(&service_db, handle)).unwrap()
        });
        TestService {
            service: Some(service),
            runtime: Some(runtime),
            db,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.service.as_ref().unwrap().addr()
    }

    fn connect(&self) -> HttpClient {
        HttpClient::connect(self.addr()).unwrap()
    }

    fn panics(&self) -> u64 {
        self.service.as_ref().unwrap().stats().panics.load(Relaxed)
    }

    /// The stored documents, as the driver sees them.
    fn stored(&self) -> Collection<Document> {
        self.db.collection(api::ITEMS)
    }
}

impl Drop for TestService {
    fn drop(&mut self) {
        if let Some(service) = self.service.take() {
            service.shutdown(Duration::from_secs(1));
        }
        drop(self.runtime.take());
        let _ = self.db.drop().run();
    }
}

/// One request with a JSON body (or none), failing the test on a socket error or timeout.
fn call(http: &mut HttpClient, method: &str, target: &str, body: Option<Value>) -> Reply {
    with_timeout(REPLY_TIMEOUT, || {
        http.request(method, target, body.as_ref())
    })
    .unwrap_or_else(|e| panic!("{method} {target}: {e}"))
}

/// Sends raw bytes on a fresh connection, half-closes it and reads every reply until the
/// server closes. Only complete, well-formed HTTP replies are returned.
fn exchange_raw(addr: SocketAddr, bytes: &[u8]) -> io::Result<Vec<Reply>> {
    with_timeout(REPLY_TIMEOUT, || {
        let mut http = HttpClient::connect(addr)?;
        // The server may close early (after a 413, say) while we still send: that is fine.
        let _ = http.send_raw(bytes).and_then(|()| http.finish_sending());
        let mut replies = Vec::new();
        loop {
            match http.read_reply() {
                Ok(reply) => replies.push(reply),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(e),
                Err(e) if e.kind() == io::ErrorKind::InvalidData => return Err(e),
                Err(_) => return Ok(replies), // closed (EOF or reset)
            }
        }
    })
}

fn object_id(reply: &Reply) -> ObjectId {
    let id = reply.json()["_id"].as_str().expect("an _id").to_owned();
    ObjectId::parse_str(&id).expect("_id is 24 hex digits")
}

#[test]
fn every_endpoint_round_trips_to_the_database() {
    let Some(svc) = TestService::start() else {
        return;
    };
    let mut http = svc.connect();

    let lamp = json!({ "name": "desk lamp", "price": 24.5, "tags": ["home", "light"] });
    let created = call(&mut http, "POST", "/items", Some(lamp));
    assert_eq!(created.status, 201, "{created:?}");
    let id = object_id(&created);
    assert_eq!(created.header("location"), Some(&*format!("/items/{id}")));
    let stored = svc.stored().find_one(doc! {}).run().unwrap().unwrap();
    assert_eq!(
        stored,
        doc! { "_id": id, "name": "desk lamp", "price": 24.5, "tags": ["home", "light"] },
        "stored with an ObjectId _id, the fields as sent"
    );

    let fetched = call(&mut http, "GET", &format!("/items/{id}"), None);
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.json(), created.json());

    let replacement = json!({ "_id": id.to_hex(), "name": "floor lamp", "price": 80.0 });
    let replaced = call(&mut http, "PUT", &format!("/items/{id}"), Some(replacement));
    assert_eq!(replaced.status, 200, "{:?}", replaced.error());
    let stored = svc
        .stored()
        .find_one(doc! { "_id": id })
        .run()
        .unwrap()
        .unwrap();
    assert_eq!(
        stored,
        doc! { "_id": id, "name": "floor lamp", "price": 80.0, "tags": [] }
    );

    let patched = call(
        &mut http,
        "PATCH",
        &format!("/items/{id}"),
        Some(json!({ "price": 75.25, "tags": ["sale"] })),
    );
    assert_eq!(patched.status, 200, "{:?}", patched.error());
    assert_eq!(
        patched.json(),
        json!({ "_id": id.to_hex(), "name": "floor lamp", "price": 75.25, "tags": ["sale"] })
    );
    let stored = svc
        .stored()
        .find_one(doc! { "_id": id })
        .run()
        .unwrap()
        .unwrap();
    assert_eq!(stored.get_f64("price").unwrap(), 75.25);

    let found = call(&mut http, "GET", "/items?q=FLOOR&tag=sale", None);
    assert_eq!(found.status, 200);
    assert_eq!(found.json()["total"], 1);
    assert_eq!(found.json()["items"][0]["_id"], json!(id.to_hex()));

    let deleted = call(&mut http, "DELETE", &format!("/items/{id}"), None);
    assert_eq!((deleted.status, deleted.body.len()), (204, 0));
    assert_eq!(svc.stored().count_documents(doc! {}).run().unwrap(), 0);
    for method in ["GET", "DELETE"] {
        let gone = call(&mut http, method, &format!("/items/{id}"), None);
        assert_eq!(gone.status, 404, "{method} after DELETE");
        assert_eq!(gone.error(), Some(format!("no item with id {id}")));
    }
    let gone = call(
        &mut http,
        "PUT",
        &format!("/items/{id}"),
        Some(json!({ "name": "x", "price": 1 })),
    );
    assert_eq!(gone.status, 404, "PUT does not create");

    let stats = call(&mut http, "GET", "/stats", None).json();
    assert_eq!(stats["requests_served"], 9, "{stats}");
    assert_eq!(stats["responses"], json!({ "2xx": 6, "4xx": 3, "5xx": 0 }));
    assert_eq!(
        stats["connections"],
        json!({ "open": 1, "accepted": 1 }),
        "one keep-alive connection"
    );
    let workers = stats["runtime"]["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2);
    assert!(
        workers
            .iter()
            .all(|w| w["runnable"].is_u64() && w["coroutines"].is_u64())
    );
    assert!(
        stats["runtime"]["coroutines"].as_u64().unwrap() >= 2,
        "acceptor and this connection"
    );
    assert_eq!(stats["panics"], 0);
    let pools = stats["mongodb_pools"].as_array().expect("mongodb_pools");
    assert!(!pools.is_empty(), "{stats}");
    for pool in pools {
        assert_eq!(
            pool["checked_out"], 0,
            "none in use between requests: {pool}"
        );
        assert!(pool["total"].as_u64() >= Some(1), "{pool}");
    }
}

#[test]
fn search_filters_and_paginates() {
    let Some(svc) = TestService::start() else {
        return;
    };
    let names: Vec<String> = (0..25).map(|i| format!("Apple pie {i:02}")).collect();
    let mut http = svc.connect();
    for (i, name) in names.iter().enumerate() {
        let tags = if i % 5 == 0 {
            json!(["sale", "fruit"])
        } else {
            json!(["fruit"])
        };
        let item = json!({ "name": name, "price": i as f64, "tags": tags });
        assert_eq!(call(&mut http, "POST", "/items", Some(item)).status, 201);
    }
    for other in ["banana", "a.*b (regex-looking)"] {
        let item = json!({ "name": other, "price": 1.0, "tags": ["fruit"] });
        assert_eq!(call(&mut http, "POST", "/items", Some(item)).status, 201);
    }
    let indexes = svc.stored().list_index_names().run().unwrap();
    assert!(
        indexes.contains(&"name_1".to_owned()) && indexes.contains(&"tags_1".to_owned()),
        "{indexes:?}"
    );

    let mut seen = Vec::new();
    for page in 1..=3 {
        let reply = call(
            &mut http,
            "GET",
            &format!("/items?q=apple+PIE&per_page=10&page={page}"),
            None,
        );
        assert_eq!(reply.status, 200, "{:?}", reply.error());
        let body = reply.json();
        assert_eq!(
            (body["total"].as_u64(), body["pages"].as_u64()),
            (Some(25), Some(3))
        );
        assert_eq!(body["page"], page);
        seen.extend(
            body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["name"].as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(seen, names, "every match once, oldest first");

    let on_sale = call(&mut http, "GET", "/items?tag=sale&q=pie%201", None).json();
    assert_eq!(on_sale["total"], 2, "Apple pie 10 and 15: {on_sale}");
    let everything = call(&mut http, "GET", "/items", None).json();
    assert_eq!(
        (
            everything["total"].as_u64(),
            everything["per_page"].as_u64()
        ),
        (Some(27), Some(20))
    );
    let literal = call(&mut http, "GET", "/items?q=a.*b", None).json();
    assert_eq!(
        literal["total"], 1,
        "q is a literal substring, not a pattern: {literal}"
    );
    let past_the_end = call(&mut http, "GET", "/items?q=apple&page=9", None).json();
    assert_eq!(
        (
            past_the_end["items"].as_array().unwrap().len(),
            past_the_end["total"].as_u64()
        ),
        (0, Some(25))
    );
}

#[test]
fn bad_requests_get_json_4xx_errors() {
    let Some(svc) = TestService::start() else {
        return;
    };
    let id = ObjectId::new().to_hex();
    let item_path = format!("/items/{id}");
    // method, target, body, status, part of the error message
    #[rustfmt::skip]
    let cases: Vec<(&str, &str, &str, u16, &str)> = vec![
        ("GET", "/nowhere", "", 404, "no route for /nowhere"),
        ("GET", "/items/", "", 404, "no route"),
        ("GET", "/items/a/b", "", 404, "no route"),
        ("DELETE", "/items", "", 405, "allowed: GET, POST"),
        ("POST", &item_path, "{}", 405, "allowed: GET, PUT, PATCH, DELETE"),
        ("PUT", "/stats", "", 405, "allowed: GET"),
        ("GET", "/items/123", "", 400, "invalid item id `123`"),
        ("DELETE", "/items/zzzzzzzzzzzzzzzzzzzzzzzz", "", 400, "invalid item id"),
        ("GET", &item_path, "", 404, "no item with id"),
        ("PATCH", &item_path, r#"{"price": 1}"#, 404, "no item with id"),
        ("POST", "/items", "", 400, "needs a JSON object body"),
        ("POST", "/items", "{\"name\": ", 400, "not valid JSON"),
        ("POST", "/items", "[1, 2]", 400, "must be a JSON object"),
        ("POST", "/items", r#"{"price": 2}"#, 400, "missing field `name`"),
        ("POST", "/items", r#"{"name": "x"}"#, 400, "missing field `price`"),
        ("POST", "/items", r#"{"name": "x", "price": "2"}"#, 400, "invalid type"),
        ("POST", "/items", r#"{"name": "x", "price": 2, "qty": 1}"#, 400, "unknown field `qty`"),
        ("POST", "/items", r#"{"name": "  ", "price": 2}"#, 400, "`name` must not be blank"),
        ("POST", "/items", r#"{"name": "x", "price": -2}"#, 400, "`price` must be a number ≥ 0"),
        ("POST", "/items", r#"{"name": "x", "price": 2, "tags": [""]}"#, 400, "tag ``"),
        ("POST", "/items", r#"{"name": "x", "price": 2, "tags": "a"}"#, 400, "invalid type"),
        ("POST", "/items", r#"{"_id": "x", "name": "x", "price": 2}"#, 400, "assigned by the server"),
        ("PUT", &item_path, r#"{"_id": "6b0725000000000000000000", "name": "x", "price": 2}"#, 400, "differs"),
        ("PATCH", &item_path, "{}", 400, "nothing to update"),
        ("GET", "/items?page=0", "", 400, "`page` must be a whole number"),
        ("GET", "/items?per_page=101", "", 400, "from 1 to 100"),
        ("GET", "/items?page=-1", "", 400, "`page`"),
        ("GET", "/items?sort=name", "", 400, "unknown query parameter `sort`"),
        ("GET", "/items?q=%zz", "", 400, "bad percent-escape"),
        ("GET", "/items?q=%ff", "", 400, "UTF-8"),
    ];
    let mut http = svc.connect();
    for (method, target, body, status, message) in cases {
        let body = (!body.is_empty()).then(|| body.to_owned());
        // Sent raw, so that malformed JSON bodies go out as they are.
        let request = format!(
            "{method} {target} HTTP/1.1\r\nContent-Length: {}\r\n\r\n{}",
            body.as_deref().map_or(0, str::len),
            body.as_deref().unwrap_or_default()
        );
        http.send_raw(request.as_bytes()).unwrap();
        let reply = with_timeout(REPLY_TIMEOUT, || http.read_reply()).unwrap();
        let error = reply
            .error()
            .unwrap_or_else(|| panic!("{method} {target}: no JSON error in {reply:?}"));
        assert_eq!(reply.status, status, "{method} {target} {body:?}: {error}");
        assert!(
            error.contains(message),
            "{method} {target}: `{error}` lacks `{message}`"
        );
        assert_eq!(reply.header("content-type"), Some("application/json"));
        if status == 405 {
            assert!(
                reply.header("allow").is_some(),
                "405 names the allowed methods"
            );
        }
    }
    assert_eq!(
        svc.stored().count_documents(doc! {}).run().unwrap(),
        0,
        "nothing stored"
    );
}

#[test]
fn malformed_http_is_refused_before_the_handlers() {
    let Some(svc) = TestService::start() else {
        return;
    };
    let huge_header = format!(
        "GET /stats HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let many_headers = format!("GET /stats HTTP/1.1\r\n{}\r\n", "X-A: 1\r\n".repeat(40));
    // request, status, part of the error message
    #[rustfmt::skip]
    let cases: Vec<(&[u8], u16, &str)> = vec![
        (b"POST /items HTTP/1.1\r\nContent-Length: 10000000\r\n\r\n{", 413, "over the 65536-byte limit"),
        (b"POST /items HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413, "limit"),
        (b"POST /items HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "invalid Content-Length"),
        (b"POST /items HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400, "conflicting"),
        (b"POST /items HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501, "Content-Length"),
        (b"POST /items HTTP/1.1\r\nContent-Length: 50\r\n\r\n{\"name\"", 400, "before the whole body"),
        (b"GET /items HTTP/1.1\r\nHost", 400, "in the middle of the request head"),
        (b"GET /items HTTP/1.1\r\nNo colon here\r\n\r\n", 400, "malformed HTTP request"),
        (b"\x00\x01\x02\xff garbage\r\n\r\n", 400, "malformed HTTP request"),
        (b"GET /items HTTP/9.9\r\n\r\n", 400, "malformed"),
        (huge_header.as_bytes(), 431, "over 16 KiB"),
        (many_headers.as_bytes(), 431, "more than 32 headers"),
    ];
    for (bytes, status, message) in cases {
        let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(60)]).into_owned();
        let replies = exchange_raw(svc.addr(), bytes).unwrap_or_else(|e| panic!("{shown:?}: {e}"));
        assert_eq!(
            replies.len(),
            1,
            "{shown:?}: one reply, then the server closes"
        );
        let error = replies[0].error().unwrap_or_default();
        assert_eq!(replies[0].status, status, "{shown:?}: {error}");
        assert!(
            error.contains(message),
            "{shown:?}: `{error}` lacks `{message}`"
        );
        assert_eq!(replies[0].header("connection"), Some("close"));
    }
    // Deeply nested JSON is refused by serde_json's depth limit, well within the stack.
    let nested = "[".repeat(100_000);
    let request = format!(
        "POST /items HTTP/1.1\r\nContent-Length: {}\r\n\r\n{nested}",
        nested.len()
    );
    let replies = exchange_raw(svc.addr(), request.as_bytes()).unwrap();
    assert_eq!(replies.iter().map(|r| r.status).collect::<Vec<_>>(), [413]);
    let nested = "[".repeat(60_000);
    let request = format!(
        "POST /items HTTP/1.1\r\nContent-Length: {}\r\n\r\n{nested}",
        nested.len()
    );
    let replies = exchange_raw(svc.addr(), request.as_bytes()).unwrap();
    assert_eq!(replies[0].status, 400);
    assert!(
        replies[0].error().unwrap().contains("recursion limit"),
        "{:?}",
        replies[0].error()
    );
    assert_eq!(svc.panics(), 0);
}

#[test]
fn fuzzed_requests_never_panic_or_fail_the_server() {
    let Some(svc) = TestService::start() else {
        return;
    };
    let id = ObjectId::new().to_hex();
    let with_body = |head: &str, body: Value| {
        let body = body.to_string();
        format!("{head}\r\nContent-Length: {}\r\n\r\n{body}", body.len())
    };
    let seeds = [
        with_body(
            "POST /items HTTP/1.1",
            json!({ "name": "fuzz", "price": 1.5, "tags": ["a", "b"] }),
        ),
        with_body(
            &format!("PATCH /items/{id} HTTP/1.1"),
            json!({ "price": 2.5 }),
        ),
        "GET /items?q=fu%20zz&tag=a&page=2&per_page=3 HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(),
        format!("DELETE /items/{id} HTTP/1.1\r\nConnection: close\r\n\r\n"),
    ];
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n as u64) as usize
    };
    let mut statuses = std::collections::BTreeMap::new();
    for round in 0..300 {
        let mut bytes = seeds[round % seeds.len()].clone().into_bytes();
        for _ in 0..1 + next(4) {
            let at = next(bytes.len());
            match next(4) {
                0 => bytes[at] = next(256) as u8,
                1 => bytes.truncate(at),
                2 => bytes.insert(at, b"\0{}[]\"%\r\n:/?&=\xff"[next(15)]),
                _ => bytes[at..].rotate_left(1),
            }
        }
        let shown = String::from_utf8_lossy(&bytes).into_owned();
        let replies = exchange_raw(svc.addr(), &bytes).unwrap_or_else(|e| panic!("{shown:?}: {e}"));
        for reply in replies {
            *statuses.entry(reply.status).or_insert(0) += 1;
            assert!(
                reply.status < 500 || reply.status == 501,
                "{shown:?}: {reply:?}"
            );
            if reply.status >= 400 {
                assert!(
                    reply.error().is_some(),
                    "{shown:?}: a JSON error: {reply:?}"
                );
            }
        }
    }
    eprintln!("fuzz: replies by status {statuses:?}");
    assert_eq!(svc.panics(), 0, "no connection coroutine panicked");
    let mut http = svc.connect();
    assert_eq!(
        call(&mut http, "GET", "/stats", None).json()["responses"]["5xx"],
        0
    );
}

#[test]
fn keep_alive_pipelining_and_connection_close() {
    let Some(svc) = TestService::start() else {
        return;
    };
    // Two requests in one write: two replies, in order, on the open connection.
    let pipelined = b"GET /stats HTTP/1.1\r\n\r\nGET /nowhere HTTP/1.1\r\n\r\n";
    let mut http = svc.connect();
    http.send_raw(pipelined).unwrap();
    let first = with_timeout(REPLY_TIMEOUT, || http.read_reply()).unwrap();
    let second = with_timeout(REPLY_TIMEOUT, || http.read_reply()).unwrap();
    assert_eq!((first.status, second.status), (200, 404));
    assert_eq!(first.header("connection"), Some("keep-alive"));
    assert_eq!(
        call(&mut http, "GET", "/stats", None).status,
        200,
        "still open"
    );

    for (request, why) in [
        (
            "GET /stats HTTP/1.1\r\nConnection: close\r\n\r\nGET /stats HTTP/1.1\r\n\r\n",
            "asked to close",
        ),
        (
            "GET /stats HTTP/1.0\r\n\r\nGET /stats HTTP/1.0\r\n\r\n",
            "HTTP/1.0 closes by default",
        ),
    ] {
        let request = request.as_bytes();
        let replies = exchange_raw(svc.addr(), request).unwrap();
        assert_eq!(replies.len(), 1, "{why}: the second request is not read");
        assert_eq!(replies[0].header("connection"), Some("close"), "{why}");
    }
    let replies = exchange_raw(
        svc.addr(),
        b"GET /stats HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    )
    .unwrap();
    assert_eq!(replies[0].header("connection"), Some("keep-alive"));

    // `Expect: 100-continue` (what curl sends before a body over 1 KiB) gets its go-ahead.
    let body = json!({ "name": "x".repeat(150), "price": 1, "tags": vec!["t".repeat(50); 20] });
    let body = body.to_string();
    let head = format!(
        "POST /items HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut stream = TcpStream::connect(svc.addr()).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    assert_eq!(read_head(&mut stream), "HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(body.as_bytes()).unwrap();
    assert!(read_head(&mut stream).starts_with("HTTP/1.1 201 Created\r\n"));
}

/// Reads up to the blank line that ends a response head, a byte at a time.
fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        with_timeout(REPLY_TIMEOUT, || stream.read_exact(&mut byte)).expect("a response head");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

#[test]
fn shutdown_stops_accepting_and_reports_idle_connections() {
    let Some(mut svc) = TestService::start() else {
        return;
    };
    let addr = svc.addr();
    let mut idle = svc.connect();
    assert_eq!(call(&mut idle, "GET", "/stats", None).status, 200);
    let service = svc.service.take().unwrap();
    assert_eq!(
        service.stats().http_sockets().len(),
        1,
        "its socket is tracked"
    );
    assert_eq!(
        service.shutdown(Duration::from_millis(200)),
        1,
        "the idle keep-alive connection"
    );
    let refused = HttpClient::connect(addr).map(|_| ());
    assert_eq!(
        refused.map_err(|e| e.kind()),
        Err(io::ErrorKind::ConnectionRefused)
    );
    drop(svc.runtime.take()); // unwinds the idle connection's coroutine
    let closed = with_timeout(REPLY_TIMEOUT, || idle.request("GET", "/stats", None));
    assert!(closed.is_err(), "the runtime's drop closed it: {closed:?}");
}

/// Needs no server: the database is a port where nothing listens.
#[test]
fn database_errors_are_500_json() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let uri = format!("mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=1000");
    let db = Client::with_uri_str(&uri).unwrap().database("unreachable");
    let svc = TestService::start_with(db, false);
    let mut http = svc.connect();
    let id = ObjectId::new().to_hex();
    for (method, target, body) in [
        ("GET", format!("/items/{id}"), None),
        (
            "POST",
            "/items".to_owned(),
            Some(json!({ "name": "x", "price": 1 })),
        ),
        ("GET", "/items?q=x".to_owned(), None),
    ] {
        let reply = call(&mut http, method, &target, body);
        assert_eq!(reply.status, 500, "{method} {target}");
        let error = reply.error().unwrap();
        assert!(error.starts_with("database error: "), "{error}");
        assert!(
            error.to_lowercase().contains("refused"),
            "the driver's message: {error}"
        );
    }
    // Validation still answers 4xx without touching the database.
    assert_eq!(call(&mut http, "GET", "/items/123", None).status, 400);
    assert_eq!(
        call(&mut http, "GET", "/stats", None).json()["responses"]["5xx"],
        3
    );
}

#[test]
fn stored_ids_are_object_ids() {
    let Some(svc) = TestService::start() else {
        return;
    };
    let mut http = svc.connect();
    let created = call(
        &mut http,
        "POST",
        "/items",
        Some(json!({ "name": "n", "price": 0 })),
    );
    let stored = svc.stored().find_one(doc! {}).run().unwrap().unwrap();
    assert_eq!(
        stored.get("_id"),
        Some(&Bson::ObjectId(object_id(&created)))
    );
    let typed: Collection<Item> = svc.db.collection(api::ITEMS);
    let item = typed.find_one(doc! {}).run().unwrap().unwrap();
    assert_eq!(
        (item.name.as_str(), item.price, item.tags.len()),
        ("n", 0.0, 0)
    );
}
