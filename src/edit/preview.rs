//! Live previews: latents → RGB through a fixed linear 4×3 map (no VAE decode).

use anyhow::{bail, Result};
use candle_core::{DType, Tensor};
use image::RgbImage;

/// Approximate SD1/SD2 latent-channel → RGB weights (rows: latent channels).
const LATENT_RGB: [[f32; 3]; 4] = [[0.298, 0.207, 0.208], [0.187, 0.286, 0.173], [-0.158, 0.189, 0.264], [-0.184, -0.271, -0.473]];

/// `[1, 4, h, w]` or `[4, h, w]` latents (x0 scale) → an h×w RGB image.
pub fn latent_to_rgb(latent: &Tensor) -> Result<RgbImage> {
    let l = if latent.rank() == 4 { latent.get(0)? } else { latent.clone() };
    let (c, h, w) = l.dims3()?;
    if c != 4 {
        bail!("latent preview needs 4 channels, got {c}");
    }
    let v: Vec<f32> = l.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
    let n = h * w;
    let mut out = Vec::with_capacity(n * 3);
    for p in 0..n {
        out.extend((0..3).map(|rgb| {
            let s: f32 = (0..4).map(|ch| v[ch * n + p] * LATENT_RGB[ch][rgb]).sum();
            ((s + 1.0) * 127.5).clamp(0.0, 255.0) as u8
        }));
    }
    Ok(RgbImage::from_raw(w as u32, h as u32, out).expect("buffer size"))
}
