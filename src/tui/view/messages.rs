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
/// Columns of the age beside each message (`59m59s` and a space).
const AGE_W: usize = 7;

/// The messages laid out for one screen size.
pub struct MessagesLayout {
    /// Each message's rows: (age on its first row, piece of its text, its level).
    messages: Vec<Vec<(String, String, Level)>>,
    /// Rows shown at once (the footer aside).
    body: usize,
    width: u16,
}

impl MessagesLayout {
    pub fn new(screen: Rect, m: &Model) -> Self {
        let width = screen.width.min(MOST_WIDTH);
        let text_w = (width.saturating_sub(2) as usize).saturating_sub(AGE_W).max(1);
        let messages = m.messages.iter().map(|said| wrap(&said.text, text_w).into_iter().enumerate().map(|(i, piece)| (if i == 0 { age(said.at, m.now) } else { String::new() }, piece, said.level)).collect()).collect();
        let body = (screen.height.saturating_sub(3) as usize).max(1);
        Self { messages, body, width }
    }

    /// The first message shown when the newest is at the bottom: the furthest `top` goes.
    pub fn newest_top(&self) -> usize {
        let mut rows = 0;
        for (i, rows_of) in self.messages.iter().enumerate().rev() {
            rows += rows_of.len();
            if rows > self.body {
                return (i + 1).min(self.messages.len().saturating_sub(1));
            }
        }
        0
    }

    /// The first message shown for `top` (`None`: the newest at the bottom).
    pub fn first(&self, top: Option<usize>) -> usize {
        top.map_or(self.newest_top(), |t| t.min(self.newest_top()))
    }

    /// Messages shown from `first` on.
    pub fn shown_from(&self, first: usize) -> usize {
        let mut rows = 0;
        self.messages[first.min(self.messages.len())..].iter().take_while(|m| {
            rows += m.len();
            rows <= self.body
        }).count().max(1).min(self.messages.len().saturating_sub(first))
    }

    fn footer(&self, top: Option<usize>, keys: &Keymap) -> String {
        let n = self.messages.len();
        if n == 0 {
            return "nothing said yet · any key closes".into();
        }
        if self.newest_top() == 0 {
            return "newest last · any key closes".into();
        }
        let (up, down) = (keys.first_key(Action::Up), keys.first_key(Action::Down));
        let first = self.first(top);
        // The counts first: a narrow window cuts the end.
        format!("{}–{} of {n} · {up} older · {down} newer · other keys close", first + 1, first + self.shown_from(first))
    }

    fn lines(&self, top: Option<usize>, keys: &Keymap, t: &Theme) -> Vec<Line<'static>> {
        let first = self.first(top);
        let colour = |l: Level| match l {
            Level::Info => t.foreground,
            Level::Warning => t.warning,
            Level::Error => t.error,
        };
        let mut lines: Vec<Line> = self.messages[first.min(self.messages.len())..]
            .iter()
            .flatten()
            .take(self.body)
            .map(|(ago, piece, level)| Line::from(vec![Span::styled(format!("{ago:>w$} ", w = AGE_W - 1), Style::default().fg(t.muted)), Span::styled(piece.clone(), Style::default().fg(colour(*level)))]))
            .collect();
        let inner = self.width.saturating_sub(2) as usize;
        lines.push(Line::styled(super::shorten(&self.footer(top, keys), inner), Style::default().fg(t.muted)));
        lines
    }
}

pub fn draw(f: &mut Frame, area: Rect, m: &Model, keys: &Keymap, t: &Theme) {
    let layout = MessagesLayout::new(area, m);
    let lines = layout.lines(m.messages_top, keys, t);
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
        for said in ["1m05s done cat: reconstruction PSNR 31.2 dB", "1m03s failed dog: the photo copy is missing", "0s queued edit cat/e2", "newest last"] {
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
        assert!(shown(&m).contains("message number 49") && shown(&m).contains("42–50 of 50 · k older · j newer"), "{}", shown(&m));
        // Scrolled back, a resize keeps the message at the top where it was.
        update(&mut m, Msg::Action(Action::First));
        update(&mut m, Msg::Action(Action::Down));
        m.screen = ratatui::layout::Rect::new(0, 0, 30, 8);
        assert!(flat(&render(&m, 30, 8, Graphics::None)).contains("48s message number 1 "), "{}", flat(&render(&m, 30, 8, Graphics::None)));
        update(&mut m, Msg::Action(Action::Back));
        assert_eq!((m.mode, m.messages_top), (Mode::Normal, None));
    }
}
