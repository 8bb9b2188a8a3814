//! Figures read off a session's pictures: how close a reconstruction came to its photo, how much
//! of the photo an edit's blend mask let change. For `session show` and the export's summary.

use super::manifest::Item;
use super::store::Session;
use crate::sd::compare::{psnr, white_share};
use image::RgbImage;

impl Session {
    /// A session picture, if it reads.
    fn picture(&self, rel: &str) -> Option<RgbImage> {
        image::open(self.path(rel).ok()?).ok().map(|i| i.to_rgb8())
    }

    /// The PSNR of the item's reconstruction against its photo in dB (infinite when identical);
    /// None when either is missing or unreadable (the problems list says which).
    pub fn reconstruction_psnr(&self, it: &Item) -> Option<f64> {
        psnr(&self.picture(it.reconstruction.as_deref()?)?, &self.picture(&it.image)?).ok()
    }

    /// The share of a blend mask picture (session-relative `rel`) that is white; None when unreadable.
    pub fn blend_mask_share(&self, rel: &str) -> Option<f64> {
        Some(white_share(&self.picture(rel)?))
    }
}
