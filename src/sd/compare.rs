//! Comparing pictures: MSE, PSNR, and how much of a mask is white. Pure functions of the
//! pixels, for the CLI, the dashboard and a session's summary alike.

use anyhow::{ensure, Result};
use image::RgbImage;

/// Refuses two pictures of different sizes, naming both.
pub fn same_size(a: &RgbImage, b: &RgbImage) -> Result<()> {
    ensure!(a.dimensions() == b.dimensions(), "images differ in size: {:?} vs {:?}", a.dimensions(), b.dimensions());
    Ok(())
}

/// Mean squared error over all channels, pixel values in [0, 1].
pub fn mse(a: &RgbImage, b: &RgbImage) -> Result<f64> {
    same_size(a, b)?;
    let n = a.as_raw().len() as f64;
    Ok(a.as_raw().iter().zip(b.as_raw()).map(|(&x, &y)| ((x as f64 - y as f64) / 255.0).powi(2)).sum::<f64>() / n)
}

/// Peak signal-to-noise ratio in dB (data range 1); infinite for identical images.
pub fn psnr(a: &RgbImage, b: &RgbImage) -> Result<f64> {
    let m = mse(a, b)?;
    Ok(if m == 0.0 { f64::INFINITY } else { -10.0 * m.log10() })
}

/// A PSNR for people: `31.42 dB` with `digits` decimals, `∞ dB` for identical pictures (what
/// Direct Inversion's reconstruction is).
pub fn decibels(db: f64, digits: usize) -> String {
    if db.is_infinite() { "∞ dB".to_string() } else { format!("{db:.digits$} dB") }
}

/// The share of a black-and-white mask picture that is white (where a blended edit may change
/// the photo), in [0, 1].
pub fn white_share(mask: &RgbImage) -> f64 {
    let px = mask.as_raw().chunks_exact(3);
    let n = px.len().max(1);
    px.filter(|p| p.iter().map(|&v| v as u32).sum::<u32>() > 3 * 127).count() as f64 / n as f64
}

#[cfg(test)]
mod tests {
    #[test]
    fn identical_pictures_read_as_infinite_decibels() {
        let a = image::RgbImage::from_pixel(4, 4, image::Rgb([10, 20, 30]));
        assert_eq!(super::decibels(super::psnr(&a, &a).unwrap(), 2), "∞ dB");
        assert_eq!(super::decibels(31.4159, 1), "31.4 dB");
    }
}
