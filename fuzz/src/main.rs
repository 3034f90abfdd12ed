//! A mutation fuzzer on stable Rust for greenmongo's parsers of what a server sends.
//!
//! ```text
//! cargo run --release -p greenmongo-fuzz -- [--target NAME]... [--iterations N] [--seconds S]
//!     [--seed X] [--max-len BYTES] [--list] [--write-corpus] [--replay FILE...]
//! ```
//!
//! Each target (`--list` shows them; default: all, one after another) starts from its
//! corpus in `fuzz/corpus/<target>/`, runs every entry as is, then mutates entries (see
//! `mutate.rs`) until it has run `--iterations` inputs (default 1,000,000) or `--seconds`
//! have passed, whichever comes first. Both limits are per target. Inputs that get past the
//! target's first layer are kept (up to 4,096) as bases for further mutation: there is no
//! coverage feedback, so that is what lets mutations stack.
//!
//! Every input runs under `catch_unwind`. A panic is a crash: the harness prints the target,
//! the panic and the input in hex, saves the input to `fuzz/crashes/<target>-<hash>.bin`
//! (ignored by git) and exits with status 1. `--replay FILE` runs the named target on
//! saved inputs; once the bug is fixed, copy the input into the target's corpus as
//! `crash-<what>.bin` so every run (and `cargo test`) replays it. A stack overflow or an abort is not a panic and ends the process
//! without the report: rerun with the printed `--seed` to reproduce it.
//!
//! `--seed X` makes a run repeatable (same seed, same build, same inputs); without it the
//! seed comes from the clock and is printed. `--write-corpus` regenerates the checked-in
//! seed corpus from hand-written valid encodings (`seeds.rs`), keeping the `crash-*`
//! entries. Seeds derived from the spec tests (`../shared/spec-tests`, or
//! `GREENMONGO_SPEC_TESTS`: connection strings, SDAM `hello` replies) are added at run time
//! when the tree is there; they are never copied into the repository.
//!
//! Build with `--release` for throughput; a debug build (no `--release`) is slower but
//! checks integer overflow, so an overflow in a parser is a crash there.

mod mutate;
mod seeds;
mod targets;

use std::{
    cell::{Cell, RefCell},
    panic::{self, AssertUnwindSafe},
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Once,
    time::{Duration, Instant},
};

use mutate::{Mutator, collect_keys};
use targets::{TARGETS, Target};

const USAGE: &str = "usage: greenmongo-fuzz [--target NAME]... [--iterations N] [--seconds S] \
[--seed X] [--max-len BYTES] [--list] [--write-corpus] [--replay FILE...]";

/// Inputs kept as bases for mutation, per target.
const KEPT: usize = 4096;

