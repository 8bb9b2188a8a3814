//! The drawing surface shared by both loss views: a braille dot grid (2×4 dots per cell) with a
//! labelled y axis to its left. Drawn by hand rather than with ratatui's `Chart` so the per-step
//! strip below the run view can be aligned with the plot's columns exactly.

use super::scale::YScale;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};

/// Braille dot bits by (column, row) inside a cell, per the Unicode braille layout.
const DOT_BITS: [[u8; 4]; 2] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]];
const BRAILLE_BLANK: u32 = 0x2800;

/// Dots in layers; a cell takes the colour of the last layer with a dot in it.
pub struct DotGrid {
    width: u16,
    height: u16,
    /// Colour, dots per cell, and whether the layer is dashed.
    layers: Vec<(Color, Vec<u8>, bool)>,
}

impl DotGrid {
    pub fn new(width: u16, height: u16) -> Self {
        Self { width, height, layers: Vec::new() }
    }

    pub fn dot_width(&self) -> i64 {
        2 * i64::from(self.width)
    }

    pub fn dot_height(&self) -> i64 {
        4 * i64::from(self.height)
    }

    /// Starts a new layer drawn above the previous ones; returns its handle.
    pub fn layer(&mut self, color: Color) -> usize {
        self.layers.push((color, vec![0; usize::from(self.width) * usize::from(self.height)], false));
        self.layers.len() - 1
    }

    /// A layer whose lines are drawn in dashes (two cells on, two off): told apart from a solid
    /// one without colour.
    pub fn dashed_layer(&mut self, color: Color) -> usize {
        let layer = self.layer(color);
        self.layers[layer].2 = true;
        layer
    }

    /// Sets one dot; dots outside the grid are ignored.
    pub fn dot(&mut self, layer: usize, x: i64, y: i64) {
        if !(0..self.dot_width()).contains(&x) || !(0..self.dot_height()).contains(&y) {
            return;
        }
        if self.layers[layer].2 && (x / 4) % 2 == 1 {
            return;
        }
        let cell = (y / 4) as usize * usize::from(self.width) + (x / 2) as usize;
        self.layers[layer].1[cell] |= DOT_BITS[(x % 2) as usize][(y % 4) as usize];
    }

    /// A straight run of dots from `a` to `b`, both ends included.
    pub fn line(&mut self, layer: usize, a: (i64, i64), b: (i64, i64)) {
        let steps = (b.0 - a.0).abs().max((b.1 - a.1).abs()).max(1);
        for s in 0..=steps {
            let x = a.0 as f64 + (b.0 - a.0) as f64 * s as f64 / steps as f64;
            let y = a.1 as f64 + (b.1 - a.1) as f64 * s as f64 / steps as f64;
            self.dot(layer, x.round() as i64, y.round() as i64);
        }
    }

    /// Joins consecutive points with lines; a `None` breaks the curve, and a point with no
    /// drawable neighbour still shows as a single dot.
    pub fn polyline(&mut self, layer: usize, points: impl IntoIterator<Item = Option<(i64, i64)>>) {
        let mut previous = None;
        for point in points {
            match (previous, point) {
                (Some(a), Some(b)) => self.line(layer, a, b),
                (None, Some(b)) => self.dot(layer, b.0, b.1),
                _ => {}
            }
            previous = point;
        }
    }

    /// Writes the grid into `buf` with its top-left cell at (`x`, `y`); blank cells are untouched.
    pub fn render(&self, buf: &mut Buffer, x: u16, y: u16) {
        for row in 0..self.height {
            for column in 0..self.width {
                let index = usize::from(row) * usize::from(self.width) + usize::from(column);
                let mut bits = 0u8;
                let mut color = None;
                for (layer_color, cells, _) in &self.layers {
                    if cells[index] != 0 {
                        bits |= cells[index];
                        color = Some(*layer_color);
                    }
                }
                if let (Some(color), Some(symbol)) = (color, char::from_u32(BRAILLE_BLANK + u32::from(bits))) {
                    buf[(x + column, y + row)].set_char(symbol).set_fg(color);
                }
            }
        }
    }
}

/// Dot column of item `index` of `count` spread evenly over `dot_width` dots (ends included).
pub fn x_dot(index: usize, count: usize, dot_width: i64) -> i64 {
    if count <= 1 {
        return 0;
    }
    (index as f64 * (dot_width - 1) as f64 / (count - 1) as f64).round() as i64
}

