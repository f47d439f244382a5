//! `flawmap bench`: milliseconds per training iteration of gct, dual and suponly at one
//! fixed config, so figures can be set beside other frameworks and compared across
//! commits. Each measurement runs in its own process so peak memory is its own; each
//! prints one JSON line.
//!
//! Fixed config: 64x64 crops, K = 4, batch 4 labelled + 4 unlabelled (SupOnly: 8
//! labelled), T1 = T2 = UNet of 3 levels, base width 16; F with ndf 32 and 3 stride-2 stages.

use burn::tensor::Tensor;
use clap::Args;
use flawmap::config::{Algorithm, Arch, NetConfig, RunConfig};
use flawmap::data::batches::{Batcher, Split};
use flawmap::data::shapes;
use flawmap::device::{self, DeviceChoice};
use flawmap::engine::nets::{Nets, Optimisers};
use flawmap::engine::step::{DeviceBatch, Phases, StepParams, dual_step, gct_step_timed, suponly_step_timed};
use flawmap::host::to_f32;
use std::time::Instant;

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Devices to measure: cpu, wgpu (comma separated).
    #[arg(long, default_value = "cpu,wgpu")]
    devices: String,
    /// Algorithms to measure (comma separated).
    #[arg(long, default_value = "gct,dual,suponly")]
    algorithms: String,
    /// Timed iterations per measurement.
    #[arg(long, default_value_t = 20)]
    iters: usize,
    /// Untimed warm-up iterations (shader compilation on wgpu happens here).
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Also print where an iteration's time goes, phase by phase (median ms per phase over
    /// the timed iterations). Exact on the CPU (flex runs eagerly); on wgpu each phase is
    /// closed by a read-back, which adds sync points.
    #[arg(long)]
    profile: bool,
    /// Instead of whole iterations, time single layers at the bench shapes (forward, and
    /// forward + backward), through burn's convolution and through the matmul forms.
    #[arg(long)]
    ops: bool,
    /// Internal: measure one (algorithm, device) in this process.
    #[arg(long, hide = true)]
    one: Option<String>,
}

/// The fixed bench config, set field by field so that changes to the demo's defaults
/// never move the figures.
pub fn bench_config(algorithm: Algorithm) -> RunConfig {
    let mut c = RunConfig::shapes_demo(algorithm);
    c.name = format!("bench-{algorithm}");
    c.data.num_classes = 4;
    c.data.crop_size = 64;
    c.data.base_size = 64;
    c.data.scale_min = 0.5;
    c.data.scale_max = 2.0;
    c.train.batch_labeled = 4;
    c.train.batch_unlabeled = 4;
    // The spec's iteration, which the PyTorch anchor runs: no extra F updates, F as the
    // reference builds it (no confidence residual) and learning from the models' own
    // predictions (no class swaps), both of which the demo turns on.
    c.train.fd_fresh_steps = 0;
    c.flaw_detector.confidence_residual = false;
    c.gct.fd_class_swaps = 0.0;
    for net in [&mut c.t1, &mut c.t2] {
        *net = NetConfig { arch: Arch::Unet, width: 16, depth: 3 };
    }
    c.flaw_detector.ndf = 32;
    c.flaw_detector.stride2_stages = Some(3);
    c
}

