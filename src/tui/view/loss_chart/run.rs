//! [`RunLosses`]: the last loss of every timestep over the whole run, the threshold curve, and
//! a strip of the inner iterations each timestep used.

use super::plot::{x_dot, y_dot, DotGrid, YAxis};
use super::scale::YScale;
use super::{begin, fitting, last_loss_span, separator, threshold_span, LossData, LossStyle};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

/// Strip glyphs for 0..=N inner iterations.
const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Last loss per timestep (x = timestep 1..T, y = loss, log10 with `1e-k` labels when `log`)
/// with the threshold curve `ε + 2e-5·i`, under a line like
/// "steps 23/50 · last 3.2e-5 (thr 4.7e-5) · 212 inner" (shortened down to "23/50 3.2e-5" when
/// narrow; "23" is the latest timestep with a loss), over a one-row strip of inner
/// iterations per timestep (`▁`…`█` for 0..N; the `selected` timestep reversed). From
/// [`RunLosses::MARKER_HEIGHT`] rows a row with `▲` under the selected timestep and the x range
/// is added. Below [`RunLosses::MIN_WIDTH`] × [`RunLosses::MIN_HEIGHT`]: the line and the strip.
///
/// With T no more than the plot's width the timesteps share its columns out (one or more each);
/// with more, neighbouring timesteps share a column and the strip shows the most
/// iterations among them.
#[derive(Clone, Copy, Debug)]
pub struct RunLosses<'a> {
    pub data: &'a LossData<'a>,
    pub style: LossStyle,
    pub log: bool,
    /// Timestep index (0 = most noisy) to mark in the strip.
    pub selected: Option<usize>,
}

impl RunLosses<'_> {
    /// Narrowest area that gets a plot.
    pub const MIN_WIDTH: u16 = 16;
    /// Lowest area that gets a plot (the line above, two plot rows, the strip).
    pub const MIN_HEIGHT: u16 = 4;
    /// From this height on, the marker row is drawn under the strip.
    pub const MARKER_HEIGHT: u16 = 8;

    /// Timesteps on the x axis: T, or more if more were recorded (never 0).
    fn timesteps(&self) -> usize {
        self.data.steps.max(self.data.losses.len()).max(1)
    }

    /// The label line, as detailed as `width` allows.
    fn title(&self, width: u16) -> Line<'static> {
        let (data, style) = (self.data, &self.style);
        let latest = data.latest_step().unwrap_or(0);
        let total: usize = (0..data.losses.len()).filter_map(|i| data.inner_used(i)).sum();
        let plain = |text: String| Span::styled(text, Style::new().fg(style.fg));
        let progress = format!("{}/{}", latest + 1, data.steps);
        let loss = last_loss_span(data, latest, style);
        let threshold = threshold_span(data, latest, style, " (thr {})");
        let candidates = vec![
            vec![
                plain(format!("steps {progress}")),
                separator(style),
                Span::styled("last ", Style::new().fg(style.muted)),
                loss.clone(),
                threshold.clone(),
                separator(style),
                Span::styled(format!("{total} inner"), Style::new().fg(style.muted)),
            ],
            vec![plain(format!("steps {progress}")), separator(style), loss.clone(), threshold.clone()],
            vec![plain(progress.clone()), separator(style), loss.clone(), threshold],
            vec![plain(progress.clone()), separator(style), loss.clone(), threshold_span(data, latest, style, "/{}")],
            vec![plain(format!("{progress} ")), loss],
        ];
        fitting(candidates.into_iter().map(Line::from).collect(), width)
    }

    /// The screen columns (from the plot's left edge: first, count) of timestep `step` in a
    /// plot `width` wide: with room, the width shared out (neighbours differ by one column at
    /// most), else the column it shares with its neighbours.
    fn columns_of(&self, step: usize, width: u16) -> (u16, u16) {
        let (t, w) = (self.timesteps(), usize::from(width));
        if w < t {
            return ((x_dot(step, t, 2 * i64::from(width)) / 2) as u16, 1);
        }
        let (first, end) = (step * w / t, (step + 1) * w / t);
        (first as u16, (end - first) as u16)
    }

    /// The column that stands for timestep `step` (the middle of its columns).
    fn column_of(&self, step: usize, width: u16) -> u16 {
        let (first, count) = self.columns_of(step, width);
        first + (count - 1) / 2
    }

    /// One cell per plot column: the most inner iterations among its timesteps.
    fn render_strip(&self, buf: &mut Buffer, x: u16, y: u16, width: u16) {
        let data = self.data;
        let mut columns: Vec<Option<(usize, bool)>> = vec![None; usize::from(width)];
        for step in 0..data.losses.len() {
            let Some(used) = data.inner_used(step) else { continue };
            let running = step >= data.iterations.len();
            let (first, count) = self.columns_of(step, width);
            for slot in &mut columns[usize::from(first)..usize::from(first + count)] {
                let (most, any_running) = slot.unwrap_or((0, false));
                *slot = Some((most.max(used), any_running || running));
            }
        }
        let selected = self.selected.filter(|&s| s < self.timesteps()).map(|s| self.columns_of(s, width));
        for (column, entry) in columns.into_iter().enumerate() {
            let column = column as u16;
            let (symbol, color) = match entry {
                Some((used, running)) => {
                    (level_glyph(used, data.inner), if running { self.style.muted } else { self.style.loss })
                }
                None => (' ', self.style.muted),
            };
            let mut style = Style::new().fg(color);
            if selected.is_some_and(|(first, count)| (first..first + count).contains(&column)) {
                style = style.add_modifier(Modifier::REVERSED);
            }
            buf[(x + column, y)].set_char(symbol).set_style(style);
        }
    }

    /// "1", "▲" under the selected timestep, and "T" along the bottom of the plot.
    fn render_marker_row(&self, buf: &mut Buffer, plot_x: u16, y: u16, width: u16) {
        let muted = Style::new().fg(self.style.muted);
        let selected = self.selected.filter(|&s| s < self.timesteps()).map(|s| self.column_of(s, width));
        let last = self.timesteps().to_string();
        let last_at = width.saturating_sub(last.chars().count() as u16);
        let clear_of_marker = |from: u16, to: u16| selected.is_none_or(|s| s + 1 < from || s > to);
        if clear_of_marker(0, 1) {
            buf.set_string(plot_x, y, "1", muted);
        }
        if last_at > 2 && clear_of_marker(last_at, width) {
            buf.set_string(plot_x + last_at, y, &last, muted);
        }
        if let Some(column) = selected {
            buf[(plot_x + column, y)].set_char('▲').set_fg(self.style.fg);
        }
    }
}

