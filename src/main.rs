//! The `flawmap` command: headless training and evaluation (and, later, the dashboard).

mod cli;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "flawmap", version, about = "Guided Collaborative Training for pixel-wise semi-supervised learning")]
struct Cli {
    /// Without a subcommand: `serve` with its defaults.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// The dashboard: start, watch and inspect runs in the browser.
    Serve(ServeArgs),
    /// Train a run from a TOML config, with a progress bar and a final metrics table.
    Train {
        #[arg(long)]
        config: PathBuf,
        /// Change one field of the config: `--set train.iterations=50` (repeatable; the
        /// value is TOML, a bare word is a string).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
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
    /// Evaluate a checkpoint on its validation split (or, to see how far F and the models
    /// fit the images they learnt from, on its labelled training images).
    Eval {
        #[arg(long)]
        checkpoint: PathBuf,
        #[arg(long)]
        device: Option<String>,
        /// Which images: `validation`, or `labeled` (the run's labelled training images,
        /// uncropped, the split its seed drew).
        #[arg(long, default_value = "validation")]
        split: cli::eval::EvalSplit,
    },
    /// Train a GCT checkpoint's flaw detector alone against its frozen task models, scoring
    /// it on the validation and labelled images as it goes: is F limited by its training
    /// budget or by what its labelled images teach?
    RefitFlaw {
        #[arg(long)]
        checkpoint: PathBuf,
        #[arg(long)]
        device: Option<String>,
        #[arg(long, default_value_t = 1000)]
        iterations: usize,
        #[arg(long, default_value_t = 200)]
        eval_every: usize,
        /// F's starting learning rate (poly decay over the iterations); the run's when unset.
        #[arg(long)]
        fd_lr: Option<f64>,
        /// Start F from a fresh initialisation instead of the checkpoint's F.
        #[arg(long)]
        fresh: bool,
        /// Share of F's labelled predictions with a class region swapped (gct.fd_class_swaps);
        /// the run's when unset.
        #[arg(long)]
        class_swaps: Option<f64>,
    },
    /// Time training iterations of gct, dual and suponly at the reference bench config;
    /// prints one JSON line per measurement.
    Bench(cli::bench::BenchArgs),
    /// Run a study (label ratios x algorithms x seeds) into the dashboard's database and
    /// print its table; run it again to resume.
    Study(cli::study::StudyArgs),
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// Address to bind; anything but loopback needs --token.
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: Option<std::net::SocketAddr>,
    /// Where the database, checkpoints and snapshots live.
    #[arg(long, default_value = "flawmap-data")]
    data_dir: Option<PathBuf>,
    /// A folder whose sub-folders users may train on (repeatable).
    #[arg(long = "datasets-dir")]
    datasets_dirs: Vec<PathBuf>,
    /// Token required on every request (Authorization: Bearer, or ?token= once).
    #[arg(long, env = "FLAWMAP_TOKEN")]
    token: Option<String>,
    /// Trainings that run at once; the rest queue.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// A host name the dashboard is reached by (repeatable). IP addresses and `localhost`
    /// are always accepted; any other name in a request's Host header is refused (403), so a
    /// web page cannot reach the dashboard through DNS rebinding.
    #[arg(long = "allowed-host")]
    allowed_hosts: Vec<String>,
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let static_dir = [PathBuf::from("static"), PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("static")]
        .into_iter()
        .find(|p| p.join("app.css").exists())
        .ok_or("static/ not found: run from the repository")?;
    let opts = flawmap::web::ServeOptions {
        addr: args.addr.unwrap_or_else(|| "127.0.0.1:3000".parse().expect("valid address")),
        data_dir: args.data_dir.unwrap_or_else(|| PathBuf::from("flawmap-data")),
        datasets_dirs: args.datasets_dirs,
        token: args.token.filter(|t| !t.is_empty()),
        concurrency: args.concurrency,
        static_dir,
        allowed_hosts: args.allowed_hosts,
        request_timeout: flawmap::web::REQUEST_TIMEOUT,
    };
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    rt.block_on(flawmap::web::serve(opts, |addr| println!("flawmap dashboard on http://{addr}/"))).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into()))
        .init();
    let result = match Cli::parse().command {
        None => serve(ServeArgs { addr: None, data_dir: None, ..Default::default() }),
        Some(Command::Serve(args)) => serve(args),
        Some(Command::Train { config, sets, device, out, resume }) => cli::train::run(&config, &sets, device.as_deref(), &out, resume),
        Some(Command::Eval { checkpoint, device, split }) => cli::eval::run(&checkpoint, device.as_deref(), split),
        Some(Command::RefitFlaw { checkpoint, device, iterations, eval_every, fd_lr, fresh, class_swaps }) => {
            cli::refit::run(cli::refit::RefitArgs { checkpoint: &checkpoint, device: device.as_deref(), iterations, eval_every, fd_lr, fresh, class_swaps })
        }
        Some(Command::Bench(args)) => cli::bench::run(args),
        Some(Command::Study(args)) => cli::study::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
