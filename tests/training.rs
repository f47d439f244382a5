//! Real (short) training runs on the built-in shapes set, on the CPU.

mod common;

use common::{assert_finished, out_dir, run, steps, tiny};
use flawmap::config::Algorithm;
use flawmap::engine::events::LayerData;
use flawmap::engine::{self, Event, StartOptions};
use flawmap::metrics::ranking::auroc;

#[test]
fn gct_trains_with_finite_losses_and_a_falling_supervised_loss() {
    let mut c = tiny(Algorithm::Gct, 60);
    c.train.vis_every = 30;
    c.train.lr = 0.05;
    // The paper's GCT: lambda_dc 100 (the demo uses 10) and its F (the demo's starts from
    // the confidence, learns from class swaps and weighs flaw correction 0.1).
    c.gct.lambda_dc = 100.0;
    (c.flaw_detector.confidence_residual, c.gct.fd_class_swaps, c.gct.lambda_fc) = (false, 0.0, 1.0);
    let out = out_dir("gct_short");
    let events = run(c, &out, None);
    assert_finished(&events);
    let s = steps(&events);
    assert_eq!(s.len(), 60);
    for m in &s {
        let t2 = m.t2.as_ref().unwrap();
        for v in [m.t1.sup, m.t1.dc, m.t1.fc, t2.sup, t2.dc, t2.fc, m.fd_loss.unwrap()] {
            assert!(v.is_finite() && v >= 0.0, "step {}: {v}", m.step);
        }
        assert!(m.dc_share_t1.unwrap() >= 0.0 && m.fc_share.unwrap() <= 1.0);
        // What dc did on labelled pixels: shares of them, and a model can only fix or break
        // where its dc mask has it copy, so both together stay within its dc share... of the
        // labelled slice, which is at most twice the whole batch's share here (2 of 4 images).
        let effect = [m.dc_fix_t1, m.dc_break_t1, m.dc_fix_t2, m.dc_break_t2].map(Option::unwrap);
        assert!(effect.iter().all(|v| (0.0..=1.0).contains(v)), "step {}: {effect:?}", m.step);
        assert!(effect[0] + effect[1] <= 2.0 * m.dc_share_t1.unwrap() + 1e-6, "step {}: {effect:?}", m.step);
        assert!(effect[2] + effect[3] <= 2.0 * m.dc_share_t2.unwrap() + 1e-6, "step {}: {effect:?}", m.step);
    }
    // With masks made from C(.) (the labels), copies are mostly right once there are any.
    let (cf, cb): (f64, f64) = (s.iter().map(|m| m.dc_fix_with_c.unwrap()).sum(), s.iter().map(|m| m.dc_break_with_c.unwrap()).sum());
    assert!(cf + cb > 0.0 && cf > cb, "C-made masks fixed {cf}, broke {cb}");
    // Once the two models differ somewhere under a dc mask, some copies happen.
    assert!(s.iter().any(|m| m.dc_fix_t1.unwrap() + m.dc_break_t1.unwrap() + m.dc_fix_t2.unwrap() + m.dc_break_t2.unwrap() > 0.0));
    let mean = |r: std::ops::Range<usize>| r.clone().map(|i| s[i].t1.sup + s[i].t2.as_ref().unwrap().sup).sum::<f64>() / r.len() as f64;
    let (first, last) = (mean(0..10), mean(50..60));
    assert!(last < first * 0.9, "supervised loss did not fall: {first} -> {last}");
    // lambda_dc is ramped: small at the start, 100 at the end of the ramp.
    assert!(s[0].dc_weight < 5.0 && (s[59].dc_weight - 100.0).abs() < 1e-6);

    let snaps: Vec<_> = events.iter().filter_map(|e| if let Event::Snapshot(s) = e { Some(s) } else { None }).collect();
    assert_eq!(snaps.iter().map(|s| s.step).collect::<Vec<_>>(), vec![1, 30, 60]);
    let labelled = snaps[2].probes.iter().find(|p| p.labeled).unwrap();
    let names: Vec<&str> = labelled.layers.iter().map(|l| l.name.as_str()).collect();
    for want in
        ["input", "ground_truth", "t1", "t2", "wrong_t1", "wrong_t2", "flaw_raw_t1", "flaw_t2", "target_t1", "error_t2", "dc_mask_t1", "dc_mask_t2", "fc_mask"]
    {
        assert!(names.contains(&want), "missing layer {want} in {names:?}");
    }
    let unlabelled = snaps[2].probes.iter().find(|p| !p.labeled).unwrap();
    assert!(!unlabelled.layers.iter().any(|l| l.name == "target_t1"), "C(.) exists only for labelled probes");
    // The true error is shown wherever ground truth exists (segmentation: every probe).
    assert!(unlabelled.layers.iter().any(|l| l.name == "wrong_t1"), "no true error on an unlabelled probe");
    for l in &labelled.layers {
        let n = match &l.data {
            LayerData::Rgb { values } => values.len() / 3,
            LayerData::Classes { values } => values.len(),
            LayerData::Map { values } => values.len(),
        };
        assert_eq!(n, 32 * 32, "layer {}", l.name);
    }
    // Per image, F's raw map and T1's confidence are scored on T1's wrong pixels: the
    // stored AUROC is the one the layers themselves give.
    let layer = |name: &str| labelled.layers.iter().find(|l| l.name == name).unwrap();
    let (LayerData::Classes { values: t1 }, LayerData::Classes { values: gt }) = (&layer("t1").data, &layer("ground_truth").data) else { panic!() };
    let LayerData::Map { values: raw } = &layer("flaw_raw_t1").data else { panic!() };
    let scored: Vec<usize> = (0..gt.len()).filter(|&i| gt[i] < 4).collect();
    let wrong: Vec<bool> = scored.iter().map(|&i| t1[i] != gt[i]).collect();
    let picked: Vec<f32> = scored.iter().map(|&i| raw[i]).collect();
    if wrong.iter().any(|&w| w) && !wrong.iter().all(|&w| w) {
        assert_eq!(layer("flaw_raw_t1").auroc, auroc(&picked, &wrong));
        assert!(layer("t1").auroc.is_some_and(|a| (0.0..=1.0).contains(&a)));
    }
    assert_eq!(layer("flaw_t1").auroc, None, "only the raw map is scored");
    // The wrong-pixel layer is exactly T1's mistakes (ignored pixels count as right).
    let LayerData::Map { values: shown } = &layer("wrong_t1").data else { panic!() };
    for i in 0..gt.len() {
        assert_eq!(shown[i] == 1.0, gt[i] < 4 && t1[i] != gt[i], "pixel {i}");
    }

    let eval = events.iter().rev().find_map(|e| if let Event::Eval(r) = e { Some(r) } else { None }).unwrap();
    assert_eq!(eval.models.len(), 2);
    let f = eval.flaw.as_ref().unwrap();
    assert!(f.auroc_t1.is_some() && f.loss_t1.is_finite());
    // F's ranking, the models' confidence (the baseline) and C(.) (the ceiling) are all
    // reported; C(.) is computed from the labels, so it must rank the mistakes well.
    let unit = |v: Option<f64>| v.is_some_and(|a| (0.0..=1.0).contains(&a));
    for r in [
        f.ranking_t1,
        f.ranking_t2,
        f.target_t1,
        f.target_t2,
        f.target_coarse_t1,
        f.target_coarse_t2,
        f.confidence_coarse_t1,
        f.confidence_coarse_t2,
        f.confidence_target_t1,
        f.confidence_target_t2,
        eval.models[0].confidence,
        eval.models[1].confidence,
    ] {
        let r = r.unwrap();
        assert!(unit(r.auroc) && unit(r.image_auroc) && unit(r.top_decile), "{r:?}");
    }
    assert_eq!(f.ranking_t1.unwrap().auroc, f.auroc_t1);
    // F's reliability diagram covers every scored pixel once, and its ECE is a share.
    for cal in [&f.calibration_t1, &f.calibration_t2] {
        let cal = cal.as_ref().unwrap();
        assert_eq!(cal.count.len(), 10);
        assert!((0.0..=1.0).contains(&cal.ece), "{cal:?}");
        assert!(cal.wrong.iter().flatten().all(|w| (0.0..=1.0).contains(w)));
    }
    assert_eq!(f.calibration_t1.as_ref().unwrap().count.iter().sum::<u64>(), f.calibration_t2.as_ref().unwrap().count.iter().sum::<u64>());
    assert!(f.target_t1.unwrap().auroc.unwrap() > 0.7, "C(.) barely ranks T1's mistakes: {:?}", f.target_t1);
    // Where exactly one model is right, F's and the confidence's choices are shares of those
    // pixels, split by which model is wrong.
    let a = f.arbitration.clone().expect("two 60-iteration models disagree somewhere with one of them right");
    let sides: Vec<_> = [a.t1_wrong, a.t2_wrong].into_iter().flatten().collect();
    assert!(!sides.is_empty(), "{a:?}");
    assert_eq!(a.pixels, sides.iter().map(|s| s.pixels).sum::<u64>());
    assert!(sides.iter().flat_map(|s| [s.flaw, s.confidence]).chain([a.flaw, a.confidence]).all(|v| (0.0..=1.0).contains(&v)), "{a:?}");
    let weighted: f64 = sides.iter().map(|s| s.flaw * s.pixels as f64).sum();
    assert!((a.flaw * a.pixels as f64 - weighted).abs() < 1e-6, "{a:?}");
    // And split by the true class: every such pixel has one, and the shares add up again.
    let classes: Vec<_> = a.by_class.iter().flatten().collect();
    assert!(a.by_class.len() <= 4 && !classes.is_empty(), "{a:?}");
    assert_eq!(a.pixels, classes.iter().map(|s| s.pixels).sum::<u64>());
    let weighted: f64 = classes.iter().map(|s| s.confidence * s.pixels as f64).sum();
    assert!((a.confidence * a.pixels as f64 - weighted).abs() < 1e-6, "{a:?}");
    // C(.) at F's map size is a different, coarser map than C(.) itself.
    assert_ne!(f.target_coarse_t1.unwrap().auroc, f.target_t1.unwrap().auroc);
    // And so is the confidence at F's map size, against the confidence itself.
    assert_ne!(f.confidence_coarse_t1.unwrap().auroc, eval.models[0].confidence.unwrap().auroc);
    assert_ne!(f.confidence_target_t2.unwrap().auroc, eval.models[1].confidence.unwrap().auroc);
    let verdict = eval.flaw_verdict.as_deref().unwrap();
    assert!(verdict.contains("AUROC of F vs confidence: T1 0."), "{verdict}");
    assert!(out.join("checkpoints/step-000060.safetensors").exists());
}

