//! Server monitors (the Server Monitoring spec): the I/O that feeds the pure SDAM core.
//!
//! One monitor per server, a coroutine on the client's runtime (or a plain thread off
//! one), with its own connection, never from the pool. Its first check is the
//! connection's handshake. After that it either
//!
//! - **polls**: a `hello` every `heartbeatFrequencyMS` (sooner when the topology asks),
//!   timing each one for the round-trip-time statistics; or
//! - **streams** (`serverMonitoringMode=stream`, or `auto` off FaaS platforms), once the
//!   server's reply carries a `topologyVersion`: one awaitable `hello` with the OP_MSG
//!   `exhaustAllowed` flag, after which the server sends a reply (`moreToCome`) whenever
//!   its state changes and at least every `maxAwaitTimeMS` (= `heartbeatFrequencyMS`).
//!   Each reply updates the server's description at once, so a change is seen in the
//!   time it takes to cross the network rather than after up to a whole heartbeat.
//!   Awaited replies say nothing about latency, so a separate RTT task (its own
//!   coroutine and connection) times a plain `hello` every `heartbeatFrequencyMS`.
//!
//! A failed check marks the server Unknown and clears its pool; after a network error on
//! a server that was known, the next check starts at once (the spec's "retry once": a
//! restarted server or a dropped connection is noticed without waiting a heartbeat).
//!
//! The topology holds, per server, the sending side of the monitor's wake-up channel (an
//! immediate check: it ends a poll's wait; a stream needs none, the server speaks first)
//! and a [`MonitorHandle`], which cancels the check in progress when an application's
//! network error marked the server Unknown (the monitor's socket is shut down under it)
//! and, dropped, stops the monitor and its RTT task without waiting for a blocked read to
//! time out.

