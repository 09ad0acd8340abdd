//! The `triage` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use triage::config::Settings;
use triage::startup::Application;

#[derive(Debug, Parser)]
#[command(name = "triage", version, about = "Browser diagnostics console for SREs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the console (API and web UI).
    Serve {
        /// TOML configuration file; `TRIAGE__SECTION__KEY` environment variables override it.
        #[arg(long, short, env = "TRIAGE_CONFIG")]
        config: Option<PathBuf>,
        /// Log as JSON lines instead of human-readable text.
        #[arg(long)]
        json_logs: bool,
    },
    /// Validate a configuration file and print every problem with its key.
    CheckConfig {
        #[arg(long, short, env = "TRIAGE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Work with runbook files.
    Runbooks {
        #[command(subcommand)]
        command: RunbooksCommand,
    },
}

#[derive(Debug, Subcommand)]
enum RunbooksCommand {
    /// Validate every runbook of a folder; print each problem as `file:line: reason`.
    Check {
        /// Folder of `*.yaml` runbooks.
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Runbooks { command: RunbooksCommand::Check { dir } } => {
            let loaded = triage::runbooks::load_dir(&dir);
            for problem in &loaded.problems {
                eprintln!("{problem}");
            }
            if loaded.problems.is_empty() {
                println!("{} runbooks in {} files are valid", loaded.runbooks.len(), loaded.files);
                ExitCode::SUCCESS
            } else {
                eprintln!("{} problem(s) in {}", loaded.problems.len(), dir.display());
                ExitCode::from(1)
            }
        }
        Command::CheckConfig { config } => match Settings::load(config.as_deref()) {
            Ok(settings) => {
                println!("configuration is valid; console will listen on {}", settings.server.listen);
                for env in settings.environments() {
                    println!("environment {} ({}): {}", env.name, env.protection.as_str(), upstreams(&env));
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("configuration error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Serve { config, json_logs } => {
            let mut settings = match Settings::load(config.as_deref()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("configuration error: {e}");
                    return ExitCode::from(2);
                }
            };
            if json_logs {
                settings.log.format = triage::config::LogFormat::Json;
            }
            triage::telemetry::init(&settings.log);
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let result = runtime.block_on(async {
                // Signal handlers first: the port accepts connections from the moment it is bound.
                let shutdown = triage::startup::shutdown_signal();
                let app = Application::build(settings).await?;
                app.run(shutdown).await
            });
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("triage: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// One line naming what an environment reads: each upstream it has, or that it has none.
fn upstreams(env: &triage::config::EnvironmentSettings) -> String {
    let mut parts = Vec::new();
    if let Some(p) = &env.prometheus {
        parts.push(format!("Prometheus {}", p.url));
    }
    if let Some(k) = &env.kubernetes {
        let from =
            k.kubeconfig.as_ref().map_or("the inferred kubeconfig".to_owned(), |p| p.display().to_string());
        parts.push(format!("Kubernetes from {from} (namespaces {})", k.namespaces.join(", ")));
    }
    if let Some(pg) = &env.postgres {
        let names: Vec<&str> = pg.targets.iter().map(|t| t.name.as_str()).collect();
        parts.push(format!("PostgreSQL targets {}", names.join(", ")));
    }
    if let Some(k) = &env.kafka {
        parts.push(format!("Kafka {}", k.bootstrap));
    }
    if parts.is_empty() { "no upstream configured".to_owned() } else { parts.join("; ") }
}
