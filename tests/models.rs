//! The networks: shapes, the flaw detector's reference parameter count, and gradient
//! routing (F never moves in the task step, T1/T2 never move in the F step).

use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor};
use flawmap::config::{Algorithm, Arch, RunConfig};
use flawmap::data::batches::{Batcher, Split};
use flawmap::data::shapes;
use flawmap::engine::nets::{Nets, Optimisers};
use flawmap::engine::step::{DeviceBatch, StepLosses, StepParams, gct_flaw_only_step, gct_flaw_step, gct_step, gct_task_step, task_forward};
use flawmap::host::to_f32;
use flawmap::models::flaw_detector::{FlawDetector, FlawExtras, map_size};
use flawmap::models::{TaskNet, TaskNetSpec};

#[test]
fn flaw_detector_has_the_reference_parameter_count() {
    let d = Device::flex();
    let f = FlawDetector::new(3 + 21, 64, 5, FlawExtras::default(), &d);
    let n = f.num_params();
    assert!((8_285_000..8_300_000).contains(&n), "{n} parameters, reference ~8.29 M");
}

#[test]
fn flaw_detector_output_is_one_channel_at_input_size() {
    let d = Device::flex();
    for (stages, h, w) in [(2, 64, 48), (3, 64, 48), (5, 160, 176)] {
        let f = FlawDetector::new(3 + 4, 8, stages, FlawExtras::default(), &d);
        let x = Tensor::<4>::random([2, 3, h, w], Distribution::Default, &d);
        let p = Tensor::<4>::random([2, 4, h, w], Distribution::Default, &d);
        assert_eq!(f.forward(x, p).dims(), [2, 1, h, w], "stages {stages}");
    }
    assert_eq!(map_size(64, 3), 5);
}

/// With `confidence_input` F reads one more channel, 1 - max_k p_k of the prediction it is
/// given, after image and prediction; without it, exactly concat(x, p).
#[test]
fn the_confidence_input_is_the_predictions_uncertainty() {
    let d = Device::flex();
    let x = Tensor::<4>::random([2, 3, 16, 16], Distribution::Default, &d);
    let p = burn::tensor::activation::softmax(Tensor::<4>::random([2, 4, 16, 16], Distribution::Normal(0.0, 2.0), &d), 1);
    let plain = FlawDetector::new(3 + 4, 8, 1, FlawExtras::default(), &d);
    let with = FlawDetector::new(3 + 4, 8, 1, FlawExtras { confidence_input: true, ..Default::default() }, &d);
    assert_eq!(plain.input(x.clone(), p.clone()).dims(), [2, 7, 16, 16]);
    let input = with.input(x.clone(), p.clone());
    assert_eq!(input.dims(), [2, 8, 16, 16]);
    assert_eq!(to_f32(input.clone().narrow(1, 0, 7)), to_f32(plain.input(x.clone(), p.clone())));
    let (u, probs) = (to_f32(input.narrow(1, 7, 1)), to_f32(p.clone()));
    let hw = 16 * 16;
    for n in 0..2 {
        for i in 0..hw {
            let max = (0..4).map(|k| probs[(n * 4 + k) * hw + i]).fold(f32::MIN, f32::max);
            assert!((u[n * hw + i] - (1.0 - max)).abs() < 1e-6, "pixel {i} of sample {n}");
        }
    }
    assert!(u.iter().any(|&v| v > 0.2) && u.iter().any(|&v| v < 0.1), "the uncertainty varies over the image");
    assert_eq!(with.forward(x.clone(), p.clone()).dims(), [2, 1, 16, 16]);
    // The first convolution takes the extra channel.
    assert_eq!(with.num_params() - plain.num_params(), 8 * 4 * 4);
    // As a residual, the uncertainty is added to F's map, pixel for pixel, and nothing else changes.
    let mut residual = plain.clone();
    residual.confidence_residual = true;
    assert_eq!(residual.num_params(), plain.num_params());
    let added = to_f32(residual.forward(x.clone(), p.clone()) - plain.forward(x, p));
    for (i, (a, b)) in added.iter().zip(&u).enumerate() {
        assert!((a - b).abs() < 1e-5, "pixel {i}: F grew by {a}, the uncertainty is {b}");
    }
}

