//! The session pictures the dashboard has read, by session-relative path, up to a limit: browsing
//! a long session kept every photo, reconstruction and edit looked at (0.8 MB each at 512²)
//! until pivot quit.

use image::RgbImage;
use std::collections::{HashMap, VecDeque};

/// Pictures kept: far more than one screen shows (a photo and one result), so stepping back and
/// forth between neighbours reads nothing again.
const KEPT: usize = 32;

#[derive(Default)]
pub struct ImageCache {
    map: HashMap<String, RgbImage>,
    /// Paths, oldest read first.
    order: VecDeque<String>,
}

impl ImageCache {
    pub fn get(&self, rel: &str) -> Option<&RgbImage> {
        self.map.get(rel)
    }

    pub fn contains_key(&self, rel: &str) -> bool {
        self.map.contains_key(rel)
    }

    /// Keeps `image` as the newest, forgetting the oldest beyond [`KEPT`] but those `shown`.
    pub fn insert(&mut self, rel: String, image: RgbImage, shown: &[String]) {
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
        self.order.retain(|r| r != rel);
        self.map.remove(rel);
    }

    /// Forgets every picture whose path `keep` refuses.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
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
}
