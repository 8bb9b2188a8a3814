//! The session pictures the dashboard has read, by session-relative path, up to a limit: browsing
//! a long session kept every photo, reconstruction and edit looked at (0.8 MB each at 512²)
//! until pivot quit.

use image::RgbImage;
use std::collections::{HashMap, VecDeque};

/// Pictures kept: far more than one screen shows (a photo and one result), so stepping back and
/// forth between neighbours reads nothing again.
const KEPT: usize = 32;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Figure {
    Psnr,
    WhiteShare,
}

#[derive(Default)]
pub struct ImageCache {
    map: HashMap<String, RgbImage>,
    /// Paths, oldest read first.
    order: VecDeque<String>,
    /// Figures asked for while drawing (a PSNR by its two paths, a mask's white share by its
    /// one), forgotten as pictures come and go: a frame is drawn many times a second and each
    /// figure reads every pixel.
    figures: std::cell::RefCell<HashMap<(Figure, String, String), f64>>,
}

impl ImageCache {
    pub fn get(&self, rel: &str) -> Option<&RgbImage> {
        self.map.get(rel)
    }

    /// PSNR in dB between two kept pictures of one size (a reconstruction and its photo).
    pub fn psnr(&self, a: &str, b: &str) -> Option<f64> {
        self.figure(Figure::Psnr, a, b, || crate::edit::metrics::psnr(self.get(a)?, self.get(b)?).ok())
    }

    /// The share of a kept mask picture that is white (where a blended edit could change the photo).
    pub fn white_share(&self, rel: &str) -> Option<f64> {
        self.figure(Figure::WhiteShare, rel, "", || Some(crate::edit::metrics::white_share(self.get(rel)?)))
    }

    fn figure(&self, kind: Figure, a: &str, b: &str, work: impl FnOnce() -> Option<f64>) -> Option<f64> {
        let key = (kind, a.to_string(), b.to_string());
        if let Some(v) = self.figures.borrow().get(&key) {
            return Some(*v);
        }
        let v = work()?;
        self.figures.borrow_mut().insert(key, v);
        Some(v)
    }

    pub fn contains_key(&self, rel: &str) -> bool {
        self.map.contains_key(rel)
    }

    /// Keeps `image` as the newest, forgetting the oldest beyond [`KEPT`] but those `shown`.
    pub fn insert(&mut self, rel: String, image: RgbImage, shown: &[String]) {
        self.figures.get_mut().clear();
        self.order.retain(|r| *r != rel);
        self.order.push_back(rel.clone());
        self.map.insert(rel, image);
        while self.order.len() > KEPT {
            let Some(at) = self.order.iter().position(|r| !shown.contains(r)) else { break };
            if let Some(old) = self.order.remove(at) {
                self.map.remove(&old);
            }
        }
    }

    pub fn remove(&mut self, rel: &str) {
        self.figures.get_mut().clear();
        self.order.retain(|r| r != rel);
        self.map.remove(rel);
    }

    /// Forgets every picture whose path `keep` refuses.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.figures.get_mut().clear();
        self.order.retain(|r| keep(r));
        self.map.retain(|r, _| keep(r));
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_pictures_go_past_the_limit_and_a_read_again_is_the_newest() {
        let mut c = ImageCache::default();
        for i in 0..KEPT + 5 {
            c.insert(format!("p{i}"), RgbImage::new(1, 1), &[]);
            if i == 10 {
                c.insert("p0".into(), RgbImage::new(1, 1), &[]);
            }
        }
        assert_eq!(c.len(), KEPT);
        assert!(c.contains_key("p0"), "read again at 10: newer than p1..p5");
        assert!(!c.contains_key("p1") && !c.contains_key("p5") && c.contains_key("p6"));
        // A picture on screen stays however old.
        for i in 100..100 + KEPT {
            c.insert(format!("p{i}"), RgbImage::new(1, 1), &["p0".to_string()]);
        }
        assert!(c.contains_key("p0") && c.len() == KEPT);
        c.insert("p7".into(), RgbImage::new(1, 1), &[]);
        c.remove("p7");
        assert!(c.get("p7").is_none() && c.len() == KEPT - 1);
    }

    #[test]
    fn a_psnr_is_of_the_pictures_kept_now() {
        let mut c = ImageCache::default();
        c.insert("photo".into(), RgbImage::from_pixel(2, 2, image::Rgb([100, 100, 100])), &[]);
        assert_eq!(c.psnr("recon", "photo"), None, "not read yet");
        c.insert("recon".into(), RgbImage::from_pixel(2, 2, image::Rgb([110, 100, 100])), &[]);
        // One channel in three off by 10 of 255: MSE = (10/255)²/3.
        let want = -10.0 * ((10.0f64 / 255.0).powi(2) / 3.0).log10();
        assert!((c.psnr("recon", "photo").unwrap() - want).abs() < 1e-9);
        // The reconstruction made again: the figure follows it.
        c.insert("recon".into(), RgbImage::from_pixel(2, 2, image::Rgb([100, 100, 100])), &[]);
        assert_eq!(c.psnr("recon", "photo"), Some(f64::INFINITY));
        c.remove("photo");
        assert_eq!(c.psnr("recon", "photo"), None);
    }
}
