//! The `z` zoom view: the picture as large as the terminal allows, printed outside the frame with
//! true-colour half-blocks (plain escape codes: works over SSH and inside tmux).

use image::RgbImage;
use std::fmt::Write;

/// ANSI text drawing `img` into at most `cols` × `rows` cells (aspect kept, nearest pixels).
/// The largest (columns, rows) within `cols`×`rows` that show a `w`×`h` picture unstretched,
/// with a cell as tall as two pixels are wide (half-blocks; terminal fonts are about 1:2).
pub fn fit_cells(w: u32, h: u32, cols: u16, rows: u16) -> (u16, u16) {
    let scale = (cols as f64 / w as f64).min(rows as f64 * 2.0 / h as f64);
    (((w as f64 * scale) as u16).max(1), ((h as f64 * scale / 2.0) as u16).max(1))
}

pub fn ansi_picture(img: &RgbImage, cols: u16, rows: u16) -> String {
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 || cols == 0 || rows == 0 {
        return String::new();
    }
    let (out_w, out_h) = fit_cells(w, h, cols, rows);
    let (out_w, out_h) = (out_w as u32, out_h as u32);
    let px = |x: u32, y: u32| {
        let sx = ((x as f64 + 0.5) / out_w as f64 * w as f64) as u32;
        let sy = ((y as f64 + 0.5) / (out_h * 2) as f64 * h as f64) as u32;
        img.get_pixel(sx.min(w - 1), sy.min(h - 1)).0
    };
    let mut s = String::new();
    for row in 0..out_h {
        for x in 0..out_w {
            let (t, b) = (px(x, row * 2), px(x, row * 2 + 1));
            let _ = write!(s, "\x1b[38;2;{};{};{}m\x1b[48;2;{};{};{}m▀", t[0], t[1], t[2], b[0], b[1], b[2]);
        }
        s.push_str("\x1b[0m\r\n");
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_picture_fits_the_terminal_and_keeps_its_aspect() {
        let img = image::RgbImage::from_pixel(64, 32, image::Rgb([10, 20, 30]));
        let s = super::ansi_picture(&img, 40, 40);
        let lines: Vec<&str> = s.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 10, "40 columns for 64 pixels: 20 pixel rows, 10 cell rows");
        assert_eq!(lines[0].matches('▀').count(), 40);
        assert!(s.contains("38;2;10;20;30"));
        assert!(super::ansi_picture(&img, 0, 5).is_empty());
    }
}
