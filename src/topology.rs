//! The deployment as a client sees it, kept current: the SDAM description, one monitor
//! and one connection pool per server, and server selection that waits for changes.
//!
//! Implements the I/O half of the server-discovery-and-monitoring and server-selection
//! specs; the rules themselves are pure, in [`sdam`](crate::sdam) and
//! [`selection`](crate::selection). Monitors ([`sdam::monitor`](crate::sdam::monitor):
//! polling or streaming, per `serverMonitoringMode`) are coroutines on the runtime the
//! client was created in, or plain threads when it was created outside one. They hold
//! only a weak reference to the topology: dropping the last client handle closes every
//! pool and ends every monitor at once (its wait ends as its channel closes, a blocked
//! streaming read as its socket is shut down), so a client never keeps a runtime alive.
//! A `mongodb+srv` client's SRV poller ([`sdam::srv_polling`](crate::sdam::srv_polling))
//! runs the same way and adds or removes servers through
//! [`rescanned_srv`](Topology::rescanned_srv).
//!
//! In load-balanced mode (`loadBalanced=true`, the load-balancer spec) the one server is
//! the load balancer: it has no monitor, its pool is ready from the start, errors never
//! mark it Unknown, and a failure that calls for a pool clear clears only the
//! connections to the failing service behind it. Cursors keep their connection
//! until they are exhausted or dropped (`Client::run_cursor_operation`).
//!
//! The state lives behind the runtime's coroutine mutex, which writers (monitors, SDAM
//! error handling, SRV polling, shutdown) and selection's slow path take. That mutex is
//! fair, handing the lock to the first waiter, so with many runnable coroutines taking it
//! several times an operation it becomes a convoy (100,000 coroutines on two workers:
//! most of them queued on it). The hot path therefore reads a [`Snapshot`] instead: an
//! immutable copy of what selection and the per-operation lookups need, behind a std
//! mutex held only to clone or swap an `Arc` (never across a wait, so it never parks a
//! coroutine). Writers publish a new snapshot under the state lock as soon as they
//! change the description, before any consequence others can observe (a pool cleared,
//! an event handed to the application, waiters woken), so a reader of the snapshot sees
//! a description at least as fresh as one that took the lock would have.

use std::{
    collections::HashMap,
    fmt::Write as _,
    sync::{
        Arc, MutexGuard, PoisonError, Weak,
        atomic::{AtomicI32, Ordering},
    },
    time::{Duration, Instant},
};

use bson::{RawDocument, RawDocumentBuf, Timestamp, oid::ObjectId};
use greenmongo_runtime::{
    Handle,
    sync::{Condvar, Mutex, mpsc},
};

use crate::{
    Error, Result,
    conn::{Connection, ConnectionConfig},
    error::ErrorKind,
    options::ServerAddress,
    pool::{Establishing, Pool, PoolOptions, PooledConnection},
    sdam::{
        ApplicationError, ErrorPhase, RETRYABLE_ERROR, RoundTripTimes, SYSTEM_OVERLOADED_ERROR,
        SdamEvent, ServerDescription, TopologyDescription, UpdateOutcome,
        monitor::{self, MonitorHandle},
        srv_polling::SrvPollerHandle,
    },
    selection::{Criteria, SelectionSettings, select_server},
};

/// How long server selection waits by default (`serverSelectionTimeoutMS`).
const DEFAULT_SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// The session timeout in load-balanced mode, where sessions are always supported and
/// never expire on the client (the load-balancer spec): long enough never to be reached.
const LOAD_BALANCED_SESSION_TIMEOUT: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A selected server: its address, pool and what the monitor last saw of it.
pub(crate) struct SelectedServer {
    pub(crate) address: ServerAddress,
    pub(crate) pool: Arc<Pool<Connection>>,
    pub(crate) max_wire_version: i32,
    /// The server's minimum round-trip time when it was selected, which an operation's
    /// `maxTimeMS` leaves for the reply to travel (the CSOT spec reads it from the same
    /// description selection used).
    pub(crate) min_rtt: Duration,
}

/// The client's view of the deployment. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Topology {
    shared: Arc<Shared>,
}

