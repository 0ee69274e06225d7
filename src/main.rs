//! The `berth` command: arguments, logging, config, then the library does the work.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use berth::config::{self, BindSite, Config, LogFormat};
use berth::server::{Server, StartError};

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "A container-aware L4/L7 load balancer"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the load balancer (no --config: the embedded default).
    Run {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Validate a config file and print a summary, or every error.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { config } => check(&config),
        Command::Run { config } => run(config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn check(path: &std::path::Path) -> anyhow::Result<()> {
    let config = config::load(path)?;
    let text = format!(
        "{} is valid\n{}{}\n",
        path.display(),
        config.summary(),
        berth::acme::summary(&config)
    );
    // A closed pipe (`berth check ... | head`) is the reader's choice, not an error.
    match std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn run(path: Option<PathBuf>) -> anyhow::Result<()> {
    let config = match &path {
        Some(p) => config::load(p)?,
        None => config::embedded_default(),
    };
    init_tracing(&config);
    let server = start(config, path)?;
    wait_for_signal()?;
    server.shutdown();
    Ok(())
}

/// Starts berth; an address that cannot be bound is reported against its line in the file.
fn start(config: Config, path: Option<PathBuf>) -> anyhow::Result<Server> {
    let err = match Server::start(config, path.clone()) {
        Ok(server) => return Ok(server),
        Err(e) => e,
    };
    let (site, address, io) = match &err {
        StartError::Bind(b) => (BindSite::Listener(&b.name), b.address, &b.source),
        StartError::Admin { address, source } => (BindSite::Admin, *address, source),
        StartError::Tls(_)
        | StartError::Thread(_)
        | StartError::AdminToken(_)
        | StartError::AccessLog(_) => return Err(err.into()),
    };
    let (source, file) = match &path {
        Some(p) => (
            std::fs::read_to_string(p).unwrap_or_default(),
            p.display().to_string(),
        ),
        None => (
            config::EMBEDDED_DEFAULT.to_owned(),
            config::EMBEDDED_NAME.to_owned(),
        ),
    };
    Err(config::bind_error(&source, &file, site, address, io).into())
}

fn init_tracing(config: &Config) {
    let filter = EnvFilter::try_from_env("BERTH_LOG")
        .unwrap_or_else(|_| EnvFilter::new(config.log.level.as_str()));
    // Warnings and errors are rate-limited per log statement (`berth_log_suppressed_total`).
    let limit = berth::metrics::log_limit::WarnLimit::default;
    let fmt = tracing_subscriber::fmt::layer();
    let registry = tracing_subscriber::registry().with(filter);
    match config.log.format {
        LogFormat::Json => registry.with(fmt.json().with_filter(limit())).init(),
        LogFormat::Text => registry.with(fmt.with_filter(limit())).init(),
    }
}

/// Blocks until SIGTERM or SIGINT.
fn wait_for_signal() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("signal runtime")?;
    runtime.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
        Ok(())
    })
}
