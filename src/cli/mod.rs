//! Subcommands of the `flawmap` binary.

pub mod bench;
pub mod bench_ops;
pub mod eval;
pub mod refit;
pub mod study;
pub mod table;
pub mod train;

use flawmap::config::RunConfig;
use flawmap::device::DeviceChoice;

/// Apply a `--device` flag over the config's choice.
pub fn with_device(mut config: RunConfig, device: Option<&str>) -> Result<RunConfig, String> {
    if let Some(d) = device {
        config.device = d.parse::<DeviceChoice>()?;
    }
    Ok(config)
}