struct Shared {
    config: Arc<ConnectionConfig>,
    /// CMAP events of every pool.
    pool_events: Option<crate::event::EventHandler<crate::pool::CmapEvent>>,
    settings: SelectionSettings,
    /// Where monitors run: a runtime's workers, or plain threads.
    handle: Option<Handle>,
    /// `loadBalanced=true`: one server, the load balancer, never monitored; its pool is
    /// ready at once and cleared per service behind it.
    load_balanced: bool,
    /// Load-balanced mode: the max wire version of the latest connection's handshake
    /// (there is no monitor to tell it).
    load_balanced_wire_version: AtomicI32,
    /// The highest `$clusterTime` any reply has shown (the sessions spec's gossip): sent
    /// with every operation. A std mutex, held for a comparison or a clone.
    cluster_time: std::sync::Mutex<Option<ClusterTime>>,
    state: Mutex<State>,
    /// Notified whenever the description changes, after `snapshot` shows the change.
    changed: Condvar,
    /// What the hot path reads without `state`'s lock: replaced (under `state`'s lock,
    /// so snapshots are published in the order of the changes) whenever the description,
    /// the servers or `closed` change. A std mutex, held only to clone or swap the `Arc`.
    snapshot: std::sync::Mutex<Arc<Snapshot>>,
}

/// An immutable copy of the state for the lock-free hot path: server selection when a
/// suitable server is known, and the per-operation lookups (session timeout, a server's
/// pool and wire version). Anything it cannot answer goes to the locked slow path.
struct Snapshot {
    description: TopologyDescription,
    /// The servers' pools, with a way to tell whether each one's monitor still runs.
    /// A server new in `description` may not be here yet (its pool is created after the
    /// snapshot that shows it): selection then takes the slow path.
    servers: HashMap<ServerAddress, SnapshotServer>,
    /// `State::closed`.
    closed: bool,
}

struct SnapshotServer {
    pool: Arc<Pool<Connection>>,
    /// `Server::check_now`, weak so that a snapshot never keeps a monitor running (it
    /// ends when the last sender is dropped). Dead when the server has left or its
    /// monitor was restarted since: a newer snapshot says more.
    check_now: Weak<mpsc::Sender<()>>,
}

impl SnapshotServer {
    /// Whether the monitor may have ended without being stopped (see `select`), or the
    /// snapshot no longer matches the server: either way, ask the slow path.
    fn monitor_gone(&self) -> bool {
        self.check_now
            .upgrade()
            .is_none_or(|sender| sender.is_closed())
    }
}

struct State {
    description: TopologyDescription,
    servers: HashMap<ServerAddress, Server>,
    /// Set by `Client::shutdown`: selection fails at once.
    closed: bool,
    /// SRV polling, for a `mongodb+srv` client: dropping it (at shutdown, or with the
    /// topology) stops the poller.
    srv_poller: Option<SrvPollerHandle>,
}

struct Server {
    pool: Arc<Pool<Connection>>,
    /// Wakes the monitor for an immediate check; dropping it ends the monitor. In an
    /// `Arc` only so that snapshots can hold it weakly.
    check_now: Arc<mpsc::Sender<()>>,
    /// Cancels the monitor's check in progress; dropping it stops the monitor at once,
    /// even one blocked on a streaming reply.
    monitor: MonitorHandle,
}

impl Topology {
    /// Starts monitoring the seeds of `config`.
    pub(crate) fn new(
        config: Arc<ConnectionConfig>,
        pool_events: Option<crate::event::EventHandler<crate::pool::CmapEvent>>,
    ) -> Result<Topology> {
        let (description, events) = TopologyDescription::new(&config.options);
        let snapshot = Snapshot {
            description: description.clone(),
            servers: HashMap::new(),
            closed: false,
        };
        let shared = Arc::new(Shared {
            settings: SelectionSettings::from_options(&config.options),
            pool_events,
            handle: Handle::try_current(),
            load_balanced: config.options.load_balanced == Some(true),
            load_balanced_wire_version: AtomicI32::new(0),
            cluster_time: std::sync::Mutex::new(None),
            state: Mutex::new(State {
                description,
                servers: HashMap::new(),
                closed: false,
                srv_poller: None,
            }),
            changed: Condvar::new(),
            snapshot: std::sync::Mutex::new(Arc::new(snapshot)),
            config,
        });
        let topology = Topology { shared };
        {
            let mut state = topology.lock()?;
            let outcome = UpdateOutcome {
                events,
                ..Default::default()
            };
            topology.apply(&mut state, outcome);
            state.srv_poller = SrvPollerHandle::start(
                &topology.shared.config.options,
                topology.downgrade(),
                topology.heartbeat_frequency(),
                topology.shared.handle.clone(),
            );
        }
        Ok(topology)
    }

