//! `flawmap bench`: milliseconds per training iteration of gct, dual and suponly at one
//! fixed config, so figures can be set beside other frameworks and compared across
//! commits. Each measurement runs in its own process so peak memory is its own; each
//! prints one JSON line.
//!
//! Fixed config: 64x64 crops, K = 4, batch 4 labelled + 4 unlabelled (SupOnly: 8
//! labelled), T1 = T2 = UNet of 3 levels, base width 16; F with ndf 32 and 3 stride-2 stages.

use clap::Args;
use flawmap::config::{Algorithm, Arch, NetConfig, RunConfig};
use flawmap::data::batches::{Batcher, Split};
use flawmap::data::shapes;
use flawmap::device::{self, DeviceChoice};
use flawmap::engine::nets::{Nets, Optimisers};
use flawmap::engine::step::{DeviceBatch, StepParams, dual_step, gct_step, suponly_step};
use flawmap::host::to_f32;
use burn::tensor::Tensor;
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
    for net in [&mut c.t1, &mut c.t2] {
        *net = NetConfig { arch: Arch::Unet, width: 16, depth: 3 };
    }
    c.flaw_detector.ndf = 32;
    c.flaw_detector.stride2_stages = Some(3);
    c
}

fn parse_alg(s: &str) -> Result<Algorithm, String> {
    match s {
        "gct" => Ok(Algorithm::Gct),
        "dual" => Ok(Algorithm::Dual),
        "suponly" => Ok(Algorithm::Suponly),
        o => Err(format!("unknown algorithm {o}")),
    }
}

pub fn run(args: BenchArgs) -> Result<(), String> {
    if let Some(one) = &args.one {
        let (alg, dev) = one.split_once('@').ok_or("--one takes ALG@DEVICE")?;
        return measure(parse_alg(alg)?, dev.parse()?, &args);
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    for dev in args.devices.split(',') {
        for alg in args.algorithms.split(',') {
            let status = std::process::Command::new(&exe)
                .args(["bench", "--iters", &args.iters.to_string(), "--warmup", &args.warmup.to_string(), "--one", &format!("{alg}@{dev}")])
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
        flaw: config.flaw_params(),
    };
    let mut times = Vec::new();
    let mut batch_size = 0;
    for it in 0..args.warmup + args.iters {
        let hb = batcher.batch(it, &data, &config);
        batch_size = hb.n;
        let t0 = Instant::now();
        let batch = DeviceBatch::upload(&hb, &dev);
        let losses = match algorithm {
            Algorithm::Gct => gct_step(&mut nets, &mut opts, &batch, &task, &hp),
            Algorithm::Dual => dual_step(&mut nets, &mut opts, &batch, &task, &hp),
            Algorithm::Suponly => suponly_step(&mut nets, &mut opts, &batch, &task, &hp),
        };
        // Reading the losses back waits for the device: the time includes all its work.
        let _ = to_f32(Tensor::cat(losses.terms, 0));
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
    Ok(())
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
            assert_eq!(c.labeled_per_batch() + c.unlabeled_per_batch(), 8);
        }
        assert_eq!(bench_config(Algorithm::Suponly).labeled_per_batch(), 8);
    }
}