#[test]
fn suponly_and_dual_run_to_the_end() {
    for alg in [Algorithm::Suponly, Algorithm::Dual] {
        let events = run(tiny(alg, 6), &out_dir(&format!("short_{alg}")), None);
        assert_finished(&events);
        let s = steps(&events);
        assert_eq!(s.len(), 6);
        assert_eq!(s[0].t2.is_some(), alg == Algorithm::Dual);
        assert!(s[0].fd_loss.is_none() && s[0].dc_fix_t1.is_none());
        let eval = events.iter().find_map(|e| if let Event::Eval(r) = e { Some(r) } else { None }).unwrap();
        assert_eq!(eval.models.len(), if alg == Algorithm::Dual { 2 } else { 1 });
    }
}

#[test]
fn resuming_a_checkpoint_continues_the_same_curve() {
    let mut c = tiny(Algorithm::Gct, 10);
    c.train.checkpoint_every = 5;
    c.train.eval_every = 100;
    let out = out_dir("resume_a");
    let full = run(c.clone(), &out, None);
    assert_finished(&full);
    let resumed = run(c, &out_dir("resume_b"), Some(out.join("checkpoints/step-000005.safetensors")));
    assert_finished(&resumed);
    match &resumed[0] {
        Event::Started(info) => assert_eq!(info.start_step, 5),
        e => panic!("{e:?}"),
    }
    let (a, b) = (steps(&full), steps(&resumed));
    assert_eq!(b.len(), 5);
    for (x, y) in a[5..].iter().zip(&b) {
        assert_eq!(x.step, y.step);
        for (u, v) in [(x.t1.total, y.t1.total), (x.t2.as_ref().unwrap().total, y.t2.as_ref().unwrap().total), (x.fd_loss.unwrap(), y.fd_loss.unwrap())] {
            assert!((u - v).abs() <= 1e-5 * u.abs().max(1.0), "step {}: {u} vs {v}", x.step);
        }
    }
}

