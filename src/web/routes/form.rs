//! The new-run form is generated from the config itself: every field of `RunConfig`
//! (flattened to dotted keys) becomes an input with the demo's value, so the form never
//! falls behind the config. The essentials (`config::help::ESSENTIALS`) come first, the
//! rest under "advanced", each with its one line of help (`config::help`). Posted values
//! are typed by the field's default and validated; errors come back per field with what
//! the user typed kept.

use crate::config::help::{ESSENTIALS, help};
use crate::config::{DataSource, FieldError, RunConfig, TaskKind};
use serde_json::{Map, Value};

pub struct Field {
    pub key: String,
    pub label: String,
    pub value: String,
    pub options: Vec<String>,
    pub error: Option<String>,
    pub help: &'static str,
    /// The paper's value, where it differs from what the form starts with.
    pub paper: Option<&'static str>,
    /// The only task (or dataset source) the field applies to; the page hides it otherwise.
    pub only_task: Option<&'static str>,
    pub only_source: Option<&'static str>,
    /// Offer the dataset folders as suggestions.
    pub dataset_list: bool,
    /// JSON of this field's starting value per task, where it depends on the task (the
    /// page swaps it when the task changes and the value is still the old task's).
    pub by_task: Option<String>,
}

pub struct Group {
    pub name: String,
    pub fields: Vec<Field>,
}

/// The whole form: the essentials, then the advanced groups.
pub struct RunForm {
    pub essentials: Vec<Field>,
    pub advanced: Vec<Group>,
    /// An advanced field has an error: the page opens that part.
    pub advanced_open: bool,
}

impl RunForm {
    /// Every field, in page order.
    pub fn fields(self) -> impl Iterator<Item = Field> {
        self.essentials.into_iter().chain(self.advanced.into_iter().flat_map(|g| g.fields))
    }

    pub fn advanced_count(&self) -> usize {
        self.advanced.iter().map(|g| g.fields.len()).sum()
    }
}

fn options_for(key: &str) -> Vec<String> {
    use crate::config::{Algorithm, Arch, MaskEncoding, SuponlyBatch, TaskOptimizer};
    use crate::device::DeviceChoice;
    fn names<T: Copy + std::fmt::Display>(all: &[T]) -> Vec<String> {
        all.iter().map(T::to_string).collect()
    }
    match key {
        "task" => names(TaskKind::ALL),
        "algorithm" => names(Algorithm::ALL),
        "device" => names(DeviceChoice::ALL),
        "t1.arch" | "t2.arch" => names(Arch::ALL),
        "train.optimizer" => names(TaskOptimizer::ALL),
        "train.suponly_batch" => names(SuponlyBatch::ALL),
        "data.mask_encoding" => names(MaskEncoding::ALL),
        "data.flip" | "gct.target_normalise" | "gct.fc_rampup" => names(&[true, false]),
        "data.source.kind" => names(&DataSource::KINDS),
        _ => Vec::new(),
    }
}

/// Fields that mean something for one task only.
fn only_task(key: &str) -> Option<&'static str> {
    match key {
        "data.noise_sigma" => Some("denoising"),
        _ if key.starts_with("data.darken.") => Some("lowlight"),
        // The experiments on F that need class probabilities (validation rejects them for
        // restoration too).
        "data.num_classes"
        | "data.mask_encoding"
        | "gct.fd_holdout"
        | "gct.fd_class_swaps"
        | "gct.dc_confidence_gate"
        | "flaw_detector.confidence_input"
        | "flaw_detector.confidence_residual" => Some("segmentation"),
        _ => None,
    }
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                if key == "data.source" {
                    continue; // chosen by its own inputs
                }
                flatten(&key, v, out);
            }
        }
        other => out.push((prefix.to_string(), other.clone())),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn field(key: &str, value: String, typed: &[(String, String)], errors: &[FieldError]) -> Field {
    let value = typed.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or(value);
    let error = errors.iter().find(|e| e.field == key || (key == "data.source.path" && e.field == "data.source")).map(|e| e.message.clone());
    let help = help(key);
    Field {
        label: key.rsplit('.').next().unwrap_or(key).replace('_', " "),
        options: options_for(key),
        key: key.to_string(),
        value,
        error,
        help: help.map(|h| h.text).unwrap_or(""),
        paper: help.and_then(|h| h.paper),
        only_task: only_task(key),
        only_source: None,
        dataset_list: false,
        by_task: RunConfig::TASK_DEPENDENT.contains(&key).then(|| {
            let per_task: Map<String, Value> = TaskKind::ALL
                .iter()
                .map(|&t| {
                    let c = serde_json::to_value(RunConfig::shapes_demo(crate::config::Algorithm::Gct).with_task_defaults(t)).unwrap_or_default();
                    (t.name().to_string(), Value::String(lookup(&c, key).map(show).unwrap_or_default()))
                })
                .collect();
            Value::Object(per_task).to_string()
        }),
    }
}

