//! What running a test came to, and the per-folder report: a table of files with their
//! counts, the skip reasons grouped, every failure, and the pass rate of the tests that ran.

use std::collections::BTreeMap;

use super::known::{Known, KnownKind};

/// Why a test stopped early: it failed, or it needs something the driver (or this runner)
/// does not have.
#[derive(Debug)]
pub enum Stop {
    Fail(String),
    Skip(String),
}

/// The result of one step of a test.
pub type Step<T = ()> = Result<T, Stop>;

/// `Err(Stop::Fail(format!(..)))`.
macro_rules! fail {
    ($($arg:tt)*) => { Err($crate::unified::outcome::Stop::Fail(format!($($arg)*))) };
}

/// `Err(Stop::Skip(format!(..)))`.
macro_rules! skip {
    ($($arg:tt)*) => { Err($crate::unified::outcome::Stop::Skip(format!($($arg)*))) };
}

pub(crate) use {fail, skip};

/// Turns a driver or matching error into a failure with context.
pub fn failed<E: std::fmt::Display>(context: &str) -> impl FnOnce(E) -> Stop + '_ {
    move |e| Stop::Fail(format!("{context}: {e}"))
}

/// How one test ended.
pub enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
    /// Listed in `known.rs` and failed as expected.
    Known(&'static Known, String),
}

/// The results of one file.
pub struct FileReport {
    pub name: String,
    pub results: Vec<(String, Outcome)>,
    /// Notes that need no test to fail, e.g. a known failure that now passes.
    pub notes: Vec<String>,
}

impl FileReport {
    fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.results.iter().filter(|(_, o)| f(o)).count()
    }

    fn passed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Passed))
    }

    fn failed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Failed(_)))
    }

    fn skipped(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Skipped(_)))
    }

    fn known(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Known(..)))
    }
}

/// Prints the folder's table and summary; returns the number of real failures.
pub fn print_folder(folder: &str, files: &[FileReport]) -> usize {
    let width = files.iter().map(|f| f.name.len()).max().unwrap_or(4).max(4);
    println!("\n=== unified spec tests: {folder} ===");
    println!("{:width$}  pass  fail  skip  known", "file");
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for file in files {
        println!(
            "{:width$}  {:>4}  {:>4}  {:>4}  {:>5}",
            file.name,
            file.passed(),
            file.failed(),
            file.skipped(),
            file.known()
        );
        let mut file_reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for (test, outcome) in &file.results {
            match outcome {
                Outcome::Skipped(why) => *file_reasons.entry(why).or_default() += 1,
                Outcome::Failed(why) => println!("    FAILED {test}: {why}"),
                Outcome::Known(known, why) => {
                    println!("    {}: {test}: {} ({why})", known.kind.label(), known.why)
                }
                Outcome::Passed => {}
            }
        }
        for (why, n) in file_reasons {
            println!("    skipped {n}: {why}");
            *reasons.entry(why).or_default() += n;
        }
        for note in &file.notes {
            println!("    note: {note}");
        }
    }
    let sum = |f: fn(&FileReport) -> usize| files.iter().map(f).sum::<usize>();
    let (passed, failed, skipped, known) = (
        sum(FileReport::passed),
        sum(FileReport::failed),
        sum(FileReport::skipped),
        sum(FileReport::known),
    );
    let mut by_count: Vec<(&str, usize)> = reasons.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    if !by_count.is_empty() {
        println!("skip reasons:");
        for (why, n) in by_count {
            println!("  {why} ({n} test{})", if n == 1 { "" } else { "s" });
        }
    }
    let runnable = passed + failed + known;
    let rate = if runnable == 0 {
        "n/a".to_owned()
    } else {
        format!("{:.1}%", 100.0 * passed as f64 / runnable as f64)
    };
    println!("{folder}: {passed} passed, {failed} failed, {skipped} skipped");
    println!(
        "{folder}: pass rate of runnable tests {passed}/{runnable} = {rate} \
         ({known} known failure{} listed in tests/unified/known.rs)",
        if known == 1 { "" } else { "s" }
    );
    failed
}

impl KnownKind {
    pub fn label(self) -> &'static str {
        match self {
            KnownKind::DriverBug => "known driver bug",
            KnownKind::NotImplemented => "not implemented",
            KnownKind::ServerDifference => "known server difference",
        }
    }
}
