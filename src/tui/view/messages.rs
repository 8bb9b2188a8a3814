//! The messages window (`m`): what the status line said lately, newest at the bottom, each
//! with how long ago, wrapped whole; it scrolls when taller than the screen.

use super::help::wrap;
use super::width;
use crate::tui::keymap::{Action, Keymap};
use crate::tui::messages::age;
use crate::tui::state::{Level, Model};
use crate::tui::theme::Theme;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::Frame;

/// Widest the window gets: long lines are harder to read than wrapped ones.
const MOST_WIDTH: u16 = 100;
/// Columns of the age beside each message (`3h05m` and a space).
const AGE_W: usize = 6;

/// The messages laid out for one screen size.
pub struct MessagesLayout {
    /// (age on a message's first row, piece of its text, its level).
    rows: Vec<(String, String, Level)>,
    /// Rows shown at once (the footer aside).
    body: usize,
    width: u16,
}

impl MessagesLayout {
    pub fn new(screen: Rect, m: &Model) -> Self {
        let width = screen.width.min(MOST_WIDTH);
        let text_w = (width.saturating_sub(2) as usize).saturating_sub(AGE_W).max(1);
        let mut rows = Vec::new();
        for said in m.messages.iter() {
            for (i, piece) in wrap(&said.text, text_w).into_iter().enumerate() {
                rows.push((if i == 0 { age(said.at, m.now) } else { String::new() }, piece, said.level));
            }
        }
        let body = (screen.height.saturating_sub(3) as usize).max(1);
        Self { rows, body, width }
    }

    /// Rows a page scrolls: all but one of those shown.
    pub fn page(&self) -> usize {
        self.body.saturating_sub(1).max(1)
    }

    /// The furthest back the list scrolls: 0 when it fits.
    pub fn max_scroll(&self) -> usize {
        self.rows.len().saturating_sub(self.body)
    }

    fn footer(&self, back: usize, keys: &Keymap) -> String {
        if self.rows.is_empty() {
            return "nothing said yet · any key closes".into();
        }
        if self.max_scroll() == 0 {
            return "newest last · any key closes (pivot.log keeps them all)".into();
        }
        let (up, down) = (keys.first_key(Action::Up), keys.first_key(Action::Down));
        let last = self.rows.len() - back.min(self.max_scroll());
        format!("{up} older · {down} newer · {}–{last}/{} · other keys close", last - self.body.min(last) + 1, self.rows.len())
    }

    fn lines(&self, back: usize, keys: &Keymap, t: &Theme) -> Vec<Line<'static>> {
        let end = self.rows.len() - back.min(self.max_scroll());
        let start = end.saturating_sub(self.body);
        let colour = |l: Level| match l {
            Level::Info => t.foreground,
            Level::Warning => t.warning,
            Level::Error => t.error,
        };
        let mut lines: Vec<Line> = self.rows[start..end]
            .iter()
            .map(|(ago, piece, level)| Line::from(vec![Span::styled(format!("{ago:>w$} ", w = AGE_W - 1), Style::default().fg(t.muted)), Span::styled(piece.clone(), Style::default().fg(colour(*level)))]))
            .collect();
        let inner = self.width.saturating_sub(2) as usize;
        lines.push(Line::styled(super::shorten(&self.footer(back, keys), inner), Style::default().fg(t.muted)));
        lines
    }
}

pub fn draw(f: &mut Frame, area: Rect, m: &Model, keys: &Keymap, t: &Theme) {
    let layout = MessagesLayout::new(area, m);
    let lines = layout.lines(m.messages_scroll, keys, t);
    // As wide as its widest row or footer needs, never more than the layout wrapped to.
    let widest = lines.iter().map(|l| l.spans.iter().map(|s| width(&s.content)).sum::<usize>()).max().unwrap_or(0);
    let w = (widest as u16 + 2).min(layout.width);
    super::overlay::window(f, super::overlay::centred(area, w, lines.len() as u16 + 2), "Messages", lines, t);
}

#[cfg(test)]
mod tests {
    use crate::tui::keymap::Action;
    use crate::tui::showcase::running_model;
    use crate::tui::state::{Level, Mode};
    use crate::tui::update::{say, update, Msg};
    use crate::tui::view::dashboard::Graphics;
    use crate::tui::view::dashboard_tests::{flat, render};

    #[test]
    fn messages_replaced_on_the_status_line_are_all_shown_again_with_their_age() {
        let mut m = running_model();
        m.now = 10.0;
        say(&mut m, "done cat: reconstruction PSNR 31.2 dB", Level::Info);
        m.now = 12.0;
        say(&mut m, "failed dog: the photo copy is missing", Level::Error);
        m.now = 75.0;
        say(&mut m, "queued edit cat/e2", Level::Info);
        update(&mut m, Msg::Action(Action::Messages));
        assert_eq!(m.mode, Mode::Messages);
        let text = flat(&render(&m, 80, 24, Graphics::None));
        for said in ["1m done cat: reconstruction PSNR 31.2 dB", "1m failed dog: the photo copy is missing", "0s queued edit cat/e2", "newest last"] {
            assert!(text.contains(said), "{said}: {text}");
        }
        // Any other key closes it, as the help window.
        update(&mut m, Msg::Action(Action::Zoom));
        assert_eq!(m.mode, Mode::Normal);
    }

    #[test]
    fn a_long_history_opens_at_its_newest_and_scrolls_back() {
        let mut m = running_model();
        m.screen = ratatui::layout::Rect::new(0, 0, 80, 12);
        for i in 0..50 {
            m.now = i as f64;
            say(&mut m, format!("message number {i}"), Level::Info);
        }
        update(&mut m, Msg::Action(Action::Messages));
        let shown = |m: &crate::tui::state::Model| flat(&render(m, 80, 12, Graphics::None));
        assert!(shown(&m).contains("message number 49") && !shown(&m).contains("message number 40 "), "{}", shown(&m));
        update(&mut m, Msg::Action(Action::First));
        assert!(shown(&m).contains("message number 0 ") && !shown(&m).contains("message number 49"), "{}", shown(&m));
        update(&mut m, Msg::Action(Action::Down));
        assert!(shown(&m).contains("message number 1 ") && !shown(&m).contains("message number 0 "), "{}", shown(&m));
        update(&mut m, Msg::Action(Action::Last));
        assert!(shown(&m).contains("message number 49") && shown(&m).contains("k older · j newer"), "{}", shown(&m));
        update(&mut m, Msg::Action(Action::Back));
        assert_eq!((m.mode, m.messages_scroll), (Mode::Normal, 0));
    }
}
