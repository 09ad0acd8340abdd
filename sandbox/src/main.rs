//! `triage-sandbox`: run the simulated platform, or switch a running one's incident.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use triage_sandbox::Incident;
use triage_sandbox::server::{Options, Sandbox};

#[derive(Debug, Parser)]
#[command(
    name = "triage-sandbox",
    about = "A simulated streaming-analytics platform for Triage's demo and tests"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the sandbox in the foreground until Ctrl-C or SIGTERM.
    Run {
        /// Kubernetes API address.
        #[arg(long, default_value = "127.0.0.1:6443")]
        api_addr: SocketAddr,
        /// Address of /metrics, /health/{service} and /control/incident.
        #[arg(long, default_value = "127.0.0.1:9100")]
        metrics_addr: SocketAddr,
        /// Where to write the kubeconfig for kubectl and Triage.
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// Incident to start in (see `triage-sandbox incidents`).
        #[arg(long, default_value = "healthy")]
        incident: Incident,
        /// libpq connection string of a PostgreSQL (with pg_stat_statements) to run the workload against.
        #[arg(long)]
        postgres: Option<String>,
        /// The Kafka brokers' addresses, one per broker id, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094")]
        kafka_addrs: Vec<SocketAddr>,
        /// Idle consumer groups to add beside `audit-replayer` (benchmarks), at most 20,000.
        #[arg(long, default_value_t = 0)]
        extra_groups: usize,
    },
    /// Switch a running sandbox to another incident.
    Incident {
        name: Incident,
        /// Base URL of the running sandbox's metrics/control listener.
        #[arg(long, default_value = "http://127.0.0.1:9100")]
        control: String,
    },
    /// List the incidents.
    Incidents,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run {
                api_addr,
                metrics_addr,
                kubeconfig,
                incident,
                postgres,
                kafka_addrs,
                extra_groups,
            } => {
                let sandbox = Sandbox::start(Options {
                    api_addr,
                    metrics_addr,
                    kubeconfig,
                    incident,
                    postgres,
                    seed: 7,
                    kafka_addrs,
                    extra_groups,
                    kafka_sasl: None,
                })
                .await?;
                println!("Kubernetes API  {}", sandbox.api_url);
                println!("metrics         {}/metrics", sandbox.metrics_url);
                println!("Kafka           {}", sandbox.kafka_bootstrap);
                if let Some(k) = &sandbox.kubeconfig {
                    println!("kubeconfig      {}", k.display());
                }
                shutdown_signal().await;
                drop(sandbox);
                Ok(())
            }
            Command::Incident { name, control } => switch(&control, name).await,
            Command::Incidents => {
                for i in Incident::ALL {
                    println!("{i}");
                }
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("triage-sandbox: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Sends `POST /control/incident?name=…` over a plain TCP connection (no HTTP client needed).
async fn switch(control: &str, incident: Incident) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = control.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the sandbox at {control}: {e}"))?;
    let request = format!(
        "POST /control/incident?name={incident} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    if response.starts_with("HTTP/1.1 200") {
        println!("sandbox switched to {incident}");
        Ok(())
    } else {
        anyhow::bail!("the sandbox refused: {}", response.lines().last().unwrap_or_default())
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
