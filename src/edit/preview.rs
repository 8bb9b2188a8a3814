//! Live previews: latents → RGB through a fixed linear 4×3 map (no VAE decode).

use anyhow::{bail, Result};
use candle_core::{DType, Tensor};
use image::RgbImage;

/// Approximate SD1/SD2 latent-channel → RGB weights (rows: latent channels).
const LATENT_RGB: [[f32; 3]; 4] = [[0.298, 0.207, 0.208], [0.187, 0.286, 0.173], [-0.158, 0.189, 0.264], [-0.184, -0.271, -0.473]];

/// `[1, c, h, w]` or `[c, h, w]` latents (x0 scale) → an h×w RGB image. The colour map is for
/// SD's 4 latent channels; a model with another count gets the channels' mean in grey, so that a
/// preview never stops a run.
pub fn latent_to_rgb(latent: &Tensor) -> Result<RgbImage> {
    let l = if latent.rank() == 4 { latent.get(0)? } else { latent.clone() };
    let (c, h, w) = l.dims3()?;
    if c == 0 {
        bail!("latent preview needs at least one channel");
    }
    let v: Vec<f32> = l.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
    let n = h * w;
    let mut out = Vec::with_capacity(n * 3);
    for p in 0..n {
        out.extend((0..3).map(|rgb| {
            let s: f32 = if c == LATENT_RGB.len() { (0..c).map(|ch| v[ch * n + p] * LATENT_RGB[ch][rgb]).sum() } else { (0..c).map(|ch| v[ch * n + p]).sum::<f32>() / c as f32 };
            ((s + 1.0) * 127.5).clamp(0.0, 255.0) as u8
        }));
    }
    Ok(RgbImage::from_raw(w as u32, h as u32, out).expect("buffer size"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn sd_latents_use_the_colour_map_and_other_counts_show_grey() {
        // One pixel whose channel 0 is 1: the map's first row, around mid-grey.
        let one = Tensor::from_slice(&[1f32, 0.0, 0.0, 0.0], (1, 4, 1, 1), &Device::Cpu).unwrap();
        let px = latent_to_rgb(&one).unwrap().get_pixel(0, 0).0;
        assert_eq!(px, [(1.298f32 * 127.5) as u8, (1.207f32 * 127.5) as u8, (1.208f32 * 127.5) as u8]);
        let sixteen = Tensor::full(0.5f32, (16, 2, 3), &Device::Cpu).unwrap();
        let img = latent_to_rgb(&sixteen).unwrap();
        assert_eq!((img.width(), img.height()), (3, 2));
        assert!(img.pixels().all(|p| p.0 == [191, 191, 191]), "{:?}", img.get_pixel(0, 0));
    }
}
