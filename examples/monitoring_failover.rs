//! How long a server restart takes to show in a client's topology, polling vs streaming
//! monitoring (`serverMonitoringMode`), at the default `heartbeatFrequencyMS` (10 s):
//! idle (only the monitor talks to the server), and under traffic (a thread pinging
//! every 50 ms, whose errors mark the server Unknown and whose server selection asks the
//! monitor for immediate checks).
//!
//! Each run connects a fresh client, waits until it sees the server as primary, waits a
//! different fraction of a heartbeat (so the kill lands at spread-out points of the
//! polling schedule), kills the server (SIGKILL) and starts it again on the same port and
//! data, then times the client's view: the server turning Unknown, and primary again.
//!
//! ```sh
//! cargo run --example monitoring_failover -- [RUNS]   # default 5 per case
//! ```
//!
//! It starts and stops its own SecantusDB (`scripts/test-server --name
//! monitoring-failover`); BENCHMARKS.md has the figures.

use std::{
    path::PathBuf,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use bson::doc;
use greenmongo::{
    Client, ClientOptions,
    event::EventHandler,
    sdam::{DEFAULT_HEARTBEAT_FREQUENCY, SdamEvent, ServerType},
};

type BoxError = Box<dyn std::error::Error>;

const NAME: &str = "monitoring-failover";

/// The test server script: `start` prints the URI once the server answers.
fn test_server(args: &[&str]) -> Result<String, BoxError> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/test-server");
    let out = Command::new(script).args(args).output()?;
    if !out.status.success() {
        return Err(format!(
            "scripts/test-server {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// Stops the server however `main` ends.
struct StopOnDrop;

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = test_server(&["stop", "--name", NAME]);
    }
}

/// One restart as one client saw it, from the moment of the kill.
struct Run {
    /// The restarted server answered again (`scripts/test-server start` returned).
    up: Duration,
    /// The client marked it Unknown.
    unknown: Duration,
    /// The client saw it primary again.
    primary: Duration,
}

/// Waits for a description change to `wanted`, returning when it came.
fn wait_for(
    changes: &mpsc::Receiver<(Instant, ServerType)>,
    wanted: ServerType,
) -> Result<Instant, BoxError> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match changes.recv_timeout(left) {
            Ok((at, server_type)) if server_type == wanted => return Ok(at),
            Ok(_) => {}
            Err(_) => return Err(format!("the client never saw the server {wanted}").into()),
        }
    }
}

fn measure(port: u16, mode: &str, traffic: bool, offset: Duration) -> Result<Run, BoxError> {
    let (tx, changes) = mpsc::channel();
    let mut options = ClientOptions::parse(&format!(
        "mongodb://127.0.0.1:{port}/?directConnection=true&serverMonitoringMode={mode}"
    ))?;
    options.sdam_event_handler = Some(EventHandler::new(move |event: &SdamEvent| {
        if let SdamEvent::ServerDescriptionChanged { new, .. } = event {
            let _ = tx.send((Instant::now(), new.server_type));
        }
    }));
    let client = Client::with_options(options)?;
    wait_for(&changes, ServerType::RsPrimary)?;
    let stop = Arc::new(AtomicBool::new(false));
    let pinger = traffic.then(|| {
        let (client, stop) = (client.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                // Failures are the point while the server is down.
                let _ = client
                    .database("admin")
                    .run_command(doc! { "ping": 1 })
                    .run();
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    });
    std::thread::sleep(offset);
    let killed = Instant::now();
    test_server(&["kill", "--name", NAME])?;
    test_server(&[
        "start",
        "--name",
        NAME,
        "--port",
        &port.to_string(),
        "--keep-data",
    ])?;
    let up = killed.elapsed();
    let unknown = wait_for(&changes, ServerType::Unknown)? - killed;
    let primary = wait_for(&changes, ServerType::RsPrimary)? - killed;
    stop.store(true, Ordering::Relaxed);
    if let Some(pinger) = pinger {
        let _ = pinger.join();
    }
    client.shutdown().run();
    Ok(Run {
        up,
        unknown,
        primary,
    })
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    match values.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2,
    }
}

fn main() -> Result<(), BoxError> {
    let runs: u32 = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(5);
    let uri = test_server(&["start", "--name", NAME])?;
    let _stop = StopOnDrop;
    let port: u16 = uri
        .trim()
        .rsplit(':')
        .next()
        .and_then(|rest| rest.split('/').next())
        .ok_or("no port in the test server's URI")?
        .parse()?;
    println!(
        "server restart (SIGKILL + start on the same port), heartbeatFrequencyMS 10000, {runs} runs per case"
    );
    println!(
        "| mode | traffic | server back up | client sees Unknown | client sees primary again |"
    );
    println!("| --- | --- | --- | --- | --- |");
    let cases = [
        ("poll", false),
        ("stream", false),
        ("poll", true),
        ("stream", true),
    ];
    for (mode, traffic) in cases {
        let load = if traffic { "ping every 50 ms" } else { "idle" };
        let (mut up, mut unknown, mut primary) = (Vec::new(), Vec::new(), Vec::new());
        for run in 0..runs {
            // Spread the kills over one heartbeat interval.
            let offset =
                DEFAULT_HEARTBEAT_FREQUENCY.mul_f64((f64::from(run) + 0.5) / f64::from(runs));
            let r = measure(port, mode, traffic, offset)?;
            eprintln!(
                "{mode} {load} run {run}: kill at +{:.1} s into the heartbeat; up {:.2} s, Unknown {:.2} s, primary {:.2} s",
                offset.as_secs_f64(),
                r.up.as_secs_f64(),
                r.unknown.as_secs_f64(),
                r.primary.as_secs_f64()
            );
            up.push(r.up);
            unknown.push(r.unknown);
            primary.push(r.primary);
        }
        println!(
            "| {mode} | {load} | {:.2} s | {:.2} s | {:.2} s |",
            median(up).as_secs_f64(),
            median(unknown).as_secs_f64(),
            median(primary).as_secs_f64()
        );
    }
    Ok(())
}
