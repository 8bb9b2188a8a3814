//! Image and latent metrics: MSE, PSNR, SSIM, latent MSE.

use anyhow::Result;
use candle_core::Tensor;
use image::RgbImage;
// Picture comparisons live with the pictures (the session floor reads them too).
pub use crate::sd::compare::{decibels, mse, psnr, white_share};
use crate::sd::compare::same_size;

/// How close a reconstruction came, in one line: its PSNR against the photo, and against the
/// VAE's own round trip of the photo — the most an inversion can reach, since the VAE alone
/// loses the rest (a random-weight model's round trip scores low; the second figure still says
/// whether the inversion worked).
pub fn reconstruction_psnr(recon: &RgbImage, photo: &RgbImage, round_trip: &RgbImage) -> Result<String> {
    Ok(format!(
        "reconstruction PSNR {} vs the photo (the VAE alone: {}), {} vs the VAE round trip",
        decibels(psnr(recon, photo)?, 2),
        decibels(psnr(round_trip, photo)?, 2),
        decibels(psnr(recon, round_trip)?, 2)
    ))
}

fn gaussian_window(size: usize, sigma: f64) -> Vec<f64> {
    let c = (size / 2) as f64;
    let w: Vec<f64> = (0..size).map(|i| (-((i as f64 - c).powi(2)) / (2.0 * sigma * sigma)).exp()).collect();
    let s: f64 = w.iter().sum();
    w.into_iter().map(|x| x / s).collect()
}

/// SSIM (Wang et al. 2004: 11×11 Gaussian window σ = 1.5, K1 = 0.01, K2 = 0.03, range 1),
/// averaged over valid windows and the three channels.
pub fn ssim(a: &RgbImage, b: &RgbImage) -> Result<f64> {
    same_size(a, b)?;
    let (w, h) = (a.width() as usize, a.height() as usize);
    let win = gaussian_window(11.min(w).min(h) | 1, 1.5);
    let k = win.len();
    let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
    let mut total = 0.0;
    let mut count = 0usize;
    for ch in 0..3 {
        let px = |img: &RgbImage, x: usize, y: usize| img.get_pixel(x as u32, y as u32).0[ch] as f64 / 255.0;
        for y in 0..=(h - k) {
            for x in 0..=(w - k) {
                let (mut ma, mut mb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
                for dy in 0..k {
                    for dx in 0..k {
                        let wt = win[dy] * win[dx];
                        let (va, vb) = (px(a, x + dx, y + dy), px(b, x + dx, y + dy));
                        ma += wt * va;
                        mb += wt * vb;
                        saa += wt * va * va;
                        sbb += wt * vb * vb;
                        sab += wt * va * vb;
                    }
                }
                let (va, vb, cov) = (saa - ma * ma, sbb - mb * mb, sab - ma * mb);
                total += ((2.0 * ma * mb + c1) * (2.0 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
                count += 1;
            }
        }
    }
    Ok(total / count as f64)
}

/// Mean squared difference of two latent tensors.
pub fn latent_mse(a: &Tensor, b: &Tensor) -> Result<f64> {
    Ok((a - b)?.sqr()?.mean_all()?.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_images_are_perfect_and_noise_lowers_scores() {
        let mut a = RgbImage::new(16, 16);
        for (i, p) in a.pixels_mut().enumerate() {
            *p = image::Rgb([(i * 7 % 256) as u8, (i * 3 % 256) as u8, 128]);
        }
        assert_eq!(psnr(&a, &a).unwrap(), f64::INFINITY);
        assert!((ssim(&a, &a).unwrap() - 1.0).abs() < 1e-12);
        let mut b = a.clone();
        b.get_pixel_mut(3, 3).0[0] ^= 0x40;
        let p = psnr(&a, &b).unwrap();
        assert!(p > 20.0 && p < 60.0, "{p}");
        assert!(ssim(&a, &b).unwrap() < 1.0);
        // One grey level everywhere: MSE = (1/255)².
        let c = RgbImage::from_pixel(8, 8, image::Rgb([10, 10, 10]));
        let d = RgbImage::from_pixel(8, 8, image::Rgb([11, 11, 11]));
        assert!((psnr(&c, &d).unwrap() - 48.1308).abs() < 1e-3);
        assert!(mse(&c, &RgbImage::new(4, 4)).is_err());
    }
}
