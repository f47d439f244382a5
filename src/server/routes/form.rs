//! The new-run form is generated from the config itself: every field of `RunConfig`
//! (flattened to dotted keys) becomes an input with the demo's value, so the form never
//! falls behind the config. Posted values are typed by the field's default and validated;
//! errors come back per field with what the user typed kept.

use crate::config::{FieldError, RunConfig};
use serde_json::{Map, Value};

pub struct Field {
    pub key: String,
    pub label: String,
    pub value: String,
    pub options: Vec<String>,
    pub error: Option<String>,
}

pub struct Group {
    pub name: String,
    pub fields: Vec<Field>,
}

fn options_for(key: &str) -> Vec<String> {
    let o: &[&str] = match key {
        "task" => &["segmentation", "denoising"],
        "algorithm" => &["gct", "suponly", "dual"],
        "device" => &["auto", "cpu", "wgpu"],
        "t1.arch" | "t2.arch" => &["unet", "deeplab"],
        "data.flip" => &["true", "false"],
        "train.optimizer" => &["auto", "sgd", "adam"],
        "train.suponly_batch" => &["total", "labeled"],
        "data.mask_encoding" => &["auto", "indices", "binary"],
        _ => &[],
    };
    o.iter().map(|s| s.to_string()).collect()
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

/// The form's groups for a config, with the user's raw values and errors where given.
pub fn groups(config: &RunConfig, typed: &[(String, String)], errors: &[FieldError]) -> Vec<Group> {
    let mut flat = Vec::new();
    flatten("", &serde_json::to_value(config).unwrap_or_default(), &mut flat);
    let mut groups: Vec<Group> = Vec::new();
    for (key, value) in flat {
        let group = match key.split_once('.') {
            Some((g, _)) => g.to_string(),
            None => "run".to_string(),
        };
        let value = typed.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()).unwrap_or_else(|| show(&value));
        let error = errors.iter().find(|e| e.field == key).map(|e| e.message.clone());
        let field = Field { label: key.rsplit('.').next().unwrap_or(&key).replace('_', " "), options: options_for(&key), key, value, error };
        match groups.iter_mut().find(|g| g.name == group) {
            Some(g) => g.fields.push(field),
            None => groups.push(Group { name: group, fields: vec![field] }),
        }
    }
    groups
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
    let base = RunConfig::shapes_demo(crate::config::Algorithm::Gct);
    let defaults = serde_json::to_value(&base).unwrap_or_default();
    let mut root = defaults.clone();
    let mut errors = Vec::new();
    let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.trim().to_string());
    for (key, raw) in fields {
        let raw = raw.trim();
        if key.starts_with("data.source") || key == "tags" {
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
        serde_json::json!({ "kind": kind, "path": get("data.source.path").unwrap_or_default() })
    };
    set(&mut root, "data.source", source);
    if !errors.is_empty() {
        return Err(errors);
    }
    let config: RunConfig = serde_json::from_value(root).map_err(|e| vec![FieldError { field: "config".into(), message: e.to_string() }])?;
    config.validate().map_err(|e| e.0)?;
    Ok(config)
}
