//! Choosing where tensors live. burn 0.22 picks the backend at run time through its
//! `Device`: wgpu for GPUs (or Mesa's lavapipe on a CPU-only machine), flex for the CPU.

use burn::tensor::{Device, DeviceKind};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// What the user asked for (its names: `config::named_enum!`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// A real GPU through wgpu when there is one, else flex on the CPU.
    #[default]
    Auto,
    /// wgpu on whatever adapter it finds (lavapipe counts: it is how CI tests this path).
    Wgpu,
    /// flex, burn's pure-Rust CPU backend.
    Cpu,
}

/// A device that was actually acquired, with a name to show users.
#[derive(Debug, Clone)]
pub struct Acquired {
    pub device: Device,
    pub name: String,
    /// true for a wgpu adapter that runs on the CPU (lavapipe, llvmpipe, SwiftShader).
    pub software: bool,
}

/// wgpu may be initialised only once per process (a second `init()` for the same
/// selector is an error), so the result is cached for every later run.
fn wgpu_device() -> Result<Acquired, String> {
    static WGPU: OnceLock<Result<Acquired, String>> = OnceLock::new();
    WGPU.get_or_init(|| {
        let dev = Device::wgpu_options().device_kind(DeviceKind::DefaultDevice).init().map_err(|e| format!("no wgpu adapter could be opened: {e}"))?;
        let ident = dev.identity();
        let name = ident.as_ref().map(|i| i.name.clone()).unwrap_or_else(|| "unknown adapter".into());
        // cubecl reports no physical card for CPU rasterisers (lavapipe, SwiftShader).
        let software = ident.as_ref().is_none_or(|i| i.physical.is_none()) || name.contains("llvmpipe");
        Ok(Acquired { name: format!("wgpu ({name})"), device: dev, software })
    })
    .clone()
}

fn cpu_device() -> Acquired {
    Acquired { device: Device::flex(), name: "flex (CPU)".into(), software: false }
}

/// Acquire the device for a run. `Auto` takes wgpu only on a real GPU: on lavapipe flex
/// is several times faster for training (see the README's figures).
pub fn acquire(choice: DeviceChoice) -> Result<Acquired, String> {
    match choice {
        DeviceChoice::Cpu => Ok(cpu_device()),
        DeviceChoice::Wgpu => wgpu_device(),
        DeviceChoice::Auto => match wgpu_device() {
            Ok(d) if !d.software => Ok(d),
            _ => Ok(cpu_device()),
        },
    }
}