/// An input slower than this (wall clock, so preemption on a busy machine counts too) is
/// saved as `fuzz/crashes/<target>-slowest.bin` for a look.
const SLOW: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Args {
    targets: Vec<&'static Target>,
    iterations: Option<u64>,
    seconds: Option<f64>,
    seed: u64,
    max_len: usize,
    write_corpus: bool,
    replay: Vec<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        targets: Vec::new(),
        iterations: None,
        seconds: None,
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
        max_len: 16 * 1024,
        write_corpus: false,
        replay: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    fn value<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
        let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
        let v = v.replace('_', "");
        v.parse()
            .map_err(|_| format!("{flag}: {v:?} is not a valid value"))
    }
    while let Some(a) = it.next() {
        match a.as_str() {
            "--target" => {
                let name: String = value("--target", it.next())?;
                let target = targets::find(&name)
                    .ok_or_else(|| format!("no target {name:?}; --list shows them"))?;
                args.targets.push(target);
            }
            "--iterations" => args.iterations = Some(value("--iterations", it.next())?),
            "--seconds" => args.seconds = Some(value("--seconds", it.next())?),
            "--seed" => args.seed = value("--seed", it.next())?,
            "--max-len" => args.max_len = value("--max-len", it.next())?,
            "--write-corpus" => args.write_corpus = true,
            "--replay" => args.replay.extend(it.by_ref().map(PathBuf::from)),
            "--list" => {
                for t in TARGETS {
                    println!("{:<14} {}", t.name, t.about);
                }
                std::process::exit(0);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if args.targets.is_empty() {
        args.targets = TARGETS.iter().collect();
    }
    if args.iterations.is_none() && args.seconds.is_none() {
        args.iterations = Some(1_000_000);
    }
    Ok(args)
}

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn spec_tests() -> PathBuf {
    std::env::var_os("GREENMONGO_SPEC_TESTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| fuzz_dir().join("../../shared/spec-tests"))
}

/// The corpus of `target`: the files in `fuzz/corpus/<target>/` (hand-written seeds and
/// inputs that once crashed), sorted by name, then the seeds read from the spec tests when
/// they are there (`GREENMONGO_SPEC_TESTS`): derived from the spec files at run time, never
/// checked in.
fn load_corpus(target: &Target) -> Vec<Vec<u8>> {
    let dir = fuzz_dir().join("corpus").join(target.name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    let mut corpus: Vec<Vec<u8>> = files
        .iter()
        .filter(|f| f.is_file())
        .filter_map(|f| std::fs::read(f).ok())
        .collect();
    let mut seen: std::collections::HashSet<Vec<u8>> = corpus.iter().cloned().collect();
    for (_, seed) in seeds::seeds(target.name, &spec_tests()) {
        if seen.insert(seed.clone()) {
            corpus.push(seed);
        }
    }
    corpus
}

fn write_corpus(targets: &[&Target]) -> std::io::Result<()> {
    for target in targets {
        let dir = fuzz_dir().join("corpus").join(target.name);
        std::fs::create_dir_all(&dir)?;
        // The generated seeds are replaced; inputs that once crashed (`crash-*`) stay.
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if path.is_file() && !name.starts_with("crash-") {
                std::fs::remove_file(&path)?;
            }
        }
        // Hand-written seeds only: the spec files' are read at run time, not copied.
        let seeds = seeds::seeds(target.name, Path::new("/nonexistent"));
        for (name, bytes) in &seeds {
            std::fs::write(dir.join(format!("{name}.bin")), bytes)?;
        }
        eprintln!("fuzz: wrote {} seeds to {}", seeds.len(), dir.display());
    }
    Ok(())
}

thread_local! {
    /// Whether this thread is running a target: its panics are recorded, not printed.
    static IN_TARGET: Cell<bool> = const { Cell::new(false) };
    /// The message and location of the last panic in a target on this thread.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Records the panics of targets (the crash report prints them); any other panic goes to
/// the default hook.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_TARGET.with(Cell::get) {
                LAST_PANIC.with(|last| *last.borrow_mut() = Some(info.to_string()));
            } else {
                default(info);
            }
        }));
    });
}

/// Runs `target` on `input`; `Err` with the panic message if it panicked.
fn run_one(target: &Target, input: &[u8]) -> Result<bool, String> {
    IN_TARGET.with(|t| t.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(|| (target.run)(input)));
    IN_TARGET.with(|t| t.set(false));
    result.map_err(|_| {
        LAST_PANIC
            .with(|last| last.borrow_mut().take())
            .unwrap_or_else(|| "a panic without a message".to_owned())
    })
}

/// FNV-1a, to name a crash file after its contents.
fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reports a crash and saves its input; returns the saved path.
fn report_crash(target: &Target, input: &[u8], message: &str, seed: u64) -> PathBuf {
    let dir = fuzz_dir().join("crashes");
    let path = dir.join(format!("{}-{:016x}.bin", target.name, fnv(input)));
    let saved = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&path, input));
    eprintln!("\nCRASH in target {} (seed {seed}): {message}", target.name);
    eprintln!("input ({} bytes, hex): {}", input.len(), hex(input));
    if input.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        eprintln!("input as text: {}", String::from_utf8_lossy(input));
    }
    match saved {
        Ok(()) => eprintln!(
            "saved to {}; replay with: cargo run --release -p greenmongo-fuzz -- --target {} --replay {}",
            path.display(),
            target.name,
            path.display()
        ),
        Err(e) => eprintln!("could not save it to {}: {e}", path.display()),
    }
    path
}