/// With the confidence as a residual, a new run's F starts as the baseline exactly: its own
/// map (the classifier of the strided stack) is drawn at zero, and its other layers draw
/// the values they draw without the residual.
#[test]
fn a_residual_flaw_detector_starts_as_the_confidence() {
    let d = Device::flex();
    let mut plain = RunConfig::shapes_demo(Algorithm::Gct);
    plain.flaw_detector.ndf = 8;
    plain.flaw_detector.confidence_residual = false; // the reference F (the demo's is residual)
    // With the fine branch, whose layers are drawn after the zeroed classifier.
    plain.flaw_detector.fine_branch = true;
    let mut residual = plain.clone();
    residual.flaw_detector.confidence_residual = true;
    let (a, b) = (Nets::new(&plain, &d).f.unwrap(), Nets::new(&residual, &d).f.unwrap());
    let x = Tensor::<4>::random([2, 3, 48, 48], Distribution::Default, &d);
    let p = burn::tensor::activation::softmax(Tensor::<4>::random([2, 4, 48, 48], Distribution::Normal(0.0, 2.0), &d), 1);
    let u = to_f32(p.clone().max_dim(1).neg().add_scalar(1.0));
    let f = to_f32(b.forward(x.clone(), p.clone()));
    assert!(f.iter().zip(&u).all(|(f, u)| (f - u).abs() < 1e-6), "F does not start at 1 - max p");
    assert!(to_f32(a.forward(x, p)).iter().any(|v| v.abs() > 1e-3), "the plain F's map starts at zero too");
    assert_eq!(to_f32(a.convs[0].weight.val()), to_f32(b.convs[0].weight.val()));
    let fine = |f: &FlawDetector| to_f32(f.fine.as_ref().unwrap().conv1.weight.val());
    assert_eq!(fine(&a), fine(&b), "the layers drawn after the classifier draw the same values");
    assert!(to_f32(b.convs[7].weight.val()).iter().all(|&w| w == 0.0));
}

/// F with the full-resolution branch starts as the reference F (the branch's output layer
/// is drawn at zero, the other parameters draw the same values), and the branch then learns:
/// one F step moves its output layer.
#[test]
fn the_fine_branch_starts_at_zero_and_learns() {
    let d = Device::flex().autodiff();
    let mut plain = RunConfig::shapes_demo(Algorithm::Gct);
    plain.flaw_detector.ndf = 8;
    plain.flaw_detector.confidence_residual = false; // the reference F (the demo's is residual)
    let mut fine = plain.clone();
    fine.flaw_detector.fine_branch = true;
    let (a, b) = (Nets::new(&plain, &d), Nets::new(&fine, &d));
    let x = Tensor::<4>::random([2, 3, 48, 48], Distribution::Default, &d);
    let p = Tensor::<4>::random([2, 4, 48, 48], Distribution::Default, &d);
    let (fa, fb) = (a.f.expect("gct has F"), b.f.expect("gct has F"));
    assert_eq!(to_f32(fa.forward(x.clone(), p.clone())), to_f32(fb.forward(x.clone(), p.clone())));
    let branch = fb.fine.as_ref().expect("the branch");
    assert!(to_f32(branch.conv2.weight.val().abs().sum())[0] == 0.0);
    assert!(to_f32(branch.conv1.weight.val().abs().sum())[0] > 0.0);
    // One step of F's optimiser on a loss of its output moves the branch's output layer.
    let loss = (fb.forward(x, p) - 1.0).square().mean();
    let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &fb);
    let mut opt = burn::optim::AdamConfig::new().init();
    let fb = opt.step(1e-3, fb, grads);
    assert!(to_f32(fb.fine.expect("the branch").conv2.weight.val().abs().sum())[0] > 0.0);
}

#[test]
fn task_nets_predict_at_input_size_and_differ_by_seed() {
    let d = Device::flex();
    let spec = TaskNetSpec { in_channels: 3, out_channels: 5, residual: false, crop_size: 64 };
    for arch in [Arch::Unet, Arch::Deeplab] {
        let cfg = flawmap::config::NetConfig { arch, width: 8, depth: 3 };
        let a = TaskNet::new(&cfg, spec, "t1", 0, &d);
        let b = TaskNet::new(&cfg, spec, "t2", 0, &d);
        let x = Tensor::<4>::random([2, 3, 64, 64], Distribution::Default, &d);
        let ya = a.valid().forward(x.clone());
        assert_eq!(ya.dims(), [2, 5, 64, 64], "{arch:?}");
        let diff = to_f32((ya - b.valid().forward(x)).abs().sum())[0];
        assert!(diff > 1e-3, "{arch:?}: T1 and T2 must be initialised differently");
        // The same role and seed give the same network on rebuild (deterministic init).
        let a2 = TaskNet::new(&cfg, spec, "t1", 0, &d);
        let x = Tensor::<4>::ones([1, 3, 64, 64], &d);
        let same = to_f32((a.valid().forward(x.clone()) - a2.valid().forward(x)).abs().sum())[0];
        assert_eq!(same, 0.0, "{arch:?}");
    }
}

