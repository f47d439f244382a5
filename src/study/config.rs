//! The study config (TOML or JSON) and its expansion into run configs.

use crate::config::{Algorithm, ConfigErrors, FieldError, RunConfig};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyConfig {
    pub name: String,
    /// Label ratios, the table's columns (e.g. 1/16, 1/8, 1/4, 1/2).
    pub label_ratios: Vec<f64>,
    /// Algorithms, the table's rows (gct, suponly, dual).
    pub algorithms: Vec<Algorithm>,
    /// One run per seed and cell; the seed is both the model seed and the split seed.
    pub seeds: Vec<u64>,
    /// Budget of every run in iterations; overrides the template's epochs. Unset: the
    /// template's `train.epochs` / `train.iterations`, which at different ratios means
    /// different iteration counts (an epoch is a pass over the longer stream).
    #[serde(default)]
    pub iterations: Option<usize>,
    /// The template every run starts from; its algorithm, label ratio, seed and split seed
    /// are set per cell (in a TOML file `algorithm` may be left out of `[run]`).
    pub run: RunConfig,
}

/// One run of a study.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub algorithm: Algorithm,
    pub label_ratio: f64,
    pub seed: u64,
    pub config: RunConfig,
}

impl StudyConfig {
    /// The built-in study: the paper's four ratios on the shapes set, GCT vs SupOnly, three
    /// seeds, every run the dashboard's demo config at the paper's budget: 20 epochs of GCT's
    /// unlabelled stream at 1/8 labels (1400 iterations), one budget for the whole table. At
    /// the demo's 4 epochs GCT trails SupOnly at 1/8 ([`StudyConfig::shapes_quick`]); at 20 it
    /// leads (README, "GCT against SupOnly").
    pub fn shapes_paper() -> Self {
        let mut study = Self::shapes_quick();
        study.name = "shapes-study".into();
        study.run.name = study.name.clone();
        study.iterations = Some(1400);
        study.run.train.eval_every = 140; // 10 evaluations
        study.run.train.vis_every = 140;
        study
    }

    /// The built-in study at the demo's own budget (280 iterations, 4 epochs at 1/8): a
    /// fifth of the time, for a first look; too short for GCT's gain at 1/8.
    pub fn shapes_quick() -> Self {
        let mut run = RunConfig::shapes_demo(Algorithm::Gct);
        run.name = "shapes-quick".into();
        Self {
            name: "shapes-quick".into(),
            label_ratios: vec![0.0625, 0.125, 0.25, 0.5],
            algorithms: vec![Algorithm::Gct, Algorithm::Suponly],
            seeds: vec![0, 1, 2],
            // The demo's length at 1/8 labels, for every ratio: one budget for the whole table.
            iterations: Some(280),
            run,
        }
    }

    /// Parse TOML and validate; errors name the field.
    pub fn from_toml(text: &str) -> Result<Self, ConfigErrors> {
        let mut value: toml::Table = toml::from_str(text).map_err(|e| one("(file)", e.message()))?;
        if let Some(toml::Value::Table(run)) = value.get_mut("run") {
            run.entry("algorithm").or_insert_with(|| "gct".into());
        }
        let c: Self = value.try_into().map_err(|e: toml::de::Error| {
            let field = e.message().split('`').nth(1).unwrap_or("(file)").to_string();
            one(&field, e.message())
        })?;
        c.validate()?;
        Ok(c)
    }

    /// Parse JSON (the API's body) and validate.
    pub fn from_json(mut value: serde_json::Value) -> Result<Self, ConfigErrors> {
        if let Some(run) = value.get_mut("run").and_then(|r| r.as_object_mut()) {
            run.entry("algorithm").or_insert_with(|| "gct".into());
        }
        let c: Self = serde_json::from_value(value).map_err(|e| one("(body)", &e.to_string()))?;
        c.validate()?;
        Ok(c)
    }

