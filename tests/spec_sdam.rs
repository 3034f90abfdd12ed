//! The Server Discovery and Monitoring spec tests
//! (`server-discovery-and-monitoring/tests/{rs,sharded,single,load-balanced,errors,monitoring}`),
//! run against the pure topology state machine: hello replies and application errors go
//! in, the topology description (or the SDAM events) come out. The `unified/` folder needs
//! a live client and is not run here.

mod util {
    pub mod spec;
    pub mod spec_files;
}

use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};

use bson::{Bson, oid::ObjectId};
use greenmongo::{
    ClientOptions,
    options::ServerAddress,
    sdam::{
        ApplicationError, ApplicationErrorKind, CommandFailure, ErrorPhase, RoundTripTimes,
        SdamEvent, ServerDescription, TopologyDescription, TopologyVersion,
    },
};
use serde::Deserialize;
use serde_json::Value;
use util::spec_files::{FolderTally, json_files_under, nullable, to_bson, to_document};

const FOLDERS: &[&str] = &[
    "rs",
    "sharded",
    "single",
    "load-balanced",
    "errors",
    "monitoring",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    description: String,
    uri: String,
    phases: Vec<Phase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Phase {
    description: Option<String>,
    #[serde(default)]
    responses: Vec<(String, Value)>,
    #[serde(default, rename = "applicationErrors")]
    application_errors: Vec<AppErrorSpec>,
    outcome: Outcome,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AppErrorSpec {
    address: String,
    generation: Option<u32>,
    max_wire_version: i32,
    when: String,
    #[serde(rename = "type")]
    kind: String,
    response: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Outcome {
    topology_type: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    set_name: Option<Option<String>>,
    servers: Option<BTreeMap<String, ServerOutcome>>,
    #[serde(default, deserialize_with = "nullable")]
    logical_session_timeout_minutes: Option<Option<u64>>,
    max_set_version: Option<i64>,
    max_election_id: Option<Value>,
    compatible: Option<bool>,
    events: Option<Vec<EventSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServerOutcome {
    #[serde(rename = "type")]
    server_type: String,
    #[serde(default, deserialize_with = "nullable")]
    set_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    set_version: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    election_id: Option<Option<Value>>,
    #[serde(default, deserialize_with = "nullable")]
    logical_session_timeout_minutes: Option<Option<u64>>,
    min_wire_version: Option<i32>,
    max_wire_version: Option<i32>,
    #[serde(default, deserialize_with = "nullable")]
    topology_version: Option<Option<Value>>,
    pool: Option<PoolOutcome>,
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolOutcome {
    generation: u32,
}

/// One expected event; variants are named by the spec's keys without `_event`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
enum EventSpec {
    #[serde(rename = "topology_opening_event")]
    TopologyOpening {
        #[serde(rename = "topologyId")]
        _topology_id: String,
    },
    #[serde(rename = "topology_description_changed_event")]
    TopologyDescriptionChanged {
        #[serde(rename = "topologyId")]
        _topology_id: String,
        #[serde(rename = "previousDescription")]
        previous: Box<TopologySpec>,
        #[serde(rename = "newDescription")]
        new: Box<TopologySpec>,
    },
    #[serde(rename = "server_opening_event")]
    ServerOpening {
        #[serde(rename = "topologyId")]
        _topology_id: String,
        address: String,
    },
    #[serde(rename = "server_closed_event")]
    ServerClosed {
        #[serde(rename = "topologyId")]
        _topology_id: String,
        address: String,
    },
    #[serde(rename = "server_description_changed_event")]
    ServerDescriptionChanged {
        #[serde(rename = "topologyId")]
        _topology_id: String,
        address: String,
        #[serde(rename = "previousDescription")]
        previous: Box<ServerSpec>,
        #[serde(rename = "newDescription")]
        new: Box<ServerSpec>,
    },
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TopologySpec {
    topology_type: String,
    set_name: Option<String>,
    servers: Vec<ServerSpec>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServerSpec {
    address: String,
    arbiters: Option<Vec<String>>,
    hosts: Option<Vec<String>>,
    passives: Option<Vec<String>>,
    primary: Option<String>,
    set_name: Option<String>,
    #[serde(rename = "type")]
    server_type: String,
}

#[test]
fn sdam_spec() {
    let mut tally = FolderTally::default();
    for folder in FOLDERS {
        // A missing folder is skipped (or fails in CI); the others still run.
        let Some((spec_root, files)) =
            json_files_under(&format!("server-discovery-and-monitoring/tests/{folder}"))
        else {
            continue;
        };
        for path in &files {
            let file: TestFile = util::spec::read_json(path);
            let result = run_file(&file, *folder == "monitoring");
            tally.record(&spec_root, path, &file.description, result);
        }
    }
    tally.report();
}

/// The client under test: the topology plus the pool generations the pools would keep.
struct Client {
    topology: TopologyDescription,
    generations: HashMap<ServerAddress, u32>,
    events: Vec<SdamEvent>,
}

impl Client {
    fn generation(&self, address: &ServerAddress) -> u32 {
        self.generations.get(address).copied().unwrap_or(0)
    }

    fn clear_pool(&mut self, address: &ServerAddress) {
        *self.generations.entry(address.clone()).or_insert(0) += 1;
    }
}

fn run_file(file: &TestFile, monitoring: bool) -> Result<(), String> {
    let options = ClientOptions::parse(&file.uri).map_err(|e| format!("bad uri: {e}"))?;
    let (topology, events) = TopologyDescription::new(&options);
    let mut client = Client {
        topology,
        generations: HashMap::new(),
        events,
    };
    for (i, phase) in file.phases.iter().enumerate() {
        let name = phase.description.as_deref().unwrap_or("");
        run_phase(&mut client, phase)
            .and_then(|()| check_outcome(&client, &phase.outcome, monitoring))
            .map_err(|e| format!("phase {i} ({name}): {e}"))?;
        client.events.clear();
    }
    Ok(())
}

fn address(s: &str) -> Result<ServerAddress, String> {
    ServerAddress::parse(s).map_err(|e| format!("bad address {s}: {e}"))
}

fn run_phase(client: &mut Client, phase: &Phase) -> Result<(), String> {
    for (host, reply) in &phase.responses {
        let address = address(host)?;
        let sd = match reply.as_object() {
            Some(map) if map.is_empty() => ServerDescription::with_error(address, "network error"),
            _ => ServerDescription::from_hello(
                address,
                &to_document(reply),
                RoundTripTimes::default(),
                Instant::now(),
            ),
        };
        let outcome = client.topology.update(sd);
        client.events.extend(outcome.events);
        for address in &outcome.clear_pool {
            client.clear_pool(address);
        }
    }
    for spec in &phase.application_errors {
        let address = address(&spec.address)?;
        let kind = match spec.kind.as_str() {
            "network" => ApplicationErrorKind::Network,
            "timeout" => ApplicationErrorKind::Timeout,
            "command" => {
                let response = spec
                    .response
                    .as_ref()
                    .ok_or("command error without response")?;
                match CommandFailure::from_response(&to_document(response)) {
                    Some(failure) => ApplicationErrorKind::Command(failure),
                    None => continue, // ok: 1 and no writeConcernError: not an error to SDAM
                }
            }
            other => return Err(format!("unknown error type {other}")),
        };
        let phase = match spec.when.as_str() {
            "beforeHandshakeCompletes" => ErrorPhase::Connecting,
            "afterHandshakeCompletes" => ErrorPhase::Established,
            other => return Err(format!("unknown error time {other}")),
        };
        let pool_generation = client.generation(&address);
        let generation = spec.generation.unwrap_or(pool_generation);
        let error = ApplicationError::new(kind, phase, generation, spec.max_wire_version);
        let outcome = client
            .topology
            .handle_application_error(&address, &error, pool_generation);
        if outcome.decision.clear_pool {
            client.clear_pool(&address);
        }
        client.events.extend(outcome.update.events);
    }
    Ok(())
}

fn expect<T: PartialEq + std::fmt::Debug>(what: &str, want: T, got: T) -> Result<(), String> {
    if want == got {
        Ok(())
    } else {
        Err(format!("{what}: expected {want:?}, got {got:?}"))
    }
}

fn object_id(value: &Value) -> Result<ObjectId, String> {
    match to_bson(value) {
        Bson::ObjectId(id) => Ok(id),
        other => Err(format!("expected an ObjectId, got {other}")),
    }
}

fn topology_version(value: &Value) -> Result<TopologyVersion, String> {
    let doc = to_document(value);
    Ok(TopologyVersion {
        process_id: doc.get_object_id("processId").map_err(|e| e.to_string())?,
        counter: doc.get_i64("counter").map_err(|e| e.to_string())?,
    })
}

fn minutes(m: Option<u64>) -> Option<Duration> {
    m.map(|m| Duration::from_secs(m * 60))
}

fn check_outcome(client: &Client, outcome: &Outcome, monitoring: bool) -> Result<(), String> {
    let topology = &client.topology;
    if monitoring {
        let expected = outcome
            .events
            .as_ref()
            .ok_or("monitoring outcome without events")?;
        return check_events(expected, &client.events);
    }
    if let Some(want) = &outcome.topology_type {
        expect(
            "topologyType",
            want.as_str(),
            topology.topology_type().as_str(),
        )?;
    }
    if let Some(want) = &outcome.set_name {
        expect("setName", want.as_deref(), topology.set_name())?;
    }
    if let Some(want) = outcome.logical_session_timeout_minutes {
        expect(
            "logicalSessionTimeoutMinutes",
            minutes(want),
            topology.logical_session_timeout(),
        )?;
    }
    if let Some(want) = outcome.max_set_version {
        expect("maxSetVersion", Some(want), topology.max_set_version())?;
    }
    if let Some(want) = &outcome.max_election_id {
        expect(
            "maxElectionId",
            Some(object_id(want)?),
            topology.max_election_id(),
        )?;
    }
    if let Some(want) = outcome.compatible {
        expect("compatible", want, topology.is_compatible())?;
    }
    if let Some(servers) = &outcome.servers {
        let got: Vec<String> = topology.servers().map(|s| s.address.to_string()).collect();
        let want: Vec<String> = servers
            .keys()
            .map(|a| address(a).map(|a| a.to_string()))
            .collect::<Result<_, _>>()?;
        let (mut got_sorted, mut want_sorted) = (got.clone(), want.clone());
        got_sorted.sort();
        want_sorted.sort();
        expect("servers", want_sorted, got_sorted)?;
        for (host, want) in servers {
            let address = address(host)?;
            let sd = topology.server(&address).expect("checked above");
            check_server(client, sd, want).map_err(|e| format!("{host}: {e}"))?;
        }
    }
    Ok(())
}

fn check_server(
    client: &Client,
    sd: &ServerDescription,
    want: &ServerOutcome,
) -> Result<(), String> {
    expect("type", want.server_type.as_str(), sd.server_type.as_str())?;
    if let Some(set_name) = &want.set_name {
        expect("setName", set_name.as_deref(), sd.set_name.as_deref())?;
    }
    if let Some(set_version) = want.set_version {
        expect("setVersion", set_version, sd.set_version)?;
    }
    if let Some(election_id) = &want.election_id {
        let want = election_id.as_ref().map(object_id).transpose()?;
        expect("electionId", want, sd.election_id)?;
    }
    if let Some(m) = want.logical_session_timeout_minutes {
        expect(
            "logicalSessionTimeoutMinutes",
            minutes(m),
            sd.logical_session_timeout,
        )?;
    }
    if let Some(v) = want.min_wire_version {
        expect("minWireVersion", v, sd.min_wire_version)?;
    }
    if let Some(v) = want.max_wire_version {
        expect("maxWireVersion", v, sd.max_wire_version)?;
    }
    if let Some(tv) = &want.topology_version {
        let want = tv.as_ref().map(topology_version).transpose()?;
        expect("topologyVersion", want, sd.topology_version)?;
    }
    if let Some(pool) = &want.pool {
        expect(
            "pool generation",
            pool.generation,
            client.generation(&sd.address),
        )?;
    }
    if let Some(error) = &want.error {
        let got = sd.error.as_deref().unwrap_or_default();
        if !got.contains(error.as_str()) {
            return Err(format!("error: expected {error:?} in {got:?}"));
        }
    }
    Ok(())
}

fn check_events(expected: &[EventSpec], got: &[SdamEvent]) -> Result<(), String> {
    let names: Vec<&str> = got.iter().map(SdamEvent::name).collect();
    if expected.len() != got.len() {
        return Err(format!(
            "expected {} events {expected:?}, got {names:?}",
            expected.len()
        ));
    }
    for (i, (want, got)) in expected.iter().zip(got).enumerate() {
        check_event(want, got).map_err(|e| format!("event {i}: {e} (events: {names:?})"))?;
    }
    Ok(())
}

fn check_event(want: &EventSpec, got: &SdamEvent) -> Result<(), String> {
    match (want, got) {
        (EventSpec::TopologyOpening { .. }, SdamEvent::TopologyOpening) => Ok(()),
        (EventSpec::ServerOpening { address: a, .. }, SdamEvent::ServerOpening { address: b })
        | (EventSpec::ServerClosed { address: a, .. }, SdamEvent::ServerClosed { address: b }) => {
            expect("address", address(a)?, b.clone())
        }
        (
            EventSpec::ServerDescriptionChanged {
                address: a,
                previous: wp,
                new: wn,
                ..
            },
            SdamEvent::ServerDescriptionChanged {
                address: b,
                previous: gp,
                new: gn,
            },
        ) => {
            expect("address", address(a)?, b.clone())?;
            check_server_spec(wp, gp).map_err(|e| format!("previous: {e}"))?;
            check_server_spec(wn, gn).map_err(|e| format!("new: {e}"))
        }
        (
            EventSpec::TopologyDescriptionChanged {
                previous: wp,
                new: wn,
                ..
            },
            SdamEvent::TopologyDescriptionChanged {
                previous: gp,
                new: gn,
            },
        ) => {
            check_topology_spec(wp, gp).map_err(|e| format!("previous: {e}"))?;
            check_topology_spec(wn, gn).map_err(|e| format!("new: {e}"))
        }
        (want, got) => Err(format!("expected {want:?}, got {}", got.name())),
    }
}

fn addresses(list: &[String]) -> Result<Vec<ServerAddress>, String> {
    let mut out: Vec<ServerAddress> = list.iter().map(|s| address(s)).collect::<Result<_, _>>()?;
    out.sort();
    Ok(out)
}

fn sorted(list: &[ServerAddress]) -> Vec<ServerAddress> {
    let mut out = list.to_vec();
    out.sort();
    out
}

fn check_server_spec(want: &ServerSpec, got: &ServerDescription) -> Result<(), String> {
    expect("address", address(&want.address)?, got.address.clone())?;
    expect("type", want.server_type.as_str(), got.server_type.as_str())?;
    if let Some(hosts) = &want.hosts {
        expect("hosts", addresses(hosts)?, sorted(&got.hosts))?;
    }
    if let Some(passives) = &want.passives {
        expect("passives", addresses(passives)?, sorted(&got.passives))?;
    }
    if let Some(arbiters) = &want.arbiters {
        expect("arbiters", addresses(arbiters)?, sorted(&got.arbiters))?;
    }
    if let Some(primary) = &want.primary {
        expect("primary", Some(address(primary)?), got.primary.clone())?;
    }
    if let Some(set_name) = &want.set_name {
        expect("setName", Some(set_name.as_str()), got.set_name.as_deref())?;
    }
    Ok(())
}

fn check_topology_spec(want: &TopologySpec, got: &TopologyDescription) -> Result<(), String> {
    expect(
        "topologyType",
        want.topology_type.as_str(),
        got.topology_type().as_str(),
    )?;
    if let Some(set_name) = &want.set_name {
        expect("setName", Some(set_name.as_str()), got.set_name())?;
    }
    expect("server count", want.servers.len(), got.servers().count())?;
    for server in &want.servers {
        let sd = got
            .server(&address(&server.address)?)
            .ok_or_else(|| format!("no server {}", server.address))?;
        check_server_spec(server, sd)?;
    }
    Ok(())
}