#[test]
fn residual_models_start_near_the_identity_and_still_differ() {
    // Restoration: an untrained model must return (about) its input, not input + noise,
    // and T1, T2 must still differ (their heads are small, not zero).
    let d = Device::flex();
    let x = Tensor::<4>::random([2, 3, 32, 32], Distribution::Default, &d);
    for arch in [Arch::Unet, Arch::Deeplab] {
        let cfg = flawmap::config::NetConfig { arch, width: 8, depth: 3 };
        let mse = |residual: bool, role: &str| {
            let spec = TaskNetSpec { in_channels: 3, out_channels: 3, residual, crop_size: 32 };
            let y = TaskNet::new(&cfg, spec, role, 0, &d).valid().forward(x.clone());
            (to_f32((y.clone() - x.clone()).powf_scalar(2.0).mean())[0], y)
        };
        let (near, y1) = mse(true, "t1");
        let (_, y2) = mse(true, "t2");
        assert!(near < 1e-3, "{arch:?}: residual model's MSE to its input is {near}");
        let diff = to_f32((y1 - y2).abs().max())[0];
        assert!(diff > 1e-5, "{arch:?}: T1 and T2 must differ at step 0");
        // Only the head's conv weights are drawn small (1 % of the same draws); the rest of
        // the model is the one a segmentation model of the same seed gets.
        let build = |residual| TaskNet::new(&cfg, TaskNetSpec { in_channels: 3, out_channels: 3, residual, crop_size: 32 }, "t1", 0, &d);
        let head = format!("{}.", build(true).head_prefix());
        let (plain, small) = (params_of(&build(false)), params_of(&build(true)));
        assert_eq!(plain.len(), small.len());
        let mut scaled = 0;
        for ((path, a), (path2, b)) in plain.iter().zip(&small) {
            assert_eq!(path, path2);
            if a == b {
                continue;
            }
            assert!(path.starts_with(&head), "{arch:?}: {path} is not in the head {head} but changed");
            for (x, y) in a.iter().zip(b) {
                assert!((y - 0.01 * x).abs() <= 1e-5 * x.abs() + 1e-12, "{arch:?} {path}: {y} vs 0.01 * {x}");
            }
            scaled += 1;
        }
        assert!(scaled >= 1, "{arch:?}: no head weight was scaled");
    }
}

/// A module's float tensors by path, as plain values.
type Params = Vec<(String, Vec<f32>)>;

/// Every float tensor of a module (BatchNorm running statistics excluded), by path.
fn params_of<M: Module>(m: &M) -> Params {
    use burn::store::ModuleSnapshot;
    let mut store = burn::store::SafetensorsStore::from_bytes(None);
    m.valid().save_into(&mut store).unwrap();
    let bytes = store.get_bytes().unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = st.names().into_iter().filter(|n| !n.contains("running")).map(str::to_string).collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let v = st.tensor(&n).unwrap().data().chunks(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            (n, v)
        })
        .collect()
}

/// Names of the tensors that did not change between two reads.
fn unchanged(a: &[(String, Vec<f32>)], b: &[(String, Vec<f32>)]) -> Vec<String> {
    a.iter().zip(b).filter(|(x, y)| x.1 == y.1).map(|(x, _)| x.0.clone()).collect()
}

/// A GCT setup small enough for single steps: width-8 nets, 32-pixel crops, 8 of 16
/// shapes images labelled, the first batch, the demo's step parameters.
struct Tiny {
    config: RunConfig,
    dev: Device,
    split: Split,
    hb: flawmap::data::batches::HostBatch,
    hp: StepParams,
}

