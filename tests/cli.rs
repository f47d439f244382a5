//! The `flawmap` binary as a user runs it.

mod common;

use std::process::Command;

fn flawmap() -> Command {
    Command::new(env!("CARGO_BIN_EXE_flawmap"))
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn an_invalid_config_exits_non_zero_naming_the_field() {
    let dir = tmp("cli_invalid");
    let path = dir.join("bad.toml");
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/shapes-gct.toml")).unwrap();
    std::fs::write(&path, text.replace("label_ratio = 0.125", "label_ratio = 3.0")).unwrap();
    let out = flawmap().args(["train", "--config"]).arg(&path).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("data.label_ratio"), "{err}");

    std::fs::write(&path, text.replace("batch_labeled = 4", "batch_labled = 4")).unwrap();
    let out = flawmap().args(["train", "--config"]).arg(&path).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("batch_labled"));
}

#[test]
fn the_shapes_example_is_the_builtin_demo() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/shapes-gct.toml")).unwrap();
    let example = flawmap::config::RunConfig::from_toml(&text).unwrap();
    assert_eq!(example, flawmap::config::RunConfig::shapes_demo(flawmap::config::Algorithm::Gct));
}

#[test]
fn the_paper_flaw_example_is_the_demo_with_the_papers_flaw_detector() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/shapes-gct-paper-flaw.toml")).unwrap();
    let example = flawmap::config::RunConfig::from_toml(&text).unwrap();
    let mut expected = flawmap::config::RunConfig::shapes_demo(flawmap::config::Algorithm::Gct);
    expected.name = "shapes-gct-paper-flaw".into();
    expected.flaw_detector.confidence_residual = false;
    expected.gct.fd_class_swaps = 0.0;
    expected.gct.lambda_fc = 1.0;
    assert_eq!(example, expected);
}

/// Every example file, by name: studies are `study-*.toml`, the rest run configs.
fn examples() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    out.sort();
    out
}

#[test]
fn example_configs_are_valid() {
    let runs: Vec<_> = examples().into_iter().filter(|(n, _)| !n.starts_with("study-")).collect();
    assert!(runs.len() >= 4, "{runs:?}");
    for (name, text) in runs {
        let c = flawmap::config::RunConfig::from_toml(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        c.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn example_studies_are_valid_and_the_shapes_ones_are_the_builtin_studies() {
    use flawmap::config::Algorithm;
    use flawmap::study::StudyConfig;
    let studies: Vec<_> = examples().into_iter().filter(|(n, _)| n.starts_with("study-")).collect();
    assert!(studies.len() >= 5, "{studies:?}");
    // The built-in study is the quick one at the paper's budget, nothing else.
    let builtin = StudyConfig::shapes_paper();
    let quick = StudyConfig::shapes_quick();
    let mut expected = quick.clone();
    expected.name = "shapes-study".into();
    expected.run.name = expected.name.clone();
    expected.iterations = Some(1400);
    expected.run.train.eval_every = 140;
    expected.run.train.vis_every = 140;
    assert_eq!(builtin, expected);
    for (name, text) in studies {
        let study = StudyConfig::from_toml(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        study.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        // The shapes ablations change only what their comments say they change.
        let mut expected = quick.clone();
        match name.as_str() {
            "study-shapes" => expected = builtin.clone(),
            "study-shapes-quick" => {}
            "study-shapes-suponly-batch4" => {
                expected.name = "shapes-suponly-batch4".into();
                expected.run.name = expected.name.clone();
                expected.algorithms = vec![Algorithm::Suponly];
                expected.run.train.suponly_batch = flawmap::config::SuponlyBatch::Labeled;
            }
            "study-shapes-long" => {
                expected.name = "shapes-long".into();
                expected.run.name = expected.name.clone();
                expected.label_ratios = vec![0.5];
                expected.seeds = vec![0, 1];
                expected.iterations = Some(840);
                expected.run.train.eval_every = 105;
                expected.run.train.vis_every = 30;
            }
            _ => continue,
        }
        assert_eq!(study, expected, "{name}");
    }
    // The photo ablation is the photo study with GCT alone at lambda_dc 1.
    let by_name = |name: &str| StudyConfig::from_toml(&examples().into_iter().find(|(n, _)| n == name).unwrap().1).unwrap();
    let mut expected = by_name("study-photos");
    expected.name = "photos-dc1".into();
    expected.run.name = expected.name.clone();
    expected.algorithms = vec![Algorithm::Gct];
    expected.run.gct.lambda_dc = 1.0;
    assert_eq!(by_name("study-photos-dc1"), expected);
    // The nuclei study's best setting changes F's map and the fc weight, and a third seed.
    let mut expected = by_name("study-nuclei");
    expected.name = "nuclei-flaw-correction".into();
    expected.run.name = expected.name.clone();
    expected.seeds = vec![0, 1, 2];
    expected.run.flaw_detector.confidence_residual = true;
    expected.run.gct.lambda_fc = 20.0;
    assert_eq!(by_name("study-nuclei-flaw-correction"), expected);
}

#[test]
fn train_then_eval_a_checkpoint() {
    let dir = tmp("cli_train");
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/shapes-gct.toml")).unwrap();
    let text = text
        .replace("train_images = 320, val_images = 48, image_size = 48", "train_images = 16, val_images = 2, image_size = 32")
        .replace("crop_size = 48", "crop_size = 32")
        .replace("base_size = 48", "base_size = 32")
        .replace("width = 12", "width = 8")
        .replace("ndf = 16", "ndf = 8")
        .replace("epochs = 4 ", "iterations = 4 ");
    let cfg = dir.join("tiny.toml");
    std::fs::write(&cfg, text).unwrap();
    let out = flawmap().args(["train", "--device", "cpu", "--config"]).arg(&cfg).arg("--out").arg(dir.join("out")).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("finished at step 4") && stdout.contains("T1") && stdout.contains("T2"), "{stdout}");
    assert!(std::fs::read_to_string(dir.join("out/events.jsonl")).unwrap().lines().count() > 4);

    let ckpt = dir.join("out/checkpoints/step-000004.safetensors");
    let out = flawmap().args(["eval", "--device", "cpu", "--checkpoint"]).arg(&ckpt).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("at step 4") && stdout.contains("T2"), "{stdout}");
    assert!(stdout.contains("(2 validation images)"), "{stdout}");
    assert!(stdout.contains("C at F's map T1") && stdout.contains("conf at F's map T2"), "{stdout}");

    // The same checkpoint on its labelled training images: 1/8 of 16, the split its seed drew.
    let out = flawmap().args(["eval", "--device", "cpu", "--split", "labeled", "--checkpoint"]).arg(&ckpt).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("(2 labelled training images)") && stdout.contains("F on T1"), "{stdout}");
    let out = flawmap().args(["eval", "--split", "train", "--checkpoint"]).arg(&ckpt).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("validation, labeled"));

    // F refitted alone against the frozen models: a row before, one per --eval-every and one
    // at the end; the models' confidence stays, F's loss against C(.) moves.
    let out = flawmap().args(["refit-flaw", "--device", "cpu", "--iterations", "3", "--eval-every", "2", "--checkpoint"]).arg(&ckpt).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<Vec<&str>> =
        stdout.lines().map(|l| l.split_whitespace().collect::<Vec<_>>()).filter(|r| r.len() >= 7 && r[0].parse::<usize>().is_ok()).collect();
    assert_eq!(rows.iter().map(|r| r[0]).collect::<Vec<_>>(), ["0", "2", "3"], "{stdout}");
    assert!(rows.iter().all(|r| r[3] == rows[0][3]), "the models' confidence moved: {stdout}");
    assert_ne!(rows[0][4], rows[2][4], "F did not change: {stdout}");
    assert_eq!(rows[0][1], "-");
    // After the seven figures, F's choice per true class (the class names of the run).
    let classes = ["background", "ellipse", "rectangle", "triangle"];
    assert!(rows.iter().any(|r| r.len() > 7), "no row has F's choice per class: {stdout}");
    assert!(rows.iter().all(|r| r.len() == 7 || r[7..].iter().any(|w| classes.contains(w))), "{stdout}");
    // With class swaps the refit runs; a share outside [0, 1] is refused by its name.
    let swapped = flawmap().args(["refit-flaw", "--device", "cpu", "--iterations", "1", "--class-swaps", "1", "--checkpoint"]).arg(&ckpt).output().unwrap();
    assert!(swapped.status.success(), "{}", String::from_utf8_lossy(&swapped.stderr));
    let bad = flawmap().args(["refit-flaw", "--device", "cpu", "--iterations", "1", "--class-swaps", "2", "--checkpoint"]).arg(&ckpt).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("gct.fd_class_swaps"), "{}", String::from_utf8_lossy(&bad.stderr));
}

