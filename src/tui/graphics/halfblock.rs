//! Pictures drawn with '▀' cells: the foreground paints the top pixel, the background the bottom
//! one, so a cell shows 1×2 pixels. Cells are about twice as tall as wide, so pixels come out
//! roughly square and a W×H image needs W columns × H/2 rows at 1:1. Plain cells work over SSH,
//! inside tmux and in `TestBackend`, unlike the kitty / sixel protocols.

mod palette;
mod resample;
#[cfg(test)]
mod tests;

pub use palette::{nearest_ansi16, nearest_xterm256, ColorMode};

use image::RgbImage;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

/// The symbol of every picture cell.
const UPPER_HALF: &str = "▀";

/// Draws an RGB image into an area, fitted with its aspect ratio kept, centred, downscaled by
/// area averaging and (unless [`HalfBlock::upscale`]) never enlarged beyond one pixel per
/// half-cell. Cells of the area outside the picture are left untouched.
#[derive(Clone, Copy, Debug)]
pub struct HalfBlock<'a> {
    image: &'a RgbImage,
    color_mode: ColorMode,
    upscale: bool,
}

impl<'a> HalfBlock<'a> {
    /// A true-colour picture that is only ever shrunk.
    pub fn new(image: &'a RgbImage) -> Self {
        Self { image, color_mode: ColorMode::TrueColor, upscale: false }
    }

    /// How pixel colours become terminal colours.
    pub fn color_mode(mut self, color_mode: ColorMode) -> Self {
        self.color_mode = color_mode;
        self
    }

    /// Whether a small image may be enlarged to fill the area.
    pub fn upscale(mut self, upscale: bool) -> Self {
        self.upscale = upscale;
        self
    }

    /// The (columns, rows) this widget will paint inside `area` (the picture is centred in it).
    pub fn cells_in(&self, area: Rect) -> (u16, u16) {
        let (w, h) = fit_pixels(self.image.width(), self.image.height(), area.width, area.height, self.upscale);
        (w as u16, h.div_ceil(2) as u16)
    }
}

/// The (columns, rows) a `image_w × image_h` picture occupies inside an `area_w × area_h` area,
/// without upscaling (the [`HalfBlock`] default); (0, 0) when nothing would be drawn.
pub fn cells_for(image_w: u32, image_h: u32, area_w: u16, area_h: u16) -> (u16, u16) {
    let (w, h) = fit_pixels(image_w, image_h, area_w, area_h, false);
    (w as u16, h.div_ceil(2) as u16)
}

/// The picture size in pixels (one column, half a row each) fitting the area, aspect kept.
fn fit_pixels(image_w: u32, image_h: u32, area_w: u16, area_h: u16, upscale: bool) -> (u32, u32) {
    if image_w == 0 || image_h == 0 || area_w == 0 || area_h == 0 {
        return (0, 0);
    }
    let max_w = u32::from(area_w);
    let max_h = 2 * u32::from(area_h);
    let mut scale = (f64::from(max_w) / f64::from(image_w)).min(f64::from(max_h) / f64::from(image_h));
    if !upscale {
        scale = scale.min(1.0);
    }
    let w = (f64::from(image_w) * scale).round().clamp(1.0, f64::from(max_w)) as u32;
    let h = (f64::from(image_h) * scale).round().clamp(1.0, f64::from(max_h)) as u32;
    (w, h)
}

impl Widget for HalfBlock<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let area = area.intersection(buf.area);
        let (width, height) = fit_pixels(self.image.width(), self.image.height(), area.width, area.height, self.upscale);
        if width == 0 || height == 0 {
            return;
        }
        let pixels = resample::box_resample(self.image, width, height);
        let pixel = |x: u32, y: u32| pixels[(y * width + x) as usize];

        let rows = height.div_ceil(2);
        let left = area.x + (area.width - width as u16) / 2;
        let top = area.y + (area.height - rows as u16) / 2;
        for row in 0..rows {
            for x in 0..width {
                let cell = &mut buf[(left + x as u16, top + row as u16)];
                cell.set_symbol(UPPER_HALF).set_fg(self.color_mode.color(pixel(x, 2 * row)));
                // An odd pixel height leaves the last row's lower half to the pane background.
                if 2 * row + 1 < height {
                    cell.set_bg(self.color_mode.color(pixel(x, 2 * row + 1)));
                }
            }
        }
    }
}
