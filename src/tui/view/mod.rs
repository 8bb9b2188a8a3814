//! Pure rendering of the dashboard panes into a ratatui buffer.
pub mod loss_chart;
pub mod dashboard;
#[cfg(test)]
mod dashboard_tests;
pub mod overlay;
pub mod session;
pub mod status;

use crate::tui::theme::Theme;
use ratatui::style::Style;
use ratatui::widgets::{Block, BorderType, Borders};

/// A pane's frame: rounded border, title, accent colour when it has the keyboard.
pub fn pane_block(title: String, focused: bool, t: &Theme) -> Block<'static> {
    let c = if focused { t.border_focused } else { t.border };
    Block::default().borders(Borders::ALL).border_type(BorderType::Rounded).border_style(Style::default().fg(c)).title(format!(" {title} ")).title_style(Style::default().fg(t.foreground))
}
