//! The `flawmap` command: headless training and evaluation (and, later, the dashboard).

mod cli;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "flawmap", version, about = "Guided Collaborative Training for pixel-wise semi-supervised learning")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a run from a TOML config, with a progress bar and a final metrics table.
    Train {
        #[arg(long)]
        config: PathBuf,
        /// auto (a real GPU through wgpu, else the CPU), wgpu, or cpu. Overrides the config.
        #[arg(long)]
        device: Option<String>,
        /// Output folder for checkpoints and events.jsonl.
        #[arg(long, default_value = "runs/cli")]
        out: PathBuf,
        /// Continue from a checkpoint of the same config.
        #[arg(long)]
        resume: Option<PathBuf>,
    },
    /// Evaluate a checkpoint on its validation split.
    Eval {
        #[arg(long)]
        checkpoint: PathBuf,
        #[arg(long)]
        device: Option<String>,
    },
    /// Time training iterations of gct, dual and suponly at the reference bench config;
    /// prints one JSON line per measurement.
    Bench(cli::bench::BenchArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into())).init();
    let result = match Cli::parse().command {
        Command::Train { config, device, out, resume } => cli::train::run(&config, device.as_deref(), &out, resume),
        Command::Eval { checkpoint, device } => cli::eval::run(&checkpoint, device.as_deref()),
        Command::Bench(args) => cli::bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
