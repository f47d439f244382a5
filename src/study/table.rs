//! The paper-style table: rows are algorithms, columns label ratios, cells the mean ± std
//! over seeds of one validation metric; the best mean of each column is marked, and a
//! delta row gives GCT − SupOnly over the seeds both have finished.

use super::config::ratio_label;
use crate::config::Algorithm;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// Which task model's score a cell shows. SupOnly trains T1 only, so its cells always
/// show T1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelChoice {
    #[default]
    T1,
    T2,
    /// The mean of T1 and T2.
    Mean,
    /// The better of T1 and T2 (per run).
    Best,
}

impl ModelChoice {
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_lowercase())).ok()
    }

    pub fn key(self) -> &'static str {
        match self {
            Self::T1 => "t1",
            Self::T2 => "t2",
            Self::Mean => "mean",
            Self::Best => "best",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::T1 => "T1",
            Self::T2 => "T2",
            Self::Mean => "mean of T1, T2",
            Self::Best => "better of T1, T2 per run, picked on validation: optimistic",
        }
    }
}

/// The final validation metric of one finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    pub algorithm: Algorithm,
    pub label_ratio: f64,
    pub seed: u64,
    pub t1: f64,
    /// None for SupOnly (one model).
    pub t2: Option<f64>,
}

impl CellResult {
    /// The cell's value for a model choice; `lower`: smaller is better (MAE).
    pub fn value(&self, model: ModelChoice, lower: bool) -> f64 {
        let Some(t2) = self.t2 else { return self.t1 };
        match model {
            ModelChoice::T1 => self.t1,
            ModelChoice::T2 => t2,
            ModelChoice::Mean => 0.5 * (self.t1 + t2),
            ModelChoice::Best if lower => self.t1.min(t2),
            ModelChoice::Best => self.t1.max(t2),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Aggregate {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (n - 1); None with one seed.
    pub std: Option<f64>,
    /// One value per seed, in seed order.
    pub values: Vec<f64>,
    /// The highest mean of its column (marked only when every row of the column has the
    /// same number of seeds).
    pub best: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delta {
    /// Seeds for which both algorithms have a result.
    pub n: usize,
    /// Mean of the paired differences (GCT − SupOnly, seed by seed).
    pub mean: f64,
    pub std: Option<f64>,
    /// Seeds where GCT scored higher.
    pub wins: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub algorithm: Algorithm,
    /// One per ratio; None where no run of that cell has finished.
    pub cells: Vec<Option<Aggregate>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StudyTable {
    /// One of `runs::studies::metrics_for`: "miou", "pixel_acc", "max_f", "mae", "psnr", "ssim".
    pub metric: String,
    pub model: ModelChoice,
    /// Seeds per cell when the study is complete; cells with fewer show their count.
    pub seeds: usize,
    pub ratios: Vec<f64>,
    pub rows: Vec<Row>,
    /// GCT − SupOnly per ratio, when the study has both.
    pub delta: Option<Vec<Option<Delta>>>,
}

fn mean_std(values: &[f64]) -> (f64, Option<f64>) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let std = (values.len() > 1).then(|| (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    (mean, std)
}

impl StudyTable {
    pub fn build(metric: &str, model: ModelChoice, seeds: usize, ratios: &[f64], algorithms: &[Algorithm], results: &[CellResult]) -> Self {
        let lower = lower_is_better(metric);
        let pick = |a: Algorithm, r: f64| {
            let mut cell: Vec<&CellResult> = results.iter().filter(|c| c.algorithm == a && c.label_ratio == r).collect();
            cell.sort_by_key(|c| c.seed);
            cell
        };
        let mut rows: Vec<Row> = algorithms
            .iter()
            .map(|&a| Row {
                algorithm: a,
                cells: ratios
                    .iter()
                    .map(|&r| {
                        let values: Vec<f64> = pick(a, r).iter().map(|c| c.value(model, lower)).collect();
                        (!values.is_empty()).then(|| {
                            let (mean, std) = mean_std(&values);
                            Aggregate { n: values.len(), mean, std, values, best: false }
                        })
                    })
                    .collect(),
            })
            .collect();
        for col in 0..ratios.len() {
            // Means over different numbers of seeds (a study under way) are not ranked.
            let counts: Vec<Option<usize>> = rows.iter().map(|r| r.cells[col].as_ref().map(|c| c.n)).collect();
            if rows.len() < 2 || counts.iter().any(|n| *n != counts[0] || n.is_none()) {
                continue;
            }
            let means = rows.iter().filter_map(|r| r.cells[col].as_ref().map(|c| c.mean));
            let best = if lower { means.fold(f64::INFINITY, f64::min) } else { means.fold(f64::NEG_INFINITY, f64::max) };
            for row in &mut rows {
                if let Some(c) = &mut row.cells[col] {
                    c.best = c.mean == best;
                }
            }
        }
        let has = |a| algorithms.contains(&a);
        let delta = (has(Algorithm::Gct) && has(Algorithm::Suponly)).then(|| {
            ratios
                .iter()
                .map(|&r| {
                    let sup = pick(Algorithm::Suponly, r);
                    let diffs: Vec<f64> = pick(Algorithm::Gct, r)
                        .iter()
                        .filter_map(|g| sup.iter().find(|s| s.seed == g.seed).map(|s| g.value(model, lower) - s.value(model, lower)))
                        .collect();
                    (!diffs.is_empty()).then(|| {
                        let (mean, std) = mean_std(&diffs);
                        let won = |d: f64| if lower { d < 0.0 } else { d > 0.0 };
                        Delta { n: diffs.len(), mean, std, wins: diffs.iter().filter(|d| won(**d)).count() }
                    })
                })
                .collect()
        });
        Self { metric: metric.into(), model, seeds, ratios: ratios.to_vec(), rows, delta }
    }

    /// Whether the table's metric improves downwards (the best mean is the smallest, a
    /// negative delta a win for GCT).
    pub fn lower_is_better(&self) -> bool {
        lower_is_better(&self.metric)
    }

    /// How the metric is written: mIoU and accuracy in percent (as the paper), PSNR in dB.
    pub fn format(&self, v: f64) -> String {
        match self.metric.as_str() {
            "miou" | "pixel_acc" | "max_f" => format!("{:.2}", 100.0 * v),
            "psnr" => format!("{v:.2}"),
            _ => format!("{v:.4}"),
        }
    }

    pub fn metric_label(&self) -> String {
        match self.metric.as_str() {
            "miou" => "mIoU %".into(),
            "pixel_acc" => "pixel accuracy %".into(),
            "psnr" => "PSNR dB".into(),
            "ssim" => "SSIM".into(),
            "max_f" => "max F-measure % (β² 0.3)".into(),
            "mae" => "MAE (lower is better)".into(),
            m => m.into(),
        }
    }

    pub fn cell_text(&self, c: &Aggregate) -> String {
        let text = match c.std {
            Some(s) => format!("{} ± {}", self.format(c.mean), self.format(s)),
            None => self.format(c.mean),
        };
        if c.n < self.seeds { format!("{text} (n={})", c.n) } else { text }
    }

    pub fn delta_text(&self, d: &Delta) -> String {
        let sign = if d.mean >= 0.0 { "+" } else { "−" };
        format!("{sign}{} ({}/{} seeds)", self.format(d.mean.abs()), d.wins, d.n)
    }

    /// Markdown, the paper's layout; the best mean of each column in bold.
    pub fn to_markdown(&self) -> String {
        let mut s = format!("| {} ({}) |", self.metric_label(), self.model.label());
        for r in &self.ratios {
            write!(s, " {} |", ratio_label(*r)).unwrap();
        }
        s.push_str("\n|---|");
        s.push_str(&"---|".repeat(self.ratios.len()));
        for row in &self.rows {
            write!(s, "\n| {} |", algorithm_label(row.algorithm)).unwrap();
            for c in &row.cells {
                match c {
                    Some(c) if c.best => write!(s, " **{}** |", self.cell_text(c)).unwrap(),
                    Some(c) => write!(s, " {} |", self.cell_text(c)).unwrap(),
                    None => s.push_str(" – |"),
                }
            }
        }
        if let Some(delta) = &self.delta {
            s.push_str("\n| GCT − SupOnly |");
            for d in delta {
                match d {
                    Some(d) => write!(s, " {} |", self.delta_text(d)).unwrap(),
                    None => s.push_str(" – |"),
                }
            }
        }
        s.push('\n');
        s
    }

    /// CSV, one line per cell and per delta: every number unformatted (metric units, not %).
    pub fn to_csv(&self) -> String {
        let mut s = String::from("row,label_ratio,metric,model,n,mean,std,best,values\n");
        for row in &self.rows {
            for (r, c) in self.ratios.iter().zip(&row.cells) {
                if let Some(c) = c {
                    let values: Vec<String> = c.values.iter().map(|v| v.to_string()).collect();
                    let std = c.std.map(|v| v.to_string()).unwrap_or_default();
                    writeln!(s, "{},{r},{},{},{},{},{std},{},{}", row.algorithm, self.metric, self.model.key(), c.n, c.mean, c.best, values.join(";")).unwrap();
                }
            }
        }
        if let Some(delta) = &self.delta {
            for (r, d) in self.ratios.iter().zip(delta) {
                if let Some(d) = d {
                    let std = d.std.map(|v| v.to_string()).unwrap_or_default();
                    writeln!(s, "gct-suponly,{r},{},{},{},{},{std},,wins={}", self.metric, self.model.key(), d.n, d.mean, d.wins).unwrap();
                }
            }
        }
        s
    }
}

pub fn algorithm_label(a: Algorithm) -> &'static str {
    match a {
        Algorithm::Gct => "GCT",
        Algorithm::Suponly => "SupOnly",
        Algorithm::Dual => "Dual (no F)",
    }
}

/// MAE is an error: smaller is better. Every other metric here grows with quality.
pub fn lower_is_better(metric: &str) -> bool {
    metric == "mae"
}

#[cfg(test)]
mod tests {
    use super::*;
    use Algorithm::{Gct, Suponly};

    fn r(a: Algorithm, ratio: f64, seed: u64, t1: f64, t2: Option<f64>) -> CellResult {
        CellResult { algorithm: a, label_ratio: ratio, seed, t1, t2 }
    }

    fn results() -> Vec<CellResult> {
        vec![
            r(Gct, 0.125, 0, 0.50, Some(0.60)),
            r(Gct, 0.125, 1, 0.70, Some(0.40)),
            r(Suponly, 0.125, 0, 0.45, None),
            r(Suponly, 0.125, 1, 0.55, None),
            r(Gct, 0.5, 0, 0.80, Some(0.80)),
            r(Suponly, 0.5, 0, 0.85, None),
            r(Suponly, 0.5, 1, 0.95, None),
        ]
    }

    #[test]
    fn aggregates_by_hand() {
        let t = StudyTable::build("miou", ModelChoice::T1, 2, &[0.125, 0.5, 0.25], &[Gct, Suponly], &results());
        let gct = &t.rows[0].cells;
        let c = gct[0].as_ref().unwrap();
        assert_eq!(c.n, 2);
        assert!((c.mean - 0.60).abs() < 1e-12);
        // sqrt(((0.5-0.6)^2 + (0.7-0.6)^2) / 1) = 0.141421...
        assert!((c.std.unwrap() - 0.02f64.sqrt()).abs() < 1e-12);
        assert!(c.best);
        let sup = t.rows[1].cells[0].as_ref().unwrap();
        assert!((sup.mean - 0.50).abs() < 1e-12 && !sup.best);
        // One seed: no std.
        assert_eq!(gct[1].as_ref().unwrap().std, None);
        // No runs at 1/4.
        assert!(gct[2].is_none() && t.rows[1].cells[2].is_none());
        // 1/2: 1 GCT seed against 2 SupOnly seeds: not ranked.
        assert!(!t.rows[0].cells[1].as_ref().unwrap().best && !t.rows[1].cells[1].as_ref().unwrap().best);
        let delta = t.delta.as_ref().unwrap();
        // Paired: (0.50-0.45) and (0.70-0.55): mean 0.10, std sqrt(0.005), 2 wins.
        let d = delta[0].as_ref().unwrap();
        assert!((d.mean - 0.10).abs() < 1e-12 && d.wins == 2 && d.n == 2);
        assert!((d.std.unwrap() - 0.005f64.sqrt()).abs() < 1e-12);
        // At 1/2 only seed 0 is paired: 0.80 - 0.85.
        let d = delta[1].as_ref().unwrap();
        assert!((d.mean + 0.05).abs() < 1e-12 && d.wins == 0 && d.n == 1);
        assert!(delta[2].is_none());
    }

    #[test]
    fn model_choice_picks_t2_mean_and_best_but_suponly_is_always_t1() {
        let rs = results();
        let t2 = StudyTable::build("miou", ModelChoice::T2, 2, &[0.125], &[Gct, Suponly], &rs);
        assert!((t2.rows[0].cells[0].as_ref().unwrap().mean - 0.50).abs() < 1e-12);
        assert!((t2.rows[1].cells[0].as_ref().unwrap().mean - 0.50).abs() < 1e-12);
        let best = StudyTable::build("miou", ModelChoice::Best, 2, &[0.125], &[Gct], &rs);
        assert!((best.rows[0].cells[0].as_ref().unwrap().mean - 0.65).abs() < 1e-12);
        assert!(best.delta.is_none());
        let mean = StudyTable::build("miou", ModelChoice::Mean, 2, &[0.125], &[Gct], &rs);
        assert!((mean.rows[0].cells[0].as_ref().unwrap().mean - 0.55).abs() < 1e-12);
    }

    #[test]
    fn exports() {
        let t = StudyTable::build("miou", ModelChoice::T1, 2, &[0.125, 0.5], &[Gct, Suponly], &results());
        let md = t.to_markdown();
        assert!(md.starts_with("| mIoU % (T1) | 1/8 | 1/2 |\n|---|---|---|\n"), "{md}");
        assert!(md.contains("| GCT | **60.00 ± 14.14** | 80.00 (n=1) |"), "{md}");
        assert!(md.contains("| SupOnly | 50.00 ± 7.07 | 90.00 ± 7.07 |"), "{md}");
        assert!(md.contains("| GCT − SupOnly | +10.00 (2/2 seeds) | −5.00 (0/1 seeds) |"), "{md}");
        let csv = t.to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 1 + 4 + 2);
        assert!(lines[1].starts_with("gct,0.125,miou,t1,2,0.6"), "{csv}");
        assert!(lines[1].ends_with(",true,0.5;0.7"), "{csv}");
        let psnr = StudyTable::build("psnr", ModelChoice::T1, 1, &[0.5], &[Suponly], &[r(Suponly, 0.5, 0, 27.456, None)]);
        assert!(psnr.to_markdown().contains("| SupOnly | 27.46 |"), "one row: nothing to rank");
    }

    #[test]
    fn an_error_metric_ranks_and_counts_wins_downwards() {
        let r = |a, seed, t1: f64| CellResult { algorithm: a, label_ratio: 0.5, seed, t1, t2: (a == Gct).then_some(t1 + 0.01) };
        let rs = [r(Gct, 0, 0.05), r(Gct, 1, 0.06), r(Suponly, 0, 0.08), r(Suponly, 1, 0.05)];
        let t = StudyTable::build("mae", ModelChoice::Best, 2, &[0.5], &[Gct, Suponly], &rs);
        assert!(t.rows[0].cells[0].as_ref().unwrap().best, "GCT's lower MAE is the best");
        let d = t.delta.as_ref().unwrap()[0].as_ref().unwrap();
        assert_eq!(d.wins, 1, "GCT lower in seed 0 only");
        assert!((t.rows[0].cells[0].as_ref().unwrap().mean - 0.055).abs() < 1e-12, "Best picks the smaller of T1 and T2");
    }
}