/// The strip glyph for `used` of `cap` iterations: 0 → '▁', `cap` → '█'.
fn level_glyph(used: usize, cap: usize) -> char {
    let top = LEVELS.len() - 1;
    // No cap known: any work done shows full.
    LEVELS[(used.min(cap) * top + cap / 2).checked_div(cap).unwrap_or(top)]
}

impl Widget for RunLosses<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let Some(area) = begin(buf, area, self.data, &self.style, |w| self.title(w)) else { return };
        let compact = |buf: &mut Buffer| {
            if area.height >= 2 {
                self.render_strip(buf, area.x, area.y + 1, area.width);
            }
        };
        if area.width < Self::MIN_WIDTH || area.height < Self::MIN_HEIGHT {
            compact(buf);
            return;
        }

        let marker = area.height >= Self::MARKER_HEIGHT;
        let rows = area.height - 2 - u16::from(marker);
        let timesteps = self.timesteps();
        let data = self.data;
        let last_losses = (0..data.losses.len()).filter_map(|i| data.last_loss(i)).map(f64::from);
        let values = last_losses.chain((0..timesteps).map(|i| data.threshold(i)));
        let scale = YScale::fit(values, self.log, rows);
        let axis = YAxis::new(&scale, rows);
        let label_width = axis.width();
        if area.width < label_width + 4 {
            compact(buf);
            return;
        }
        // Every timestep has a column of its own when they fit: the strip reads step by step.
        let width = area.width - label_width;
        let plot = Rect::new(area.x + label_width, area.y + 1, width, rows);

        let mut grid = DotGrid::new(plot.width, plot.height);
        let (dot_width, dot_height) = (grid.dot_width(), grid.dot_height());
        let at = |step: usize, value: f64| {
            let position = scale.position(value)?;
            Some((x_dot(step, timesteps, dot_width), y_dot(position, dot_height)))
        };
        // One colour for both (NO_COLOR): the threshold is dashed.
        let threshold_layer = if self.style.threshold == self.style.loss { grid.dashed_layer(self.style.threshold) } else { grid.layer(self.style.threshold) };
        grid.polyline(threshold_layer, (0..timesteps).map(|i| at(i, data.threshold(i))));
        let loss_layer = grid.layer(self.style.loss);
        grid.polyline(loss_layer, (0..data.losses.len()).map(|i| at(i, f64::from(data.last_loss(i)?))));
        grid.render(buf, plot.x, plot.y);

        let muted = Style::new().fg(self.style.muted);
        axis.render(buf, Rect::new(area.x, plot.y, label_width, rows), muted);
        let strip_y = plot.bottom();
        let label = "iter";
        let label_x = (area.x + label_width).saturating_sub(2 + label.len() as u16).max(area.x);
        buf.set_stringn(label_x, strip_y, label, usize::from(label_width.saturating_sub(2)), muted);
        self.render_strip(buf, plot.x, strip_y, plot.width);
        if marker {
            self.render_marker_row(buf, plot.x, strip_y + 1, plot.width);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::level_glyph;

    #[test]
    fn strip_levels_span_zero_to_the_cap() {
        assert_eq!(level_glyph(0, 10), '▁');
        assert_eq!(level_glyph(5, 10), '▅');
        assert_eq!(level_glyph(10, 10), '█');
        assert_eq!(level_glyph(12, 10), '█');
        assert_eq!(level_glyph(3, 0), '█');
    }
}