/// The dataset source's inputs, from the config (or what the user typed).
fn source_fields(source: &DataSource, typed: &[(String, String)], errors: &[FieldError]) -> (Vec<Field>, Vec<Field>) {
    let (mut val_fraction, mut input_dir, mut target_dir, mut val_path) = (String::new(), String::new(), String::new(), String::new());
    match source {
        DataSource::Folder { val_fraction: v, .. } | DataSource::Photos { val_fraction: v, .. } => val_fraction = v.to_string(),
        DataSource::Pairs { input_dir: i, target_dir: t, val_fraction: v, val_path: p, .. } => {
            (val_fraction, input_dir, target_dir) = (v.to_string(), i.clone(), t.clone());
            val_path = p.clone().unwrap_or_default();
        }
        _ => {}
    }
    let path = source.folders().first().map(|p| p.to_string()).unwrap_or_default();
    let mut kind = field("data.source.kind", source.kind().into(), typed, errors);
    kind.label = "dataset".into();
    kind.help = "shapes: the built-in set; voc, folder (images/ + masks/), photos (restoration), pairs (low/ + high/): a folder below.";
    let mut folder = field("data.source.path", path, typed, errors);
    folder.label = "folder".into();
    folder.help = "The dataset's folder under the server's dataset roots (an upload lands there); not for shapes.";
    folder.dataset_list = true;
    let mut extra = Vec::new();
    for (key, value, help, source) in [
        ("data.source.val_fraction", val_fraction, "Share of images held out for validation (folder, photos, pairs without a val folder); empty: 0.25.", None),
        ("data.source.input_dir", input_dir, "Pairs: the folder of degraded inputs inside the dataset; empty: low.", Some("pairs")),
        ("data.source.target_dir", target_dir, "Pairs: the folder of clean targets, same file names; empty: high.", Some("pairs")),
        ("data.source.val_path", val_path, "Pairs: a second folder of the same layout as the validation set (LOL: eval15); empty: split off.", Some("pairs")),
    ] {
        let mut f = field(key, value, typed, errors);
        f.help = help;
        f.only_source = source;
        extra.push(f);
    }
    (vec![kind, folder], extra)
}

/// The form for a config, with the user's raw values and errors where given.
pub fn build(config: &RunConfig, typed: &[(String, String)], errors: &[FieldError]) -> RunForm {
    let mut flat = Vec::new();
    flatten("", &serde_json::to_value(config).unwrap_or_default(), &mut flat);
    // In the order of the help table (related fields together), not the JSON's alphabetical one.
    flat.sort_by_key(|(k, _)| crate::config::help::rank(k));
    let (mut essentials, source_extra) = source_fields(&config.data.source, typed, errors);
    let mut advanced = vec![Group { name: "data source".into(), fields: source_extra }];
    for key in ESSENTIALS {
        if let Some((_, value)) = flat.iter().find(|(k, _)| k == key) {
            let mut f = field(key, show(value), typed, errors);
            // Among the essentials a field stands alone: "t1 arch", not "arch".
            f.label = key.trim_start_matches("data.").trim_start_matches("train.").replace(['.', '_'], " ");
            essentials.push(f);
        }
    }
    for (key, value) in &flat {
        if ESSENTIALS.contains(&key.as_str()) {
            continue;
        }
        let group = match key.split_once('.') {
            Some(("data", rest)) if rest.starts_with("darken.") => "data: low-light darkening".to_string(),
            Some((g, _)) => g.to_string(),
            None => "run".to_string(),
        };
        let f = field(key, show(value), typed, errors);
        match advanced.iter_mut().find(|g| g.name == group) {
            Some(g) => g.fields.push(f),
            None => advanced.push(Group { name: group, fields: vec![f] }),
        }
    }
    let advanced_open = advanced.iter().flat_map(|g| &g.fields).any(|f| f.error.is_some());
    RunForm { essentials, advanced, advanced_open }
}

