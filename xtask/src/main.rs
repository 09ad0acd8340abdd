//! `cargo xtask …`: the project's commands, so that a fresh machine needs only cargo.
//!
//! - `setup`: install what is missing (idempotent; fast when everything is present)
//! - `demo`:  set-up, build, then run the console in the foreground; Ctrl-C stops everything
//! - `test`:  set-up, then every check CI runs (fmt, clippy, release wasm build, all tests, a
//!   bounded run of every fuzz target)
//! - `fuzz`:  the fuzz step of `test` alone
//! - `frontend`: build the release frontend into `dist/` (`--no-setup`: the tools are there)

mod demo;
mod frontend;
mod procs;
mod setup;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

const USAGE: &str = "usage: cargo xtask <setup | demo | test | fuzz | frontend | bench>

  setup      install missing tools (wasm32 target, wasm-bindgen-cli, Debian and npm packages)
  demo       set up, build, and run the console on http://127.0.0.1:8080 (Ctrl-C stops it)
  test       set up, then run everything CI runs: fmt, clippy, release wasm build, all tests,
             then every fuzz target for TRIAGE_FUZZ_SECS seconds (default 20; 0 skips them)
  fuzz       only the fuzz step of `test`: build the fuzz targets, run each TRIAGE_FUZZ_SECS s
  frontend   build the release frontend into dist/, split by page (--no-setup: skip the set-up)
  bench      run the benchmarks (release build; `bench NAME…` runs only those groups:
             bundle first-load chart proxy fanout memory diagnose-all large-cluster throughput postgres kafka
             environments)";

