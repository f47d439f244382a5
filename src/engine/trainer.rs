//! The training loop: data, schedules, the per-algorithm step, reporting, evaluation,
//! snapshots and checkpoints.

use super::checkpoint::{self, CheckpointMeta};
use super::evaluate::Evaluator;
use super::events::{CheckpointInfo, Event, ModelLosses, RunInfo, StepMetrics};
use super::nets::{Nets, Optimisers};
use super::snapshot::{self, Probes};
use super::step::{DeviceBatch, StepLosses, StepParams, dual_step, gct_flaw_only_step, gct_step, suponly_step};
use super::{RunControl, StartOptions};
use crate::config::limits::MAX_ITERATIONS;
use crate::config::{Algorithm, RunConfig};
use crate::data;
use crate::data::batches::{Batcher, Split, iterations_per_epoch};
use crate::device;
use crate::gct::schedule::{poly_lr, rampup, warmup};
use crate::host::to_f32;
use crate::models::flaw_detector::map_size;
use burn::tensor::Tensor;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::mpsc::SyncSender as Sender;
use std::time::Instant;

pub(super) fn run(config: RunConfig, options: StartOptions, tx: Sender<Event>, control: RunControl) {
    let mut step = 0;
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| train(&config, &options, &tx, &control, &mut step)));
    let last = match outcome {
        Ok(Ok(event)) => event,
        Ok(Err(message)) => Event::Failed { step, message },
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "training panicked".into());
            Event::Failed { step, message: format!("internal error: {message}") }
        }
    };
    let _ = tx.send(last);
}

fn checkpoint_path(out_dir: &Path, step: usize) -> PathBuf {
    out_dir.join("checkpoints").join(format!("step-{step:06}.safetensors"))
}

/// Every figure of a step read back in one transfer (a single sync point).
struct StepFigures {
    terms: Vec<f64>,
    fd: Option<f64>,
    shares: Option<[f64; 3]>,
    dc_effect: Option<[f64; 6]>,
}

fn read_losses(l: &StepLosses) -> StepFigures {
    let mut all: Vec<Tensor<1>> = l.terms.clone();
    all.extend(l.fd.clone());
    all.extend(l.shares.iter().flatten().cloned());
    all.extend(l.dc_effect.iter().flatten().cloned());
    let v: Vec<f64> = to_f32(Tensor::cat(all, 0)).into_iter().map(f64::from).collect();
    let mut rest = v.into_iter();
    let terms: Vec<f64> = rest.by_ref().take(l.terms.len()).collect();
    let fd = l.fd.as_ref().and_then(|_| rest.next());
    let mut take = |n: usize| rest.by_ref().take(n).collect::<Vec<f64>>();
    let shares = l.shares.as_ref().map(|_| take(3).try_into().expect("three shares"));
    let dc_effect = l.dc_effect.as_ref().map(|_| take(6).try_into().expect("six dc shares"));
    StepFigures { terms, fd, shares, dc_effect }
}

fn losses_of(terms: &[f64]) -> ModelLosses {
    ModelLosses { sup: terms[0], dc: terms[1], fc: terms[2], total: terms[0] + terms[1] + terms[2] }
}

