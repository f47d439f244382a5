//! `flawmap refit-flaw`: train the flaw detector alone against a checkpoint's frozen task
//! models, and score it on the validation and the labelled training images as it goes.
//!
//! In a GCT run F chases moving targets (the models change every iteration) with one Adam
//! step per iteration. Holding the models still and giving F many more steps separates the
//! two explanations of a weak F: if F then ranks the mistakes better than the models' own
//! confidence, its training budget was the limit; if it fits its training images but not
//! new ones, the labelled images are (what F can learn from them does not transfer).

use flawmap::data;
use flawmap::data::batches::{Batcher, Split};
use flawmap::device;
use flawmap::engine::checkpoint;
use flawmap::engine::evaluate::Evaluator;
use flawmap::engine::events::EvalReport;
use flawmap::engine::nets::{Nets, Optimisers};
use flawmap::engine::step::{DeviceBatch, StepParams, gct_flaw_only_step};
use flawmap::gct::schedule::poly_lr;
use flawmap::host::to_f32;
use std::path::Path;

pub struct RefitArgs<'a> {
    pub checkpoint: &'a Path,
    pub device: Option<&'a str>,
    pub iterations: usize,
    pub eval_every: usize,
    /// F's learning rate at the start (poly decay over `iterations`); the run's when unset.
    pub fd_lr: Option<f64>,
    /// Start F from a fresh initialisation instead of the checkpoint's F.
    pub fresh: bool,
    /// `gct.fd_class_swaps` for the refit; the run's when unset.
    pub class_swaps: Option<f64>,
}

/// Mean over T1 and T2 of the AUROC of F's map and of the models' confidence, F's loss
/// against C(.), and the share of one-right pixels where F's map is lower on the right model.
fn scores(r: &EvalReport) -> (f64, f64, f64, f64) {
    let f = r.flaw.as_ref().expect("a GCT checkpoint has F");
    let mean = |a: Option<f64>, b: Option<f64>| 0.5 * (a.unwrap_or(f64::NAN) + b.unwrap_or(f64::NAN));
    let conf = |i: usize| r.models[i].confidence.as_ref().and_then(|c| c.auroc);
    let arbitration = f.arbitration.as_ref().map(|a| a.flaw).unwrap_or(f64::NAN);
    (mean(f.auroc_t1, f.auroc_t2), mean(conf(0), conf(1)), 0.5 * (f.loss_t1 + f.loss_t2), arbitration)
}