    /// Every problem at once: the lists, then the first cell's config with `run.` in front
    /// of its field names (the cells differ only in the fields the study sets).
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut errs = Vec::new();
        let mut check = |ok: bool, field: &str, message: &str| {
            if !ok {
                errs.push(FieldError { field: field.into(), message: message.into() });
            }
        };
        // Sizes first: the checks below are quadratic in the list lengths.
        if self.cell_count() > MAX_RUNS {
            check(false, "seeds", &format!("a study is limited to {MAX_RUNS} runs (ratios x algorithms x seeds)"));
            return Err(ConfigErrors(errs));
        }
        check(!self.name.trim().is_empty(), "name", "must not be empty");
        check(!self.label_ratios.is_empty(), "label_ratios", "list at least one ratio");
        check(self.label_ratios.iter().all(|r| *r > 0.0 && *r <= 1.0), "label_ratios", "every ratio must be in (0, 1]");
        check(
            !(self.label_ratios.contains(&1.0) && self.algorithms.iter().any(|a| *a != Algorithm::Suponly)),
            "label_ratios",
            "1.0 leaves no unlabelled images for gct or dual: use a separate study with suponly alone for the fully labelled column",
        );
        check(!has_duplicates(&self.label_ratios), "label_ratios", "ratios must be distinct");
        check(!self.algorithms.is_empty(), "algorithms", "list at least one of gct, suponly, dual");
        check(!has_duplicates(&self.algorithms), "algorithms", "algorithms must be distinct");
        check(!self.seeds.is_empty(), "seeds", "list at least one seed");
        check(!has_duplicates(&self.seeds), "seeds", "seeds must be distinct");
        let max_it = crate::config::limits::MAX_ITERATIONS;
        check(self.iterations.is_none_or(|n| (1..=max_it).contains(&n)), "iterations", &format!("must be between 1 and {max_it}"));
        // One cell per algorithm: they differ in what they hold in memory (GCT: two models
        // and F; SupOnly: one), so each is checked against the memory estimate.
        let mut run_errs: Vec<FieldError> = Vec::new();
        if let (Some(&r), Some(&seed)) = (self.label_ratios.first(), self.seeds.first()) {
            for &a in &self.algorithms {
                if let Err(ConfigErrors(found)) = self.cell(a, r, seed).config.validate() {
                    for e in found {
                        if !run_errs.iter().any(|x| x.field == e.field) {
                            run_errs.push(e);
                        }
                    }
                }
            }
        }
        for e in run_errs {
            // label_ratio comes from the study's list: name that list, not the template.
            let field = match e.field.as_str() {
                "data.label_ratio" => "label_ratios".to_string(),
                // Already reported on the study's own budget.
                "train.iterations" if self.iterations.is_some() => continue,
                other => format!("run.{other}"),
            };
            errs.push(FieldError { field, message: e.message });
        }
        if errs.is_empty() { Ok(()) } else { Err(ConfigErrors(errs)) }
    }

    /// Which baseline protocol the SupOnly row follows, in words; None without SupOnly.
    pub fn baseline_protocol(&self) -> Option<String> {
        let t = &self.run.train;
        self.algorithms.contains(&Algorithm::Suponly).then(|| t.suponly_batch.describe(t.batch_labeled, t.batch_unlabeled))
    }

    pub fn cell_count(&self) -> usize {
        self.label_ratios.len().saturating_mul(self.algorithms.len()).saturating_mul(self.seeds.len())
    }

    /// The runs of the study in queue order: seed by seed, then ratio by ratio, then
    /// algorithm by algorithm, so a half-finished study already has every column of the
    /// table with paired GCT / SupOnly runs, just fewer seeds.
    pub fn cells(&self) -> Vec<Cell> {
        let mut out = Vec::with_capacity(self.cell_count());
        for &seed in &self.seeds {
            for &label_ratio in &self.label_ratios {
                for &algorithm in &self.algorithms {
                    out.push(self.cell(algorithm, label_ratio, seed));
                }
            }
        }
        out
    }

    /// One run of the study.
    pub fn cell(&self, algorithm: Algorithm, label_ratio: f64, seed: u64) -> Cell {
        let mut config = self.run.clone();
        config.algorithm = algorithm;
        config.seed = seed;
        config.data.label_ratio = label_ratio;
        // The same split for every algorithm of this (ratio, seed). Splits are also nested
        // across ratios: one permutation per seed, cut at the ratio.
        config.data.split_seed = seed;
        if let Some(n) = self.iterations {
            config.train.iterations = Some(n);
        }
        config.name = format!("{} {} {} s{}", self.name, algorithm, ratio_label(label_ratio), seed);
        Cell { algorithm, label_ratio, seed, config }
    }

    /// Add what `more` lists and this study lacks (ratios, algorithms, seeds); the template
    /// and budget stay. Returns the extended config; existing cells keep their configs.
    pub fn extended(&self, ratios: &[f64], algorithms: &[Algorithm], seeds: &[u64]) -> Self {
        let mut c = self.clone();
        for r in ratios {
            if !c.label_ratios.contains(r) {
                c.label_ratios.push(*r);
            }
        }
        c.label_ratios.sort_by(f64::total_cmp);
        for a in algorithms {
            if !c.algorithms.contains(a) {
                c.algorithms.push(*a);
            }
        }
        for s in seeds {
            if !c.seeds.contains(s) {
                c.seeds.push(*s);
            }
        }
        c
    }
}

