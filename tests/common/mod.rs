//! Shared helpers for the parity tests: fixture paths, reference tensors, closeness checks.
#![allow(dead_code)]

pub mod worker;

use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn model_dir(name: &str) -> PathBuf {
    fixtures().join(name)
}

/// All tensors of `reference/<file>.safetensors`.
pub fn reference(file: &str) -> HashMap<String, Tensor> {
    let p = fixtures().join("reference").join(format!("{file}.safetensors"));
    candle_core::safetensors::load(&p, &Device::Cpu).unwrap_or_else(|e| panic!("cannot load {}: {e}", p.display()))
}

pub fn get(map: &HashMap<String, Tensor>, key: &str) -> Tensor {
    map.get(key).unwrap_or_else(|| panic!("reference has no `{key}`")).clone()
}

/// Largest absolute difference, in f64.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims(), "shape mismatch");
    let a = a.to_dtype(DType::F64).unwrap();
    let b = b.to_dtype(DType::F64).unwrap();
    (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap()
}

pub fn assert_close(name: &str, got: &Tensor, want: &Tensor, tol: f64) {
    let d = max_abs_diff(got, want);
    assert!(d <= tol, "{name}: max |diff| = {d:e} > {tol:e}");
    eprintln!("{name}: max |diff| = {d:.3e}");
}

/// ‖a − b‖ / ‖b‖.
pub fn rel_l2(a: &Tensor, b: &Tensor) -> f64 {
    let a = a.to_dtype(DType::F64).unwrap();
    let b = b.to_dtype(DType::F64).unwrap();
    let num = (&a - &b).unwrap().sqr().unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap().sqrt();
    let den = b.sqr().unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap().sqrt();
    num / den
}

/// Copy a folder tree (a model fixture to break, say).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// The pivot binary, offline, and blind to the user's config.toml (which could name a default
/// model) and state folder.
pub fn pivot_command() -> std::process::Command {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_pivot"));
    c.env("HF_HUB_OFFLINE", "1").env("PIVOT_CONFIG_DIR", tmp.join("no-config")).env("PIVOT_STATE_DIR", tmp.join("state"));
    c
}

/// stdout and stderr of a finished command, as text.
pub fn text(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The PSNR against the VAE's round trip in a line pivot printed ("…, 43.52 dB vs the VAE round
/// trip"; `∞` for a reconstruction equal to it).
pub fn psnr_vs_round_trip(text: &str) -> Option<f64> {
    let v = text.split(" dB vs the VAE round trip").next()?.rsplit(", ").next()?;
    if v == "∞" { Some(f64::INFINITY) } else { v.parse().ok() }
}