    fn lock(&self) -> Result<greenmongo_runtime::sync::MutexGuard<'_, State>> {
        Ok(self.shared.state.lock()?)
    }

    /// The latest published snapshot (see the module docs): an `Arc` clone under a std
    /// lock that is never held across a wait.
    fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot_slot().clone()
    }

    fn snapshot_slot(&self) -> MutexGuard<'_, Arc<Snapshot>> {
        self.shared
            .snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes `state` for the hot path. Called with the state lock held, right after
    /// the description, the servers or `closed` change and before anything follows from
    /// the change (pools cleared, events, waiters woken).
    fn publish_snapshot(&self, state: &State) {
        let snapshot = Arc::new(Snapshot {
            description: state.description.clone(),
            servers: state
                .servers
                .iter()
                .map(|(address, server)| {
                    let server = SnapshotServer {
                        pool: server.pool.clone(),
                        check_now: Arc::downgrade(&server.check_now),
                    };
                    (address.clone(), server)
                })
                .collect(),
            closed: state.closed,
        });
        let previous = std::mem::replace(&mut *self.snapshot_slot(), snapshot);
        // Dropped after the std lock is released: it may hold the last handle of a
        // removed server's pool.
        drop(previous);
    }

    /// Finds a server for `criteria`, waiting (and asking the monitors to check now) until
    /// one is suitable or `serverSelectionTimeoutMS` passes.
    ///
    /// # Errors
    /// [`ErrorKind::ServerSelection`] describing every server when time runs out; an
    /// incompatible deployment at once.
    pub(crate) fn select(&self, criteria: &Criteria) -> Result<SelectedServer> {
        let timeout = self
            .shared
            .config
            .options
            .server_selection_timeout
            .unwrap_or(DEFAULT_SERVER_SELECTION_TIMEOUT);
        let started = Instant::now();
        let deadline = started + timeout;
        // The first pass of the selection loop, on the snapshot: it needs no lock, and
        // answers most selections. Whatever it cannot settle (no suitable server yet, a
        // monitor to restart, an error to report) goes to the loop below, which starts
        // over under the lock.
        if let Some(selected) = self.select_in_snapshot(criteria) {
            return Ok(selected);
        }
        let mut state = self.lock()?;
        loop {
            if state.closed {
                return Err(Error::new(ErrorKind::ServerSelection {
                    message: "the client was shut down".to_owned(),
                }));
            }
            let mut restarted = false;
            for (address, server) in state.servers.iter_mut() {
                if server.check_now.is_closed() && !self.shared.load_balanced {
                    // Its monitor is gone without being stopped: it ran in a runtime
                    // since dropped, or could not be spawned. Start it (and the pool's
                    // maintenance, gone the same way) again here.
                    self.restart_monitor(address, server);
                    server.pool.restart_maintenance();
                    restarted = true;
                }
            }
            if restarted {
                // The snapshot's monitors are the ended ones: until it is replaced,
                // every selection would come here.
                self.publish_snapshot(&state);
            }
            let servers = &state.servers;
            let chosen = select_server(
                &state.description,
                criteria,
                &self.shared.settings,
                &[],
                |address| {
                    servers
                        .get(address)
                        .map_or(0, |s| s.pool.counts().checked_out)
                },
                random_below,
            )?;
            if let Some(description) = chosen
                && let Some(server) = state.servers.get(&description.address)
            {
                return Ok(SelectedServer {
                    address: description.address.clone(),
                    pool: server.pool.clone(),
                    max_wire_version: self.max_wire_version(description),
                    min_rtt: description.min_rtt.unwrap_or_default(),
                });
            }
            for server in state.servers.values() {
                let _ = server.check_now.try_send(());
            }
            state = match self.shared.changed.wait_deadline(state, Some(deadline)) {
                Ok(state) => state,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    let state = self.lock()?;
                    // What ran out: serverSelectionTimeoutMS, or the caller's earlier
                    // deadline (the operation then reports it as a timeout).
                    let limit = if Instant::now() >= deadline {
                        format!(
                            "within {} ms (serverSelectionTimeoutMS)",
                            timeout.as_millis()
                        )
                    } else {
                        format!("before the deadline, after {:?}", started.elapsed())
                    };
                    return Err(Error::new(ErrorKind::ServerSelection {
                        message: describe(&state.description, criteria, &limit),
                    }));
                }
                Err(e) => return Err(e.into()),
            };
        }
    }

    /// [`select`](Self::select)'s lock-free first pass: the server the selection
    /// algorithm chooses in the latest snapshot, if it chooses one and the snapshot has
    /// its pool. `None` sends the caller to the locked loop, which also reports a closed
    /// client or an incompatible deployment and restarts ended monitors (so none may
    /// have ended here).
    fn select_in_snapshot(&self, criteria: &Criteria) -> Option<SelectedServer> {
        let snapshot = self.snapshot();
        if snapshot.closed
            || (!self.shared.load_balanced
                && snapshot.servers.values().any(SnapshotServer::monitor_gone))
        {
            return None;
        }
        let servers = &snapshot.servers;
        let description = select_server(
            &snapshot.description,
            criteria,
            &self.shared.settings,
            &[],
            |address| {
                servers
                    .get(address)
                    .map_or(0, |s| s.pool.counts().checked_out)
            },
            random_below,
        )
        .ok()??;
        let server = servers.get(&description.address)?;
        Some(SelectedServer {
            address: description.address.clone(),
            pool: server.pool.clone(),
            max_wire_version: self.max_wire_version(description),
            min_rtt: description.min_rtt.unwrap_or_default(),
        })
    }

    /// Checks out a connection from `server`'s pool (a failure to establish one has been
    /// through SDAM's error rules already: see [`establishment_failed`](Self::establishment_failed)).
    ///
    /// # Errors
    /// The pool's errors (paused, wait queue timeout, connect and auth failures).
    pub(crate) fn check_out(
        &self,
        server: &SelectedServer,
    ) -> Result<PooledConnection<Connection>> {
        let conn = server.pool.check_out()?;
        if self.shared.load_balanced {
            // The handshake's wire version stands in for a monitor's.
            self.shared
                .load_balanced_wire_version
                .store(conn.max_wire_version(), Ordering::Relaxed);
        }
        Ok(conn)
    }

    /// Applies SDAM's error rules to a failure to establish a connection to `address`
    /// that began at pool generation `generation`, before the pool closes it (so a
    /// `PoolCleared` comes before its `ConnectionClosed`, as the spec orders them), and
    /// labels a network error while connecting as overload.
    fn establishment_failed(
        &self,
        address: &ServerAddress,
        mut error: Error,
        generation: u64,
    ) -> Error {
        let Some((phase, service_id)) = establishment_phase(&error) else {
            return error;
        };
        if self.shared.load_balanced && service_id.is_none() {
            return error; // before the handshake named a service (the load-balancer spec)
        }
        if phase == ErrorPhase::Connecting && error.is_network_error() {
            // A server that cannot take a new connection is overloaded, not gone (SDAM
            // backpressure): labelled so, its pool is kept.
            error.add_label(SYSTEM_OVERLOADED_ERROR);
            error.add_label(RETRYABLE_ERROR);
        }
        let Ok(server) = self.server(address) else {
            return error;
        };
        let generation = match service_id {
            Some(service) => server.pool.service_generation(service),
            None => generation,
        };
        self.handle_error(
            address,
            &error,
            generation,
            phase,
            server.max_wire_version,
            service_id,
        );
        error
    }

    /// Applies the SDAM error rules to an operation's failure on `address`, on a
    /// connection of pool generation `generation` (to service `service_id` behind a load
    /// balancer, in load-balanced mode: then only that service's connections are
    /// cleared, and the load balancer is never marked Unknown).
    pub(crate) fn handle_error(
        &self,
        address: &ServerAddress,
        error: &Error,
        generation: u64,
        phase: ErrorPhase,
        max_wire_version: i32,
        service_id: Option<ObjectId>,
    ) {
        let Ok(mut state) = self.lock() else { return };
        let Some(pool) = state.servers.get(address).map(|s| s.pool.clone()) else {
            return;
        };
        let current = match service_id {
            Some(service) => pool.service_generation(service),
            None => pool.generation(),
        };
        let as_u32 = |g: u64| u32::try_from(g).unwrap_or(u32::MAX);
        let app_error =
            ApplicationError::from_error(error, phase, as_u32(generation), max_wire_version);
        let outcome =
            state
                .description
                .handle_application_error(address, &app_error, as_u32(current));
        // The server marked Unknown is published before its pool is cleared, so no
        // selection on the snapshot chooses it with its pool paused.
        self.publish_snapshot(&state);
        if outcome.decision.clear_pool {
            match service_id {
                Some(service) => pool.clear_service(service),
                None => pool.clear(false),
            }
        }
        if let Some(server) = state.servers.get(address) {
            if outcome.decision.request_check {
                let _ = server.check_now.try_send(());
            }
            // A streaming monitor waits on the server's next report, which a state
            // change the server did not really go through (a fail point, or an error
            // without a topologyVersion) never brings: its check is cancelled too, so the
            // requested check starts now on a fresh connection.
            if outcome.decision.cancel_check || outcome.decision.request_check {
                server.monitor.cancel_check();
            }
        }
        self.apply(&mut state, outcome.update);
    }

    /// The server at `address` (a cursor's `getMore` goes back to its server).
    ///
    /// # Errors
    /// When the server has left the topology.
    pub(crate) fn server(&self, address: &ServerAddress) -> Result<SelectedServer> {
        let snapshot = self.snapshot();
        if let Some(server) = snapshot.servers.get(address) {
            return Ok(self.selected(address, &server.pool, &snapshot.description));
        }
        // Not in the snapshot: gone, or (briefly) a new server whose pool a writer holding
        // the lock is creating. The lock tells which.
        let state = self.lock()?;
        let server = state.servers.get(address).ok_or_else(|| {
            Error::new(ErrorKind::ServerSelection {
                message: format!("{address} is no longer part of the deployment"),
            })
        })?;
        Ok(self.selected(address, &server.pool, &state.description))
    }

    /// `address` with `pool`, as `description` shows it.
    fn selected(
        &self,
        address: &ServerAddress,
        pool: &Arc<Pool<Connection>>,
        description: &TopologyDescription,
    ) -> SelectedServer {
        let server = description.server(address);
        SelectedServer {
            address: address.clone(),
            pool: pool.clone(),
            max_wire_version: server.map_or(0, |d| self.max_wire_version(d)),
            min_rtt: server.and_then(|d| d.min_rtt).unwrap_or_default(),
        }
    }

    /// Connection counts of the pool for `address`, if the server is known.
    pub(crate) fn pool_counts(&self, address: &ServerAddress) -> Option<crate::pool::PoolCounts> {
        self.snapshot()
            .servers
            .get(address)
            .map(|s| s.pool.counts())
    }

    /// Connections checked out of all pools, plus checkouts waiting: the operations in
    /// flight.
    pub(crate) fn in_use(&self) -> usize {
        self.snapshot()
            .servers
            .values()
            .map(|s| {
                let counts = s.pool.counts();
                counts.checked_out + counts.waiting
            })
            .sum()
    }

    /// Closes every pool and ends every monitor; later operations fail at selection.
    pub(crate) fn shut_down(&self) {
        let Ok(mut state) = self.lock() else { return };
        state.closed = true;
        // Published before the pools close, so that selection fails as shut down rather
        // than choosing a server whose pool is closed.
        self.publish_snapshot(&state);
        state.srv_poller = None;
        for (_, server) in state.servers.drain() {
            server.pool.close();
        }
        let events = state.description.close();
        self.apply(
            &mut state,
            UpdateOutcome {
                events,
                ..Default::default()
            },
        );
    }

    /// A copy of the current description.
    pub(crate) fn description(&self) -> TopologyDescription {
        self.snapshot().description.clone()
    }

    /// The highest `$clusterTime` seen so far, to send with a command: its bytes, which
    /// go into the encoded command as they are.
    pub(crate) fn cluster_time(&self) -> Option<RawDocumentBuf> {
        let seen = self
            .shared
            .cluster_time
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        seen.as_ref().map(|c| c.raw.clone())
    }

    /// Keeps `reply`'s `$clusterTime` if it is newer than the highest seen so far. Kept
    /// as bytes: every write moves it, and it is only ever sent back.
    pub(crate) fn advance_cluster_time(&self, reply: &RawDocument) {
        let Ok(document) = reply.get_document("$clusterTime") else {
            return;
        };
        let Ok(time) = document.get_timestamp("clusterTime") else {
            return;
        };
        let mut seen = self
            .shared
            .cluster_time
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let newer = seen
            .as_ref()
            .is_none_or(|c| (time.time, time.increment) > (c.time.time, c.time.increment));
        if newer {
            *seen = Some(ClusterTime {
                time,
                raw: document.to_owned(),
            });
        }
    }

    /// Whether the deployment is a sharded cluster (its transactions pin a mongos).
    pub(crate) fn is_sharded(&self) -> bool {
        self.snapshot().description.topology_type() == crate::sdam::TopologyType::Sharded
    }

    /// Whether the client is in load-balanced mode (`loadBalanced=true`).
    pub(crate) fn is_load_balanced(&self) -> bool {
        self.shared.load_balanced
    }

    /// The logical session timeout of the deployment, when it supports sessions.
    pub(crate) fn session_timeout(&self) -> Option<Duration> {
        if self.shared.load_balanced {
            return Some(LOAD_BALANCED_SESSION_TIMEOUT);
        }
        self.snapshot().description.logical_session_timeout()
    }

    /// A server's max wire version: what its monitor saw, or in load-balanced mode what
    /// the latest handshake through the load balancer said.
    fn max_wire_version(&self, server: &ServerDescription) -> i32 {
        if self.shared.load_balanced {
            self.shared
                .load_balanced_wire_version
                .load(Ordering::Relaxed)
        } else {
            server.max_wire_version
        }
    }

    /// A weak handle, for monitors: they never keep a client alive.
    fn downgrade(&self) -> WeakTopology {
        WeakTopology(Arc::downgrade(&self.shared))
    }

    /// What a monitor needs to open its connections.
    pub(crate) fn connection_config(&self) -> &Arc<ConnectionConfig> {
        &self.shared.config
    }

    /// `heartbeatFrequencyMS`: a polling monitor's interval, a streaming one's
    /// `maxAwaitTimeMS`.
    pub(crate) fn heartbeat_frequency(&self) -> Duration {
        self.shared.settings.heartbeat_frequency
    }

    /// Records a streaming monitor's RTT task's latest round-trip times.
    pub(crate) fn set_round_trip_times(&self, address: &ServerAddress, times: RoundTripTimes) {
        if let Ok(mut state) = self.lock() {
            state.description.set_round_trip_times(address, times);
            self.publish_snapshot(&state);
        }
    }

    /// A monitor's check failed: clears the server's pool (interrupting the connections
    /// in use when `interrupt`, for a timeout) and marks it Unknown, under one lock so no
    /// operation selects the server between the two (the Server Monitoring spec); the
    /// snapshot shows it Unknown before the pool is cleared, for the same reason.
    pub(crate) fn check_failed(&self, description: ServerDescription, interrupt: bool) {
        let Ok(mut state) = self.lock() else { return };
        let address = description.address.clone();
        // Marked Unknown (and published) first, so that no selection on the snapshot
        // chooses the server once its pool is cleared; the description's events wait for
        // `apply`, after the pool's, in the order the spec gives.
        let outcome = state.description.update(description);
        self.publish_snapshot(&state);
        if let Some(server) = state.servers.get(&address) {
            server.pool.clear(interrupt);
        }
        self.apply(&mut state, outcome);
    }

    /// SRV polling found new records: `rescan` turns the current description into the
    /// one with the new set of servers and returns the events (see
    /// [`srv_polling::replace_servers`](crate::sdam::srv_polling::replace_servers)),
    /// under the lock, so no monitor's update comes in between. Servers it drops are
    /// closed and new ones started as for any update. `false` when polling must stop:
    /// the client has shut down, or `rescan` says so (`None`).
    pub(crate) fn rescanned_srv(
        &self,
        rescan: impl FnOnce(&mut TopologyDescription) -> Option<UpdateOutcome>,
    ) -> bool {
        let Ok(mut state) = self.lock() else {
            return false;
        };
        if state.closed {
            return false;
        }
        let Some(outcome) = rescan(&mut state.description) else {
            return false;
        };
        if outcome.events.is_empty() {
            self.publish_snapshot(&state);
        } else {
            self.apply(&mut state, outcome);
        }
        true
    }

    /// Updates the description with what a monitor saw.
    pub(crate) fn update(&self, description: ServerDescription) {
        let address = description.address.clone();
        let available = description.server_type.is_available();
        let Ok(mut state) = self.lock() else { return };
        let outcome = state.description.update(description);
        if available && let Some(server) = state.servers.get(&address) {
            server.pool.ready();
        }
        self.apply(&mut state, outcome);
    }

    /// Carries out an update's consequences: pools and monitors for new servers, closing
    /// removed ones, checks and pool clears it asks for; then wakes selection.
    fn apply(&self, state: &mut State, outcome: UpdateOutcome) {
        // The new description first, before any of its consequences; new servers'
        // pools follow in a second snapshot (until then, selection of a new server
        // waits for the lock).
        self.publish_snapshot(state);
        let mut servers_changed = false;
        for event in &outcome.events {
            match event {
                SdamEvent::ServerOpening { address, .. }
                    if !state.servers.contains_key(address) =>
                {
                    let server = self.start_server(address);
                    state.servers.insert(address.clone(), server);
                    servers_changed = true;
                }
                SdamEvent::ServerClosed { address, .. } => {
                    if let Some(server) = state.servers.remove(address) {
                        server.pool.close();
                        servers_changed = true;
                    }
                }
                _ => {}
            }
            self.publish(event);
        }
        if servers_changed {
            self.publish_snapshot(state);
        }
        for address in &outcome.clear_pool {
            if let Some(server) = state.servers.get(address) {
                server.pool.clear(false);
            }
        }
        for address in &outcome.request_check {
            if let Some(server) = state.servers.get(address) {
                let _ = server.check_now.try_send(());
            }
        }
        self.shared.changed.notify_all();
    }

    /// Hands an SDAM event to the application's handler.
    fn publish(&self, event: &SdamEvent) {
        tracing::debug!(event = event.name(), "SDAM");
        if let Some(handler) = &self.shared.config.options.sdam_event_handler {
            handler.handle(event);
        }
    }

    /// Publishes a monitor's heartbeat event for `address`, unless the server has left
    /// the topology or the client has shut down (nothing follows `ServerClosed` and
    /// `TopologyClosed`: the topology lock orders the two).
    pub(crate) fn publish_heartbeat(
        &self,
        address: &ServerAddress,
        event: impl FnOnce() -> SdamEvent,
    ) {
        if self.shared.config.options.sdam_event_handler.is_none() {
            return;
        }
        let Ok(state) = self.lock() else { return };
        if !state.closed && state.servers.contains_key(address) {
            self.publish(&event());
        }
    }

    fn start_server(&self, address: &ServerAddress) -> Server {
        let config = self.shared.config.clone();
        let mut pool_options = PoolOptions::from_client_options(&config.options);
        pool_options.event_handler = self.shared.pool_events.clone();
        // `establishment_failed` below applies SDAM's rules to every failure.
        pool_options.sdam_handles_errors = true;
        let topology = Arc::downgrade(&self.shared);
        let pool = Arc::new(Pool::new(
            address.clone(),
            pool_options,
            move |address: &ServerAddress, establishing: &Establishing| {
                Connection::connect(address, &config, establishing).map_err(|e| {
                    match topology.upgrade() {
                        Some(shared) => Topology { shared }.establishment_failed(
                            address,
                            e,
                            establishing.generation(),
                        ),
                        None => e,
                    }
                })
            },
        ));
        let (check_now, wake) = mpsc::bounded(1);
        if self.shared.load_balanced {
            // No monitor: the load balancer is usable from the start (and stays so).
            pool.ready();
            let monitor = MonitorHandle::unmonitored();
            return Server {
                pool,
                check_now: Arc::new(check_now),
                monitor,
            };
        }
        let handle = Handle::try_current().or_else(|| self.shared.handle.clone());
        let monitor = self.start_monitor(address, handle, wake);
        Server {
            pool,
            check_now: Arc::new(check_now),
            monitor,
        }
    }

    /// Starts the monitor of `address` on `handle`'s runtime (else on a thread).
    fn start_monitor(
        &self,
        address: &ServerAddress,
        handle: Option<Handle>,
        wake: mpsc::Receiver<()>,
    ) -> MonitorHandle {
        let streaming =
            monitor::streaming_enabled(self.shared.config.options.server_monitoring_mode, |name| {
                std::env::var(name).ok()
            });
        MonitorHandle::start(address, self.downgrade(), streaming, handle, wake)
    }

    /// Replaces the monitor of `server`, which ended without being stopped, by one
    /// running where the caller runs: the client then never depends on a runtime that
    /// is gone (issue 17: a client outliving the runtime it was created in).
    fn restart_monitor(&self, address: &ServerAddress, server: &mut Server) {
        tracing::debug!(%address, "the server's monitor has ended; starting it again");
        let (check_now, wake) = mpsc::bounded(1);
        server.monitor = self.start_monitor(address, Handle::try_current(), wake);
        server.check_now = Arc::new(check_now);
    }
}

