//! Command monitoring for client entities: what each client observed (with the filters of
//! `observeEvents`, `ignoreCommandMonitoringEvents` and `observeSensitiveCommands`), and
//! `expectEvents` / `waitForEvent` / `assertEventCount` assertions against it.
//!
//! Command, CMAP (connection pool) and SDAM (topology and heartbeat) events are recorded
//! and matched, heartbeats with whether they were `awaited` (the streaming protocol).

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
};

use bson::{Bson, Document};
use greenmongo::{
    event::{CommandEvent, EventHandler},
    pool::CmapEvent,
    sdam::SdamEvent,
};
use serde::Deserialize;

use super::{
    format::{ClientDescription, ExpectedEventsForClient},
    matching::{EntityLookup, matches},
    outcome::{Step, fail, skip},
};

/// Commands whose events are hidden unless `observeSensitiveCommands` (Command Logging and
/// Monitoring spec, "Security"); `hello`/legacy hello are sensitive when the driver redacted
/// them, i.e. published an empty command.
const SENSITIVE: &[&str] = &[
    "authenticate",
    "saslstart",
    "saslcontinue",
    "getnonce",
    "createuser",
    "updateuser",
    "copydbgetnonce",
    "copydbsaslstart",
    "copydb",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Started,
    Succeeded,
    Failed,
}

/// One observed command event, as the driver published it.
#[derive(Clone, Debug)]
pub struct Observed {
    pub kind: Kind,
    pub command_name: String,
    pub database_name: String,
    pub command: Document,
    pub reply: Document,
    pub server_connection_id: Option<i64>,
    pub service_id: Option<bson::oid::ObjectId>,
}

/// The events a client entity observed.
pub struct EventLog {
    observe: HashSet<String>,
    ignore: HashSet<String>,
    observe_sensitive: bool,
    enabled: AtomicBool,
    /// Observed events, and the request ids of redacted (sensitive) started events so their
    /// succeeded/failed events can be recognised.
    inner: Mutex<(Vec<Observed>, HashSet<i32>)>,
    /// Observed CMAP events (those `observeEvents` names).
    cmap: Mutex<Vec<CmapEvent>>,
    /// Observed SDAM events (those `observeEvents` names).
    sdam: Mutex<Vec<SdamEvent>>,
}

/// The unified format's name of an SDAM event (`serverDescriptionChangedEvent`, ...).
fn sdam_name(event: &SdamEvent) -> &'static str {
    match event {
        SdamEvent::TopologyOpening => "topologyOpeningEvent",
        SdamEvent::TopologyDescriptionChanged { .. } => "topologyDescriptionChangedEvent",
        SdamEvent::ServerOpening { .. } => "serverOpeningEvent",
        SdamEvent::ServerDescriptionChanged { .. } => "serverDescriptionChangedEvent",
        SdamEvent::ServerClosed { .. } => "serverClosedEvent",
        SdamEvent::TopologyClosed => "topologyClosedEvent",
        SdamEvent::ServerHeartbeatStarted { .. } => "serverHeartbeatStartedEvent",
        SdamEvent::ServerHeartbeatSucceeded { .. } => "serverHeartbeatSucceededEvent",
        SdamEvent::ServerHeartbeatFailed { .. } => "serverHeartbeatFailedEvent",
        _ => "unknownSdamEvent",
    }
}

/// Whether an expected event's name is an SDAM one.
fn is_sdam(name: &str) -> bool {
    name.starts_with("server") || name.starts_with("topology")
}

/// The unified format's name of a CMAP event (`poolClearedEvent`, ...).
fn cmap_name(event: &CmapEvent) -> &'static str {
    match event.name() {
        "ConnectionPoolCreated" => "poolCreatedEvent",
        "ConnectionPoolReady" => "poolReadyEvent",
        "ConnectionPoolCleared" => "poolClearedEvent",
        "ConnectionPoolClosed" => "poolClosedEvent",
        "ConnectionCreated" => "connectionCreatedEvent",
        "ConnectionReady" => "connectionReadyEvent",
        "ConnectionClosed" => "connectionClosedEvent",
        "ConnectionCheckOutStarted" => "connectionCheckOutStartedEvent",
        "ConnectionCheckOutFailed" => "connectionCheckOutFailedEvent",
        "ConnectionCheckedOut" => "connectionCheckedOutEvent",
        "ConnectionCheckedIn" => "connectionCheckedInEvent",
        _ => "unknownCmapEvent",
    }
}