fn tiny() -> Tiny {
    let mut config = RunConfig::shapes_demo(Algorithm::Gct);
    // The spec's F, which these tests check step by step (the demo's F, started from the
    // confidence and shown class swaps, has its own tests).
    config.flaw_detector.confidence_residual = false;
    config.gct.fd_class_swaps = 0.0;
    config.t1.width = 8;
    config.t2.width = 8;
    config.flaw_detector.ndf = 8;
    config.data.crop_size = 32;
    let dev = Device::flex().autodiff();
    let data = shapes::generate(16, 1, 32, true);
    let split = Split::new(16, 0.5, 0);
    let hb = Batcher::new(&config, &split).batch(0, &data, &config);
    let hp = StepParams {
        lr: 0.05,
        fd_lr: 0.01,
        head_lr_mult: 10.0,
        dc_weight: 100.0,
        lambda_fc: 1.0,
        fd_scale: 10.0,
        fd_steps: 1,
        flaw: config.flaw_params(),
        measure_dc: true,
        split_batchnorm: false,
    };
    Tiny { config, dev, split, hb, hp }
}

#[test]
fn gradients_are_routed_as_the_spec_says() {
    let Tiny { config, dev, hb, hp, split: _ } = tiny();
    let batch = DeviceBatch::upload(&hb, &dev);
    let mut nets = Nets::new(&config, &dev);
    let mut opts = Optimisers::new(&config, &nets);
    let task = config.task_spec();
    let f_before = params_of(nets.f.as_ref().unwrap());
    let t1_before = params_of(&nets.t1);
    let (_, inputs) = gct_task_step(&mut nets, &mut opts, &batch, &task, &hp);
    assert_eq!(f_before, params_of(nets.f.as_ref().unwrap()), "F moved in the task step");
    let t1_mid = params_of(&nets.t1);
    let t2_mid = params_of(nets.t2.as_ref().unwrap());
    // Every parameter of T1 learns (F's conv biases, before IBNorm, get exactly zero gradient).
    assert_eq!(unchanged(&t1_before, &t1_mid), Vec::<String>::new(), "T1 parameters that did not learn");

    gct_flaw_step(&mut nets, &mut opts, &batch, &hp, &inputs);
    assert_eq!(t1_mid, params_of(&nets.t1), "T1 moved in the F step");
    assert_eq!(t2_mid, params_of(nets.t2.as_ref().unwrap()), "T2 moved in the F step");
    let f_after = params_of(nets.f.as_ref().unwrap());
    let frozen: Vec<String> = unchanged(&f_before, &f_after).into_iter().filter(|n| !n.ends_with("bias")).collect();
    assert_eq!(frozen, Vec::<String>::new(), "F parameters that did not learn in the F step");
}

/// `train.split_batchnorm`: in train mode each slice of the batch is normalised by its own
/// BatchNorm statistics, so the labelled crops' outputs are those of a forward on them alone
/// (and differ from the spec's one-batch forward); a GCT step with it still trains T1 and
/// leaves F alone.
#[test]
fn split_batchnorm_normalises_each_slice_among_itself() {
    let Tiny { config, dev, hb, hp, split: _ } = tiny();
    let batch = DeviceBatch::upload(&hb, &dev);
    let nets = Nets::new(&config, &dev);
    let (x, n_l) = (batch.input.clone(), batch.n_labeled);
    let n = x.dims()[0];
    assert!(n_l > 0 && n_l < n);
    let split = to_f32(task_forward(&nets.t1, x.clone(), n_l, true));
    let mut alone = to_f32(nets.t1.forward(x.clone().narrow(0, 0, n_l)));
    alone.extend(to_f32(nets.t1.forward(x.clone().narrow(0, n_l, n - n_l))));
    let joint = to_f32(nets.t1.forward(x.clone()));
    let max_diff = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
    assert!(max_diff(&split, &alone) < 1e-4, "split forward differs from the slices alone by {}", max_diff(&split, &alone));
    assert!(max_diff(&split, &joint) > 1e-3, "split and joint BatchNorm gave the same outputs");
    assert!(max_diff(&to_f32(task_forward(&nets.t1, x, n_l, false)), &joint) < 1e-6, "off: the spec's one forward");

    // The step follows the setting: from the same nets, T1 ends elsewhere with it than
    // without; it still trains every parameter of T1 and leaves F alone.
    let step = |split: bool| {
        let mut nets = Nets::new(&config, &dev);
        let mut opts = Optimisers::new(&config, &nets);
        let (f_before, t1_before) = (params_of(nets.f.as_ref().unwrap()), params_of(&nets.t1));
        gct_task_step(&mut nets, &mut opts, &batch, &config.task_spec(), &StepParams { split_batchnorm: split, ..hp });
        assert_eq!(f_before, params_of(nets.f.as_ref().unwrap()), "F moved in the task step");
        assert_eq!(unchanged(&t1_before, &params_of(&nets.t1)), Vec::<String>::new(), "T1 parameters that did not learn");
        params_of(&nets.t1)
    };
    assert_ne!(step(true), step(false), "split_batchnorm did not change the task step");
}