/// A monitor's hold on the topology: weak, so that dropping the last client handle
/// closes every pool and ends every monitor.
#[derive(Clone)]
pub(crate) struct WeakTopology(Weak<Shared>);

impl WeakTopology {
    /// The topology, unless the client is gone.
    pub(crate) fn upgrade(&self) -> Option<Topology> {
        self.0.upgrade().map(|shared| Topology { shared })
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Ok(state) = self.state.lock() {
            for server in state.servers.values() {
                server.pool.close();
            }
        }
    }
}

/// A `$clusterTime` document and the timestamp it is ordered by.
struct ClusterTime {
    time: Timestamp,
    raw: RawDocumentBuf,
}

/// A cheap, well-spread index below `n` for the in-window choice.
fn random_below(n: usize) -> usize {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let mut x = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x % n.max(1) as u64) as usize
}

/// The server selection error message: what was asked and what every server looked like.
fn describe(description: &TopologyDescription, criteria: &Criteria, limit: &str) -> String {
    let wanted = match criteria {
        Criteria::Read(pref) => format!("server for reads ({})", pref.mode.as_str()),
        Criteria::Write => "writable server".to_owned(),
    };
    let mut message = format!(
        "found no {wanted} {limit}; topology {}",
        description.topology_type()
    );
    for server in description.servers() {
        let _ = write!(message, "; {} is {}", server.address, server.server_type);
        if let Some(error) = &server.error {
            let _ = write!(message, " ({error})");
        }
    }
    message
}

/// The SDAM phase of a failure to establish a connection, with the service it reached
/// behind a load balancer; `None` when SDAM has nothing to learn from it.
///
/// Errors that come while authenticating (after the `hello`) say so themselves. Of the
/// rest, only network errors (opening the socket, TLS, `hello`) and command errors of
/// the `hello` concern SDAM: a paused pool or a wait-queue timeout says nothing about
/// the server.
fn establishment_phase(error: &Error) -> Option<(ErrorPhase, Option<ObjectId>)> {
    if let Some(service_id) = error.authenticating() {
        return Some((ErrorPhase::Authenticating, service_id));
    }
    match &*error.kind {
        ErrorKind::Io(_) => Some((ErrorPhase::Connecting, None)),
        ErrorKind::Authentication { .. } | ErrorKind::Command(_) => {
            Some((ErrorPhase::Authenticating, None))
        }
        _ => None,
    }
}
