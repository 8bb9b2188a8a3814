//! Mapping 24-bit pixels onto the colours a terminal can show.
//!
//! The 16 ANSI colours are themeable, so their RGB values are a guess: we use xterm's defaults,
//! where the "bright" colours are the saturated ones. Consequently pure red (255, 0, 0) maps to
//! `Color::LightRed` (xterm's colour 9 is exactly #ff0000), while a darker red (205, 0, 0) maps to
//! `Color::Red`. The 256-colour mode only uses the 6×6×6 cube and the grey ramp (16..=255),
//! which terminals do not let themes change, so that picture looks the same everywhere.

use ratatui::style::Color;

/// How pixel colours are written into cells.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ColorMode {
    /// `Color::Rgb`: exact colours (needs a truecolor terminal).
    #[default]
    TrueColor,
    /// `Color::Indexed(16..=255)`: the xterm colour cube and grey ramp.
    Ansi256,
    /// The 16 named ANSI colours (`Color::Black` … `Color::White`).
    Ansi16,
}

impl ColorMode {
    /// The terminal colour for one pixel.
    pub fn color(self, rgb: [u8; 3]) -> Color {
        match self {
            ColorMode::TrueColor => Color::Rgb(rgb[0], rgb[1], rgb[2]),
            ColorMode::Ansi256 => Color::Indexed(nearest_xterm256(rgb)),
            ColorMode::Ansi16 => nearest_ansi16(rgb),
        }
    }
}

/// xterm's default RGB values for the 16 ANSI colours, in ANSI order.
const ANSI16: [(Color, [u8; 3]); 16] = [
    (Color::Black, [0, 0, 0]),
    (Color::Red, [205, 0, 0]),
    (Color::Green, [0, 205, 0]),
    (Color::Yellow, [205, 205, 0]),
    (Color::Blue, [0, 0, 238]),
    (Color::Magenta, [205, 0, 205]),
    (Color::Cyan, [0, 205, 205]),
    (Color::Gray, [229, 229, 229]),
    (Color::DarkGray, [127, 127, 127]),
    (Color::LightRed, [255, 0, 0]),
    (Color::LightGreen, [0, 255, 0]),
    (Color::LightYellow, [255, 255, 0]),
    (Color::LightBlue, [92, 92, 255]),
    (Color::LightMagenta, [255, 0, 255]),
    (Color::LightCyan, [0, 255, 255]),
    (Color::White, [255, 255, 255]),
];

/// The six channel levels of the xterm 6×6×6 colour cube (indices 16..=231).
const CUBE_LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];

/// The nearest of the 16 ANSI colours.
pub fn nearest_ansi16(rgb: [u8; 3]) -> Color {
    ANSI16
        .iter()
        .min_by_key(|(_, candidate)| distance(rgb, *candidate))
        .map_or(Color::Reset, |(color, _)| *color)
}

/// The nearest xterm-256 index among the colour cube and the grey ramp.
pub fn nearest_xterm256(rgb: [u8; 3]) -> u8 {
    // Nearest cube level per channel; a good enough starting point that is then compared
    // against the nearest grey, which wins for the unsaturated colours the cube renders poorly.
    let level = |c: u8| -> usize {
        (0..CUBE_LEVELS.len())
            .min_by_key(|&i| (i32::from(CUBE_LEVELS[i]) - i32::from(c)).abs())
            .unwrap_or(0)
    };
    let (r, g, b) = (level(rgb[0]), level(rgb[1]), level(rgb[2]));
    let cube_rgb = [CUBE_LEVELS[r], CUBE_LEVELS[g], CUBE_LEVELS[b]];
    let cube_index = 16 + 36 * r + 6 * g + b;

    // Greys 232..=255 are 8, 18, …, 238.
    let mean = (u32::from(rgb[0]) + u32::from(rgb[1]) + u32::from(rgb[2])) / 3;
    let grey_step = (mean.saturating_sub(3) / 10).min(23) as u8;
    let grey_value = 8 + 10 * grey_step;
    let grey_index = 232 + usize::from(grey_step);

    let index = if distance(rgb, [grey_value; 3]) < distance(rgb, cube_rgb) {
        grey_index
    } else {
        cube_index
    };
    index as u8
}

/// Squared "redmean" colour distance: a cheap weighting of RGB that tracks perceived
/// difference far better than plain Euclidean RGB (green counts most, red/blue by brightness).
fn distance(a: [u8; 3], b: [u8; 3]) -> u32 {
    let mean_red = (u32::from(a[0]) + u32::from(b[0])) / 2;
    let dr = u32::from(a[0].abs_diff(b[0]));
    let dg = u32::from(a[1].abs_diff(b[1]));
    let db = u32::from(a[2].abs_diff(b[2]));
    (((512 + mean_red) * dr * dr) >> 8) + 4 * dg * dg + (((767 - mean_red) * db * db) >> 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi16_maps_primaries_to_the_bright_xterm_colours() {
        assert_eq!(nearest_ansi16([255, 0, 0]), Color::LightRed);
        assert_eq!(nearest_ansi16([200, 10, 10]), Color::Red);
        assert_eq!(nearest_ansi16([0, 0, 0]), Color::Black);
        assert_eq!(nearest_ansi16([255, 255, 255]), Color::White);
        assert_eq!(nearest_ansi16([120, 120, 120]), Color::DarkGray);
        assert_eq!(nearest_ansi16([0, 250, 0]), Color::LightGreen);
    }

    #[test]
    fn ansi256_hits_cube_corners_and_greys() {
        assert_eq!(nearest_xterm256([255, 0, 0]), 196);
        assert_eq!(nearest_xterm256([0, 0, 0]), 16);
        assert_eq!(nearest_xterm256([255, 255, 255]), 231);
        assert_eq!(nearest_xterm256([95, 135, 175]), 16 + 36 + 12 + 3);
        // A mid grey that the cube would round to 102 (#878787 is 135) vs grey ramp 128.
        assert_eq!(nearest_xterm256([128, 128, 128]), 244);
        assert_eq!(nearest_xterm256([8, 8, 8]), 232);
    }

    #[test]
    fn truecolor_is_exact() {
        assert_eq!(ColorMode::TrueColor.color([1, 2, 3]), Color::Rgb(1, 2, 3));
        assert_eq!(ColorMode::Ansi256.color([255, 0, 0]), Color::Indexed(196));
    }
}
