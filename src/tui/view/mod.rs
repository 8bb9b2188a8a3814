//! Pure rendering of the dashboard panes into a ratatui buffer.
pub mod loss_chart;
pub mod dashboard;
#[cfg(test)]
pub(crate) mod dashboard_tests;
#[cfg(test)]
mod form_view_tests;
pub mod help;
pub mod messages;
pub mod overlay;
pub mod session;
#[cfg(test)]
mod session_pane_tests;
pub mod status;

use crate::tui::theme::Theme;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, BorderType, Borders};

/// `s` cut to `max` columns, the last one an ellipsis when anything was cut.
pub fn shorten(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w + 1 > max {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// Columns `s` takes on a terminal (a CJK character takes two).
pub fn width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

/// `s` padded with spaces to `cols` columns (`format!("{s:<cols$}")` counts characters, not columns).
pub fn pad(s: &str, cols: usize) -> String {
    format!("{s}{}", " ".repeat(cols.saturating_sub(width(s))))
}

/// `s` cut to `max` columns in its middle (`test…ge-2`): names that differ at their end (`cat`,
/// `cat-2`) stay apart.
pub fn shorten_middle(s: &str, max: usize) -> String {
    if width(s) <= max || max < 3 {
        return shorten(s, max);
    }
    let chars: Vec<char> = s.chars().collect();
    let w = |c: &char| unicode_width::UnicodeWidthChar::width(*c).unwrap_or(0);
    let (mut tail, mut used) = (Vec::new(), 0);
    for c in chars.iter().rev() {
        if used + w(c) > (max - 1) / 2 {
            break;
        }
        used += w(c);
        tail.push(*c);
    }
    let head = shorten(s, max - used);
    format!("{head}{}", tail.iter().rev().collect::<String>())
}

/// A sentence cut to `max` columns in its middle, as [`shorten_middle`] does, but between
/// words (`the queue runs … p pauses it`): no word is left cut in two, unless one is so long
/// that a whole-word cut would give up much of the room.
pub fn shorten_middle_words(s: &str, max: usize) -> String {
    const GIVE_UP: usize = 16;
    if width(s) <= max || max < 12 {
        return shorten_middle(s, max);
    }
    let room = max - 3; // " … "
    let chars: Vec<char> = s.chars().collect();
    let w = |c: &char| unicode_width::UnicodeWidthChar::width(*c).unwrap_or(0);
    // The end, up to half the room, then from its first word's start.
    let (mut from, mut used) = (chars.len(), 0);
    while from > 0 && used + w(&chars[from - 1]) <= room / 2 {
        from -= 1;
        used += w(&chars[from]);
    }
    if let Some(k) = chars[from..].iter().take(GIVE_UP).position(|c| *c == ' ') {
        from += k + 1;
    }
    let tail: String = chars[from..].iter().collect();
    // The start, in the room left, then back to its last word's end.
    let left = room - width(&tail);
    let (mut to, mut used) = (0, 0);
    while to < from && used + w(&chars[to]) <= left {
        used += w(&chars[to]);
        to += 1;
    }
    if to < from && chars[to] != ' ' {
        if let Some(k) = chars[..to].iter().rev().take(GIVE_UP).position(|c| *c == ' ') {
            to -= k + 1;
        }
    }
    let head: String = chars[..to].iter().collect();
    match head.trim_end() {
        "" => format!("… {}", tail.trim_start()),
        head => format!("{head} … {}", tail.trim_start()),
    }
}

/// A pane's frame: rounded border, title, accent colour when it has the keyboard.
/// Without colours (NO_COLOR) the focused pane has a bold border and a reversed title.
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
