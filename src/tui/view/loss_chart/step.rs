//! [`StepLosses`]: the inner-iteration losses of one timestep against its early-stop threshold.

use super::plot::{x_dot, y_dot, DotGrid, YAxis};
use super::scale::YScale;
use super::{begin, fitting, last_loss_span, separator, threshold_span, LossData, LossStyle};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

/// The losses of timestep `step` (x = inner iteration 1..N, y = loss, log10 when `log`) with the
/// step's threshold as a horizontal line, under a line like
/// "t-step 23/50 · 7/10 inner · last 3.2e-5 (thr 4.7e-5)" (shortened down to "t 23/50 3.2e-5"
/// when narrow). Below [`StepLosses::MIN_WIDTH`] × [`StepLosses::MIN_HEIGHT`] only that line is
/// drawn; an x-axis row appears from 7 rows up.
#[derive(Clone, Copy, Debug)]
pub struct StepLosses<'a> {
    pub data: &'a LossData<'a>,
    pub style: LossStyle,
    /// Timestep index (0 = most noisy).
    pub step: usize,
    pub log: bool,
}

impl StepLosses<'_> {
    /// Narrowest area that gets a plot.
    pub const MIN_WIDTH: u16 = 16;
    /// Lowest area that gets a plot (the line above it and two plot rows).
    pub const MIN_HEIGHT: u16 = 3;
    /// From this height on, a row of x-axis labels is drawn under the plot.
    const X_AXIS_HEIGHT: u16 = 7;

    /// The label line, as detailed as `width` allows.
    fn title(&self, width: u16) -> Line<'static> {
        let (data, style, step) = (self.data, &self.style, self.step);
        let plain = |text: String| Span::styled(text, Style::new().fg(style.fg));
        let muted = |text: &'static str| Span::styled(text, Style::new().fg(style.muted));
        let long_name = plain(format!("t-step {}/{}", step + 1, data.steps));
        let short_name = plain(format!("t {}/{}", step + 1, data.steps));
        let used = data.inner_used(step);
        let candidates = match used {
            Some(used) if data.last_loss(step).is_some() => {
                let loss = last_loss_span(data, step, style);
                let inner = plain(format!("{used}/{} inner", data.inner));
                let short_inner = plain(format!("{used}/{}", data.inner));
                let threshold = threshold_span(data, step, style, " (thr {})");
                vec![
                    vec![long_name, separator(style), inner, separator(style), muted("last "), loss.clone(), threshold.clone()],
                    vec![short_name.clone(), separator(style), short_inner.clone(), separator(style), loss.clone(), threshold],
                    vec![short_name.clone(), separator(style), short_inner, separator(style), loss.clone(), threshold_span(data, step, style, "/{}")],
                    vec![short_name.clone(), separator(style), loss.clone(), threshold_span(data, step, style, "/{}")],
                    vec![short_name, plain(" ".to_string()), loss],
                ]
            }
            // Finished, but its losses were not kept (e.g. resumed from an older checkpoint).
            Some(used) if step < data.iterations.len() => vec![
                vec![long_name, separator(style), plain(format!("{used}/{} inner", data.inner)), separator(style), muted("losses not recorded")],
                vec![short_name.clone(), separator(style), muted("no losses")],
                vec![short_name],
            ],
            _ => vec![
                vec![long_name, separator(style), muted("not run yet")],
                vec![short_name.clone(), separator(style), muted("not run")],
                vec![short_name],
            ],
        };
        fitting(candidates.into_iter().map(Line::from).collect(), width)
    }

    /// "1 … inner … N" under the plot.
    fn render_x_axis(&self, buf: &mut Buffer, area: Rect, count: usize) {
        let muted = Style::new().fg(self.style.muted);
        let last = count.to_string();
        let width = usize::from(area.width);
        let mut row: Vec<char> = vec![' '; width];
        let mut put = |at: usize, text: &str| {
            for (i, c) in text.chars().enumerate() {
                if let Some(slot) = row.get_mut(at + i) {
                    *slot = c;
                }
            }
        };
        put(0, "1");
        if width >= 2 + last.len() + 7 {
            put((width - 5) / 2, "inner");
        }
        if width > last.len() + 1 {
            put(width - last.len(), &last);
        }
        buf.set_stringn(area.x, area.y, row.into_iter().collect::<String>(), width, muted);
    }
}

impl Widget for StepLosses<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let Some(area) = begin(buf, area, self.data, &self.style, |w| self.title(w.saturating_sub(1))) else { return };
        let Some(losses) = self.data.losses.get(self.step).filter(|_| self.data.last_loss(self.step).is_some())
        else {
            return;
        };
        if area.width < Self::MIN_WIDTH || area.height < Self::MIN_HEIGHT {
            return; // the title line is the compact summary
        }

        let x_axis = area.height >= Self::X_AXIS_HEIGHT;
        let rows = area.height - 1 - u16::from(x_axis);
        let threshold = self.data.threshold(self.step);
        let values = losses.iter().map(|&l| f64::from(l)).chain([threshold]);
        let scale = YScale::fit(values, self.log, rows);
        let axis = YAxis::new(&scale, rows);
        let label_width = axis.width();
        if area.width < label_width + 4 {
            return;
        }
        let plot = Rect::new(area.x + label_width, area.y + 1, area.width - label_width, rows);

        let mut grid = DotGrid::new(plot.width, plot.height);
        let (dot_width, dot_height) = (grid.dot_width(), grid.dot_height());
        // One colour for both (NO_COLOR): the threshold is dashed.
        let threshold_layer = if self.style.threshold == self.style.loss { grid.dashed_layer(self.style.threshold) } else { grid.layer(self.style.threshold) };
        if let Some(position) = scale.position(threshold) {
            let y = y_dot(position, dot_height);
            grid.line(threshold_layer, (0, y), (dot_width - 1, y));
        }
        let loss_layer = grid.layer(self.style.loss);
        let count = self.data.inner_span();
        let points = losses.iter().enumerate().map(|(j, &loss)| {
            let position = scale.position(f64::from(loss))?;
            Some((x_dot(j, count, dot_width), y_dot(position, dot_height)))
        });
        grid.polyline(loss_layer, points);
        grid.render(buf, plot.x, plot.y);

        axis.render(buf, Rect::new(area.x, plot.y, label_width, rows), Style::new().fg(self.style.muted));
        if x_axis {
            self.render_x_axis(buf, Rect::new(plot.x, plot.bottom(), plot.width, 1), count);
        }
    }
}