/// A copy of the events recorded so far.
fn snapshot<E: Clone>(list: &Mutex<Vec<E>>) -> Vec<E> {
    list.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

impl EventLog {
    pub fn new(client: &ClientDescription) -> Arc<EventLog> {
        let lower = |v: &Option<Vec<String>>| -> HashSet<String> {
            v.iter().flatten().map(|s| s.to_ascii_lowercase()).collect()
        };
        Arc::new(EventLog {
            observe: client.observe_events.iter().flatten().cloned().collect(),
            ignore: lower(&client.ignore_command_monitoring_events),
            observe_sensitive: client.observe_sensitive_commands == Some(true),
            enabled: AtomicBool::new(true),
            inner: Mutex::new((Vec::new(), HashSet::new())),
            cmap: Mutex::new(Vec::new()),
            sdam: Mutex::new(Vec::new()),
        })
    }

    /// Keeps `event` in `list` if recording is on and `observeEvents` names it.
    fn keep<E: Clone>(&self, list: &Mutex<Vec<E>>, name: &str, event: &E) {
        if self.enabled.load(Ordering::SeqCst) && self.observe.contains(name) {
            list.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(event.clone());
        }
    }

    /// The SDAM handler to put in the client's options.
    pub fn sdam_handler(self: &Arc<Self>) -> EventHandler<SdamEvent> {
        let log = self.clone();
        EventHandler::new(move |e: &SdamEvent| log.keep(&log.sdam, sdam_name(e), e))
    }

    fn sdam_events(&self) -> Vec<SdamEvent> {
        snapshot(&self.sdam)
    }

    /// The CMAP handler to give the client.
    pub fn cmap_handler(self: &Arc<Self>) -> greenmongo::event::EventHandler<CmapEvent> {
        let log = self.clone();
        greenmongo::event::EventHandler::new(move |e: &CmapEvent| {
            log.keep(&log.cmap, cmap_name(e), e)
        })
    }

    fn cmap_events(&self) -> Vec<CmapEvent> {
        snapshot(&self.cmap)
    }

    /// The handler to put in the client's options.
    pub fn handler(self: &Arc<Self>) -> EventHandler<CommandEvent> {
        let log = self.clone();
        EventHandler::new(move |event: &CommandEvent| log.record(event))
    }

    /// Stops recording (after the test's operations).
    pub fn stop(&self) {
        self.enabled.store(false, Ordering::SeqCst);
    }

    pub fn events(&self) -> Vec<Observed> {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .clone()
    }

    fn record(&self, event: &CommandEvent) {
        if !self.enabled.load(Ordering::SeqCst) {
            return;
        }
        let name = event.command_name().to_ascii_lowercase();
        if name == "configurefailpoint" || self.ignore.contains(&name) {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let named_sensitive = SENSITIVE.contains(&name.as_str());
        let (observed, sensitive) = match event {
            CommandEvent::Started(e) => {
                let redacted_hello =
                    (name == "hello" || name == "ismaster") && e.command.is_empty();
                if named_sensitive || redacted_hello {
                    inner.1.insert(e.request_id);
                }
                let observed = Observed {
                    kind: Kind::Started,
                    command_name: e.command_name.clone(),
                    database_name: e.database_name.clone(),
                    command: e.command.clone(),
                    reply: Document::new(),
                    server_connection_id: e.connection.server_id,
                    service_id: e.connection.service_id,
                };
                (observed, named_sensitive || redacted_hello)
            }
            CommandEvent::Succeeded(e) => {
                let observed = Observed {
                    kind: Kind::Succeeded,
                    command_name: e.command_name.clone(),
                    database_name: e.database_name.clone(),
                    command: Document::new(),
                    reply: e.reply.clone(),
                    server_connection_id: e.connection.server_id,
                    service_id: e.connection.service_id,
                };
                (observed, named_sensitive || inner.1.contains(&e.request_id))
            }
            CommandEvent::Failed(e) => {
                let observed = Observed {
                    kind: Kind::Failed,
                    command_name: e.command_name.clone(),
                    database_name: e.database_name.clone(),
                    command: Document::new(),
                    reply: Document::new(),
                    server_connection_id: e.connection.server_id,
                    service_id: e.connection.service_id,
                };
                (observed, named_sensitive || inner.1.contains(&e.request_id))
            }
            _ => return,
        };
        let wanted = match observed.kind {
            Kind::Started => "commandStartedEvent",
            Kind::Succeeded => "commandSucceededEvent",
            Kind::Failed => "commandFailedEvent",
        };
        if (sensitive && !self.observe_sensitive) || !self.observe.contains(wanted) {
            return;
        }
        inner.0.push(observed);
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
enum ExpectedCommandEvent {
    #[serde(rename = "commandStartedEvent")]
    Started(ExpectedFields),
    #[serde(rename = "commandSucceededEvent")]
    Succeeded(ExpectedFields),
    #[serde(rename = "commandFailedEvent")]
    Failed(ExpectedFields),
}

/// The assertions of one expected command event (`command` only for started events,
/// `reply` only for succeeded ones; the spec's schema enforces that).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ExpectedFields {
    command: Option<Document>,
    reply: Option<Document>,
    command_name: Option<String>,
    database_name: Option<String>,
    has_service_id: Option<bool>,
    has_server_connection_id: Option<bool>,
}

/// Parses one `expectedEvent`; CMAP and SDAM events are skipped.
fn parse_expected(event: &Document) -> Step<(Kind, ExpectedFields)> {
    let key = event.keys().next().map(String::as_str).unwrap_or_default();
    if !key.starts_with("command") {
        return skip!("missing event type: {key}");
    }
    match bson::deserialize_from_document::<ExpectedCommandEvent>(event.clone()) {
        Ok(ExpectedCommandEvent::Started(f)) => Ok((Kind::Started, f)),
        Ok(ExpectedCommandEvent::Succeeded(f)) => Ok((Kind::Succeeded, f)),
        Ok(ExpectedCommandEvent::Failed(f)) => Ok((Kind::Failed, f)),
        Err(e) => fail!("bad expected event {event}: {e}"),
    }
}

fn check_event(
    (kind, want): &(Kind, ExpectedFields),
    got: &Observed,
    entities: EntityLookup<'_>,
) -> Result<(), String> {
    if *kind != got.kind {
        return Err(format!(
            "expected a {kind:?} event, got {:?} for {}",
            got.kind, got.command_name
        ));
    }
    if let Some(name) = &want.command_name
        && *name != got.command_name
    {
        return Err(format!("expected command {name}, got {}", got.command_name));
    }
    if let Some(db) = &want.database_name
        && *db != got.database_name
    {
        return Err(format!("expected database {db}, got {}", got.database_name));
    }
    if let Some(command) = &want.command {
        let actual = Bson::Document(got.command.clone());
        matches(
            &Bson::Document(command.clone()),
            Some(&actual),
            true,
            entities,
        )
        .map_err(|e| format!("{} command: {e}", got.command_name))?;
    }
    if let Some(reply) = &want.reply {
        let actual = Bson::Document(got.reply.clone());
        matches(
            &Bson::Document(reply.clone()),
            Some(&actual),
            true,
            entities,
        )
        .map_err(|e| format!("{} reply: {e}", got.command_name))?;
    }
    if let Some(want_id) = want.has_service_id
        && got.service_id.is_some() != want_id
    {
        return Err(format!("hasServiceId {want_id}, got {:?}", got.service_id));
    }
    if let Some(want_id) = want.has_server_connection_id {
        let has = got.server_connection_id.is_some_and(|id| id > 0);
        if has != want_id {
            return Err(format!(
                "hasServerConnectionId {want_id}, got {:?}",
                got.server_connection_id
            ));
        }
    }
    Ok(())
}

/// Whether a CMAP event matches an expected one (`{ poolClearedEvent: { ... } }`): the
/// name, and the fields the format allows (`reason`, `hasServiceId`,
/// `interruptInUseConnections`).
fn check_cmap(want: &Document, got: &CmapEvent) -> Result<(), String> {
    let Some((name, Bson::Document(fields))) = want.iter().next() else {
        return Err(format!("bad expected event {want}"));
    };
    if name != cmap_name(got) {
        return Err(format!("expected a {name}, got {}", cmap_name(got)));
    }
    for (key, value) in fields {
        let ok = match (key.as_str(), got) {
            ("reason", CmapEvent::ConnectionClosed { reason, .. }) => {
                value.as_str() == Some(reason.as_str())
            }
            ("reason", CmapEvent::ConnectionCheckOutFailed { reason, .. }) => {
                value.as_str() == Some(reason.as_str())
            }
            ("hasServiceId", CmapEvent::PoolCleared { service_id, .. }) => {
                value.as_bool() == Some(service_id.is_some())
            }
            (
                "interruptInUseConnections",
                CmapEvent::PoolCleared {
                    interrupt_in_use_connections,
                    ..
                },
            ) => value.as_bool() == Some(*interrupt_in_use_connections),
            _ => return Err(format!("{name}: cannot check {key}")),
        };
        if !ok {
            return Err(format!("{name}: {key} is not {value}: {got:?}"));
        }
    }
    Ok(())
}

/// Whether an SDAM event matches an expected one: the name, and the `type` of the
/// previous and new descriptions where given (`{ newDescription: { type: Unknown } }`).
fn check_sdam(want: &Document, got: &SdamEvent) -> Step<Result<(), String>> {
    let Some((name, Bson::Document(fields))) = want.iter().next() else {
        return fail!("bad expected event {want}");
    };
    if name != sdam_name(got) {
        return Ok(Err(format!("expected a {name}, got {}", sdam_name(got))));
    }
    for (key, value) in fields {
        if key == "awaited" {
            let awaited = match got {
                SdamEvent::ServerHeartbeatStarted { awaited, .. }
                | SdamEvent::ServerHeartbeatSucceeded { awaited, .. }
                | SdamEvent::ServerHeartbeatFailed { awaited, .. } => *awaited,
                _ => return fail!("{name}: cannot check {key}"),
            };
            if value.as_bool() != Some(awaited) {
                return Ok(Err(format!("{name}: awaited is not {value}")));
            }
            continue;
        }
        let got_type = match (key.as_str(), got) {
            ("previousDescription", SdamEvent::ServerDescriptionChanged { previous, .. }) => {
                previous.server_type.as_str()
            }
            ("newDescription", SdamEvent::ServerDescriptionChanged { new, .. }) => {
                new.server_type.as_str()
            }
            ("previousDescription", SdamEvent::TopologyDescriptionChanged { previous, .. }) => {
                previous.topology_type().as_str()
            }
            ("newDescription", SdamEvent::TopologyDescriptionChanged { new, .. }) => {
                new.topology_type().as_str()
            }
            _ => return fail!("{name}: cannot check {key}"),
        };
        let Bson::Document(description) = value else {
            return fail!("{name}: {key} is not a document");
        };
        for (field, want_value) in description {
            if field != "type" {
                return fail!("{name}: cannot check {key}.{field}");
            }
            if want_value.as_str() != Some(got_type) {
                return Ok(Err(format!(
                    "{name}: {key}.type is {got_type}, not {want_value}"
                )));
            }
        }
    }
    Ok(Ok(()))
}

/// Checks observed CMAP or SDAM events (`kind`) against an `expectEvents` entry, in
/// order, with `check` for each pair.
fn check_in_order<E>(
    kind: &str,
    expected: &ExpectedEventsForClient,
    actual: &[E],
    name: fn(&E) -> &'static str,
    check: impl Fn(&Document, &E) -> Step<Result<(), String>>,
) -> Step {
    let names = || actual.iter().map(name).collect::<Vec<_>>();
    let extra_ok = expected.ignore_extra_events == Some(true);
    let wanted = &expected.events;
    if actual.len() < wanted.len() || (!extra_ok && actual.len() != wanted.len()) {
        return fail!(
            "client {}: expected {} {kind} events, observed {}: {:?}",
            expected.client,
            wanted.len(),
            actual.len(),
            names()
        );
    }
    for (i, (want, got)) in wanted.iter().zip(actual).enumerate() {
        if let Err(e) = check(want, got)? {
            return fail!(
                "client {} {kind} event {i}: {e}; all: {:?}",
                expected.client,
                names()
            );
        }
    }
    Ok(())
}

/// Checks one `expectEvents` entry against what its client observed.
pub fn check_expected(
    expected: &ExpectedEventsForClient,
    log: &EventLog,
    entities: EntityLookup<'_>,
) -> Step {
    match expected.event_type.as_deref().unwrap_or("command") {
        "command" => {}
        "cmap" => {
            let check = |want: &Document, got: &CmapEvent| Ok(check_cmap(want, got));
            return check_in_order("CMAP", expected, &log.cmap_events(), cmap_name, check);
        }
        "sdam" => {
            return check_in_order("SDAM", expected, &log.sdam_events(), sdam_name, check_sdam);
        }
        other => return fail!("unknown eventType {other}"),
    }
    let wanted = expected
        .events
        .iter()
        .map(parse_expected)
        .collect::<Step<Vec<_>>>()?;
    let actual = log.events();
    let names = || {
        actual
            .iter()
            .map(|e| format!("{}:{:?}", e.command_name, e.kind))
            .collect::<Vec<_>>()
    };
    let extra_ok = expected.ignore_extra_events == Some(true);
    if actual.len() < wanted.len() || (!extra_ok && actual.len() != wanted.len()) {
        return fail!(
            "client {}: expected {} events, observed {}: {:?}",
            expected.client,
            wanted.len(),
            actual.len(),
            names()
        );
    }
    for (i, (want, got)) in wanted.iter().zip(&actual).enumerate() {
        if let Err(e) = check_event(want, got, entities) {
            return fail!("client {} event {i}: {e}", expected.client);
        }
    }
    Ok(())
}

/// How many observed events match one expected event (`waitForEvent`, `assertEventCount`).
pub fn count_matching(log: &EventLog, event: &Document, entities: EntityLookup<'_>) -> Step<usize> {
    let key = event.keys().next().map(String::as_str).unwrap_or_default();
    if is_sdam(key) {
        let mut count = 0;
        for got in log.sdam_events() {
            count += usize::from(check_sdam(event, &got)?.is_ok());
        }
        return Ok(count);
    }
    if key.starts_with("pool") || key.starts_with("connection") {
        return Ok(log
            .cmap_events()
            .iter()
            .filter(|got| check_cmap(event, got).is_ok())
            .count());
    }
    let want = parse_expected(event)?;
    Ok(log
        .events()
        .iter()
        .filter(|got| check_event(&want, got, entities).is_ok())
        .count())
}

/// The `lsid`s of the last two started events (`assert{Same,Different}LsidOnLastTwoCommands`).
pub fn last_two_lsids(log: &EventLog) -> Step<(Bson, Bson)> {
    let started: Vec<Observed> = log
        .events()
        .into_iter()
        .filter(|e| e.kind == Kind::Started)
        .collect();
    let [.., a, b] = started.as_slice() else {
        return fail!("fewer than two commandStartedEvents observed");
    };
    match (a.command.get("lsid"), b.command.get("lsid")) {
        (Some(x), Some(y)) => Ok((x.clone(), y.clone())),
        _ => fail!(
            "no lsid on the last two commands ({} and {}): the driver sends no implicit session",
            a.command_name,
            b.command_name
        ),
    }
}
