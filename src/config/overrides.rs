//! `--set key=value` on the command line: change one field of a TOML config without
//! editing a copy of the file (`--set train.iterations=50`, `--set data.label_ratio=0.25`,
//! `--set 'gct.mu=0.4'`). The value is read as TOML (numbers, booleans, arrays, inline
//! tables, quoted strings); a bare word that is not valid TOML is taken as a string
//! (`--set name=quick`). The result is validated like the file itself.

use super::{ConfigErrors, FieldError};

/// `text` (a TOML document) with every `key=value` of `sets` applied, as TOML again.
pub fn apply(text: &str, sets: &[String]) -> Result<String, ConfigErrors> {
    if sets.is_empty() {
        return Ok(text.to_string());
    }
    let mut doc: toml::Table = toml::from_str(text).map_err(|e| one("(file)", e.message()))?;
    for set in sets {
        let (key, raw) = set.split_once('=').ok_or_else(|| one(set, "expected key=value, e.g. train.iterations=50"))?;
        let key = key.trim();
        let path: Vec<&str> = key.split('.').collect();
        if path.iter().any(|p| p.is_empty()) {
            return Err(one(key, "a key is dotted names, e.g. train.iterations"));
        }
        let value = parse_value(raw.trim());
        let (last, parents) = path.split_last().expect("split yields one part at least");
        let mut table = &mut doc;
        for (i, part) in parents.iter().enumerate() {
            let entry = table.entry(part.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            table = entry.as_table_mut().ok_or_else(|| one(key, &format!("'{}' is a value, not a table", path[..=i].join("."))))?;
        }
        table.insert(last.to_string(), value);
    }
    toml::to_string(&doc).map_err(|e| one("(file)", &e.to_string()))
}

fn parse_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}")).ok().and_then(|mut t| t.remove("v")).unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

fn one(field: &str, message: &str) -> ConfigErrors {
    ConfigErrors(vec![FieldError { field: field.into(), message: message.trim().into() }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RunConfig;

    const BASE: &str = "name = \"a\"\ntask = \"segmentation\"\nalgorithm = \"gct\"\n[data]\nsource = { kind = \"shapes\" }\n[train]\nlr = 0.05\n";

    #[test]
    fn values_are_typed_and_tables_created() {
        let sets = ["train.iterations=50", "name=quick run", "data.flip=false", "gct.mu = 0.4", "data.source.image_size=32"].map(String::from);
        let c = RunConfig::from_toml(&apply(BASE, &sets).unwrap()).unwrap();
        assert_eq!(c.train.iterations, Some(50));
        assert_eq!(c.name, "quick run");
        assert!(!c.data.flip);
        assert_eq!(c.gct.mu, Some(0.4));
        assert_eq!(c.train.lr, 0.05, "untouched fields stay");
        assert!(matches!(c.data.source, crate::config::DataSource::Shapes { image_size: 32, .. }));
    }

    #[test]
    fn bad_overrides_name_the_key() {
        let err = apply(BASE, &["train.iterations".to_string()]).unwrap_err();
        assert_eq!(err.0[0].field, "train.iterations");
        let err = apply(BASE, &["name.first=x".to_string()]).unwrap_err();
        assert!(err.0[0].message.contains("'name' is a value"), "{err}");
        // A value of the wrong type is the config's own error, naming the field.
        let err = RunConfig::from_toml(&apply(BASE, &["train.iterations=many".to_string()]).unwrap()).unwrap_err();
        assert!(err.to_string().contains("iterations"), "{err}");
        let err = RunConfig::from_toml(&apply(BASE, &["train.iteratons=5".to_string()]).unwrap()).unwrap_err();
        assert!(err.to_string().contains("iteratons"), "{err}");
    }
}
