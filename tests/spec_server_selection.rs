//! The Server Selection spec tests (`server-selection/tests/{server_selection,rtt,in_window}`)
//! and the Max Staleness spec tests (`max-staleness/tests`), run against the pure selection
//! functions. `server-selection/tests/logging` needs a live client and is not run here.

mod util {
    pub mod spec;
    pub mod spec_files;
}

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    path::Path,
    time::{Duration, Instant},
};

use greenmongo::{
    options::{ReadPreference, ServerAddress, TagSet},
    sdam::{ServerDescription, TopologyDescription, moving_average},
    selection::{Criteria, SelectionSettings, latency_window, select_server, suitable_servers},
};
use serde::Deserialize;
use serde_json::Value;
use util::{
    spec::read_json,
    spec_files::{FolderTally, SplitMix64, json_files_under, to_bson},
};

/// The wire version given to servers whose spec entry has none: the selection files
/// predate the topology compatibility check, which would otherwise reject their servers.
const DEFAULT_MAX_WIRE_VERSION: i32 = 21;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SelectionFile {
    topology_description: TopologySpec,
    operation: Option<String>,
    read_preference: Option<ReadPreferenceSpec>,
    suitable_servers: Option<Vec<ServerSpec>>,
    in_latency_window: Option<Vec<ServerSpec>>,
    deprioritized_servers: Option<Vec<ServerSpec>>,
    error: Option<bool>,
    #[serde(rename = "heartbeatFrequencyMS")]
    heartbeat_frequency_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopologySpec {
    #[serde(rename = "type")]
    topology_type: String,
    servers: Vec<ServerSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSpec {
    address: String,
    #[serde(rename = "type")]
    server_type: String,
    avg_rtt_ms: Option<f64>,
    #[serde(rename = "lastUpdateTime")]
    last_update_time: Option<u64>,
    #[serde(rename = "lastWrite")]
    last_write: Option<LastWriteSpec>,
    #[serde(rename = "maxWireVersion")]
    max_wire_version: Option<i32>,
    tags: Option<TagSet>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LastWriteSpec {
    #[serde(rename = "lastWriteDate")]
    last_write_date: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadPreferenceSpec {
    mode: Option<String>,
    tag_sets: Option<Vec<TagSet>>,
    #[serde(rename = "maxStalenessSeconds")]
    max_staleness_seconds: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RttFile {
    avg_rtt_ms: Value,
    new_rtt_ms: f64,
    new_avg_rtt: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InWindowFile {
    description: String,
    topology_description: TopologySpec,
    mocked_topology_state: Vec<MockedServer>,
    iterations: usize,
    outcome: InWindowOutcome,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MockedServer {
    address: String,
    operation_count: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InWindowOutcome {
    tolerance: f64,
    expected_frequencies: BTreeMap<String, f64>,
}

/// Runs one spec file.
type RunFile = fn(&Path) -> Result<(), String>;

#[test]
fn server_selection_spec() {
    let mut tally = FolderTally::default();
    let suites: [(&str, RunFile); 4] = [
        (
            "server-selection/tests/server_selection",
            run_selection_file,
        ),
        ("max-staleness/tests", run_selection_file),
        ("server-selection/tests/rtt", run_rtt_file),
        ("server-selection/tests/in_window", run_in_window_file),
    ];
    for (folder, run) in suites {
        // A missing folder is skipped (or fails in CI); the others still run.
        let Some((root, files)) = json_files_under(folder) else {
            continue;
        };
        for path in &files {
            let name = path
                .file_stem()
                .map_or(String::new(), |s| s.to_string_lossy().into_owned());
            tally.record(&root, path, &name, run(path));
        }
    }
    tally.report();
}

fn address(s: &str) -> Result<ServerAddress, String> {
    ServerAddress::parse(s).map_err(|e| format!("bad address {s}: {e}"))
}

fn millis(ms: f64) -> Duration {
    Duration::from_secs_f64(ms / 1000.0)
}

/// A server description from the spec's format; `lastUpdateTime` (ms) counts from `base`.
fn server(spec: &ServerSpec, base: Instant) -> Result<ServerDescription, String> {
    let mut sd = ServerDescription::new(address(&spec.address)?);
    sd.server_type = spec.server_type.parse().map_err(|e| format!("{e}"))?;
    sd.average_rtt = spec.avg_rtt_ms.map(millis);
    sd.last_update_time = Some(base + Duration::from_millis(spec.last_update_time.unwrap_or(0)));
    if let Some(last_write) = &spec.last_write {
        let ms = match to_bson(&last_write.last_write_date) {
            bson::Bson::Int64(ms) => ms,
            bson::Bson::Int32(ms) => i64::from(ms),
            other => return Err(format!("lastWriteDate {other}")),
        };
        sd.last_write_date = Some(bson::DateTime::from_millis(ms));
    }
    sd.max_wire_version = spec.max_wire_version.unwrap_or(DEFAULT_MAX_WIRE_VERSION);
    sd.tags = spec.tags.clone().unwrap_or_default();
    Ok(sd)
}

fn topology(spec: &TopologySpec) -> Result<TopologyDescription, String> {
    let base = Instant::now();
    let servers = spec
        .servers
        .iter()
        .map(|s| server(s, base))
        .collect::<Result<Vec<_>, _>>()?;
    let topology_type = spec.topology_type.parse().map_err(|e| format!("{e}"))?;
    Ok(TopologyDescription::with_servers(topology_type, servers))
}

fn read_preference(spec: Option<&ReadPreferenceSpec>) -> Result<ReadPreference, String> {
    let mut pref = ReadPreference::primary();
    let Some(spec) = spec else {
        return Ok(pref);
    };
    if let Some(mode) = &spec.mode {
        pref.mode = mode.parse().map_err(|e| format!("{e}"))?;
    }
    pref.tag_sets = spec.tag_sets.clone().unwrap_or_default();
    pref.max_staleness = match spec.max_staleness_seconds {
        None | Some(-1) => None,
        Some(secs) => Some(Duration::from_secs(
            u64::try_from(secs).map_err(|_| format!("maxStalenessSeconds {secs}"))?,
        )),
    };
    Ok(pref)
}

fn address_set(servers: &[&ServerDescription]) -> BTreeSet<ServerAddress> {
    servers.iter().map(|sd| sd.address.clone()).collect()
}

fn spec_set(servers: &[ServerSpec]) -> Result<BTreeSet<ServerAddress>, String> {
    servers.iter().map(|s| address(&s.address)).collect()
}

fn run_selection_file(path: &Path) -> Result<(), String> {
    let file: SelectionFile = read_json(path);
    let topology = topology(&file.topology_description)?;
    let pref = read_preference(file.read_preference.as_ref())?;
    let operation = match file.operation.as_deref() {
        None | Some("read") => Criteria::Read(pref.clone()),
        Some("write") => Criteria::Write,
        Some(other) => return Err(format!("unknown operation {other}")),
    };
    let mut settings = SelectionSettings::default();
    if let Some(ms) = file.heartbeat_frequency_ms {
        settings.heartbeat_frequency = Duration::from_millis(ms);
    }
    let deprioritized: Vec<ServerAddress> = match &file.deprioritized_servers {
        Some(list) => spec_set(list)?.into_iter().collect(),
        None => Vec::new(),
    };
    let result = suitable_servers(&topology, &operation, &settings, &deprioritized);
    let suitable = match (result, file.error == Some(true)) {
        (Err(_), true) => return Ok(()),
        (Ok(found), true) => return Err(format!("expected an error, got {found:?}")),
        (Err(e), false) => return Err(format!("unexpected error: {e}")),
        (Ok(found), false) => found,
    };
    if let Some(want) = &file.suitable_servers {
        let (want, got) = (spec_set(want)?, address_set(&suitable));
        if want != got {
            return Err(format!("suitable servers: expected {want:?}, got {got:?}"));
        }
    }
    let window = latency_window(&suitable, settings.local_threshold);
    let want = spec_set(
        file.in_latency_window
            .as_deref()
            .ok_or("no in_latency_window")?,
    )?;
    let got = address_set(&window);
    if want != got {
        return Err(format!("latency window: expected {want:?}, got {got:?}"));
    }
    Ok(())
}

fn run_rtt_file(path: &Path) -> Result<(), String> {
    let file: RttFile = read_json(path);
    let new = millis(file.new_rtt_ms);
    let average = match &file.avg_rtt_ms {
        Value::String(s) if s == "NULL" => new, // the first sample is the average
        Value::Number(n) => moving_average(millis(n.as_f64().ok_or("avg_rtt_ms")?), new),
        other => return Err(format!("avg_rtt_ms {other}")),
    };
    let got_ms = average.as_secs_f64() * 1000.0;
    if (got_ms - file.new_avg_rtt).abs() > 1e-6 {
        return Err(format!("expected {} ms, got {got_ms} ms", file.new_avg_rtt));
    }
    Ok(())
}

fn run_in_window_file(path: &Path) -> Result<(), String> {
    let file: InWindowFile = read_json(path);
    let topology = topology(&file.topology_description)?;
    let counts: HashMap<ServerAddress, usize> = file
        .mocked_topology_state
        .iter()
        .map(|m| address(&m.address).map(|a| (a, m.operation_count)))
        .collect::<Result<_, _>>()?;
    let nearest = ReadPreference::new(greenmongo::options::ReadPreferenceMode::Nearest);
    let settings = SelectionSettings::default();
    let mut rng = SplitMix64::new(0x5eed_5e1e_c7ed);
    let mut selected: HashMap<ServerAddress, usize> = HashMap::new();
    for _ in 0..file.iterations {
        let chosen = select_server(
            &topology,
            &Criteria::Read(nearest.clone()),
            &settings,
            &[],
            |a| counts.get(a).copied().unwrap_or(0),
            |n| rng.below(n),
        )
        .map_err(|e| e.to_string())?
        .ok_or("no server selected")?;
        *selected.entry(chosen.address.clone()).or_default() += 1;
    }
    for (host, expected) in &file.outcome.expected_frequencies {
        let count = selected.get(&address(host)?).copied().unwrap_or(0);
        let observed = count as f64 / file.iterations as f64;
        let ok = if *expected == 0.0 || *expected == 1.0 {
            observed == *expected
        } else {
            (observed - expected).abs() <= file.outcome.tolerance
        };
        if !ok {
            return Err(format!(
                "{}: {host} selected {observed:.4} of the time, expected {expected} ± {}",
                file.description, file.outcome.tolerance
            ));
        }
    }
    Ok(())
}