fn train(config: &RunConfig, options: &StartOptions, tx: &Sender<Event>, control: &RunControl, step_out: &mut usize) -> Result<Event, String> {
    let acquired = device::acquire(config.device)?;
    let device = acquired.device.clone();
    let train_device = device.clone().autodiff();
    let data = data::load(config, &options.data_root).map_err(|e| e.to_string())?;
    let split = Split::new(data.train.len(), config.data.label_ratio, config.data.split_seed);
    if config.algorithm != Algorithm::Suponly && split.unlabeled.is_empty() {
        return Err(format!(
            "data.label_ratio = {} leaves no unlabelled training images; {} needs some (use suponly for fully labelled training)",
            config.data.label_ratio, config.algorithm
        ));
    }
    let ipe = iterations_per_epoch(config, &split);
    let total = match config.train.iterations {
        Some(n) => n,
        None => config.train.epochs.checked_mul(ipe).filter(|&n| n <= MAX_ITERATIONS).ok_or_else(|| {
            format!(
                "train.epochs = {} at {ipe} iterations per epoch exceeds {MAX_ITERATIONS} iterations; use fewer epochs or set train.iterations",
                config.train.epochs
            )
        })?,
    };

    let (mut nets, mut opts, start, mut best) = match &options.resume {
        Some(path) => {
            let loaded = checkpoint::load(path, &train_device)?;
            check_resumable(config, &loaded.meta.config)?;
            (loaded.nets, loaded.optimisers, loaded.meta.step, loaded.meta.best_score)
        }
        None => {
            let nets = Nets::new(config, &train_device);
            let opts = Optimisers::new(config, &nets);
            (nets, opts, 0, None)
        }
    };
    *step_out = start;

    let task = config.task_spec();
    let flaw = config.flaw_params();
    let probes = Probes::choose(config, &data, &split);
    let class_names = config.class_names();
    let _ = tx.send(Event::Started(RunInfo {
        device: acquired.name.clone(),
        total_iterations: total,
        iterations_per_epoch: ipe,
        start_step: start,
        train_images: data.train.len(),
        val_images: data.val.len(),
        split: split.clone(),
        fd_stages: config.fd_stages(),
        fd_map_size: map_size(config.data.crop_size, config.fd_stages()),
        probes: probes.info.clone(),
        class_names,
        masks: data.masks.clone(),
    }));

    let evaluator = Evaluator { config, task, flaw, device: device.clone(), input_scores: Default::default() };
    let mut batcher = Batcher::new(config, &split);
    // Labelled images only F learns from (gct.fd_holdout; none by default, as the spec).
    let fd_holdout = if config.algorithm == Algorithm::Gct { split.fd_holdout(config.gct.fd_holdout, config.data.split_seed) } else { Vec::new() };
    let rampup_iters = config.rampup_iterations(ipe, total);
    let every = |n: usize| if n == 0 { ipe } else { n };
    let (eval_every, ckpt_every) = (every(config.train.eval_every), every(config.train.checkpoint_every));
    let write_checkpoint = |nets: &Nets, opts: &Optimisers, step: usize, best_score: Option<f64>, is_best: bool| -> Result<(), String> {
        let path = if is_best { options.out_dir.join("checkpoints").join("best.safetensors") } else { checkpoint_path(&options.out_dir, step) };
        let meta = CheckpointMeta { step, config: config.clone(), best_score };
        let bytes = checkpoint::save(&path, nets, opts, &meta)?;
        let _ = tx.send(Event::Checkpoint(CheckpointInfo { step, path: path.display().to_string(), bytes, best: is_best }));
        Ok(())
    };

    let mut window = Instant::now();
    let mut window_iters = 0usize;
    for it in start..total {
        if control.is_stopped() {
            write_checkpoint(&nets, &opts, it, best, false)?;
            return Ok(Event::Stopped { step: it });
        }
        let host = batcher.batch(it, &data, config);
        let mut batch = DeviceBatch::upload(&host, &train_device);
        if !fd_holdout.is_empty() {
            batch.hide_from_task_models(&host, &fd_holdout, &train_device);
        }
        let r = rampup(it, rampup_iters);
        let t = &config.train;
        let hp = StepParams {
            lr: poly_lr(t.lr, it, total, t.poly_power) * warmup(it, (t.lr_warmup_fraction * total as f64).round() as usize),
            fd_lr: poly_lr(t.fd_lr, it, total, t.poly_power),
            head_lr_mult: t.head_lr_mult,
            dc_weight: (config.gct.lambda_dc * r) as f32,
            lambda_fc: (config.gct.lambda_fc * if config.gct.fc_rampup { r } else { 1.0 }) as f32,
            fd_scale: config.gct.fd_scale as f32,
            fd_steps: t.fd_steps,
            flaw,
            measure_dc: (it + 1) % t.log_every == 0 || it + 1 == total,
            split_batchnorm: t.split_batchnorm,
        };
        let losses = match config.algorithm {
            Algorithm::Gct => {
                let losses = gct_step(&mut nets, &mut opts, &batch, &task, &hp);
                for k in 0..t.fd_fresh_steps {
                    let extra = batcher.flaw_only_batch(it, k, &data, config);
                    gct_flaw_only_step(&mut nets, &mut opts, &DeviceBatch::upload(&extra, &train_device), &task, &hp);
                }
                losses
            }
            Algorithm::Dual => dual_step(&mut nets, &mut opts, &batch, &task, &hp),
            Algorithm::Suponly => suponly_step(&mut nets, &mut opts, &batch, &task, &hp),
        };
        let step = it + 1;
        *step_out = step;
        window_iters += 1;
        let epoch = step as f64 / ipe as f64;

        if step % t.log_every == 0 || step == total {
            let StepFigures { terms, fd, shares, dc_effect } = read_losses(&losses);
            if terms.iter().chain(fd.iter()).any(|v| !v.is_finite()) {
                return Err(format!("the loss became non-finite at step {step} ({terms:?}); try a lower train.lr"));
            }
            let ms = window.elapsed().as_secs_f64() * 1000.0 / window_iters as f64;
            window = Instant::now();
            window_iters = 0;
            let _ = tx.send(Event::Step(StepMetrics {
                step,
                epoch,
                lr: hp.lr,
                fd_lr: hp.fd_lr,
                rampup: r,
                dc_weight: config.gct.lambda_dc * r,
                t1: losses_of(&terms[..3]),
                t2: (terms.len() == 6).then(|| losses_of(&terms[3..])),
                fd_loss: fd,
                dc_share_t1: shares.map(|s| s[0]),
                dc_share_t2: shares.map(|s| s[1]),
                fc_share: shares.map(|s| s[2]),
                dc_fix_t1: dc_effect.map(|d| d[0]),
                dc_break_t1: dc_effect.map(|d| d[1]),
                dc_fix_t2: dc_effect.map(|d| d[2]),
                dc_break_t2: dc_effect.map(|d| d[3]),
                dc_fix_with_c: dc_effect.map(|d| d[4]),
                dc_break_with_c: dc_effect.map(|d| d[5]),
                ms_per_iter: ms,
                images_per_sec: host.n as f64 * 1000.0 / ms.max(1e-9),
                time_ms: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
            }));
        }
        if t.vis_every > 0 && !probes.is_empty() && (step % t.vis_every == 0 || step == 1 || step == total) {
            let snap = snapshot::take(&probes, &nets, &task, &flaw, config, &device, step);
            let _ = tx.send(Event::Snapshot(snap));
        }
        // Scheduled evaluations, the last one, and any asked for through the run's control.
        let asked = control.take_evaluation_request();
        if asked || step % eval_every == 0 || step == total {
            let mut report = evaluator.run(&nets, &data.val, step, epoch);
            let score = report.models.iter().map(|m| m.score).filter(|s| s.is_finite()).fold(f64::NEG_INFINITY, f64::max);
            report.best = score.is_finite() && best.is_none_or(|b| score > b);
            if report.best {
                best = Some(score);
            }
            let is_best = report.best;
            let _ = tx.send(Event::Eval(Box::new(report)));
            if is_best {
                write_checkpoint(&nets, &opts, step, best, true)?;
            }
        }
        if step % ckpt_every == 0 || step == total {
            write_checkpoint(&nets, &opts, step, best, false)?;
        }
    }
    Ok(Event::Finished { step: total })
}

