//! With the `cuda` feature, compiles pivot's CUDA kernels (src/sd/cuda/kernels.cu) to PTX with
//! nvcc; the PTX is embedded in the binary and loaded by the driver on first use.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=src/sd/cuda/kernels.cu");
    println!("cargo::rerun-if-env-changed=CUDA_COMPUTE_CAP");
    if std::env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("pivot_kernels.ptx");
    // PTX for an older virtual architecture is compiled for newer GPUs by the driver.
    let cap = std::env::var("CUDA_COMPUTE_CAP").unwrap_or_else(|_| "70".into());
    let status = Command::new("nvcc")
        .args(["--ptx", "-O3", &format!("-arch=compute_{cap}"), "-o"])
        .arg(&out)
        .arg("src/sd/cuda/kernels.cu")
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("nvcc failed ({s}) on src/sd/cuda/kernels.cu"),
        Err(e) => panic!("the cuda feature needs the CUDA toolkit's nvcc on PATH: {e}"),
    }
}
