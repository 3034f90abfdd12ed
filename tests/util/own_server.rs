//! A SecantusDB of a test's own (`scripts/test-server start --name ...`), for tests that
//! kill it and start it again on the same port and data: crashes, restarts, resumes.
//! Stopped when dropped.

use std::{path::PathBuf, process::Command};

/// A SecantusDB of our own, on a fixed port, that the test can kill and start again.
pub struct OwnServer {
    pub name: String,
    pub port: u16,
}

impl OwnServer {
    pub fn script() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/test-server")
    }

    /// Starts server `name` (on `port`, else a free one) on its kept data; `None` (with
    /// the reason printed) when it cannot start outside CI.
    pub fn start(name: &str, port: Option<u16>) -> Option<OwnServer> {
        Self::start_with(name, port, &[])
    }

    /// As [`start`](Self::start), passing `flags` on to `secantusd-py`.
    pub fn start_with(name: &str, port: Option<u16>, flags: &[&str]) -> Option<OwnServer> {
        let mut command = Command::new(Self::script());
        command.args(["start", "--name", name, "--keep-data"]);
        if let Some(port) = port {
            command.args(["--port", &port.to_string()]);
        }
        if !flags.is_empty() {
            command.arg("--").args(flags);
        }
        let out = command.output().ok()?;
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr);
            if std::env::var_os("CI").is_some() {
                panic!("cannot start a test server: {why}");
            }
            eprintln!("skipped: cannot start a test server: {why}");
            return None;
        }
        let uri = String::from_utf8(out.stdout).unwrap();
        let port = uri.split(':').nth(2)?.split('/').next()?.parse().ok()?;
        Some(OwnServer {
            name: name.to_owned(),
            port,
        })
    }

    /// SIGKILL: a crash, with no chance to flush or checkpoint anything.
    pub fn kill(&self) {
        let status = Command::new(Self::script())
            .args(["kill", "--name", &self.name])
            .status()
            .unwrap();
        assert!(status.success(), "kill {}", self.name);
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = Command::new(Self::script())
            .args(["stop", "--name", &self.name])
            .status();
    }
}