/// `gct.fd_holdout`: the held-out labelled images are drawn once per split seed from the
/// labelled set (leaving the task models at least one), their labels vanish from the task
/// models' supervised loss, and F's step still learns from them.
#[test]
fn held_out_labels_reach_f_and_not_the_task_models() {
    let split = Split::new(40, 0.5, 3);
    let held = split.fd_holdout(0.25, 3);
    assert_eq!(held.len(), 5);
    assert!(held.iter().all(|i| split.labeled.contains(i)));
    assert_eq!(held, split.fd_holdout(0.25, 3), "drawn by the split seed");
    assert_ne!(held, split.fd_holdout(0.25, 4));
    assert_eq!(Split::new(40, 1.0 / 40.0, 0).fd_holdout(0.5, 0), Vec::<usize>::new(), "one labelled image stays with the task models");

    let Tiny { config, dev, hb, hp, split } = tiny();
    let task = config.task_spec();
    let run = |held: &[usize]| {
        let mut batch = DeviceBatch::upload(&hb, &dev);
        batch.hide_from_task_models(&hb, held, &dev);
        let mut nets = Nets::new(&config, &dev);
        let mut opts = Optimisers::new(&config, &nets);
        let (losses, inputs) = gct_task_step(&mut nets, &mut opts, &batch, &task, &hp);
        let sup = to_f32(losses.terms[0].clone())[0];
        let fd = to_f32(gct_flaw_step(&mut nets, &mut opts, &batch, &hp, &inputs))[0];
        (sup, fd)
    };
    let labelled = &hb.items[..hb.n_labeled];
    let (sup_all, fd_all) = run(&[]);
    let (sup_some, _) = run(&[labelled[0]]);
    let (sup_none, fd_none) = run(&split.labeled);
    assert!(sup_all > 0.0 && sup_some > 0.0 && sup_some < sup_all, "hiding one image lowers the supervised loss: {sup_some} vs {sup_all}");
    assert_eq!(sup_none, 0.0, "every labelled image hidden: no supervised signal");
    assert_eq!(fd_none, fd_all, "F's loss does not depend on what the task models are shown");
}

/// One whole GCT iteration from a fresh initialisation under `hp`: its losses, and T1's and
/// F's parameters after it.
fn one_gct_step(t: &Tiny, hp: StepParams) -> (StepLosses, Params, Params) {
    let batch = DeviceBatch::upload(&t.hb, &t.dev);
    let mut nets = Nets::new(&t.config, &t.dev);
    let mut opts = Optimisers::new(&t.config, &nets);
    let losses = gct_step(&mut nets, &mut opts, &batch, &t.config.task_spec(), &hp);
    (losses, params_of(&nets.t1), params_of(nets.f.as_ref().unwrap()))
}

/// `train.fd_steps`: F takes that many updates per iteration on the same slice; the task
/// models' update and the reported F loss (the first update's) are those of one step.
#[test]
fn more_flaw_detector_steps_move_only_f_further() {
    let t = tiny();
    let fd = |l: &StepLosses| to_f32(l.fd.clone().expect("gct reports F's loss"))[0];
    let (one, t1_one, f_one) = one_gct_step(&t, StepParams { fd_steps: 1, ..t.hp });
    let (three, t1_three, f_three) = one_gct_step(&t, StepParams { fd_steps: 3, ..t.hp });
    assert_eq!(fd(&one), fd(&three), "the reported F loss is the first update's");
    assert_eq!(t1_one, t1_three, "the task models take one step either way");
    assert_ne!(f_one, f_three, "F moves further with more updates");
}