/// Segmentation: where exactly one model is right, F's and the confidence's share of right
/// picks per true class.
fn by_class(r: &EvalReport, names: &[String]) -> String {
    let Some(a) = r.flaw.as_ref().and_then(|f| f.arbitration.as_ref()) else { return String::new() };
    a.by_class
        .iter()
        .enumerate()
        .filter_map(|(c, s)| {
            let s = s.as_ref()?;
            let name = names.get(c).map(String::as_str).unwrap_or("?");
            Some(format!("{name} {:.2}/{:.2} ({})", s.flaw, s.confidence, s.pixels))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn run(args: RefitArgs) -> Result<(), String> {
    let meta = checkpoint::read_meta(args.checkpoint)?;
    let mut config = super::with_device(meta.config, args.device)?;
    if let Some(share) = args.class_swaps {
        config.gct.fd_class_swaps = share;
        config.validate().map_err(|errs| format!("--class-swaps: {errs}"))?;
    }
    if config.algorithm != flawmap::config::Algorithm::Gct {
        return Err(format!("{} is a {} checkpoint: only GCT runs have a flaw detector", args.checkpoint.display(), config.algorithm));
    }
    if args.iterations == 0 || args.eval_every == 0 {
        return Err("--iterations and --eval-every must be at least 1".into());
    }
    let acquired = device::acquire(config.device)?;
    let train_device = acquired.device.clone().autodiff();
    // Two copies: the task models of `training` run in train mode to give F the predictions
    // GCT gives it (which moves their BatchNorm running statistics); those of `scored` are
    // never run in train mode, so the models F is scored against stay the checkpoint's.
    let mut training = checkpoint::load(args.checkpoint, &train_device)?;
    let scored = checkpoint::load(args.checkpoint, &train_device)?.nets;
    if args.fresh {
        let fresh = Nets::new(&config, &train_device);
        training.nets.f = fresh.f;
        training.optimisers.f = Optimisers::new(&config, &training.nets).f;
    }
    let data = data::load(&config, Path::new(".")).map_err(|e| e.to_string())?;
    let split = Split::new(data.train.len(), config.data.label_ratio, config.data.split_seed);
    let labelled = split.labeled_items(&data.train);
    let task = config.task_spec();
    let flaw = config.flaw_params();
    let evaluator = Evaluator { config: &config, task, flaw, device: acquired.device.clone(), input_scores: Default::default() };
    let base_lr = args.fd_lr.unwrap_or(config.train.fd_lr);
    let t = &config.train;

    println!(
        "{}: F {} against the task models of step {}, {} iterations at F lr {base_lr} (poly decay), on {}",
        config.name,
        if args.fresh { "from a fresh initialisation" } else { "from the checkpoint" },
        meta.step,
        args.iterations,
        acquired.name
    );
    println!(
        "{:>6} {:>11} {:>12} {:>15} {:>11} {:>15} {:>17}  one-right by true class: F/confidence (pixels)",
        "iter", "train loss", "val F AUROC", "val confidence", "val F loss", "val F one-right", "labelled F AUROC"
    );
    let class_names = config.class_names();
    let report = |it: usize, train_loss: Option<f64>, training: &checkpoint::Loaded| {
        let nets = Nets { t1: scored.t1.clone(), t2: scored.t2.clone(), f: training.nets.f.clone() };
        let val = evaluator.run(&nets, &data.val, it, 0.0);
        let (f_val, conf_val, loss_val, one_right) = scores(&val);
        let (f_lab, ..) = scores(&evaluator.run(&nets, &labelled, it, 0.0));
        let loss = train_loss.map(|l| format!("{l:.4}")).unwrap_or_else(|| "-".into());
        println!("{it:>6} {loss:>11} {f_val:>12.3} {conf_val:>15.3} {loss_val:>11.4} {one_right:>15.3} {f_lab:>17.3}  {}", by_class(&val, &class_names));
    };
    report(0, None, &training);

    let mut batcher = Batcher::new(&config, &split);
    let (mut loss_sum, mut loss_n) = (0.0f64, 0usize);
    for it in 0..args.iterations {
        // The run's own batch stream continued past its last iteration, so F sees new crops.
        let host = batcher.batch(meta.step + it, &data, &config);
        let batch = DeviceBatch::upload(&host, &train_device);
        let hp = StepParams {
            lr: 0.0,
            fd_lr: poly_lr(base_lr, it, args.iterations, t.poly_power),
            head_lr_mult: t.head_lr_mult,
            dc_weight: 0.0,
            lambda_fc: 0.0,
            fd_scale: config.gct.fd_scale as f32,
            fd_steps: 1,
            flaw,
            measure_dc: false,
            split_batchnorm: t.split_batchnorm,
        };
        // F's update as under train.fd_fresh_steps: the task models predict without gradient.
        let loss = gct_flaw_only_step(&mut training.nets, &mut training.optimisers, &batch, &task, &hp);
        // The loss is fd_scale * the mean of the two MSEs: report the MSE, as the evaluation does.
        loss_sum += to_f32(loss)[0] as f64 / config.gct.fd_scale.max(f64::MIN_POSITIVE);
        loss_n += 1;
        if (it + 1) % args.eval_every == 0 || it + 1 == args.iterations {
            report(it + 1, Some(loss_sum / loss_n as f64), &training);
            (loss_sum, loss_n) = (0.0, 0);
        }
    }
    Ok(())
}