/// Dot row of an axis position (0 = bottom, 1 = top) in a grid `dot_height` dots tall.
pub fn y_dot(position: f64, dot_height: i64) -> i64 {
    ((1.0 - position) * (dot_height - 1) as f64).round() as i64
}

/// The y axis labels with the cell rows they sit on; a label whose row is taken is dropped.
pub struct YAxis {
    labels: Vec<(u16, String)>,
}

impl YAxis {
    pub fn new(scale: &YScale, rows: u16) -> Self {
        let dot_height = 4 * i64::from(rows);
        let mut labels: Vec<(u16, String)> = Vec::new();
        for (position, label) in scale.ticks(rows) {
            let row = (y_dot(position, dot_height) / 4) as u16;
            if labels.iter().all(|(taken, _)| *taken != row) {
                labels.push((row, label));
            }
        }
        Self { labels }
    }

    /// Columns taken: the widest label, a space and the axis line.
    pub fn width(&self) -> u16 {
        self.labels.iter().map(|(_, l)| l.chars().count() as u16).max().unwrap_or(0) + 2
    }

    /// Draws right-aligned labels and the axis line ('┤' at a label) into `area`.
    pub fn render(&self, buf: &mut Buffer, area: Rect, style: Style) {
        let axis_x = area.right().saturating_sub(1);
        for row in 0..area.height {
            let label = self.labels.iter().find(|(r, _)| *r == row).map(|(_, l)| l.as_str());
            let y = area.y + row;
            buf[(axis_x, y)].set_char(if label.is_some() { '┤' } else { '│' }).set_style(style);
            if let Some(label) = label {
                let len = label.chars().count() as u16;
                let x = axis_x.saturating_sub(1 + len).max(area.x);
                buf.set_stringn(x, y, label, usize::from(axis_x.saturating_sub(x)), style);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_become_braille_cells() {
        let mut grid = DotGrid::new(2, 1);
        let layer = grid.layer(Color::Red);
        grid.dot(layer, 0, 0);
        grid.dot(layer, 3, 3);
        grid.dot(layer, 9, 9); // outside: ignored
        let mut buf = Buffer::empty(Rect::new(0, 0, 2, 1));
        grid.render(&mut buf, 0, 0);
        assert_eq!(buf[(0, 0)].symbol(), "⠁");
        assert_eq!(buf[(1, 0)].symbol(), "⢀");
        assert_eq!(buf[(1, 0)].fg, Color::Red);
    }

    #[test]
    fn later_layers_win_the_cell_colour_and_dots_merge() {
        let mut grid = DotGrid::new(1, 1);
        let below = grid.layer(Color::Yellow);
        let above = grid.layer(Color::Cyan);
        grid.line(below, (0, 3), (1, 3));
        grid.dot(above, 0, 0);
        let mut buf = Buffer::empty(Rect::new(0, 0, 1, 1));
        grid.render(&mut buf, 0, 0);
        assert_eq!(buf[(0, 0)].symbol(), "⣁");
        assert_eq!(buf[(0, 0)].fg, Color::Cyan);
    }

    #[test]
    fn a_dashed_layer_leaves_every_other_pair_of_cells_empty() {
        let mut grid = DotGrid::new(8, 1);
        let dashed = grid.dashed_layer(Color::Reset);
        grid.line(dashed, (0, 0), (15, 0));
        let mut buf = Buffer::empty(Rect::new(0, 0, 8, 1));
        grid.render(&mut buf, 0, 0);
        let row: String = (0..8).map(|x| if buf[(x, 0)].symbol().trim().is_empty() || buf[(x, 0)].symbol() == "\u{2800}" { '.' } else { '#' }).collect();
        assert_eq!(row, "##..##..");
    }

    #[test]
    fn item_and_height_mapping_reach_both_ends() {
        assert_eq!(x_dot(0, 50, 100), 0);
        assert_eq!(x_dot(49, 50, 100), 99);
        assert_eq!(x_dot(0, 1, 100), 0);
        assert_eq!(y_dot(1.0, 16), 0);
        assert_eq!(y_dot(0.0, 16), 15);
    }
}