/// What one target's run did.
#[derive(Debug, Default)]
struct Stats {
    inputs: u64,
    accepted: u64,
    elapsed: Duration,
    slowest: Duration,
    corpus: usize,
}

/// Fuzzes one target; `Err` if an input crashed it.
fn fuzz(target: &Target, args: &Args) -> Result<Stats, ()> {
    let corpus = load_corpus(target);
    let mut dictionary: Vec<Vec<u8>> = target
        .dictionary
        .iter()
        .map(|t| t.as_bytes().to_vec())
        .collect();
    for entry in &corpus {
        if let Ok(doc) = bson::Document::from_reader(entry.as_slice()) {
            collect_keys(&doc, &mut dictionary);
        }
    }
    dictionary.sort();
    dictionary.dedup();
    let seed = args.seed ^ fnv(target.name.as_bytes());
    let mut mutator = Mutator::new(seed, target.shape, args.max_len, dictionary);
    let mut stats = Stats {
        corpus: corpus.len(),
        ..Stats::default()
    };
    let start = Instant::now();
    let mut kept: Vec<Vec<u8>> = Vec::new();
    let crash = |input: &[u8], message: &str| {
        report_crash(target, input, message, args.seed);
    };
    for entry in &corpus {
        let accepted = run_one(target, entry).map_err(|m| crash(entry, &m))?;
        stats.inputs += 1;
        stats.accepted += u64::from(accepted);
    }
    let max_inputs = args.iterations.unwrap_or(u64::MAX);
    let deadline = args.seconds.map(|s| start + Duration::from_secs_f64(s));
    let mut input = Vec::with_capacity(args.max_len);
    let mut slowest = Vec::new();
    let mut next_report = start + Duration::from_secs(10);
    while stats.inputs < max_inputs {
        if stats.inputs.is_multiple_of(1024) {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                break;
            }
            if now >= next_report {
                next_report = now + Duration::from_secs(10);
                eprintln!(
                    "fuzz: {}: {} inputs, {:.0}/s, {} kept",
                    target.name,
                    stats.inputs,
                    stats.inputs as f64 / (now - start).as_secs_f64(),
                    kept.len()
                );
            }
        }
        let rng = &mut mutator.rng;
        let base_from_kept = !kept.is_empty() && rng.one_in(2);
        let base = if base_from_kept {
            kept[rng.below(kept.len())].clone()
        } else {
            corpus[rng.below(corpus.len())].clone()
        };
        let other = &corpus[rng.below(corpus.len())];
        mutator.mutate(&base, other, &mut input);
        let began = Instant::now();
        let accepted = run_one(target, &input).map_err(|m| crash(&input, &m))?;
        let took = began.elapsed();
        if took > stats.slowest {
            stats.slowest = took;
            slowest.clone_from(&input);
        }
        stats.inputs += 1;
        if accepted {
            stats.accepted += 1;
            if kept.len() < KEPT {
                kept.push(input.clone());
            } else if mutator.rng.one_in(8) {
                let i = mutator.rng.below(KEPT);
                kept[i].clone_from(&input);
            }
        }
    }
    stats.elapsed = start.elapsed();
    if stats.slowest >= SLOW {
        // Not a failure (the machine may have been busy), but worth a look: replay it.
        let path = fuzz_dir()
            .join("crashes")
            .join(format!("{}-slowest.bin", target.name));
        if std::fs::create_dir_all(path.parent().expect("a parent"))
            .and_then(|_| std::fs::write(&path, &slowest))
            .is_ok()
        {
            eprintln!(
                "fuzz: {}: the slowest input took {:.0} ms; saved to {}",
                target.name,
                stats.slowest.as_secs_f64() * 1e3,
                path.display()
            );
        }
    }
    Ok(stats)
}