#[test]
fn the_lowlight_examples_train_from_the_command_line_on_pairs_and_on_darkened_photos() {
    for example in ["pairs-lowlight", "photos-lowlight"] {
        let dir = tmp(&format!("cli_{example}"));
        let small = [
            "train.iterations=3",
            "train.eval_every=3",
            "train.vis_every=0",
            "train.batch_unlabeled=2",
            "t1.width=8",
            "t2.width=8",
            "flaw_detector.ndf=8",
            "data.crop_size=32",
            "data.base_size=48",
        ];
        let mut cmd = flawmap();
        cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args(["train", "--device", "cpu", "--config"]).arg(format!("examples/{example}.toml"));
        for s in small {
            cmd.args(["--set", s]);
        }
        let out = cmd.arg("--out").arg(dir.join("out")).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{example}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        // The final table: both models' PSNR and SSIM, and the dark input's own as the floor.
        assert!(stdout.contains("finished at step 3") && stdout.contains("the degraded input itself"), "{example}: {stdout}");
        let input_row = stdout.lines().find(|l| l.starts_with("input ")).unwrap();
        let psnr: f64 = input_row.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!((4.0..20.0).contains(&psnr), "{example}: a dark input scores {psnr} dB");
    }
}

#[test]
fn a_0_255_salient_object_set_trains_from_the_command_line_with_its_encoding_and_sod_scores() {
    let data = tmp("cli_sod_data");
    common::nuclei_0_255(&data);
    let dir = tmp("cli_sod");
    let mut cmd = flawmap();
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args(["train", "--device", "cpu", "--config", "examples/nuclei-gct.toml"]);
    for s in [
        "train.iterations=3",
        "train.eval_every=3",
        "train.vis_every=0",
        "t1.width=8",
        "t2.width=8",
        "flaw_detector.ndf=8",
        "data.crop_size=32",
        "data.base_size=64",
    ] {
        cmd.args(["--set", s]);
    }
    cmd.args(["--set", &format!("data.source.path=\"{}\"", data.display())]);
    let out = cmd.arg("--out").arg(dir.join("out")).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // How the masks were read is reported at the start; MAE and max F at the end.
    assert!(format!("{stdout}{stderr}").contains("binary, 0/255"), "{stdout}\n{stderr}");
    assert!(stdout.contains("salient-object scores (beta^2 0.3): T1 MAE"), "{stdout}");
}
