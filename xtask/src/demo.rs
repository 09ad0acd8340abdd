//! `cargo xtask demo`: the console and what it watches, in the foreground.
//!
//! Two environments, each a sandbox with its own Prometheus: `staging` (the chosen incident) and
//! `prod-eu` (healthy, `production` protection). Ports on 127.0.0.1 (DESIGN.md): console 8080;
//! staging's Prometheus 9090, Kubernetes API 6443, metrics 9100 and Kafka brokers 9092–9094,
//! PostgreSQL 5433; prod-eu's Prometheus 9091, Kubernetes API 6444, metrics 9101 and Kafka
//! brokers 9095–9097; with `--sso` the test OpenID provider 9400. The sandboxes write their
//! kubeconfigs to `target/demo/kubeconfig` and `target/demo/kubeconfig-prod-eu`.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::procs::Supervisor;
use crate::{run_cmd, step};

const CONSOLE_ADDR: &str = "127.0.0.1:8080";
const PROMETHEUS_ADDR: &str = "127.0.0.1:9090";
const API_ADDR: &str = "127.0.0.1:6443";
const METRICS_ADDR: &str = "127.0.0.1:9100";
const POSTGRES_PORT: u16 = 5433;
/// The sandbox's three Kafka brokers, ids 0, 1 and 2.
const KAFKA_ADDRS: &str = "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094";
const OIDC_ADDR: &str = "127.0.0.1:9400";
/// The second environment, `prod-eu`: its Prometheus, sandbox API, metrics and brokers.
const PROD_PROMETHEUS_ADDR: &str = "127.0.0.1:9091";
const PROD_API_ADDR: &str = "127.0.0.1:6444";
const PROD_METRICS_ADDR: &str = "127.0.0.1:9101";
const PROD_KAFKA_ADDRS: &str = "127.0.0.1:9095,127.0.0.1:9096,127.0.0.1:9097";
/// The demo provider's users: (login and password, e-mail, groups).
const DEMO_USERS: [(&str, &str, &str); 4] = [
    ("ada", "ada@example.test", "sre-readers"),
    ("oscar", "oscar@example.test", "sre-operators"),
    ("alma", "alma@example.test", "triage-admins"),
    ("nils", "nils@elsewhere.test", "marketing"),
];
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

struct DemoOptions {
    release: bool,
    incident: String,
    /// Single sign-on through the test OpenID provider instead of the no-auth mode.
    sso: bool,
}

