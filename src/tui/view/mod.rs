//! Pure rendering of the dashboard panes into a ratatui buffer.
pub mod loss_chart;
pub mod dashboard;
#[cfg(test)]
mod dashboard_tests;
pub mod overlay;
pub mod session;
pub mod status;

use crate::tui::theme::Theme;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, BorderType, Borders};

/// A pane's frame: rounded border, title, accent colour when it has the keyboard.
/// Without colours (NO_COLOR) the focused pane has a bold border and a reversed title.
/// `s` cut to `max` characters, the last one an ellipsis when anything was cut.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

pub fn pane_block(title: String, focused: bool, t: &Theme) -> Block<'static> {
    let c = if focused { t.border_focused } else { t.border };
    let (mut border, mut title_style) = (Style::default().fg(c), Style::default().fg(t.foreground));
    if focused && t.mono {
        border = border.add_modifier(Modifier::BOLD);
        title_style = title_style.add_modifier(Modifier::BOLD | Modifier::REVERSED);
    }
    let kind = if focused && t.mono { BorderType::Thick } else { BorderType::Rounded };
    Block::default().borders(Borders::ALL).border_type(kind).border_style(border).title(format!(" {title} ")).title_style(title_style)
}
