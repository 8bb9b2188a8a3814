//! Area-average ("box") resampling, written out so that snapshots do not depend on the filter
//! details of a particular `image` release.
//!
//! Each destination pixel is the mean of the source rectangle it covers, with partially covered
//! source pixels weighted by the covered fraction. Averaging happens on the stored sRGB values,
//! like most image resizers do; it is a preview, not a colour-managed pipeline.

use image::RgbImage;

/// One destination coordinate's contributing source coordinates and their weights (summing to 1).
type Taps = Vec<(u32, f64)>;

/// `image` resampled to `width × height`, row-major. Empty when any dimension is 0.
pub fn box_resample(image: &RgbImage, width: u32, height: u32) -> Vec<[u8; 3]> {
    if width == 0 || height == 0 || image.width() == 0 || image.height() == 0 {
        return Vec::new();
    }
    let columns = taps(image.width(), width);
    let rows = taps(image.height(), height);
    let mut out = Vec::with_capacity(width as usize * height as usize);
    for row_taps in &rows {
        for column_taps in &columns {
            let mut sum = [0.0f64; 3];
            for &(sy, wy) in row_taps {
                for &(sx, wx) in column_taps {
                    let pixel = image.get_pixel(sx, sy).0;
                    for (acc, value) in sum.iter_mut().zip(pixel) {
                        *acc += wx * wy * f64::from(value);
                    }
                }
            }
            out.push(sum.map(|v| v.round().clamp(0.0, 255.0) as u8));
        }
    }
    out
}

/// For each of `dst` output positions, the source positions (out of `src`) its span covers.
fn taps(src: u32, dst: u32) -> Vec<Taps> {
    let scale = f64::from(src) / f64::from(dst);
    (0..dst)
        .map(|d| {
            let start = f64::from(d) * scale;
            let end = f64::from(d + 1) * scale;
            let first = start.floor() as u32;
            let last = (end.ceil() as u32).min(src);
            let mut taps: Taps = (first..last)
                .map(|s| {
                    let covered = end.min(f64::from(s + 1)) - start.max(f64::from(s));
                    (s, covered)
                })
                .filter(|&(_, w)| w > 0.0)
                .collect();
            // Normalise so rounding in the span ends cannot brighten or darken a pixel.
            let total: f64 = taps.iter().map(|&(_, w)| w).sum();
            if total > 0.0 {
                taps.iter_mut().for_each(|(_, w)| *w /= total);
            } else {
                taps = vec![(first.min(src - 1), 1.0)];
            }
            taps
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn identity_size_is_lossless() {
        let image = RgbImage::from_fn(5, 3, |x, y| Rgb([x as u8 * 40, y as u8 * 60, 7]));
        let out = box_resample(&image, 5, 3);
        let expected: Vec<[u8; 3]> = image.pixels().map(|p| p.0).collect();
        assert_eq!(out, expected);
    }

    #[test]
    fn halving_averages_each_two_by_two_block() {
        let image = RgbImage::from_fn(4, 2, |x, y| Rgb([(x * 10 + y * 100) as u8, 0, 255]));
        let out = box_resample(&image, 2, 1);
        // Block 0: 0, 10, 100, 110 → 55; block 1: 20, 30, 120, 130 → 75.
        assert_eq!(out, vec![[55, 0, 255], [75, 0, 255]]);
    }

    #[test]
    fn fractional_spans_weight_partial_pixels() {
        // 3 → 2: output 0 covers pixel 0 fully and half of pixel 1.
        let image = RgbImage::from_fn(3, 1, |x, _| Rgb([[0, 90, 180][x as usize], 0, 0]));
        let out = box_resample(&image, 2, 1);
        assert_eq!(out, vec![[30, 0, 0], [150, 0, 0]]);
    }

    #[test]
    fn upscaling_repeats_pixels() {
        let image = RgbImage::from_fn(2, 1, |x, _| Rgb([x as u8 * 200, 0, 0]));
        let out = box_resample(&image, 4, 1);
        assert_eq!(out, vec![[0, 0, 0], [0, 0, 0], [200, 0, 0], [200, 0, 0]]);
    }

    #[test]
    fn empty_sizes_give_nothing() {
        let image = RgbImage::new(0, 4);
        assert!(box_resample(&image, 3, 3).is_empty());
        let image = RgbImage::new(2, 2);
        assert!(box_resample(&image, 0, 3).is_empty());
    }
}