/// A checkpoint may be resumed under a config that differs only in name and device.
fn check_resumable(config: &RunConfig, saved: &RunConfig) -> Result<(), String> {
    let (now, then) = (config.task_optimizer(), saved.task_optimizer());
    if now != then {
        return Err(format!("the checkpoint's task models trained with {then}, this config asks for {now}: set train.optimizer = \"{then}\" to resume it"));
    }
    // `auto` and the optimiser it resolves to are the same choice.
    let strip = |c: &RunConfig| {
        let mut c = c.clone();
        c.name.clear();
        c.device = Default::default();
        c.train.optimizer = c.task_optimizer();
        c
    };
    if strip(config) != strip(saved) {
        return Err("the checkpoint was written under a different config (only name and device may change on resume)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_resumable;
    use crate::config::{Algorithm, RunConfig, TaskKind, TaskOptimizer};

    #[test]
    fn an_optimiser_change_is_refused_by_name_and_auto_equals_its_resolution() {
        let mut saved = RunConfig::shapes_demo(Algorithm::Gct).with_task_defaults(TaskKind::Denoising);
        saved.train.optimizer = TaskOptimizer::Sgd; // e.g. a format-1 checkpoint
        let mut now = saved.clone();
        now.train.optimizer = TaskOptimizer::Auto; // adam for denoising
        let err = check_resumable(&now, &saved).unwrap_err();
        assert!(err.contains("train.optimizer = \"sgd\""), "{err}");
        now.train.optimizer = TaskOptimizer::Sgd;
        check_resumable(&now, &saved).unwrap();
        saved.train.optimizer = TaskOptimizer::Adam;
        now.train.optimizer = TaskOptimizer::Auto;
        check_resumable(&now, &saved).unwrap();
    }
}
