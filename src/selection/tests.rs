//! Rules worth pinning beyond the spec files.

use super::*;

fn server(host: &str, kind: ServerType, rtt_ms: u64) -> ServerDescription {
    let mut sd = ServerDescription::new(ServerAddress::tcp(host, 27017));
    sd.server_type = kind;
    sd.average_rtt = Some(Duration::from_millis(rtt_ms));
    sd.max_wire_version = 21;
    sd
}

fn tagged(mut sd: ServerDescription, dc: &str) -> ServerDescription {
    sd.tags.insert("dc".into(), dc.into());
    sd
}

fn hosts(servers: &[&ServerDescription]) -> Vec<String> {
    servers
        .iter()
        .map(|sd| sd.address.host().unwrap().to_owned())
        .collect()
}

fn read(mode: ReadPreferenceMode, dcs: &[&str]) -> ReadPreference {
    let mut pref = ReadPreference::new(mode);
    pref.tag_sets = dcs
        .iter()
        .map(|dc| TagSet::from([("dc".to_owned(), dc.to_string())]))
        .collect();
    pref
}

fn replica_set() -> TopologyDescription {
    TopologyDescription::with_servers(
        TopologyType::ReplicaSetWithPrimary,
        [
            tagged(server("a", ServerType::RsPrimary, 5), "ny"),
            tagged(server("b", ServerType::RsSecondary, 5), "sf"),
            tagged(server("c", ServerType::RsSecondary, 5), "ny"),
            server("d", ServerType::RsArbiter, 1),
        ],
    )
}

fn suitable(
    topology: &TopologyDescription,
    pref: &ReadPreference,
    deprioritized: &[&str],
) -> Vec<String> {
    let deprioritized: Vec<ServerAddress> = deprioritized
        .iter()
        .map(|h| ServerAddress::tcp(*h, 27017))
        .collect();
    let found = suitable_servers(
        topology,
        &Criteria::Read(pref.clone()),
        &SelectionSettings::default(),
        &deprioritized,
    )
    .unwrap();
    hosts(&found)
}

#[test]
fn tag_sets_are_tried_in_order() {
    let t = replica_set();
    use ReadPreferenceMode::*;
    assert_eq!(
        suitable(&t, &read(Secondary, &["tokyo", "sf", "ny"]), &[]),
        ["b"]
    );
    assert_eq!(suitable(&t, &read(Nearest, &["ny"]), &[]), ["a", "c"]);
    assert!(suitable(&t, &read(Secondary, &["tokyo"]), &[]).is_empty());
    // secondaryPreferred falls back to the primary whatever its tags.
    assert_eq!(
        suitable(&t, &read(SecondaryPreferred, &["tokyo"]), &[]),
        ["a"]
    );
    // An empty tag set matches everyone.
    let mut any = read(Secondary, &["tokyo"]);
    any.tag_sets.push(TagSet::new());
    assert_eq!(suitable(&t, &any, &[]), ["b", "c"]);
}

#[test]
fn deprioritized_servers_are_a_last_resort() {
    let t = replica_set();
    use ReadPreferenceMode::*;
    // Without the primary, primaryPreferred reads from secondaries...
    assert_eq!(
        suitable(&t, &read(PrimaryPreferred, &[]), &["a"]),
        ["b", "c"]
    );
    // ...but when nothing else suits, the deprioritized server is used.
    assert_eq!(suitable(&t, &read(Primary, &[]), &["a"]), ["a"]);
    assert_eq!(suitable(&t, &read(Secondary, &[]), &["b", "c"]), ["b", "c"]);
}

#[test]
fn max_staleness_is_only_validated_for_replica_sets() {
    let mut pref = ReadPreference::new(ReadPreferenceMode::Nearest);
    pref.max_staleness = Some(Duration::from_secs(1));
    let settings = SelectionSettings::default();
    let rs = replica_set();
    let err = suitable_servers(&rs, &Criteria::Read(pref.clone()), &settings, &[]).unwrap_err();
    assert!(matches!(*err.kind, ErrorKind::InvalidArgument { .. }));
    let sharded = TopologyDescription::with_servers(
        TopologyType::Sharded,
        [server("m", ServerType::Mongos, 1)],
    );
    assert_eq!(
        suitable_servers(&sharded, &Criteria::Read(pref.clone()), &settings, &[])
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn incompatible_topologies_fail_selection() {
    let mut old = server("m", ServerType::Mongos, 1);
    old.max_wire_version = 2;
    let t = TopologyDescription::with_servers(TopologyType::Sharded, [old]);
    let err =
        suitable_servers(&t, &Criteria::Write, &SelectionSettings::default(), &[]).unwrap_err();
    assert!(matches!(*err.kind, ErrorKind::ServerSelection { .. }));
}

#[test]
fn writes_need_a_primary() {
    let settings = SelectionSettings::default();
    let no_primary = TopologyDescription::with_servers(
        TopologyType::ReplicaSetNoPrimary,
        [server("b", ServerType::RsSecondary, 1)],
    );
    assert!(
        suitable_servers(&no_primary, &Criteria::Write, &settings, &[])
            .unwrap()
            .is_empty()
    );
    let single = TopologyDescription::with_servers(
        TopologyType::Single,
        [server("b", ServerType::RsSecondary, 1)],
    );
    assert_eq!(
        suitable_servers(&single, &Criteria::Write, &settings, &[])
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn two_choices_are_two_different_servers() {
    let (a, b, c) = (
        server("a", ServerType::Mongos, 1),
        server("b", ServerType::Mongos, 1),
        server("c", ServerType::Mongos, 1),
    );
    // A source that always says 0 still yields two distinct picks: a (busy) and b (idle).
    let counts = |address: &ServerAddress| if address.host() == Some("a") { 9 } else { 0 };
    let chosen = choose_in_window(&[&a, &b, &c], counts, |_| 0).unwrap();
    assert_eq!(chosen.address.host(), Some("b"));
    assert!(choose_in_window(&[], counts, |_| 0).is_none());
}