fn main() {
    if let Err(e) = run() {
        eprintln!("\nxtask: error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    std::env::set_current_dir(&root).with_context(|| format!("cannot enter {}", root.display()))?;
    setup::extend_path(&root);
    match args.first().map(String::as_str) {
        Some("setup") => setup::run(&root),
        Some("frontend") => {
            // `--no-setup`: the tools are already installed (the Containerfile's build stage).
            if args.get(1).map(String::as_str) != Some("--no-setup") {
                setup::run(&root)?;
            }
            build_frontend(&[])
        }
        Some("demo") => {
            setup::run(&root)?;
            build_frontend(&[])?;
            demo::run(&root, &args[1..])
        }
        Some("test") => {
            setup::run(&root)?;
            test_all()
        }
        Some("fuzz") => {
            setup::run(&root)?;
            let secs = fuzz_secs()?.max(1);
            step(&format!("fuzz ({} targets, {secs} s each)", FUZZ_TARGETS.len()), || fuzz_all(secs))
        }
        Some("bench") => {
            setup::run(&root)?;
            setup::bench_tools(&root)?;
            // The chart benchmark's page (`/bench/chart`) is built only here.
            build_frontend(&["bench"])?;
            bench(&args[1..])
        }
        Some("-h" | "--help" | "help") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}

/// Builds the release backend (benchmarks start it as a process) and runs the benchmark binary.
fn bench(groups: &[String]) -> Result<()> {
    run_cmd(Command::new("cargo").args(["build", "--release", "-p", "triage"]))?;
    // The memory benchmark's anchor, a minimal axum SSE server run as its own process.
    run_cmd(Command::new("cargo").args(["build", "--release", "-p", "triage-tests", "--bin", "sse-anchor"]))?;
    run_cmd(
        Command::new("cargo")
            .args(["run", "--release", "-p", "triage-tests", "--bin", "triage-bench", "--"])
            .args(groups),
    )
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Runs a command, echoing it; fails with the command line when it fails.
pub fn run_cmd(cmd: &mut Command) -> Result<()> {
    cmd.env("PATH", setup::child_path());
    let shown = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    println!("$ {shown}");
    let status = cmd.status().with_context(|| format!("cannot start `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

/// Runs one named step and prints how long it took.
pub fn step(name: &str, f: impl FnOnce() -> Result<()>) -> Result<()> {
    println!("\n==> {name}");
    let started = Instant::now();
    f().with_context(|| format!("step `{name}` failed"))?;
    println!("<== {name}: done in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The release frontend into `dist/` (see `frontend.rs`); `features` of `triage-frontend`, such
/// as `bench` for the chart benchmark's page.
fn build_frontend(features: &[&str]) -> Result<()> {
    step("build the frontend (release, split by page, offline)", || {
        frontend::build(&workspace_root(), features)
    })
}

fn test_all() -> Result<()> {
    step("format check", || run_cmd(Command::new("cargo").args(["fmt", "--all", "--", "--check"])))?;
    // The browser tests load dist/, so the release frontend is built before the tests.
    build_frontend(&[])?;
    step("clippy (all targets, warnings are errors)", || {
        run_cmd(Command::new("cargo").args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))?;
        run_cmd(Command::new("cargo").args([
            "clippy",
            "-p",
            "triage-frontend",
            "--target",
            "wasm32-unknown-unknown",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    step("unit, integration and browser tests", || {
        run_cmd(Command::new("cargo").args(["test", "--workspace", "--no-fail-fast"]))
    })?;
    let secs = fuzz_secs()?;
    if secs == 0 {
        println!("\n==> fuzz: skipped (TRIAGE_FUZZ_SECS=0)");
    } else {
        step(&format!("fuzz ({} targets, {secs} s each)", FUZZ_TARGETS.len()), || fuzz_all(secs))?;
    }
    println!("\nall checks passed");
    Ok(())
}

/// The libFuzzer targets of `fuzz/fuzz_targets/` (see RELIABILITY.md, "Hostile input").
const FUZZ_TARGETS: [&str; 7] =
    ["runbook", "template", "return_to", "prom_answer", "label_selector", "report", "statement_shape"];

/// Seconds per fuzz target: `TRIAGE_FUZZ_SECS`, 20 when unset.
fn fuzz_secs() -> Result<u64> {
    match std::env::var("TRIAGE_FUZZ_SECS") {
        Ok(v) => {
            v.trim().parse().with_context(|| format!("TRIAGE_FUZZ_SECS={v:?} is not a number of seconds"))
        }
        Err(_) => Ok(20),
    }
}

/// Where `cargo fuzz build` puts the targets. Named explicitly so that a `CARGO_TARGET_DIR` in
/// the environment (CI points it at the workspace's `target/`) neither mixes these release,
/// instrumented builds into it nor makes them wait for its lock: nothing there could be reused.
const FUZZ_TARGET_DIR: &str = "fuzz/target";

/// `cargo fuzz build` for the fuzz crate; `RUSTC_BOOTSTRAP=1` lets the stable toolchain pass the
/// sanitizer flags (for this command only).
///
/// No sanitizer and 16 codegen units unless `TRIAGE_FUZZ_SANITIZER` names one (`address`, as
/// `cargo fuzz` defaults to): the code is safe Rust (`unsafe_code = "forbid"`), and measured on this
/// 2-core machine a rebuild after a backend change took 3 min 52 s instead of 6 min 2 s and each
/// target ran 2.5 to 4.2 times as many inputs a second. Debug assertions and overflow
/// checks stay on.
fn fuzz_build_args() -> Vec<String> {
    let sanitizer = fuzz_sanitizer();
    ["build", "--fuzz-dir", "fuzz", "--target-dir", FUZZ_TARGET_DIR, "--codegen-units", "16", "--sanitizer"]
        .into_iter()
        .chain([sanitizer.as_str()])
        .map(str::to_owned)
        .collect()
}

fn fuzz_sanitizer() -> String {
    std::env::var("TRIAGE_FUZZ_SANITIZER").unwrap_or_else(|_| "none".to_owned())
}

/// Builds every fuzz target once, then runs each for `secs` seconds from the committed seeds in
/// `fuzz/corpus/TARGET` (read only: new inputs go to a scratch folder, so the tree stays clean).
/// The built binaries run directly, as `cargo fuzz run` would run them with the same libFuzzer
/// options: an edit made meanwhile cannot start a rebuild between targets, and no process sits
/// between this step and libFuzzer. Every target runs even after one fails; a crash fails the
/// step with its reproducer's path. Logs and scratch folders are per process (so two test runs on
/// one machine do not mix) and kept only when a target failed.
fn fuzz_all(secs: u64) -> Result<()> {
    let started = Instant::now();
    run_cmd(Command::new("cargo").arg("fuzz").args(fuzz_build_args()).env("RUSTC_BOOTSTRAP", "1"))?;
    println!("fuzz build: {:.1}s", started.elapsed().as_secs_f64());
    let work = std::env::temp_dir().join(format!("triage-fuzz-{}", std::process::id()));
    let mut failures = Vec::new();
    for target in FUZZ_TARGETS {
        let scratch = work.join(target);
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch).with_context(|| format!("cannot create {}", scratch.display()))?;
        let log = work.join(format!("{target}.log"));
        let run_started = Instant::now();
        let result = fuzz_one(target, secs, &scratch, &log);
        println!("fuzz {target}: {:.1}s wall", run_started.elapsed().as_secs_f64());
        let _ = std::fs::remove_dir_all(&scratch);
        if let Err(e) = result {
            println!("fuzz {target}: FAILED: {e:#}");
            failures.push(format!("{target}: {e:#}"));
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} fuzz target(s) failed (logs in {}):\n  {}",
            failures.len(),
            work.display(),
            failures.join("\n  ")
        );
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

fn fuzz_one(target: &str, secs: u64, scratch: &Path, log: &Path) -> Result<()> {
    let binary = Path::new(FUZZ_TARGET_DIR).join("x86_64-unknown-linux-gnu/release").join(target);
    let artifacts = format!("fuzz/artifacts/{target}/");
    std::fs::create_dir_all(&artifacts).with_context(|| format!("cannot create {artifacts}"))?;
    let out = std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let status = Command::new(&binary)
        .arg(format!("-artifact_prefix={artifacts}"))
        .arg(format!("-max_total_time={secs}"))
        .args(["-rss_limit_mb=2048", "-timeout=10", "-print_final_stats=1"])
        .arg(scratch)
        .arg(format!("fuzz/corpus/{target}"))
        // As `cargo fuzz run` sets it, for builds with the address sanitizer.
        .env("ASAN_OPTIONS", "detect_odr_violation=0")
        .stdout(out.try_clone()?)
        .stderr(out)
        .status()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let text = std::fs::read_to_string(log).unwrap_or_default();
    // libFuzzer's last status line (`#N DONE cov: … ft: … corp: …`) and final statistics.
    let done = text.lines().rev().find(|l| l.starts_with('#') && l.split_whitespace().nth(1) == Some("DONE"));
    let stat = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("stat::{name}:")))
            .map_or_else(|| "?".to_owned(), |v| v.trim().to_owned())
    };
    println!(
        "fuzz {target}: {} executions in {secs} s ({} exec/s), {} new inputs, peak RSS {} MB; {}",
        stat("number_of_executed_units"),
        stat("average_exec_per_sec"),
        stat("new_units_added"),
        stat("peak_rss_mb"),
        done.map_or("no DONE line", str::trim)
    );
    if status.success() {
        return Ok(());
    }
    let tail: Vec<&str> = text.lines().rev().take(60).collect();
    for line in tail.iter().rev() {
        println!("  | {line}");
    }
    let reproducer = text.lines().find_map(|l| l.split_once("Test unit written to ").map(|(_, p)| p.trim()));
    match reproducer {
        Some(path) => bail!(
            "crash; reproducer {path} (replay: RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz \
             --target-dir {FUZZ_TARGET_DIR} --codegen-units 16 --sanitizer {} {target} {path}); full log {}",
            fuzz_sanitizer(),
            log.display()
        ),
        None => bail!("{target} failed ({status}); full log {}", log.display()),
    }
}