fn replay(args: &Args) -> ExitCode {
    let [target] = args.targets[..] else {
        eprintln!("fuzz: --replay needs exactly one --target");
        return ExitCode::from(2);
    };
    let mut failed = false;
    for file in &args.replay {
        let input = match std::fs::read(file) {
            Ok(input) => input,
            Err(e) => {
                eprintln!("fuzz: {}: {e}", file.display());
                return ExitCode::from(2);
            }
        };
        let began = Instant::now();
        let result = run_one(target, &input);
        let took = began.elapsed().as_secs_f64() * 1e3;
        match result {
            Ok(accepted) => println!(
                "{}: ok (accepted: {accepted}, {took:.2} ms)",
                file.display()
            ),
            Err(message) => {
                println!("{}: CRASH: {message}", file.display());
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("fuzz: {e}");
            return ExitCode::from(2);
        }
    };
    if args.write_corpus {
        return match write_corpus(&args.targets) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("fuzz: writing the corpus failed: {e}");
                ExitCode::FAILURE
            }
        };
    }
    install_panic_hook();
    // A big stack: a mutant may nest documents deeply, and the bson crate decodes and
    // drops them recursively (the driver's own decoding moves deep ones to a side stack).
    let worker = std::thread::Builder::new()
        .name("fuzz".into())
        .stack_size(512 * 1024 * 1024)
        .spawn(move || {
            if !args.replay.is_empty() {
                return replay(&args);
            }
            run(&args)
        })
        .expect("spawn the fuzzing thread");
    worker.join().unwrap_or(ExitCode::FAILURE)
}

fn run(args: &Args) -> ExitCode {
    let build = if cfg!(debug_assertions) {
        "debug (overflow checks on)"
    } else {
        "release"
    };
    println!(
        "greenmongo-fuzz: seed {}, {build} build, limits per target: {} inputs, {} s, inputs up to {} bytes",
        args.seed,
        args.iterations
            .map_or_else(|| "no limit on".to_owned(), |n| n.to_string()),
        args.seconds
            .map_or_else(|| "no limit on".to_owned(), |s| s.to_string()),
        args.max_len,
    );
    println!();
    println!(
        "| target | corpus | inputs | seconds | inputs/s | accepted | slowest (wall) | crashes |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for target in &args.targets {
        match fuzz(target, args) {
            Ok(s) => println!(
                "| {} | {} | {} | {:.1} | {:.0} | {:.1}% | {:.2} ms | 0 |",
                target.name,
                s.corpus,
                s.inputs,
                s.elapsed.as_secs_f64(),
                s.inputs as f64 / s.elapsed.as_secs_f64().max(1e-9),
                100.0 * s.accepted as f64 / s.inputs.max(1) as f64,
                s.slowest.as_secs_f64() * 1e3,
            ),
            Err(()) => return ExitCode::FAILURE,
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every target over its checked-in corpus and a few thousand mutants: in `cargo
    /// test`'s debug build, so integer overflow is a crash too.
    #[test]
    fn each_target_survives_its_corpus_and_a_short_run() {
        install_panic_hook();
        let args = Args {
            targets: TARGETS.iter().collect(),
            iterations: Some(10_000),
            seconds: Some(20.0),
            seed: 16,
            max_len: 4096,
            write_corpus: false,
            replay: Vec::new(),
        };
        for target in &args.targets {
            let corpus = fuzz_dir().join("corpus").join(target.name);
            assert!(corpus.is_dir(), "{} is missing", corpus.display());
            let stats = fuzz(target, &args).unwrap_or_else(|()| panic!("{} crashed", target.name));
            assert!(stats.accepted > 0, "{}: nothing accepted", target.name);
        }
    }

    #[test]
    fn a_panicking_target_is_reported_as_a_crash() {
        install_panic_hook();
        fn boom(data: &[u8]) -> bool {
            assert!(data.len() < 3, "too long");
            true
        }
        let target = Target {
            name: "test-boom",
            about: "",
            shape: mutate::Shape::Text,
            run: boom,
            dictionary: &[],
        };
        assert_eq!(run_one(&target, b"ab"), Ok(true));
        let message = run_one(&target, b"abc").unwrap_err();
        assert!(message.contains("too long"), "{message}");
    }

    #[test]
    fn replayed_crash_files_are_named_by_content() {
        assert_eq!(fnv(b""), 0xcbf2_9ce4_8422_2325);
        assert_ne!(fnv(b"a"), fnv(b"b"));
        assert_eq!(hex(&[0, 0xab]), "00ab");
    }
}