fn parse(args: &[String]) -> Result<DemoOptions> {
    let mut options = DemoOptions { release: false, incident: "healthy".to_owned(), sso: false };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--release" => options.release = true,
            "--sso" => options.sso = true,
            "--incident" => {
                options.incident = it.next().context("--incident needs a name (e.g. consumer-lag)")?.clone();
            }
            other => match other.strip_prefix("--incident=") {
                Some(name) => options.incident = name.to_owned(),
                None => bail!("unknown demo option `{other}` (known: --release, --incident NAME, --sso)"),
            },
        }
    }
    Ok(options)
}

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let options = parse(args)?;
    let profile = if options.release { "release" } else { "debug" };
    step("build the console and the sandbox", || {
        let mut cmd = Command::new("cargo");
        cmd.args([
            "build",
            "-p",
            "triage",
            "--bin",
            "triage",
            "-p",
            "triage-sandbox",
            "--bin",
            "triage-sandbox",
        ]);
        if options.release {
            cmd.arg("--release");
        }
        run_cmd(&mut cmd)
    })?;
    // Where cargo put the binaries: `CARGO_TARGET_DIR` when set, else `target/`.
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let bin = |name: &str| target_dir.join(profile).join(name);
    // Validate the incident name before starting anything.
    let status =
        Command::new(bin("triage-sandbox")).arg("incidents").output().context("cannot run triage-sandbox")?;
    let known = String::from_utf8_lossy(&status.stdout).into_owned();
    if !known.lines().any(|l| l == options.incident) {
        bail!(
            "unknown incident `{}`; known: {}",
            options.incident,
            known.lines().collect::<Vec<_>>().join(", ")
        );
    }
    for (what, addr) in [
        ("console", CONSOLE_ADDR),
        ("Prometheus", PROMETHEUS_ADDR),
        ("sandbox API", API_ADDR),
        ("sandbox metrics", METRICS_ADDR),
        ("prod-eu Prometheus", PROD_PROMETHEUS_ADDR),
        ("prod-eu sandbox API", PROD_API_ADDR),
        ("prod-eu sandbox metrics", PROD_METRICS_ADDR),
        ("OpenID provider", if options.sso { OIDC_ADDR } else { "" }),
    ]
    .into_iter()
    .chain(KAFKA_ADDRS.split(',').map(|a| ("sandbox Kafka broker", a)))
    .chain(PROD_KAFKA_ADDRS.split(',').map(|a| ("prod-eu Kafka broker", a)))
    {
        if !addr.is_empty() && TcpStream::connect(addr).is_ok() {
            bail!(
                "something already listens on {addr} (wanted for the {what}); stop it or the previous demo first"
            );
        }
    }

    let demo_dir = root.join("target/demo");
    std::fs::create_dir_all(&demo_dir).context("cannot create target/demo")?;
    let mut sup = Supervisor::new()?;

    // PostgreSQL with pg_stat_statements, kept between demo runs.
    let pg_dir = postgres_dir()?;
    sup.spawn("postgresql", &mut postgres_command(&pg_dir)?)?;
    wait_for_port("postgresql", &format!("127.0.0.1:{POSTGRES_PORT}"), Duration::from_secs(30), &sup)?;

    // The sandbox: Kubernetes API, metrics, database workload.
    let kubeconfig = demo_dir.join("kubeconfig");
    let conninfo = format!("host=127.0.0.1 port={POSTGRES_PORT} user=postgres dbname=postgres");
    sup.spawn(
        "sandbox",
        Command::new(bin("triage-sandbox"))
            .args([
                "run",
                "--api-addr",
                API_ADDR,
                "--metrics-addr",
                METRICS_ADDR,
                "--incident",
                &options.incident,
                "--kafka-addrs",
                KAFKA_ADDRS,
            ])
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["--postgres", &conninfo]),
    )?;
    wait_for_port("sandbox", METRICS_ADDR, Duration::from_secs(30), &sup)?;

    // prod-eu: a second, healthy sandbox without a database.
    let prod_kubeconfig = demo_dir.join("kubeconfig-prod-eu");
    sup.spawn(
        "sandbox prod-eu",
        Command::new(bin("triage-sandbox"))
            .args([
                "run",
                "--api-addr",
                PROD_API_ADDR,
                "--metrics-addr",
                PROD_METRICS_ADDR,
                "--incident",
                "healthy",
                "--kafka-addrs",
                PROD_KAFKA_ADDRS,
            ])
            .arg("--kubeconfig")
            .arg(&prod_kubeconfig),
    )?;
    wait_for_port("sandbox prod-eu", PROD_METRICS_ADDR, Duration::from_secs(30), &sup)?;

    // One Prometheus per environment, each scraping its sandbox with the shipped alerting rules
    // (whose runbook_url links carry the `cluster` external label).
    let rules = root.join("deploy/prometheus/alerts.yaml");
    for (env, prom_addr, metrics_addr) in
        [("staging", PROMETHEUS_ADDR, METRICS_ADDR), ("prod-eu", PROD_PROMETHEUS_ADDR, PROD_METRICS_ADDR)]
    {
        let prom_dir = demo_dir.join(format!("prometheus-{env}"));
        std::fs::create_dir_all(&prom_dir)?;
        let prom_config = prom_dir.join("prometheus.yml");
        std::fs::write(
            &prom_config,
            format!(
                "# Written by `cargo xtask demo`.\nglobal:\n  scrape_interval: 5s\n  evaluation_interval: 5s\n\
                 \x20 external_labels:\n    cluster: {env}\n\
                 rule_files:\n  - \"{}\"\n\
                 scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: [\"{prom_addr}\"]\n\
                 \x20 - job_name: streaming-analytics\n    static_configs:\n      - targets: [\"{metrics_addr}\"]\n",
                rules.display()
            ),
        )?;
        sup.spawn(
            &format!("prometheus {env}"),
            Command::new("prometheus")
                .arg(format!("--config.file={}", prom_config.display()))
                .arg(format!("--storage.tsdb.path={}", prom_dir.join("data").display()))
                .arg(format!("--web.listen-address={prom_addr}"))
                .arg("--log.level=warn"),
        )?;
        wait_for_port("prometheus", prom_addr, Duration::from_secs(30), &sup)?;
    }

    let auth = if options.sso {
        start_oidc_provider(root, &mut sup)?
    } else {
        "# Local demo: no login, and the local user may act.\n[auth]\nmode = \"none\"\nlocal_role = \"operator\"\n"
            .to_owned()
    };
    let config = demo_dir.join("triage.toml");
    std::fs::write(
        &config,
        format!(
            "# Written by `cargo xtask demo`.\n[server]\nlisten = \"{CONSOLE_ADDR}\"\n\n{auth}\n\
             [store]\nsqlite_path = \"{}\"\n\n\
             [runbooks]\ndir = \"{}\"\n\n[runbooks.urls]\nhealth = \"http://{METRICS_ADDR}/health\"\n\n\
             # Alerts name their environment in the `cluster` label (each Prometheus's external label).\n\
             [alerts]\nenvironment_label = \"cluster\"\n\n\
             [[environments]]\nname = \"staging\"\ncolour = \"#2f9e44\"\n\n\
             [environments.prometheus]\nurl = \"http://{PROMETHEUS_ADDR}\"\n\n\
             [environments.kubernetes]\nkubeconfig = \"{}\"\nnamespaces = [\"streaming-analytics\"]\n\
             # The Kafka connection flow tells whether the Secret keys the client names exist.\n\
             list_secret_names = true\ncheck_secret_keys = true\n\n\
             # The sandbox's database; snapshots every minute for the window diff.\n\
             [environments.postgres]\nsnapshot_interval_secs = 60\n\n\
             [[environments.postgres.targets]]\nname = \"sandbox\"\nurl = \"{conninfo}\"\n\n\
             # The sandbox's brokers; the offset reset is allowed here, off by default elsewhere.\n\
             [environments.kafka]\nbootstrap = \"{KAFKA_ADDRS}\"\nallow_offset_reset = true\n\n\
             # Production: every action needs its target typed and a written reason.\n\
             [[environments]]\nname = \"prod-eu\"\ncolour = \"#c92a2a\"\nprotection = \"production\"\n\n\
             [environments.prometheus]\nurl = \"http://{PROD_PROMETHEUS_ADDR}\"\n\n\
             [environments.kubernetes]\nkubeconfig = \"{}\"\nnamespaces = [\"streaming-analytics\"]\n\n\
             [environments.kafka]\nbootstrap = \"{PROD_KAFKA_ADDRS}\"\n",
            demo_dir.join("triage.db").display(),
            root.join("runbooks").display(),
            kubeconfig.display(),
            prod_kubeconfig.display(),
        ),
    )
    .context("cannot write the demo configuration")?;
    sup.spawn("console", Command::new(bin("triage")).arg("serve").arg("--config").arg(&config))?;
    wait_for_port("console", CONSOLE_ADDR, Duration::from_secs(30), &sup)?;

    println!("\nTriage demo is up (incident: {}):", options.incident);
    println!("  console         http://{CONSOLE_ADDR}/");
    println!("  staging (the incident):");
    println!("  Prometheus      http://{PROMETHEUS_ADDR}/");
    println!("  Kubernetes API  http://{API_ADDR}/   kubectl --kubeconfig {} get pods", kubeconfig.display());
    println!(
        "  sandbox         http://{METRICS_ADDR}/metrics   http://{METRICS_ADDR}/health/stream-processor"
    );
    println!("  PostgreSQL      psql -h 127.0.0.1 -p {POSTGRES_PORT} -U postgres");
    println!("  Kafka           kcat -b {KAFKA_ADDRS} -L");
    println!("  prod-eu (healthy, production protection):");
    println!("  Prometheus      http://{PROD_PROMETHEUS_ADDR}/");
    println!(
        "  Kubernetes API  http://{PROD_API_ADDR}/   kubectl --kubeconfig {} get pods",
        prod_kubeconfig.display()
    );
    println!("  Kafka           kcat -b {PROD_KAFKA_ADDRS} -L");
    if options.sso {
        println!("  OpenID provider http://{OIDC_ADDR}/   users (password = name + \"-pass\"):");
        for (id, email, group) in DEMO_USERS {
            println!("                  {id:<6} {email:<22} {group}");
        }
    }
    println!(
        "  switch incident {} incident consumer-lag --control http://{METRICS_ADDR}",
        bin("triage-sandbox").display()
    );
    println!("\nPress Ctrl-C to stop everything.");
    if let Some(name) = sup.wait() {
        bail!("{name} stopped unexpectedly; see its output above");
    }
    println!("\nstopping…");
    Ok(())
}