fn set(root: &mut Value, key: &str, v: Value) {
    let mut cur = root;
    let parts: Vec<&str> = key.split('.').collect();
    for p in &parts[..parts.len() - 1] {
        if !cur.get(*p).is_some_and(Value::is_object) {
            cur[*p] = Value::Object(Map::new());
        }
        cur = cur.get_mut(*p).expect("just inserted");
    }
    cur[parts[parts.len() - 1]] = v;
}

fn lookup<'a>(root: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('.').try_fold(root, |v, p| v.get(p))
}

/// Build a config from posted fields, typing each value by the default's type.
pub fn parse(fields: &[(String, String)]) -> Result<RunConfig, Vec<FieldError>> {
    let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.trim().to_string());
    // The posted task's demo is the base: a field the form did not post takes that task's
    // value, and a field that means something for another task only (hidden by the page,
    // still posted) is not this run's. An unknown task is reported by the `task` field.
    let task = get("task").and_then(|t| t.parse::<TaskKind>().ok()).unwrap_or(TaskKind::Segmentation);
    let base = RunConfig::shapes_demo(crate::config::Algorithm::Gct).with_task_defaults(task);
    let defaults = serde_json::to_value(&base).unwrap_or_default();
    let mut root = defaults.clone();
    let mut errors = Vec::new();
    for (key, raw) in fields {
        let raw = raw.trim();
        if key.starts_with("data.source") || key == "tags" || only_task(key).is_some_and(|t| t != task.name()) {
            continue;
        }
        let Some(default) = lookup(&defaults, key) else {
            errors.push(FieldError { field: key.clone(), message: "unknown field".into() });
            continue;
        };
        let typed = match default {
            Value::Bool(_) => Ok(Value::Bool(matches!(raw, "true" | "on" | "1"))),
            Value::String(_) => Ok(Value::String(raw.to_string())),
            _ if raw.is_empty() && default.is_null() => Ok(Value::Null),
            Value::Number(n) if n.is_u64() || n.is_i64() => raw.parse::<u64>().map(Value::from).map_err(|_| "must be a whole number"),
            _ => raw.parse::<f64>().map_err(|_| "must be a number").and_then(|f| {
                if f.fract() == 0.0 && !raw.contains('.') && !raw.contains('e') && default.is_null() {
                    Ok(Value::from(f as u64))
                } else {
                    serde_json::Number::from_f64(f).map(Value::Number).ok_or("must be finite")
                }
            }),
        };
        match typed {
            Ok(v) => set(&mut root, key, v),
            Err(m) => errors.push(FieldError { field: key.clone(), message: format!("{m}, got '{raw}'") }),
        }
    }
    let kind = get("data.source.kind").unwrap_or_else(|| "shapes".into());
    let source = if kind == "shapes" {
        lookup(&defaults, "data.source").cloned().unwrap_or_default()
    } else {
        let mut source = serde_json::json!({ "kind": kind, "path": get("data.source.path").unwrap_or_default() });
        // The optional parts each kind has; empty inputs keep the kind's defaults.
        let optional: &[&str] = match kind.as_str() {
            "folder" | "photos" => &["val_fraction"],
            "pairs" => &["val_fraction", "input_dir", "target_dir", "val_path"],
            _ => &[],
        };
        for part in optional {
            let key = format!("data.source.{part}");
            let Some(raw) = get(&key).filter(|v| !v.is_empty()) else { continue };
            if *part == "val_fraction" {
                match raw.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
                    Some(n) => source[*part] = Value::Number(n),
                    None => errors.push(FieldError { field: key, message: format!("must be a number, got '{raw}'") }),
                }
            } else {
                source[*part] = Value::String(raw);
            }
        }
        source
    };
    set(&mut root, "data.source", source);
    if !errors.is_empty() {
        return Err(errors);
    }
    // Typed, not yet validated: `create_runs` validates once, and its field errors come back
    // to this form.
    serde_json::from_value(root).map_err(|e| vec![FieldError { field: "config".into(), message: e.to_string() }])
}
