//! Studies: the paper's table (label ratio x algorithm, mean ± std over seeds) on the
//! user's own data. A study config expands into ordinary run configs, one per
//! (algorithm, label ratio, seed); every algorithm of a (ratio, seed) gets the same split
//! seed and model seed, so they see the same labelled images and start from the same T1.
//! The aggregation is plain arithmetic over finished runs' evaluations; like the engine,
//! nothing here knows of the web or the database.

pub mod budget;
pub mod config;
pub mod diagnostics;
pub mod table;

pub use config::{Cell, StudyConfig};
pub use table::{CellResult, ModelChoice, StudyTable};
