//! A real headless Chromium (Debian's, driven by playwright-core from npm) against a real
//! server: start a run from the new-run form and watch the inspector follow the slider;
//! start a study from its form and read its table, chart and diagnostics.
//! Needs `scripts/setup.sh` (chromium, node modules); it fails, not skips, without them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh output folder for one browser scenario.
fn fresh(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    assert!(root.join("node_modules/playwright-core").exists(), "node_modules missing: run scripts/setup.sh");
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    out
}

/// Run `node tests/browser/<script> BASE OUT [extra]` against a fresh server on OUT/data;
/// fails the test with the script's output if it fails.
fn run_scenario(script: &str, out: &Path, extra: &[&Path]) {
    let (mut server, base) = common::spawn_server(&out.join("data"));
    let result = Command::new("node").arg(format!("tests/browser/{script}")).arg(&base).arg(out).args(extra).current_dir(env!("CARGO_MANIFEST_DIR")).output();
    server.kill().unwrap();
    server.wait().unwrap();
    let result = result.expect("node runs");
    let text = format!("{}\n{}", String::from_utf8_lossy(&result.stdout), String::from_utf8_lossy(&result.stderr));
    assert!(result.status.success(), "browser scenario {script} failed:\n{text}");
}

fn assert_screenshot(out: &Path, shot: &str) {
    assert!(out.join(shot).metadata().map(|m| m.len() > 10_000).unwrap_or(false), "missing screenshot {shot}");
}

#[test]
fn the_inspector_shows_flaw_maps_that_follow_the_step_slider() {
    let out = fresh("browser");
    run_scenario("inspector.mjs", &out, &[]);
    for shot in ["new-run.png", "run.png", "inspector.png", "inspector-first-step.png"] {
        assert_screenshot(&out, shot);
    }
}

#[test]
fn a_study_started_in_the_browser_fills_its_table_chart_and_diagnostics_and_uploads_show_progress() {
    let out = fresh("browser_study");
    // A zipped images/ + masks/ folder for the upload step (real nuclei tiles).
    let nuclei = common::fixtures().join("realdata/nuclei");
    let mut entries = Vec::new();
    for name in ["tile_0_0.png", "tile_0_1.png", "tile_0_2.png"] {
        for dir in ["images", "masks"] {
            entries.push((format!("nuclei-upload/{dir}/{name}"), std::fs::read(nuclei.join(dir).join(name)).unwrap()));
        }
    }
    let refs: Vec<(&str, Vec<u8>)> = entries.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let zip = out.join("nuclei-upload.zip");
    std::fs::write(&zip, common::zip_of(&refs)).unwrap();
    run_scenario("study.mjs", &out, &[&zip]);
    assert_screenshot(&out, "study.png");
}

#[test]
fn file_names_that_are_markup_show_as_text_and_run_no_script() {
    let out = fresh("browser_hostile");
    let nuclei = common::fixtures().join("realdata/nuclei");
    let hostile = ["<img src=x onerror=window.__pwned=1>", "<svg onload=window.__pwned=2>", "a&b \"q\" 'p'"];
    let mut entries = Vec::new();
    for (i, tile) in ["tile_0_0", "tile_0_1", "tile_1_0", "tile_1_1", "tile_2_0", "tile_2_1"].iter().enumerate() {
        let name = format!("{}{i}", hostile[i % hostile.len()]);
        for dir in ["images", "masks"] {
            entries.push((format!("h/{dir}/{name}.png"), std::fs::read(nuclei.join(dir).join(format!("{tile}.png"))).unwrap()));
        }
    }
    let refs: Vec<(&str, Vec<u8>)> = entries.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let zip = out.join("hostile.zip");
    std::fs::write(&zip, common::zip_of(&refs)).unwrap();
    run_scenario("hostile.mjs", &out, &[&zip]);
}

#[test]
fn uploaded_lowlight_pairs_darkened_photos_and_a_0_255_salient_object_set_train_from_the_browser() {
    let out = fresh("browser_datasets");
    // LOL's layout, zipped (the generated pairs of tests/fixtures/lowlight-pairs).
    let pairs = common::fixtures().join("lowlight-pairs");
    let mut entries = Vec::new();
    for dir in ["low", "high"] {
        for name in ["astronaut", "brick", "camera", "chelsea", "coffee", "grass"] {
            entries.push((format!("lol-upload/{dir}/{name}.png"), std::fs::read(pairs.join(dir).join(format!("{name}.png"))).unwrap()));
        }
    }
    let refs: Vec<(&str, Vec<u8>)> = entries.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let pairs_zip = out.join("lol-upload.zip");
    std::fs::write(&pairs_zip, common::zip_of(&refs)).unwrap();
    // Nuclei tiles with their masks as salient-object sets ship them: 0 and 255.
    let nuclei = common::fixtures().join("realdata/nuclei");
    let mut entries = Vec::new();
    for name in ["tile_0_0", "tile_0_1", "tile_0_2", "tile_1_0", "tile_1_1", "tile_1_2"] {
        entries.push((format!("sod-upload/images/{name}.png"), std::fs::read(nuclei.join(format!("images/{name}.png"))).unwrap()));
        let mask = common::mask_as_0_255(&nuclei.join(format!("masks/{name}.png")));
        let mut png = std::io::Cursor::new(Vec::new());
        mask.write_to(&mut png, image::ImageFormat::Png).unwrap();
        entries.push((format!("sod-upload/masks/{name}.png"), png.into_inner()));
    }
    let refs: Vec<(&str, Vec<u8>)> = entries.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let sod_zip = out.join("sod-upload.zip");
    std::fs::write(&sod_zip, common::zip_of(&refs)).unwrap();
    // Clean photos, for the synthetic darkening.
    let photos = common::fixtures().join("realdata/photos");
    let entries: Vec<(String, Vec<u8>)> = ["astronaut.png", "chelsea.png", "coffee.png", "brick.png", "grass.png", "gravel.png"]
        .iter()
        .map(|n| (format!("photos-upload/{n}"), std::fs::read(photos.join(n)).unwrap()))
        .collect();
    let refs: Vec<(&str, Vec<u8>)> = entries.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let photos_zip = out.join("photos-upload.zip");
    std::fs::write(&photos_zip, common::zip_of(&refs)).unwrap();
    run_scenario("datasets.mjs", &out, &[&pairs_zip, &sod_zip, &photos_zip]);
    for shot in ["lowlight-run.png", "lowlight-inspector.png", "sod-run.png"] {
        assert_screenshot(&out, shot);
    }
}
