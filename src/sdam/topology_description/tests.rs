//! Rules the spec files do not pin down, or pin down only indirectly.

use std::time::Instant;

use bson::{Document, doc, oid::ObjectId};

use super::*;
use crate::sdam::RoundTripTimes;

fn topology(uri: &str) -> TopologyDescription {
    TopologyDescription::new(&ClientOptions::parse(uri).unwrap()).0
}

fn addr(host: &str) -> ServerAddress {
    ServerAddress::tcp(host, 27017)
}

fn hello(host: &str, reply: Document) -> ServerDescription {
    ServerDescription::from_hello(
        addr(host),
        &reply,
        RoundTripTimes::default(),
        Instant::now(),
    )
}

fn primary(host: &str, wire: i32, election: u8) -> ServerDescription {
    let mut id = [0u8; 12];
    id[11] = election;
    hello(
        host,
        doc! {
            "ok": 1, "isWritablePrimary": true, "setName": "rs", "setVersion": 1,
            "electionId": ObjectId::from_bytes(id), "hosts": ["a:27017", "b:27017"],
            "maxWireVersion": wire,
        },
    )
}

#[test]
fn a_new_primary_demotes_the_old_one() {
    let mut t = topology("mongodb://a,b/?replicaSet=rs");
    t.update(primary("a", 7, 1));
    let outcome = t.update(primary("b", 21, 2));
    assert_eq!(t.primary().unwrap().address, addr("b"));
    let a = t.server(&addr("a")).unwrap();
    assert_eq!(a.server_type, ServerType::Unknown);
    assert_eq!(a.error.as_deref(), Some(replica_set::DEMOTED_PRIMARY));
    assert_eq!(outcome.request_check, [addr("a")]);
    assert_eq!(outcome.clear_pool, [addr("a")]); // MongoDB 4.0 closed its sockets

    // A 4.2+ primary keeps its pool when demoted.
    let outcome = t.update(primary("a", 21, 3));
    assert_eq!(outcome.request_check, [addr("b")]);
    assert!(outcome.clear_pool.is_empty());
}

#[test]
fn a_stale_primary_is_marked_unknown() {
    let mut t = topology("mongodb://a,b/?replicaSet=rs");
    t.update(primary("b", 21, 2));
    let outcome = t.update(primary("a", 21, 1));
    let a = t.server(&addr("a")).unwrap();
    assert_eq!(a.server_type, ServerType::Unknown);
    assert_eq!(a.error.as_deref(), Some(replica_set::STALE_PRIMARY));
    assert_eq!(t.primary().unwrap().address, addr("b"));
    assert!(outcome.request_check.is_empty());
}

#[test]
fn an_older_topology_version_is_ignored() {
    let mut t = topology("mongodb://a/?directConnection=true");
    let pid = ObjectId::new();
    let reply = |counter: i64| doc! { "ok": 1, "maxWireVersion": 21, "topologyVersion": { "processId": pid, "counter": counter } };
    t.update(hello("a", reply(2)));
    assert!(t.update(hello("a", reply(1))).events.is_empty());
    assert_eq!(
        t.server(&addr("a"))
            .unwrap()
            .topology_version
            .unwrap()
            .counter,
        2
    );
    // A restarted process (new processId) is always newer.
    let restarted = doc! { "ok": 1, "maxWireVersion": 21, "topologyVersion": { "processId": ObjectId::new(), "counter": 0_i64 } };
    assert!(!t.update(hello("a", restarted)).events.is_empty());
}

#[test]
fn outcomes_of_removed_servers_are_ignored() {
    let mut t = topology("mongodb://a,b");
    t.update(hello(
        "a",
        doc! { "ok": 1, "msg": "isdbgrid", "maxWireVersion": 21 },
    ));
    t.update(hello("b", doc! { "ok": 1, "maxWireVersion": 21 })); // a standalone among mongoses
    assert_eq!(t.topology_type(), TopologyType::Sharded);
    assert!(t.server(&addr("b")).is_none());
    let late = t.update(hello(
        "b",
        doc! { "ok": 1, "msg": "isdbgrid", "maxWireVersion": 21 },
    ));
    assert_eq!(late, UpdateOutcome::default());
}

#[test]
fn single_with_a_set_name_rejects_other_sets() {
    let mut t = topology("mongodb://a/?directConnection=true&replicaSet=rs");
    t.update(hello(
        "a",
        doc! { "ok": 1, "setName": "other", "secondary": true, "maxWireVersion": 21 },
    ));
    let a = t.server(&addr("a")).unwrap();
    assert_eq!(a.server_type, ServerType::Unknown);
    assert!(
        a.error
            .as_deref()
            .unwrap()
            .contains("replica set name mismatch")
    );
    // A failed check keeps its own error.
    t.update(ServerDescription::with_error(addr("a"), "refused"));
    assert_eq!(
        t.server(&addr("a")).unwrap().error.as_deref(),
        Some("refused")
    );
}

#[test]
fn a_load_balancer_ignores_updates() {
    let (mut t, events) =
        TopologyDescription::new(&ClientOptions::parse("mongodb://a/?loadBalanced=true").unwrap());
    assert_eq!(events.len(), 5);
    assert!(
        t.update(ServerDescription::with_error(addr("a"), "x"))
            .events
            .is_empty()
    );
    assert_eq!(
        t.server(&addr("a")).unwrap().server_type,
        ServerType::LoadBalancer
    );
}

#[test]
fn equal_descriptions_publish_nothing() {
    let mut t = topology("mongodb://a/?directConnection=true");
    let reply = doc! { "ok": 1, "maxWireVersion": 21 };
    assert_eq!(t.update(hello("a", reply.clone())).events.len(), 2);
    assert!(t.update(hello("a", reply)).events.is_empty());
}

#[test]
fn close_removes_everything() {
    let mut t = topology("mongodb://a,b/?replicaSet=rs");
    let names: Vec<&str> = t.close().iter().map(SdamEvent::name).collect();
    assert_eq!(
        names,
        [
            "ServerClosed",
            "ServerClosed",
            "TopologyDescriptionChanged",
            "TopologyClosed"
        ]
    );
    assert_eq!(t.topology_type(), TopologyType::Unknown);
}
