//! Loss views of a null-text inversion: [`StepLosses`] (the inner iterations of one timestep
//! against its early-stop threshold) and [`RunLosses`] (the last loss of every timestep over the
//! whole run, with a strip of inner iterations used). Both are pure ratatui widgets over
//! borrowed [`LossData`]; timesteps are shown 1-based ("t-step 23/50" is index 22), like the
//! status line.

mod plot;
mod run;
mod scale;
mod step;
#[cfg(test)]
mod tests;

pub use run::RunLosses;
pub use scale::{compact_number, decade_label};
pub use step::StepLosses;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};

/// What the loss views show, borrowed from the job's progress.
#[derive(Clone, Copy, Debug)]
pub struct LossData<'a> {
    /// Inner-iteration losses per finished (or running) timestep i (index = sampling step, 0 = most noisy); NaN = not run.
    pub losses: &'a [Vec<f32>],
    /// Total timesteps T.
    pub steps: usize,
    /// Inner iterations used per finished timestep.
    pub iterations: &'a [usize],
    /// Max inner iterations N.
    pub inner: usize,
    /// Early-stop base ε (threshold of step i = ε + 2e-5·i).
    pub epsilon: f64,
}

impl LossData<'_> {
    /// The early-stop threshold of step `step` (as in `edit::null_text`).
    pub fn threshold(&self, step: usize) -> f64 {
        self.epsilon + 2e-5 * step as f64
    }

    /// The loss step `step` ended on (or is at): its last recorded, non-NaN loss.
    pub fn last_loss(&self, step: usize) -> Option<f32> {
        self.losses.get(step)?.iter().rev().find(|l| !l.is_nan()).copied()
    }

    /// Inner iterations step `step` used (finished) or has run so far (running).
    pub fn inner_used(&self, step: usize) -> Option<usize> {
        match self.iterations.get(step) {
            Some(&used) => Some(used),
            None => {
                let losses = self.losses.get(step)?;
                Some(losses.iter().filter(|l| !l.is_nan()).count()).filter(|&n| n > 0)
            }
        }
    }

    /// The latest timestep with a recorded loss.
    pub fn latest_step(&self) -> Option<usize> {
        (0..self.losses.len()).rev().find(|&i| self.last_loss(i).is_some())
    }

    /// Whether there is anything to plot yet.
    pub fn is_empty(&self) -> bool {
        self.latest_step().is_none()
    }

    /// The larger of the inner-iteration cap and the longest recorded step (never 0).
    fn inner_span(&self) -> usize {
        self.losses.iter().map(Vec::len).max().unwrap_or(0).max(self.inner).max(1)
    }
}

/// Colours of the loss views (from the theme).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LossStyle {
    pub loss: Color,
    pub threshold: Color,
    pub muted: Color,
    pub fg: Color,
    pub warning: Color,
}

impl Default for LossStyle {
    /// Plain ANSI colours, readable on dark and light terminals.
    fn default() -> Self {
        Self {
            loss: Color::Cyan,
            threshold: Color::Yellow,
            muted: Color::DarkGray,
            fg: Color::Reset,
            warning: Color::Red,
        }
    }
}

/// Shown by both views before the first timestep has a loss.
pub(crate) const WAITING: &str = "waiting for the first timestep…";

/// The start both views share: clipped to the buffer, the waiting line while `data` is empty,
/// else the title line (`title(width)`). `None` when nothing more is to be drawn.
fn begin(buf: &mut Buffer, area: Rect, data: &LossData<'_>, style: &LossStyle, title: impl FnOnce(u16) -> Line<'static>) -> Option<Rect> {
    let area = area.intersection(buf.area);
    if area.is_empty() {
        return None;
    }
    if data.is_empty() {
        buf.set_stringn(area.x, area.y, WAITING, usize::from(area.width), Style::new().fg(style.muted));
        return None;
    }
    render_line(buf, area, area.y, &title(area.width));
    Some(area)
}

/// The loss step `step` ended on (or is at): in the loss colour once under the threshold (early
/// stop), plain while above it, in the warning colour when not a finite number.
fn last_loss_span<'a>(data: &LossData<'_>, step: usize, style: &LossStyle) -> Span<'a> {
    let last = data.last_loss(step).map(f64::from);
    let color = match last {
        Some(l) if !l.is_finite() => style.warning,
        Some(l) if l < data.threshold(step) => style.loss,
        _ => style.fg,
    };
    Span::styled(last.map_or("–".to_string(), compact_number), Style::new().fg(color))
}

/// The threshold of step `step` in the threshold colour, as `format` shows it (`{}` = value).
fn threshold_span<'a>(data: &LossData<'_>, step: usize, style: &LossStyle, format: &str) -> Span<'a> {
    let text = format.replace("{}", &compact_number(data.threshold(step)));
    Span::styled(text, Style::new().fg(style.threshold))
}

/// The first of `candidates` (most detailed first) that fits in `width` cells; none when none
/// does (a cut header would run into whatever is beside it).
fn fitting(candidates: Vec<Line<'static>>, width: u16) -> Line<'static> {
    candidates.into_iter().find(|l| l.width() <= usize::from(width)).unwrap_or_default()
}

/// A " · " separator in the muted colour.
fn separator<'a>(style: &LossStyle) -> Span<'a> {
    Span::styled(" · ", Style::new().fg(style.muted))
}

/// Writes `line` on row `y` of `area`, truncated to its width.
fn render_line(buf: &mut Buffer, area: Rect, y: u16, line: &Line<'_>) {
    buf.set_line(area.x, y, line, area.width);
}