pub fn run(args: BenchArgs) -> Result<(), String> {
    if args.ops {
        return super::bench_ops::run(args.iters.max(3));
    }
    if let Some(one) = &args.one {
        let (alg, dev) = one.split_once('@').ok_or("--one takes ALG@DEVICE")?;
        return measure(alg.parse::<Algorithm>()?, dev.parse()?, &args);
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    for dev in args.devices.split(',') {
        for alg in args.algorithms.split(',') {
            let status = std::process::Command::new(&exe)
                .args(["bench", "--iters", &args.iters.to_string(), "--warmup", &args.warmup.to_string(), "--one", &format!("{alg}@{dev}")])
                .args(args.profile.then_some("--profile"))
                .status()
                .map_err(|e| e.to_string())?;
            if !status.success() {
                eprintln!("bench {alg}@{dev} failed ({status})");
            }
        }
    }
    Ok(())
}

/// Peak resident memory of this process (Linux VmHWM), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn measure(algorithm: Algorithm, choice: DeviceChoice, args: &BenchArgs) -> Result<(), String> {
    let config = bench_config(algorithm);
    let acquired = device::acquire(choice)?;
    let dev = acquired.device.clone().autodiff();
    let data = shapes::generate(64, 1, 64, true);
    let split = Split::new(data.train.len(), 0.5, 0);
    let mut batcher = Batcher::new(&config, &split);
    let mut nets = Nets::new(&config, &dev);
    let mut opts = Optimisers::new(&config, &nets);
    let task = config.task_spec();
    let hp = StepParams {
        lr: config.train.lr,
        fd_lr: config.train.fd_lr,
        head_lr_mult: config.train.head_lr_mult,
        dc_weight: config.gct.lambda_dc as f32,
        lambda_fc: config.gct.lambda_fc as f32,
        fd_scale: config.gct.fd_scale as f32,
        fd_steps: config.train.fd_steps,
        flaw: config.flaw_params(),
        // As training with its default log_every = 1: every step's figures are read back.
        measure_dc: true,
        split_batchnorm: false,
    };
    let mut times = Vec::new();
    let mut batch_size = 0;
    let mut clock = PhaseClock::new((args.profile && choice == DeviceChoice::Wgpu).then(|| dev.clone()));
    for it in 0..args.warmup + args.iters {
        let t_data = Instant::now();
        let hb = batcher.batch(it, &data, &config);
        let data_ms = t_data.elapsed().as_secs_f64() * 1000.0;
        batch_size = hb.n;
        let t0 = Instant::now();
        clock.start(it >= args.warmup);
        clock.add("host batch: crop, flip, noise (not in the total)", data_ms);
        let batch = DeviceBatch::upload(&hb, &dev);
        clock.mark("batch upload");
        let losses = match algorithm {
            Algorithm::Gct => gct_step_timed(&mut nets, &mut opts, &batch, &task, &hp, &mut clock),
            Algorithm::Dual => dual_step(&mut nets, &mut opts, &batch, &task, &hp),
            Algorithm::Suponly => suponly_step_timed(&mut nets, &mut opts, &batch, &task, &hp, &mut clock),
        };
        // Reading the losses back waits for the device: the time includes all its work.
        let _ = to_f32(Tensor::cat(losses.terms, 0));
        clock.mark("loss read-back");
        if it >= args.warmup {
            times.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    let median = pct(0.5);
    let line = serde_json::json!({
        "bench": "train_iteration",
        "algorithm": algorithm.to_string(),
        "device": acquired.name,
        "batch": batch_size,
        "crop": 64,
        "iters": times.len(),
        "ms_median": (median * 10.0).round() / 10.0,
        "ms_p10": (pct(0.1) * 10.0).round() / 10.0,
        "ms_p90": (pct(0.9) * 10.0).round() / 10.0,
        "images_per_sec": (batch_size as f64 * 1000.0 / median * 100.0).round() / 100.0,
        "peak_rss_mib": peak_rss_mib().map(|m| m.round()),
        "version": env!("CARGO_PKG_VERSION"),
    });
    println!("{line}");
    if args.profile {
        clock.print(&format!("{algorithm} on {}", acquired.name), median);
    }
    Ok(())
}

/// Per-phase wall times of the timed iterations (`--profile`).
struct PhaseClock {
    last: Instant,
    on: bool,
    /// Waited for at each mark (wgpu); None on eager backends.
    sync: Option<burn::tensor::Device>,
    phases: Vec<(&'static str, Vec<f64>)>,
}

impl PhaseClock {
    fn new(sync: Option<burn::tensor::Device>) -> Self {
        Self { last: Instant::now(), on: false, sync, phases: Vec::new() }
    }

    fn start(&mut self, timed: bool) {
        self.on = timed;
        self.last = Instant::now();
    }

    fn add(&mut self, phase: &'static str, ms: f64) {
        if !self.on {
            return;
        }
        match self.phases.iter_mut().find(|(p, _)| *p == phase) {
            Some((_, v)) => v.push(ms),
            None => self.phases.push((phase, vec![ms])),
        }
    }

    fn print(&self, title: &str, total_ms: f64) {
        println!("\nwhere a {title} iteration goes (median of {} iterations; total {total_ms:.1} ms):", self.phases.first().map_or(0, |p| p.1.len()));
        println!("{:<52} {:>9} {:>7}", "phase", "ms", "share");
        let mut sum = 0.0;
        for (phase, v) in &self.phases {
            let mut v = v.clone();
            v.sort_by(f64::total_cmp);
            let med = v[v.len() / 2];
            let in_total = !phase.contains("not in the total");
            if in_total {
                sum += med;
            }
            let share = if in_total { format!("{:>6.1}%", 100.0 * med / total_ms) } else { "      -".into() };
            println!("{phase:<52} {med:>9.1} {share}");
        }
        println!("{:<52} {sum:>9.1} {:>6.1}%", "sum of phase medians", 100.0 * sum / total_ms);
    }
}

impl Phases for PhaseClock {
    fn mark(&mut self, phase: &'static str) {
        if let Some(d) = &self.sync {
            // wgpu queues work: wait for it so the time lands in this phase.
            let _ = d.sync();
        }
        let now = Instant::now();
        let ms = (now - self.last).as_secs_f64() * 1000.0;
        self.add(phase, ms);
        self.last = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bench_config_is_the_documented_one() {
        for alg in [Algorithm::Gct, Algorithm::Suponly] {
            let c = bench_config(alg);
            c.validate().unwrap();
            assert_eq!((c.data.crop_size, c.data.num_classes, c.t1.width, c.t2.width, c.t1.depth), (64, 4, 16, 16, 3));
            assert_eq!((c.flaw_detector.ndf, c.fd_stages()), (32, 3));
            assert_eq!((c.flaw_detector.confidence_residual, c.gct.fd_class_swaps, c.train.fd_fresh_steps), (false, 0.0, 0));
            assert_eq!(c.labeled_per_batch() + c.unlabeled_per_batch(), 8);
        }
        assert_eq!(bench_config(Algorithm::Suponly).labeled_per_batch(), 8);
    }
}