/// `train.fd_fresh_steps`: F's extra batches are whole batches of new crops (labelled slice
/// first), from streams of their own (the main batches do not change), and F's update on one
/// moves F, not the task models, which still learn in the next iteration.
#[test]
fn flaw_only_batches_are_fresh_whole_batches_that_move_only_f() {
    let Tiny { mut config, dev, hb, hp, split } = tiny();
    config.train.fd_fresh_steps = 2;
    let data = shapes::generate(16, 1, 32, true);
    let mut batcher = Batcher::new(&config, &split);
    let (a, b) = (batcher.flaw_only_batch(0, 0, &data, &config), batcher.flaw_only_batch(0, 1, &data, &config));
    for extra in [&a, &b] {
        assert_eq!((extra.n, extra.n_labeled), (hb.n, hb.n_labeled), "a whole batch, labelled slice first");
        let (labeled, unlabeled) = extra.items.split_at(extra.n_labeled);
        assert!(labeled.iter().all(|i| split.labeled.contains(i)), "{:?}", extra.items);
        assert!(unlabeled.iter().all(|i| split.unlabeled.contains(i)), "{:?}", extra.items);
        assert!(extra.labels.is_some());
    }
    assert_ne!(a.input, b.input, "each extra update has crops of its own");
    assert_ne!(a.input[..a.input.len()], hb.input[..a.input.len()], "not the iteration's labelled slice again");
    assert_eq!(a.input, Batcher::new(&config, &split).flaw_only_batch(0, 0, &data, &config).input, "a function of (seed, iteration, k)");
    assert_eq!(batcher.batch(0, &data, &config).input, hb.input, "the main batch is the same whether F's batches are drawn or not");

    let mut nets = Nets::new(&config, &dev);
    let mut opts = Optimisers::new(&config, &nets);
    let task = config.task_spec();
    let (t1_before, t2_before, f_before) = (params_of(&nets.t1), params_of(nets.t2.as_ref().unwrap()), params_of(nets.f.as_ref().unwrap()));
    let fd = to_f32(gct_flaw_only_step(&mut nets, &mut opts, &DeviceBatch::upload(&a, &dev), &task, &hp))[0];
    assert!(fd.is_finite() && fd > 0.0, "F's loss on the extra batch: {fd}");
    assert_eq!(t1_before, params_of(&nets.t1), "T1 moved in F's extra update");
    assert_eq!(t2_before, params_of(nets.t2.as_ref().unwrap()), "T2 moved in F's extra update");
    assert_ne!(f_before, params_of(nets.f.as_ref().unwrap()), "F did not learn from its extra batch");
    // The no-gradient copies leave the models themselves trainable.
    gct_task_step(&mut nets, &mut opts, &DeviceBatch::upload(&hb, &dev), &task, &hp);
    assert_eq!(unchanged(&t1_before, &params_of(&nets.t1)), Vec::<String>::new(), "T1 parameters that no longer learn");
}

/// The dc diagnostics are computed only on steps whose figures are read back, and measuring
/// them changes nothing in the step itself.
#[test]
fn dc_figures_are_measured_only_when_asked_and_change_nothing() {
    let t = tiny();
    let (measured, t1_a, f_a) = one_gct_step(&t, StepParams { measure_dc: true, ..t.hp });
    let (skipped, t1_b, f_b) = one_gct_step(&t, StepParams { measure_dc: false, ..t.hp });
    let figures = measured.dc_effect.clone().expect("segmentation GCT measures dc when asked").map(|v| to_f32(v)[0]);
    assert!(figures.iter().all(|v| (0.0..=1.0).contains(v)), "{figures:?}");
    assert!(skipped.dc_effect.is_none());
    let fd = |l: &StepLosses| to_f32(l.fd.clone().unwrap())[0];
    assert_eq!((fd(&measured), t1_a, f_a), (fd(&skipped), t1_b, f_b));
}