#[test]
fn stop_finishes_the_iteration_and_writes_a_checkpoint() {
    let c = tiny(Algorithm::Gct, 10_000);
    let out = out_dir("stop");
    let options = StartOptions { data_root: common::fixtures(), out_dir: out.clone(), resume: None };
    let handle = engine::start(c.validated().unwrap(), options);
    let mut last = None;
    for e in handle.events.iter() {
        if let Event::Step(s) = &e
            && s.step == 2
        {
            handle.control.stop();
        }
        last = Some(e);
    }
    handle.thread.join().unwrap();
    let step = match last {
        Some(Event::Stopped { step }) => step,
        other => panic!("expected Stopped, got {other:?}"),
    };
    assert!((2..100).contains(&step), "{step}");
    assert!(out.join(format!("checkpoints/step-{step:06}.safetensors")).exists());
}

#[test]
fn an_evaluation_asked_for_mid_run_arrives_after_the_current_iteration() {
    let mut c = tiny(Algorithm::Gct, 8);
    c.train.eval_every = 1000; // scheduled: only the last step
    let options = StartOptions { data_root: common::fixtures(), out_dir: out_dir("eval_now"), resume: None };
    let handle = engine::start(c.validated().unwrap(), options);
    let mut eval_steps = Vec::new();
    for e in handle.events.iter() {
        match &e {
            Event::Step(s) if s.step == 3 => handle.control.request_evaluation(),
            Event::Eval(r) => eval_steps.push(r.step),
            _ => {}
        }
    }
    handle.thread.join().unwrap();
    // The request lands after step 3 or 4 (the loop may be in its next iteration), once.
    assert_eq!(eval_steps.len(), 2, "{eval_steps:?}");
    assert!((3..=5).contains(&eval_steps[0]), "{eval_steps:?}");
    assert_eq!(eval_steps[1], 8);
}

#[test]
fn invalid_configs_are_rejected_before_starting() {
    let mut c = tiny(Algorithm::Gct, 5);
    c.data.label_ratio = 1.5;
    // The engine takes only a validated config; validation names the field.
    let err = c.validated().expect_err("rejected");
    assert_eq!(err.0[0].field, "data.label_ratio");
}

#[test]
fn gct_without_unlabelled_images_fails_with_a_message() {
    let mut c = tiny(Algorithm::Gct, 5);
    c.data.label_ratio = 1.0;
    let events = run(c, &out_dir("no_unlabelled"), None);
    match events.last() {
        Some(Event::Failed { message, .. }) => {
            assert!(message.contains("label_ratio"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}
