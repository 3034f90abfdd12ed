//! `mongodb+srv` resolution against a fake DNS server on 127.0.0.1 (Initial DNS Seedlist
//! Discovery). Each check runs on a plain thread and again inside a runtime coroutine.

mod util {
    pub mod dns;
}

use std::{
    collections::BTreeSet,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use greenmongo::{
    Client, ClientOptions, Error, ErrorKind,
    options::{ResolverConfig, ServerAddress},
    runtime::{self, Runtime, coroutine},
};
use hickory_proto::rr::RecordType::{SRV, TXT};
use util::dns::{FakeDns, Reply, srv, txt};

const SRV_NAME: &str = "_mongodb._tcp.cluster0.example.test";
const HOST: &str = "cluster0.example.test";

/// Runs `check` on this thread, then in a coroutine of a one-worker runtime.
fn on_thread_and_in_coroutine(check: impl Fn() + Send + Sync + 'static) {
    let check = Arc::new(check);
    assert!(!runtime::in_coroutine());
    check();
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    let again = check.clone();
    rt.block_on(move || {
        assert!(runtime::in_coroutine());
        again();
    });
}

fn parse(uri: &str, dns: &ResolverConfig) -> ClientOptions {
    let mut options = ClientOptions::parse(uri).unwrap();
    options.resolver_config = Some(dns.clone());
    options
}

fn three_hosts() -> Reply {
    Reply::Records(vec![
        srv("db1.example.test.", 27017),
        srv("db2.example.test.", 27018),
        srv("DB3.Example.Test.", 27019),
    ])
}

fn hosts(options: &ClientOptions) -> BTreeSet<String> {
    options.hosts.iter().map(ToString::to_string).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn dns_message(err: &Error) -> &str {
    match &*err.kind {
        ErrorKind::DnsResolve { message } => message,
        _ => panic!("expected a DNS error, got {err}"),
    }
}

#[test]
fn hosts_and_txt_options_are_resolved() {
    let server = FakeDns::start(&[
        (SRV_NAME, SRV, three_hosts()),
        // Two strings of one record are joined.
        (
            HOST,
            TXT,
            Reply::Records(vec![txt(&["replicaSet=rs0&", "authSource=admin"])]),
        ),
    ]);
    let dns = server.resolver();
    on_thread_and_in_coroutine(move || {
        let options = parse(
            "mongodb+srv://u:p@cluster0.example.test/app?tls=false",
            &dns,
        );
        let client = Client::with_options(options).unwrap();
        let resolved = client.options();
        assert_eq!(
            hosts(resolved),
            set(&[
                "db1.example.test:27017",
                "db2.example.test:27018",
                "db3.example.test:27019"
            ])
        );
        assert_eq!(resolved.repl_set_name.as_deref(), Some("rs0"));
        assert_eq!(
            resolved.credential.as_ref().unwrap().source.as_deref(),
            Some("admin")
        );
        assert_eq!(resolved.srv_host.as_deref(), Some(HOST));
    });
}

#[test]
fn connection_string_wins_over_txt_and_tls_stays_on() {
    let server = FakeDns::start(&[
        ("_mdb._tcp.cluster0.example.test", SRV, three_hosts()),
        (
            HOST,
            TXT,
            Reply::Records(vec![txt(&["replicaSet=theirs&loadBalanced=false"])]),
        ),
    ]);
    let dns = server.resolver();
    on_thread_and_in_coroutine(move || {
        let mut options = parse(
            "mongodb+srv://cluster0.example.test/?srvServiceName=mdb&replicaSet=mine",
            &dns,
        );
        options.resolve_srv().unwrap();
        assert_eq!(options.hosts.len(), 3);
        assert_eq!(options.repl_set_name.as_deref(), Some("mine"));
        assert_eq!(options.load_balanced, Some(false));
        assert_eq!(options.tls.enabled, Some(true));
        assert!(!options.needs_srv_resolution());
    });
}

#[test]
fn srv_max_hosts_picks_at_random() {
    let server = FakeDns::start(&[(SRV_NAME, SRV, three_hosts())]);
    let dns = server.resolver();
    let all = set(&[
        "db1.example.test:27017",
        "db2.example.test:27018",
        "db3.example.test:27019",
    ]);
    let mut firsts = BTreeSet::new();
    for _ in 0..40 {
        let mut options = parse("mongodb+srv://cluster0.example.test/?srvMaxHosts=1", &dns);
        options.resolve_srv().unwrap();
        assert_eq!(options.hosts.len(), 1);
        assert!(all.is_superset(&hosts(&options)));
        firsts.insert(options.hosts[0].to_string());
    }
    assert!(firsts.len() > 1, "40 resolutions all chose {firsts:?}");
}

#[test]
fn a_missing_txt_record_is_not_an_error() {
    // The host name has no records at all (NXDOMAIN for TXT) ...
    let nxdomain = FakeDns::start(&[(SRV_NAME, SRV, three_hosts())]);
    // ... or has a name but no TXT (an empty NOERROR answer).
    let nodata = FakeDns::start(&[
        (SRV_NAME, SRV, three_hosts()),
        (HOST, TXT, Reply::Records(vec![])),
    ]);
    let configs = [nxdomain.resolver(), nodata.resolver()];
    on_thread_and_in_coroutine(move || {
        for dns in &configs {
            let mut options = parse("mongodb+srv://cluster0.example.test/", dns);
            options.resolve_srv().unwrap();
            assert_eq!(options.hosts.len(), 3);
            assert_eq!(options.repl_set_name, None);
        }
    });
}

#[test]
fn a_target_outside_the_parent_domain_is_rejected() {
    let server = FakeDns::start(&[(
        SRV_NAME,
        SRV,
        Reply::Records(vec![
            srv("db1.example.test.", 27017),
            srv("db2.evil.test.", 27017),
        ]),
    )]);
    let dns = server.resolver();
    on_thread_and_in_coroutine(move || {
        let mut options = parse("mongodb+srv://cluster0.example.test/", &dns);
        let err = options.resolve_srv().unwrap_err();
        assert!(
            matches!(*err.kind, ErrorKind::InvalidArgument { .. }),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("\"db2.evil.test\" is not in the domain of \"cluster0.example.test\""),
            "{err}"
        );
        assert!(options.needs_srv_resolution(), "options unchanged on error");
        assert!(Client::with_options(options).is_err());
    });
}

#[test]
fn a_forbidden_txt_option_is_rejected() {
    for record in ["ssl=false", "authSource=admin&w=majority"] {
        let server = FakeDns::start(&[
            (SRV_NAME, SRV, three_hosts()),
            (HOST, TXT, Reply::Records(vec![txt(&[record])])),
        ]);
        let dns = server.resolver();
        on_thread_and_in_coroutine(move || {
            let err = Client::with_options(parse("mongodb+srv://cluster0.example.test/", &dns))
                .unwrap_err();
            assert!(
                err.to_string().contains("is not allowed in a TXT record"),
                "{err}"
            );
        });
    }
}

#[test]
fn two_txt_records_are_rejected() {
    let server = FakeDns::start(&[
        (SRV_NAME, SRV, three_hosts()),
        (
            HOST,
            TXT,
            Reply::Records(vec![txt(&["replicaSet=a"]), txt(&["authSource=b"])]),
        ),
    ]);
    let dns = server.resolver();
    on_thread_and_in_coroutine(move || {
        let err = parse("mongodb+srv://cluster0.example.test/", &dns)
            .resolve_srv()
            .unwrap_err();
        assert!(err.to_string().contains("2 TXT records"), "{err}");
    });
}

#[test]
fn nxdomain_is_reported_with_the_record_and_the_nameserver() {
    let server = FakeDns::start(&[]);
    let dns = server.resolver();
    let addr = server.addr();
    on_thread_and_in_coroutine(move || {
        let err =
            Client::with_options(parse("mongodb+srv://nowhere.example.test/", &dns)).unwrap_err();
        assert_eq!(
            dns_message(&err),
            format!(
                "SRV record _mongodb._tcp.nowhere.example.test does not exist (NXDOMAIN from \
                 nameserver {addr})"
            )
        );
    });
    // NXDOMAIN is an answer: asked once per run, not retried.
    assert_eq!(server.queries(), (2, 0));
}

#[test]
fn an_empty_srv_answer_is_an_error() {
    let server = FakeDns::start(&[(SRV_NAME, SRV, Reply::Records(vec![]))]);
    let dns = server.resolver();
    let addr = server.addr();
    on_thread_and_in_coroutine(move || {
        let err = parse("mongodb+srv://cluster0.example.test/", &dns)
            .resolve_srv()
            .unwrap_err();
        assert_eq!(
            dns_message(&err),
            format!(
                "nameserver {addr} has no SRV record {SRV_NAME}, so the connection string \
                 names no hosts"
            )
        );
    });
}

#[test]
fn a_silent_nameserver_times_out_with_a_clear_error() {
    let server = FakeDns::start(&[(SRV_NAME, SRV, Reply::Silent)]);
    let mut dns = server.resolver();
    dns.timeout = Duration::from_millis(200);
    dns.attempts = 2;
    let addr = server.addr();
    on_thread_and_in_coroutine(move || {
        let start = Instant::now();
        let err = parse("mongodb+srv://cluster0.example.test/", &dns)
            .resolve_srv()
            .unwrap_err();
        let elapsed = start.elapsed();
        assert_eq!(
            dns_message(&err),
            format!(
                "no answer for SRV record {SRV_NAME}: nameserver {addr} timed out (2 queries \
                 of 200ms without an answer)"
            )
        );
        assert!(
            elapsed >= Duration::from_millis(400) && elapsed < Duration::from_secs(3),
            "{elapsed:?}"
        );
    });
}

#[test]
fn the_next_nameserver_is_asked_when_one_is_silent() {
    let silent = FakeDns::start(&[(SRV_NAME, SRV, Reply::Silent), (HOST, TXT, Reply::Silent)]);
    let good = FakeDns::start(&[(SRV_NAME, SRV, three_hosts())]);
    let mut dns = ResolverConfig::new([silent.addr(), good.addr()]);
    dns.timeout = Duration::from_millis(100);
    dns.attempts = 1;
    on_thread_and_in_coroutine(move || {
        let mut options = parse("mongodb+srv://cluster0.example.test/", &dns);
        options.resolve_srv().unwrap();
        assert_eq!(options.hosts.len(), 3);
    });
}

#[test]
fn a_truncated_udp_answer_is_asked_again_over_tcp() {
    let server = FakeDns::start(&[
        (
            SRV_NAME,
            SRV,
            Reply::Truncated(vec![
                srv("db1.example.test.", 1),
                srv("db2.example.test.", 2),
            ]),
        ),
        (HOST, TXT, Reply::Truncated(vec![txt(&["replicaSet=rs1"])])),
    ]);
    let dns = server.resolver();
    on_thread_and_in_coroutine(move || {
        let mut options = parse("mongodb+srv://cluster0.example.test/", &dns);
        options.resolve_srv().unwrap();
        assert_eq!(
            hosts(&options),
            set(&["db1.example.test:1", "db2.example.test:2"])
        );
        assert_eq!(options.repl_set_name.as_deref(), Some("rs1"));
    });
    // Two runs, each one SRV and one TXT query over UDP, then again over TCP.
    assert_eq!(server.queries(), (4, 4));
}

/// The lookup runs on the blocking pool while the coroutine parks: another coroutine on
/// the same (only) worker keeps running while a slow nameserver thinks.
#[test]
fn resolution_in_a_coroutine_does_not_block_its_worker() {
    let server = FakeDns::start(&[(
        SRV_NAME,
        SRV,
        Reply::Delayed(
            Duration::from_millis(300),
            vec![srv("db1.example.test.", 27017)],
        ),
    )]);
    let dns = server.resolver();
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    let ticks = rt.block_on(move || {
        let ticks = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (ticks, done) = (ticks.clone(), done.clone());
            coroutine::spawn_local(move || {
                while !done.load(Ordering::SeqCst) {
                    runtime::sleep(Duration::from_millis(10)).unwrap();
                    ticks.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        let mut options = parse("mongodb+srv://cluster0.example.test/", &dns);
        options.resolve_srv().unwrap();
        assert_eq!(
            options.hosts,
            [ServerAddress::tcp("db1.example.test", 27017)]
        );
        done.store(true, Ordering::SeqCst);
        ticker.join().unwrap();
        ticks.load(Ordering::SeqCst)
    });
    assert!(
        ticks >= 10,
        "the worker ran the ticker only {ticks} times in 300 ms"
    );
}
