//! `stratovec`: try the engine on real data from the command line.
//!
//! Subcommands: `bench`, `import`, `export`, `search`, `stats`, `inspect`, `verify`, `vacuum`.
//! Run `stratovec help <command>` for the options of each.

mod bench;
mod commands;
mod kernels;
mod progress;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// stratovec: an embedded vector storage engine (command-line tool).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build, commit, optionally reopen, and measure recall@k / QPS / latency on fvecs data.
    Bench(Box<bench::BenchArgs>),
    /// Import vectors from .fvecs or .npy, or records from a JSON-lines export, into a
    /// database directory (created if needed).
    Import(commands::ImportArgs),
    /// Write every live record (or those matching --filter) as JSON lines: a logical backup.
    Export(commands::ExportArgs),
    /// Search a database with query vectors from a file or the command line.
    Search(commands::SearchArgs),
    /// Print counts and sizes of a database.
    Stats(commands::DbArgs),
    /// Print the manifest and the header and sections of every segment.
    Inspect(commands::DbArgs),
    /// Check the checksum of every file of every manifest version; exit 1 on any damage.
    Verify(commands::DbArgs),
    /// Delete old manifests and the files no kept version references.
    Vacuum(commands::VacuumArgs),
    /// Print the CPU and the measured speed of every kernel table, marking the chosen one.
    Kernels(kernels::KernelsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bench(a) => bench::run(*a),
        Command::Import(a) => commands::import(a),
        Command::Export(a) => commands::export(a),
        Command::Vacuum(a) => commands::vacuum(a),
        Command::Search(a) => commands::search(a),
        Command::Stats(a) => commands::stats(a),
        Command::Inspect(a) => commands::inspect(a),
        Command::Verify(a) => commands::verify(a),
        Command::Kernels(a) => kernels::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::FAILURE
        }
    }
}