/// The largest study: enough for any table, small enough to validate and queue at once.
pub const MAX_RUNS: usize = 1000;

/// "1/8" for 0.125, "0.3" for ratios that are not 1/n.
pub fn ratio_label(r: f64) -> String {
    let inv = 1.0 / r;
    if (inv - inv.round()).abs() < 1e-6 { if inv.round() == 1.0 { "full".into() } else { format!("1/{}", inv.round()) } } else { format!("{r}") }
}

fn has_duplicates<T: PartialEq>(v: &[T]) -> bool {
    v.iter().enumerate().any(|(i, a)| v[..i].contains(a))
}

fn one(field: &str, message: &str) -> ConfigErrors {
    ConfigErrors(vec![FieldError { field: field.into(), message: message.trim().replace('\n', " ") }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::batches::Split;

    const TOML: &str = r#"
        name = "s"
        label_ratios = [0.125, 0.5]
        algorithms = ["gct", "suponly"]
        seeds = [3, 4]
        iterations = 7
        [run]
        task = "segmentation"
        [run.data]
        source = { kind = "shapes", train_images = 64, val_images = 4, image_size = 32 }
        crop_size = 32
        base_size = 32
        [run.train]
    "#;

    #[test]
    fn expands_into_every_cell_with_shared_splits() {
        let s = StudyConfig::from_toml(TOML).unwrap();
        let cells = s.cells();
        assert_eq!(cells.len(), 8);
        for c in &cells {
            assert_eq!(c.config.algorithm, c.algorithm);
            assert_eq!(c.config.data.label_ratio, c.label_ratio);
            assert_eq!((c.config.seed, c.config.data.split_seed), (c.seed, c.seed));
            assert_eq!(c.config.train.iterations, Some(7));
            c.config.validate().unwrap();
        }
        // Every algorithm of a (ratio, seed) labels the same images; other seeds label others.
        let split = |c: &Cell| Split::new(64, c.config.data.label_ratio, c.config.data.split_seed);
        for a in &cells {
            for b in &cells {
                let same_cell = a.label_ratio == b.label_ratio && a.seed == b.seed;
                assert_eq!(same_cell, split(a) == split(b), "{} vs {}", a.config.name, b.config.name);
            }
        }
        let names: Vec<_> = cells.iter().map(|c| c.config.name.clone()).collect();
        assert_eq!(names[0], "s gct 1/8 s3");
        assert_eq!(names[1], "s suponly 1/8 s3");
    }

    #[test]
    fn errors_name_the_field() {
        let bad = TOML.replace("[0.125, 0.5]", "[0.125, 0.125, 2.0]").replace("crop_size = 32", "crop_size = 3");
        let errs = StudyConfig::from_toml(&bad).unwrap_err().0;
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"label_ratios"), "{errs:?}");
        assert!(fields.contains(&"run.data.crop_size"), "{errs:?}");
        let full = TOML.replace("[0.125, 0.5]", "[0.5, 1.0]");
        assert_eq!(StudyConfig::from_toml(&full).unwrap_err().0[0].field, "label_ratios");
        StudyConfig::from_toml(&full.replace("[\"gct\", \"suponly\"]", "[\"suponly\"]")).unwrap();
        let huge = TOML.replace("seeds = [3, 4]", &format!("seeds = {:?}", (0..600).collect::<Vec<u64>>()));
        assert!(StudyConfig::from_toml(&huge).unwrap_err().to_string().contains("limited to 1000 runs"));
        let typo = TOML.replace("seeds = [3, 4]", "seed = [3, 4]");
        assert_eq!(StudyConfig::from_toml(&typo).unwrap_err().0[0].field, "seed");
    }

    #[test]
    fn extension_adds_only_what_is_missing() {
        let s = StudyConfig::from_toml(TOML).unwrap();
        let e = s.extended(&[0.25, 0.5], &[Algorithm::Gct], &[4, 5]);
        assert_eq!(e.label_ratios, vec![0.125, 0.25, 0.5]);
        assert_eq!(e.seeds, vec![3, 4, 5]);
        assert_eq!(e.cell_count(), 18);
        // Old cells are unchanged, so their finished runs still count.
        for c in s.cells() {
            assert!(e.cells().contains(&c));
        }
    }

    #[test]
    fn ratio_labels() {
        assert_eq!(ratio_label(0.0625), "1/16");
        assert_eq!(ratio_label(0.5), "1/2");
        assert_eq!(ratio_label(1.0), "full");
        assert_eq!(ratio_label(0.3), "0.3");
    }
}
