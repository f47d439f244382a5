//! The GCT operators against the reference vectors (tests/fixtures/gct-vectors, copied
//! from the spec's reference implementation), to 1e-4. Set FLAWMAP_VECTORS_DIR to run
//! another vector set.

use burn::tensor::{Device, Int, Tensor, TensorData};
use flawmap::gct::kernels::{KernelSizes, gaussian_1d};
use flawmap::gct::ops::{blur, dilate};
use flawmap::gct::schedule::{poly_lr, rampup};
use flawmap::gct::targets::{FlawParams, dc_targets, flaw_target, handle_flaw, one_hot};
use flawmap::host::to_f32;
use serde_json::Value;
use std::path::PathBuf;

const TOL: f32 = 1e-4;

fn vectors_dir() -> PathBuf {
    std::env::var_os("FLAWMAP_VECTORS_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gct-vectors"))
}

fn read(name: &str) -> Value {
    let p = vectors_dir().join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v["data"].as_array().expect("data array").iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn shape4(v: &Value) -> [usize; 4] {
    let s: Vec<usize> = v["shape"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
    [s[0], s[1], s[2], s[3]]
}

fn tensor(v: &Value, d: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(floats(v), shape4(v)), d)
}

fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let (i, err) = got.iter().zip(want).map(|(a, b)| (a - b).abs()).enumerate().fold((0, 0f32), |best, (i, e)| if e > best.1 { (i, e) } else { best });
    assert!(err <= TOL, "{what}: max |error| {err} at {i} (got {}, want {})", got[i], want[i]);
}

fn cases() -> Vec<(String, Value)> {
    let mut names: Vec<String> = std::fs::read_dir(vectors_dir())
        .expect("vectors folder")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("case_") && n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no case_*.json in {}", vectors_dir().display());
    names.into_iter().map(|n| (n.clone(), read(&n))).collect()
}

#[test]
fn gaussian_kernels_match_the_reference() {
    let v = read("gaussian_kernels.json");
    let kernels = v["kernels"].as_object().unwrap();
    assert!(kernels.len() >= 6);
    for (k, data) in kernels {
        let k: usize = k.parse().unwrap();
        let got: Vec<f32> = gaussian_1d(k).into_iter().map(|x| x as f32).collect();
        assert_close(&format!("G({k})"), &got, &floats(data));
    }
}

#[test]
fn schedules_match_the_reference() {
    let v = read("schedules.json");
    for r in v["rampup"].as_array().unwrap() {
        let got = rampup(r["step"].as_u64().unwrap() as usize, r["total"].as_u64().unwrap() as usize);
        assert!((got - r["r"].as_f64().unwrap()).abs() < 1e-9, "rampup {r}: {got}");
    }
    for p in v["poly_lr"].as_array().unwrap() {
        let got = poly_lr(p["base"].as_f64().unwrap(), p["it"].as_u64().unwrap() as usize, p["max_it"].as_u64().unwrap() as usize, 0.9);
        assert!((got - p["lr"].as_f64().unwrap()).abs() < 1e-12, "poly {p}: {got}");
    }
}

fn check_case(name: &str, c: &Value, d: &Device) {
    let s = c["S"].as_u64().unwrap() as usize;
    let k = c["num_classes"].as_u64().unwrap() as usize;
    let ks = &c["kernel_sizes"];
    let kernels = KernelSizes::for_crop(s);
    assert_eq!(
        (kernels.s16, kernels.s8, kernels.s4),
        (ks["s16"].as_u64().unwrap() as usize, ks["s8"].as_u64().unwrap() as usize, ks["s4"].as_u64().unwrap() as usize),
        "{name}: kernel sizes for S = {s}"
    );
    let fp = FlawParams {
        kernels,
        mu: c["mu"].as_f64().unwrap() as f32,
        nu: c["nu"].as_u64().unwrap() as usize,
        xi: c["xi"].as_f64().unwrap() as f32,
        dc_margin: 0.0,
        normalise: true,
        confidence_gate: false,
    };

    let blurred = blur(tensor(&c["blur_input"], d), c["blur_k"].as_u64().unwrap() as usize);
    assert_close(&format!("{name} blur"), &to_f32(blurred), &floats(&c["blur_output"]));
    assert_close(&format!("{name} dilate"), &to_f32(dilate(tensor(&c["dilate_input"], d))), &floats(&c["dilate_output"]));

    let [n, _, h, w] = shape4(&c["label"]);
    let labels: Vec<i32> = floats(&c["label"]).into_iter().map(|v| v as i32).collect();
    let labels = Tensor::<3, Int>::from_data(TensorData::new(labels, [n, h, w]), d);
    let target = flaw_target(tensor(&c["prob"], d), one_hot(labels, k), &fp);
    assert_close(&format!("{name} C(p, y)"), &to_f32(target), &floats(&c["fd_target"]));

    let h1 = handle_flaw(tensor(&c["flaw_raw_1"], d), &fp);
    let h2 = handle_flaw(tensor(&c["flaw_raw_2"], d), &fp);
    assert_close(&format!("{name} H(f1)"), &to_f32(h1), &floats(&c["flaw_handled_1"]));
    assert_close(&format!("{name} H(f2)"), &to_f32(h2), &floats(&c["flaw_handled_2"]));

    // dc targets from the reference's handled maps, so an error here is the dc rule's own.
    let dc = dc_targets(tensor(&c["prob_1"], d), tensor(&c["prob_2"], d), tensor(&c["flaw_handled_1"], d), tensor(&c["flaw_handled_2"], d), fp.xi, 0.0);
    assert_close(&format!("{name} dc target T1"), &to_f32(dc.t1), &floats(&c["dc_target_1"]));
    assert_close(&format!("{name} dc target T2"), &to_f32(dc.t2), &floats(&c["dc_target_2"]));
    assert_close(&format!("{name} fc mask"), &to_f32(dc.fc_mask), &floats(&c["fc_mask"]));
}

#[test]
fn every_case_matches_on_the_cpu() {
    let d = Device::flex();
    for (name, c) in cases() {
        check_case(&name, &c, &d);
    }
}

/// The same vectors through wgpu (Mesa lavapipe on CI), so the GPU code path is checked.
#[test]
fn first_case_matches_on_wgpu() {
    let acquired = flawmap::device::acquire(flawmap::device::DeviceChoice::Wgpu).expect("a wgpu adapter (on CI: Mesa lavapipe from mesa-vulkan-drivers)");
    let (name, c) = cases().remove(0);
    check_case(&name, &c, &acquired.device);
}