use std::{
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use bson::{Document, doc};
use greenmongo_runtime::{Handle, sync::mpsc};

use super::{MIN_HEARTBEAT_FREQUENCY, RttStats, SdamEvent, ServerDescription, ServerType};
use crate::{
    Result,
    conn::{Connection, ConnectionConfig},
    options::{ServerAddress, ServerMonitoringMode},
    topology::WeakTopology,
};

/// Shuts a monitoring socket down from elsewhere (see `Connection::interrupter`).
type Interrupt = Box<dyn Fn() + Send + Sync>;

/// Whether monitors stream (the Server Monitoring spec's `streamingEnabled`): always for
/// `stream`, never for `poll`, and for `auto` (the default) unless the process runs on a
/// FaaS platform, where a function may be frozen between invocations and a connection
/// that waits for the server's next report costs more than it saves. `env` reads an
/// environment variable.
pub(crate) fn streaming_enabled(
    mode: Option<ServerMonitoringMode>,
    env: impl Fn(&str) -> Option<String>,
) -> bool {
    match mode.unwrap_or(ServerMonitoringMode::Auto) {
        ServerMonitoringMode::Stream => true,
        ServerMonitoringMode::Poll => false,
        ServerMonitoringMode::Auto => !is_faas(env),
    }
}

/// The FaaS platforms of the handshake spec's client metadata: AWS Lambda, Azure
/// Functions, Google Cloud Functions / Cloud Run, Vercel.
fn is_faas(env: impl Fn(&str) -> Option<String>) -> bool {
    let set = |name: &str| env(name).is_some_and(|v| !v.is_empty());
    env("AWS_EXECUTION_ENV").is_some_and(|v| v.starts_with("AWS_Lambda_"))
        || [
            "AWS_LAMBDA_RUNTIME_API",
            "FUNCTIONS_WORKER_RUNTIME",
            "K_SERVICE",
            "FUNCTION_NAME",
            "VERCEL",
        ]
        .into_iter()
        .any(set)
}

/// What the topology and a server's monitor share.
#[derive(Default)]
struct Control {
    /// The server left the topology or the client closed: the monitor and its RTT task
    /// end. Set before the sockets are shut down, so a task that installs its socket
    /// afterwards sees it.
    stopped: AtomicBool,
    /// The topology cancelled the check in progress. Taken by the monitor when a check
    /// starts (it then only opens a new connection) and when it ends (the check is then
    /// void: the topology has already recorded the server as Unknown).
    cancelled: AtomicBool,
    /// Shuts down the monitor's connection. A std mutex: held to swap or call the
    /// closure, which never waits.
    check: Mutex<Option<Interrupt>>,
    /// Shuts down the RTT task's connection.
    rtt: Mutex<Option<Interrupt>>,
}

impl Control {
    fn slot(slot: &Mutex<Option<Interrupt>>) -> MutexGuard<'_, Option<Interrupt>> {
        slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts `conn`'s interrupter into `slot` (or empties it), then interrupts it at once
    /// if the monitor was stopped meanwhile.
    fn install(&self, slot: &Mutex<Option<Interrupt>>, conn: Option<&Connection>) {
        *Self::slot(slot) = conn.and_then(|c| c.interrupter().ok());
        if self.stopped.load(Ordering::SeqCst)
            && let Some(interrupt) = Self::slot(slot).as_ref()
        {
            interrupt();
        }
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        for slot in [&self.check, &self.rtt] {
            if let Some(interrupt) = Self::slot(slot).as_ref() {
                interrupt();
            }
        }
    }
}

/// The topology's side of a server's monitor. Dropping it stops the monitor.
pub(crate) struct MonitorHandle {
    control: Arc<Control>,
}

impl MonitorHandle {
    /// Starts monitoring `address` on `handle`'s runtime, or on a thread of its own.
    /// A message on `wake` asks for an immediate check (`requestCheck`), once the
    /// minimum interval since the last allows; its sender's end stops the monitor too.
    pub(crate) fn start(
        address: &ServerAddress,
        topology: WeakTopology,
        streaming: bool,
        handle: Option<Handle>,
        wake: mpsc::Receiver<()>,
    ) -> MonitorHandle {
        let control = Arc::new(Control::default());
        let monitor = Monitor {
            address: address.clone(),
            topology,
            wake,
            control: control.clone(),
            streaming,
            rtt: Arc::new(Mutex::new(RttStats::default())),
            rtt_task: None,
            connection: None,
            more_to_come: false,
            description: ServerDescription::new(address.clone()),
        };
        spawn(format!("monitor {address}"), handle, move || monitor.run());
        MonitorHandle { control }
    }

    /// A handle with no monitor behind it (load-balanced mode monitors nothing).
    pub(crate) fn unmonitored() -> MonitorHandle {
        MonitorHandle {
            control: Arc::new(Control::default()),
        }
    }

    /// Cancels the check in progress and closes the monitor's connection (`cancelCheck`),
    /// for when an application's network error has just marked the server Unknown: a
    /// monitor blocked on a dead server's streaming reply would otherwise wait up to
    /// `connectTimeoutMS + heartbeatFrequencyMS` to find out.
    pub(crate) fn cancel_check(&self) {
        self.control.cancelled.store(true, Ordering::SeqCst);
        if let Some(interrupt) = Control::slot(&self.control.check).as_ref() {
            interrupt();
        }
    }
}

impl Drop for MonitorHandle {
    fn drop(&mut self) {
        self.control.stop();
    }
}

/// Checks one server, by polling or streaming (see the module docs).
struct Monitor {
    address: ServerAddress,
    /// Weak: a monitor never keeps a client alive.
    topology: WeakTopology,
    /// Immediate-check requests; disconnected when the topology drops the handle.
    wake: mpsc::Receiver<()>,
    control: Arc<Control>,
    /// The protocol allows streaming (`serverMonitoringMode`); it is used when the
    /// server's replies carry a `topologyVersion`.
    streaming: bool,
    /// Shared with the RTT task, which adds its samples while streaming.
    rtt: Arc<Mutex<RttStats>>,
    /// Dropping it ends the RTT task; `None` until streaming starts.
    rtt_task: Option<mpsc::Sender<()>>,
    connection: Option<Connection>,
    /// The server will send another reply on `connection` unasked.
    more_to_come: bool,
    /// The description from the previous check.
    description: ServerDescription,
}

impl Monitor {
    fn run(mut self) {
        loop {
            if self.control.stopped.load(Ordering::SeqCst) {
                return;
            }
            let Some(topology) = self.topology.upgrade() else {
                return;
            };
            let heartbeat = topology.heartbeat_frequency();
            if self.control.cancelled.swap(false, Ordering::SeqCst) {
                // Cancelled between checks: its connection is shut down, start afresh.
                self.close_connection();
            }
            let awaited = self.connection.is_some()
                && (self.more_to_come
                    || (self.streaming && self.description.topology_version.is_some()));
            let address = &self.address;
            topology.publish_heartbeat(address, || SdamEvent::ServerHeartbeatStarted {
                address: address.clone(),
                awaited,
            });
            let started = Instant::now();
            // Never hold the topology across a check: an awaited one blocks up to
            // heartbeatFrequencyMS, and a dropped client must close (its pools, this
            // monitor) at once, not when the server next reports.
            let config = topology.connection_config().clone();
            drop(topology);
            let checked = self.check(&config, heartbeat);
            let duration = started.elapsed();
            if self.control.stopped.load(Ordering::SeqCst) {
                return;
            }
            let Some(topology) = self.topology.upgrade() else {
                return;
            };
            // Waits after an awaited check count from its end: it has already waited.
            let since = if awaited { Instant::now() } else { started };
            if self.control.cancelled.swap(false, Ordering::SeqCst) {
                // The topology has already marked the server Unknown (and cleared its
                // pool): this check's outcome is void. Wait before the next one.
                self.close_connection();
                lock(&self.rtt).reset();
                self.description = ServerDescription::new(self.address.clone());
                drop(topology);
                if !self.wait(since, heartbeat) {
                    return;
                }
                continue;
            }
            let address = &self.address;
            topology.publish_heartbeat(address, || match &checked {
                Ok(reply) => SdamEvent::ServerHeartbeatSucceeded {
                    address: address.clone(),
                    duration,
                    reply: reply.clone(),
                    awaited,
                },
                Err(error) => SdamEvent::ServerHeartbeatFailed {
                    address: address.clone(),
                    duration,
                    failure: error.to_string(),
                    awaited,
                },
            });
            let previous_type = self.description.server_type;
            let mut network_error = false;
            match checked {
                Ok(reply) => {
                    // An awaited reply's duration is mostly the server's wait.
                    let times = {
                        let mut rtt = lock(&self.rtt);
                        if !awaited {
                            rtt.add_sample(duration);
                        }
                        rtt.times().unwrap_or_default()
                    };
                    if let Ok(raw) = crate::nesting::encode(&reply) {
                        topology.advance_cluster_time(&raw);
                    }
                    let description = ServerDescription::from_hello(
                        self.address.clone(),
                        &reply,
                        times,
                        Instant::now(),
                    );
                    self.description = description.clone();
                    topology.update(description);
                }
                Err(error) => {
                    self.close_connection();
                    lock(&self.rtt).reset();
                    network_error = error.is_network_error();
                    let description =
                        ServerDescription::with_error(self.address.clone(), error.to_string());
                    self.description = description.clone();
                    // A check that timed out means the server is unresponsive: the
                    // operations in flight on it are cut short too (SDAM, CMAP).
                    topology.check_failed(description, error.is_network_timeout());
                }
            }
            if self.streaming && streams(&self.description) && self.rtt_task.is_none() {
                self.start_rtt_task();
            }
            if check_again_at_once(
                self.streaming,
                &self.description,
                self.more_to_come,
                network_error,
                previous_type,
            ) {
                continue;
            }
            drop(topology); // never hold the topology while waiting
            if !self.wait(since, heartbeat) {
                return;
            }
        }
    }

    /// One check: the handshake of a new connection, the next streamed reply, a new
    /// streaming `hello`, or a polling `hello`.
    fn check(&mut self, config: &ConnectionConfig, heartbeat: Duration) -> Result<Document> {
        let Some(conn) = self.connection.as_mut() else {
            let (conn, reply) = Connection::connect_for_monitoring(&self.address, config)?;
            self.control.install(&self.control.check, Some(&conn));
            self.connection = Some(conn);
            self.more_to_come = false;
            return Ok(reply);
        };
        let streamed = if self.more_to_come {
            conn.next_streamed_hello()?
        } else {
            match (&self.description.topology_version, self.streaming) {
                (Some(version), true) => conn.start_streaming_hello(
                    doc! { "processId": version.process_id, "counter": version.counter },
                    heartbeat,
                    config.options.connect_timeout,
                )?,
                _ => return conn.command("admin", &doc! { "hello": 1, "helloOk": true }),
            }
        };
        self.more_to_come = streamed.more_to_come;
        Ok(streamed.reply)
    }

    fn close_connection(&mut self) {
        self.control.install(&self.control.check, None);
        self.connection = None;
        self.more_to_come = false;
    }

    /// Waits until `heartbeat` after `since` or an immediate-check request, and at least
    /// `minHeartbeatFrequencyMS` after `since`. False when the monitor should end.
    fn wait(&self, since: Instant, heartbeat: Duration) -> bool {
        match self.wake.recv_deadline(Some(since + heartbeat)) {
            Err(mpsc::RecvError::Disconnected) => return false,
            Err(mpsc::RecvError::Wait(e)) if e.kind() != std::io::ErrorKind::TimedOut => {
                return false;
            }
            _ => {}
        }
        let left = (since + MIN_HEARTBEAT_FREQUENCY).saturating_duration_since(Instant::now());
        if !left.is_zero() && greenmongo_runtime::sleep(left).is_err() {
            return false;
        }
        !self.control.stopped.load(Ordering::SeqCst)
    }

    fn start_rtt_task(&mut self) {
        let (keep, stop) = mpsc::bounded(1);
        let task = RttTask {
            address: self.address.clone(),
            topology: self.topology.clone(),
            control: self.control.clone(),
            rtt: self.rtt.clone(),
            stop,
        };
        let name = format!("rtt monitor {}", self.address);
        spawn(name, Handle::try_current(), move || task.run());
        self.rtt_task = Some(keep);
    }
}

/// Whether the server `description` describes can stream: it is up and its `hello`
/// carries a `topologyVersion` (MongoDB 4.4+).
fn streams(description: &ServerDescription) -> bool {
    description.server_type != ServerType::Unknown && description.topology_version.is_some()
}

/// Whether the next check starts without waiting (the spec's monitor loop): a stream goes
/// straight on to its next reply; and a server that was known a moment ago is checked
/// again at once after a network error (a restart, a dropped connection: the spec's
/// "retry once"), in either mode. Otherwise the monitor waits `heartbeatFrequencyMS` or
/// for an immediate-check request.
fn check_again_at_once(
    streaming: bool,
    description: &ServerDescription,
    more_to_come: bool,
    network_error: bool,
    previous: ServerType,
) -> bool {
    let retry = network_error && previous != ServerType::Unknown;
    retry || (streaming && (streams(description) || more_to_come))
}

/// Times a plain `hello` on a connection of its own every `heartbeatFrequencyMS`, for a
/// streaming monitor (the spec's RTT thread). Publishes no events; its failures never
/// change the topology (the monitor finds out what happened to the server).
struct RttTask {
    address: ServerAddress,
    topology: WeakTopology,
    control: Arc<Control>,
    rtt: Arc<Mutex<RttStats>>,
    /// Disconnected when the monitor ends.
    stop: mpsc::Receiver<()>,
}

impl RttTask {
    fn run(self) {
        let mut connection: Option<Connection> = None;
        loop {
            if self.control.stopped.load(Ordering::SeqCst) {
                return;
            }
            let Some(topology) = self.topology.upgrade() else {
                return;
            };
            let heartbeat = topology.heartbeat_frequency();
            let started = Instant::now();
            // A sample is a `hello` on the established connection: connecting (TCP, TLS,
            // the handshake) is not a round trip, and counting it would give the minimum
            // RTT its second sample at once (the CSOT spec's short-circuit waits for two).
            let sampled = match connection.as_mut() {
                Some(conn) => conn
                    .command("admin", &doc! { "hello": 1, "helloOk": true })
                    .map(|_| true),
                None => {
                    Connection::connect_for_monitoring(&self.address, topology.connection_config())
                        .map(|(conn, _)| {
                            self.control.install(&self.control.rtt, Some(&conn));
                            connection = Some(conn);
                            false
                        })
                }
            };
            match sampled {
                Ok(false) => {}
                Ok(true) => {
                    let times = {
                        let mut rtt = lock(&self.rtt);
                        rtt.add_sample(started.elapsed());
                        rtt.times()
                    };
                    if let Some(times) = times {
                        topology.set_round_trip_times(&self.address, times);
                    }
                }
                Err(_) => {
                    self.control.install(&self.control.rtt, None);
                    connection = None;
                }
            }
            drop(topology);
            match self.stop.recv_deadline(Some(started + heartbeat)) {
                Err(mpsc::RecvError::Wait(e)) if e.kind() == std::io::ErrorKind::TimedOut => {}
                _ => return,
            }
        }
    }
}

fn lock(rtt: &Mutex<RttStats>) -> MutexGuard<'_, RttStats> {
    rtt.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `body` as a coroutine on `handle`'s runtime, or on a named thread off one.
fn spawn(name: String, handle: Option<Handle>, body: impl FnOnce() + Send + 'static) {
    match handle {
        Some(handle) => {
            handle.spawn(body);
        }
        None => {
            let _ = std::thread::Builder::new().name(name).spawn(body);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn auto_streams_except_on_faas_platforms() {
        use ServerMonitoringMode::*;
        let plain = env(&[("HOME", "/root")]);
        assert!(streaming_enabled(None, &plain), "auto is the default");
        assert!(streaming_enabled(Some(Auto), &plain));
        for faas in [
            [("AWS_EXECUTION_ENV", "AWS_Lambda_java8")],
            [("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")],
            [("FUNCTIONS_WORKER_RUNTIME", "node")],
            [("K_SERVICE", "checkout")],
            [("FUNCTION_NAME", "checkout")],
            [("VERCEL", "1")],
        ] {
            assert!(!streaming_enabled(Some(Auto), env(&faas)), "{faas:?}");
            assert!(!streaming_enabled(None, env(&faas)), "{faas:?}");
            // An explicit mode wins over the platform.
            assert!(streaming_enabled(Some(Stream), env(&faas)), "{faas:?}");
            assert!(!streaming_enabled(Some(Poll), env(&faas)), "{faas:?}");
        }
        // EC2 sets AWS_EXECUTION_ENV too, but not to a Lambda runtime; empty is unset.
        assert!(streaming_enabled(
            Some(Auto),
            env(&[("AWS_EXECUTION_ENV", "AWS_ECS_EC2")])
        ));
        assert!(streaming_enabled(Some(Auto), env(&[("VERCEL", "")])));
        assert!(!streaming_enabled(Some(Poll), &plain));
    }

    #[test]
    fn streams_go_on_polls_wait_and_a_lost_server_is_retried_once() {
        use bson::{doc, oid::ObjectId};
        let a = ServerAddress::tcp("a", 27017);
        let hello = |version: bool| {
            let mut reply = doc! { "ok": 1, "isWritablePrimary": true, "maxWireVersion": 21 };
            if version {
                reply.insert(
                    "topologyVersion",
                    doc! { "processId": ObjectId::new(), "counter": 0_i64 },
                );
            }
            ServerDescription::from_hello(a.clone(), &reply, Default::default(), Instant::now())
        };
        let (modern, old) = (hello(true), hello(false));
        let failed = ServerDescription::with_error(a.clone(), "connection refused");
        let known = ServerType::Standalone;
        // Success: a stream goes on to its next reply; polling, or a server without
        // topologyVersion, waits.
        assert!(check_again_at_once(true, &modern, true, false, known));
        assert!(check_again_at_once(true, &modern, false, false, known));
        assert!(!check_again_at_once(true, &old, false, false, known));
        assert!(!check_again_at_once(false, &modern, false, false, known));
        // A network error on a server that was known: once more at once, either mode...
        assert!(check_again_at_once(true, &failed, false, true, known));
        assert!(check_again_at_once(false, &failed, false, true, known));
        // ...but not again when that retry fails too, nor after a command error.
        assert!(!check_again_at_once(
            true,
            &failed,
            false,
            true,
            ServerType::Unknown
        ));
        assert!(!check_again_at_once(false, &failed, false, false, known));
    }

    #[test]
    fn stopping_interrupts_the_installed_socket() {
        use std::sync::atomic::AtomicUsize;
        let control = Control::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        *Control::slot(&control.check) = Some(Box::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
        }));
        control.stop();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(control.stopped.load(Ordering::SeqCst));
    }
}
