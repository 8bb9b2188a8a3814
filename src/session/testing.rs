//! Shared fixtures for the session tests.

use super::inversion_file::{InversionFile, InversionMeta};
use super::manifest::{InversionRecord, Item, ModelRef};
use candle_core::{DType, Device, Tensor};
use super::store::Session;
use std::path::Path;

pub fn model() -> ModelRef {
    ModelRef { source: "tiny".into(), hash: "tiny-0123".into() }
}

/// A whole 2×2 PNG of grey level `v` (the session checks that pictures end as PNGs do).
pub fn png(v: u8) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::GrayImage::from_pixel(2, 2, image::Luma([v])).write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Session `trip` with item `cat` (image written, inversion not started), committed.
pub fn session_with_cat(root: &Path) -> Session {
    let mut s = Session::create(root, "trip", model()).unwrap();
    s.write_file("images/cat.png", &png(7)).unwrap();
    let inversion = InversionRecord { method: "null-text".into(), steps: 4, inner: 3, guidance: 7.5, epsilon: 1e-5, completed_steps: 0, file: None, failure: None, fixed_point: 0 };
    s.manifest.items.push(Item {
        id: "cat".into(),
        image: "images/cat.png".into(),
        original_path: "/photos/Cat.JPG".into(),
        prompt: "a cat on a sofa".into(),
        inversion: Some(inversion),
        edits: vec![],
        reconstruction: None,
        removed_edits_up_to: 0,
    });
    s.commit().unwrap();
    s
}

/// A finished inversion of `cat`'s caption with the given inner iterations per step (tiny shapes).
pub fn inversion_with_iterations(iterations: &[i64]) -> InversionFile {
    let dev = Device::Cpu;
    let t = iterations.len();
    let meta = InversionMeta { prompt: "a cat on a sofa".into(), model: "tiny".into(), model_hash: "tiny-0123".into(), method: "null-text".into(), guidance: 7.5, inner_steps: 3, epsilon: 1e-5, fixed_point: 0 };
    InversionFile {
        meta,
        latents: Tensor::zeros((t + 1, 4, 2, 2), DType::F32, &dev).unwrap(),
        null_embeddings: Tensor::zeros((t, 77, 8), DType::F32, &dev).unwrap(),
        losses: Tensor::zeros((t, 3), DType::F32, &dev).unwrap(),
        iterations: iterations.to_vec(),
        timesteps: (0..t as i64).rev().collect(),
        completed: t,
        current_latent: None,
        offsets: None,
    }
}

/// `cat`'s inversion of `steps` timesteps stopped after `done` of them (as a checkpoint is).
pub fn partial_inversion(steps: usize, done: usize) -> InversionFile {
    let mut f = inversion_with_iterations(&vec![1; steps]);
    f.completed = done;
    f.null_embeddings = f.null_embeddings.narrow(0, 0, done).unwrap();
    f.current_latent = Some(Tensor::zeros((1, 4, 2, 2), DType::F32, &Device::Cpu).unwrap());
    f
}