/// `gct.fd_class_swaps`: each swapped labelled prediction trades two class channels inside
/// the region of a class its labels have, and nowhere else; F learns from the swapped
/// predictions (a higher target there, another F), while the task models' step and the dc
/// diagnostics, which read the models' own predictions, are those of a run without swaps.
#[test]
fn class_swaps_give_f_region_mistakes_and_leave_the_task_step_alone() {
    let t = tiny();
    let data = shapes::generate(16, 1, 32, true);
    let mut swapping = t.config.clone();
    swapping.gct.fd_class_swaps = 1.0;
    let hb = Batcher::new(&swapping, &t.split).batch(0, &data, &swapping);
    assert_eq!(hb.input, t.hb.input, "swaps do not change the batch itself");
    assert!(t.hb.class_swaps.is_none(), "off by default");
    let [s1, s2] = hb.class_swaps.clone().expect("share 1 draws swaps");
    assert_ne!(s1, s2, "T1's and T2's predictions are swapped independently");

    let batch = DeviceBatch::upload(&hb, &t.dev);
    let task = t.config.task_spec();
    let (k, hw, n_l) = (t.config.data.num_classes, hb.height * hb.width, hb.n_labeled);
    // A prediction with distinct values per channel and pixel, so a wrong swap shows.
    let p: Vec<f32> = (0..n_l * k * hw).map(|i| (i % 997) as f32 / 997.0).collect();
    let swapped = to_f32(batch.class_swaps.as_ref().unwrap()[0].apply(flawmap::host::f32_tensor(p.clone(), [n_l, k, hb.height, hb.width], &t.dev)));
    let labels = hb.labels.as_ref().unwrap();
    for (i, pick) in s1.swapped.iter().enumerate() {
        let (from, to) = pick.expect("every sample swapped at share 1");
        for px in 0..hw {
            let inside = labels[i * hw + px] == from as i32;
            for c in 0..k {
                let src = if !inside {
                    c
                } else if c == from {
                    to
                } else if c == to {
                    from
                } else {
                    c
                };
                let (got, want) = (swapped[(i * k + c) * hw + px], p[(i * k + src) * hw + px]);
                assert!((got - want).abs() < 1e-6, "sample {i} channel {c} pixel {px}: {got} against {want}");
            }
        }
    }

    let run = |batch: &DeviceBatch| {
        let mut nets = Nets::new(&t.config, &t.dev);
        let mut opts = Optimisers::new(&t.config, &nets);
        let (losses, inputs) = gct_task_step(&mut nets, &mut opts, batch, &task, &t.hp);
        let t1 = params_of(&nets.t1);
        let dc = losses.dc_effect.expect("measured").map(|v| to_f32(v)[0]);
        let target_mean = |c: &Tensor<4>| to_f32(c.clone().mean())[0];
        let [_, _, c1, _] = inputs.for_flaw_detector();
        let (own, learnt) = (target_mean(&inputs.c1), target_mean(c1));
        let fd = to_f32(gct_flaw_step(&mut nets, &mut opts, batch, &t.hp, &inputs))[0];
        (t1, dc, own, learnt, fd, params_of(nets.f.as_ref().unwrap()))
    };
    let (t1_plain, dc_plain, own_plain, learnt_plain, fd_plain, f_plain) = run(&DeviceBatch::upload(&t.hb, &t.dev));
    let (t1_swap, dc_swap, own_swap, learnt_swap, fd_swap, f_swap) = run(&batch);
    assert_eq!(t1_plain, t1_swap, "the task step does not see the swaps");
    assert_eq!(dc_plain, dc_swap, "the dc diagnostics read the models' own predictions");
    assert_eq!((own_plain, learnt_plain), (own_swap, own_swap), "C(.) of the models' own predictions is unchanged");
    assert_ne!(learnt_swap, own_swap, "F's target follows the swapped predictions");
    assert_ne!(fd_plain, fd_swap);
    assert_ne!(f_plain, f_swap, "F learns from the swapped predictions");
}

/// `gct.dc_confidence_gate`: the step's dc masks shrink to the pixels where the other model
/// is also the more confident one; the supervised terms and the fc mask are unchanged.
#[test]
fn the_confidence_gate_narrows_the_steps_dc_masks() {
    let t = tiny();
    let step = |gate: bool| {
        let mut hp = t.hp;
        hp.flaw.confidence_gate = gate;
        let batch = DeviceBatch::upload(&t.hb, &t.dev);
        let mut nets = Nets::new(&t.config, &t.dev);
        let mut opts = Optimisers::new(&t.config, &nets);
        let (losses, _) = gct_task_step(&mut nets, &mut opts, &batch, &t.config.task_spec(), &hp);
        let shares = losses.shares.expect("gct reports mask shares").map(|v| to_f32(v)[0]);
        (to_f32(losses.terms[0].clone())[0], shares)
    };
    let (sup, [dc1, dc2, fc]) = step(false);
    let (sup_gated, [dc1_gated, dc2_gated, fc_gated]) = step(true);
    assert_eq!(sup, sup_gated);
    assert_eq!(fc, fc_gated, "the fc mask is F's alone");
    assert!(dc1_gated <= dc1 && dc2_gated <= dc2, "{dc1_gated} / {dc2_gated} against {dc1} / {dc2}");
    assert!(dc1_gated + dc2_gated < dc1 + dc2, "the gate removed no copy: {dc1} / {dc2}");
}