/// Starts the test OpenID provider (`tests/oidc/provider.mjs`, npm `oidc-provider`) on
/// 127.0.0.1:9400 with the demo's client and users; returns the `[auth]` configuration for it.
fn start_oidc_provider(root: &Path, sup: &mut Supervisor) -> Result<String> {
    let module = root.join("tools/node_modules/oidc-provider/lib/index.js");
    if !module.exists() {
        bail!("{} is missing; run `cargo xtask setup`", module.display());
    }
    let key = Command::new("node")
        .args(["-e", "process.stdout.write(require('crypto').randomBytes(64).toString('base64'))"])
        .output()
        .context("cannot run node")?;
    let key = String::from_utf8_lossy(&key.stdout).into_owned();
    let users: Vec<String> = DEMO_USERS
        .iter()
        .map(|(id, email, group)| {
            format!(
                "{{\"id\":\"{id}\",\"password\":\"{id}-pass\",\"email\":\"{email}\",\"groups\":[\"{group}\"]}}"
            )
        })
        .collect();
    let config = format!(
        "{{\"module\":\"{}\",\"port\":9400,\"issuer\":\"http://{OIDC_ADDR}\",\
         \"client\":{{\"client_id\":\"triage-demo\",\"client_secret\":\"demo-client-secret\",\
         \"redirect_uris\":[\"http://{CONSOLE_ADDR}/auth/callback\"],\
         \"post_logout_redirect_uris\":[\"http://{CONSOLE_ADDR}/auth/logged-out\"]}},\
         \"users\":[{}]}}",
        module.display(),
        users.join(",")
    );
    sup.spawn(
        "oidc-provider",
        Command::new("node").arg(root.join("tests/oidc/provider.mjs")).env("OIDC_PROVIDER_CONFIG", config),
    )?;
    wait_for_port("oidc-provider", OIDC_ADDR, Duration::from_secs(30), sup)?;
    Ok(format!(
        "# Single sign-on through the demo's OpenID provider.\n[auth]\nmode = \"oidc\"\nsession_key = \"{key}\"\n\n\
         [auth.oidc]\nissuer = \"http://{OIDC_ADDR}\"\nclient_id = \"triage-demo\"\n\
         client_secret = \"demo-client-secret\"\nredirect_url = \"http://{CONSOLE_ADDR}/auth/callback\"\n\
         reader_groups = [\"sre-readers\"]\noperator_groups = [\"sre-operators\"]\nadmin_groups = [\"triage-admins\"]\n"
    ))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A command run as the `postgres` user when we are root (initdb refuses root).
fn as_postgres(program: &str) -> Command {
    let path = Path::new(PG_BIN).join(program);
    if is_root() {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--"]).arg(path);
        cmd
    } else {
        Command::new(path)
    }
}

/// The demo cluster's folder, created with `initdb` on first use.
fn postgres_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join("triage-demo-postgres");
    let data = dir.join("data");
    if data.join("PG_VERSION").exists() {
        return Ok(dir);
    }
    std::fs::create_dir_all(&dir)?;
    if is_root() {
        run_cmd(Command::new("chown").arg("postgres:postgres").arg(&dir))?;
    }
    println!("creating the demo PostgreSQL cluster in {}", data.display());
    run_cmd(
        as_postgres("initdb")
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "-D"])
            .arg(&data),
    )?;
    Ok(dir)
}

fn postgres_command(dir: &Path) -> Result<Command> {
    let mut cmd = as_postgres("postgres");
    cmd.arg("-D")
        .arg(dir.join("data"))
        .args(["-p", &POSTGRES_PORT.to_string(), "-k"])
        .arg(dir)
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "shared_preload_libraries=pg_stat_statements"])
        .args(["-c", "pg_stat_statements.track=all", "-c", "log_min_messages=warning"]);
    Ok(cmd)
}

fn wait_for_port(name: &str, addr: &str, timeout: Duration, sup: &Supervisor) -> Result<()> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if sup.stopping() {
            bail!("interrupted");
        }
        if TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("{name} did not start listening on {addr} within {}s", timeout.as_secs())
}
