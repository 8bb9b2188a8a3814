//! Picking the compute device (`--device auto|cpu|cuda[:N]|metal`) and naming it.

use anyhow::{bail, Result};
use candle_core::Device;

/// The device `spec` names: auto, cpu, cuda[:N] or metal.
pub fn pick(spec: &str) -> Result<Device> {
    match spec {
        "cpu" => Ok(Device::Cpu),
        "auto" => {
            if candle_core::utils::cuda_is_available() {
                new_cuda(0)
            } else if candle_core::utils::metal_is_available() {
                Ok(Device::new_metal(0)?)
            } else {
                Ok(Device::Cpu)
            }
        }
        "metal" if candle_core::utils::metal_is_available() => Ok(Device::new_metal(0)?),
        "metal" => bail!("this pivot was built without Metal (rebuild with --features metal)"),
        s if s == "cuda" || s.starts_with("cuda:") => {
            let n = match s.strip_prefix("cuda:") {
                None => 0,
                Some(n) => n.parse().map_err(|_| anyhow::anyhow!("`{s}`: the GPU number after cuda: must be 0, 1, …"))?,
            };
            if !candle_core::utils::cuda_is_available() {
                bail!("this pivot was built without CUDA (rebuild with --features cuda)");
            }
            new_cuda(n)
        }
        other => bail!("unknown device `{other}`: use auto, cpu, cuda[:N] or metal (auto is the GPU when pivot was built with one)"),
    }
}

/// A CUDA device without cudarc's per-tensor event tracking (`PIVOT_CUDA_EVENTS=1` keeps it):
/// every op pivot runs goes to the device's one stream, in order, so the events only cost
/// driver calls on each op.
fn new_cuda(n: usize) -> Result<Device> {
    let dev = Device::new_cuda(n)?;
    #[cfg(feature = "cuda")]
    if let Device::Cuda(d) = &dev {
        if std::env::var("PIVOT_CUDA_EVENTS").map_or(true, |v| v != "1") {
            // SAFETY: pivot uses the device's single stream only (see above).
            unsafe { d.disable_event_tracking() };
        }
    }
    Ok(dev)
}

pub fn describe(dev: &Device) -> String {
    match dev {
        Device::Cpu => match candle_core::utils::get_num_threads() {
            1 => "cpu (1 thread)".into(),
            n => format!("cpu ({n} threads)"),
        },
        Device::Cuda(_) => "cuda".into(),
        Device::Metal(_) => "metal".into(),
    }
}
