//! `stratovec`: try the engine on real data from the command line.
//!
//! Subcommands: `bench`, `import`, `export`, `search`, `stats`, `health`, `inspect`,
//! `verify`, `vacuum`, `kernels`. Log level: `-v`/`-q` or `RUST_LOG`; `--log-format json`.
//! Run `stratovec help <command>` for the options of each.

mod arrow_io;
mod backup;
mod bench;
mod commands;
mod kernels;
mod progress;
mod report;
#[cfg(feature = "server")]
mod serve;
#[cfg(feature = "server")]
mod serve_auth;
#[cfg(feature = "server")]
mod serve_config;
#[cfg(feature = "server")]
mod serve_openapi;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// stratovec: an embedded vector storage engine (command-line tool).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More log output on standard error (-v info, -vv debug, -vvv trace); the default
    /// shows warnings and errors. `RUST_LOG` (e.g. `stratovec=debug`) overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors in the log.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Log format: text or json (one object per line).
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

/// Installs the log subscriber on standard error.
fn init_logging(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        (_, 2) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if cli.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[derive(Subcommand)]
enum Command {
    /// Build, commit, optionally reopen, and measure recall@k / QPS / latency on fvecs data.
    Bench(Box<bench::BenchArgs>),
    /// Import vectors from .fvecs or .npy, or records from a JSON-lines export, Parquet or Arrow file, into a
    /// database directory (created if needed).
    Import(commands::ImportArgs),
    /// Write every live record (or those matching --filter) as JSON lines, Parquet or an Arrow file: a logical backup.
    Export(commands::ExportArgs),
    /// Search a database with query vectors from a file or the command line.
    Search(commands::SearchArgs),
    /// Print counts, sizes, memory and health of a database (--json: one object).
    Stats(commands::DbArgs),
    /// Print the health status and its reasons; exit 0 healthy, 1 degraded, 2 unhealthy
    /// (or unreadable): a container health check.
    Health(report::HealthArgs),
    /// Print the manifest and the header and sections of every segment.
    Inspect(commands::DbArgs),
    /// Check the checksum of every file of every manifest version; exit 1 on any damage.
    Verify(commands::DbArgs),
    /// Back up the current version incrementally (only files the destination lacks).
    Backup(backup::BackupArgs),
    /// Restore one version of a backup into an empty store.
    Restore(backup::RestoreArgs),
    /// Delete old manifests and the files no kept version references.
    Vacuum(commands::VacuumArgs),
    /// Print the CPU and the measured speed of every kernel table, marking the chosen one.
    Kernels(kernels::KernelsArgs),
    /// Serve the database over HTTP: JSON API under /v1, /healthz, /readyz, /metrics
    /// (a build with the `server` feature).
    #[cfg(feature = "server")]
    Serve(Box<serve::ServeArgs>),
}

fn main() -> ExitCode {
    #[cfg(feature = "server")]
    {
        let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        if let Err(e) = serve_config::apply(&args) {
            print_error(&e);
            return ExitCode::from(2);
        }
    }
    let cli = Cli::parse();
    init_logging(&cli);
    #[cfg(feature = "server")]
    if let Command::Serve(a) = &cli.command {
        if a.print_config {
            let matches = <Cli as clap::CommandFactory>::command().get_matches();
            if let Some(serve) = matches.subcommand_matches("serve") {
                serve_config::print(serve);
            }
            return ExitCode::SUCCESS;
        }
    }
    if let Command::Health(a) = cli.command {
        return match report::health(a) {
            Ok(code) => ExitCode::from(code as u8),
            Err(e) => {
                print_error(&e);
                ExitCode::from(2)
            }
        };
    }
    let result = match cli.command {
        Command::Bench(a) => bench::run(*a),
        Command::Import(a) => commands::import(a),
        Command::Export(a) => commands::export(a),
        Command::Vacuum(a) => commands::vacuum(a),
        Command::Backup(a) => backup::backup(a),
        Command::Restore(a) => backup::restore(a),
        Command::Search(a) => commands::search(a),
        Command::Stats(a) => report::stats(a),
        Command::Health(_) => unreachable!("handled above"),
        Command::Inspect(a) => commands::inspect(a),
        Command::Verify(a) => commands::verify(a),
        Command::Kernels(a) => kernels::run(a),
        #[cfg(feature = "server")]
        Command::Serve(a) => serve::run(*a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            print_error(&e);
            ExitCode::FAILURE
        }
    }
}

/// Prints `e`, and each cause in its chain whose text the lines above do not already hold.
fn print_error(e: &stratovec::Error) {
    let mut printed = e.to_string();
    eprintln!("error: {printed}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !printed.contains(&text) {
            eprintln!("  caused by: {text}");
            printed.push_str(&text);
        }
        source = s.source();
    }
}
