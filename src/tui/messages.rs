//! What the status line said, kept: a finished job's message is often replaced within a second
//! by the next one's, and the messages window (`m`) shows them all again.

use super::state::Level;
use std::collections::VecDeque;

/// Messages kept; older ones are in pivot.log.
pub const KEEP: usize = 200;

#[derive(Clone, Debug, PartialEq)]
pub struct Said {
    /// When (the dashboard's clock, seconds since it opened).
    pub at: f64,
    pub text: String,
    pub level: Level,
}

#[derive(Clone, Debug, Default)]
pub struct Messages {
    list: VecDeque<Said>,
}

impl Messages {
    /// Keep `text`; the same text said again at once (a key pressed twice) is kept once, with
    /// its newer time.
    pub fn note(&mut self, text: &str, level: Level, at: f64) {
        if let Some(last) = self.list.back_mut().filter(|l| l.text == text && l.level == level) {
            last.at = at;
            return;
        }
        if self.list.len() == KEEP {
            self.list.pop_front();
        }
        self.list.push_back(Said { at, text: text.to_string(), level });
    }

    /// Oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Said> {
        self.list.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// How long ago `at` was, seen at `now`, in a few characters: `4s`, `12m05s`, `3h05m`.
pub fn age(at: f64, now: f64) -> String {
    let s = (now - at).max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s / 60 % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_kept_once_each_and_the_oldest_go_first() {
        let mut m = Messages::default();
        m.note("done cat", Level::Info, 1.0);
        m.note("done cat", Level::Info, 2.0);
        m.note("failed dog", Level::Error, 3.0);
        m.note("done cat", Level::Info, 4.0);
        let said: Vec<(f64, &str)> = m.iter().map(|s| (s.at, s.text.as_str())).collect();
        assert_eq!(said, [(2.0, "done cat"), (3.0, "failed dog"), (4.0, "done cat")]);
        for i in 0..KEEP {
            m.note(&format!("n{i}"), Level::Info, 10.0 + i as f64);
        }
        assert_eq!(m.iter().count(), KEEP);
        assert_eq!(m.iter().next().unwrap().text, "n0");
    }

    #[test]
    fn ages_are_short() {
        assert_eq!(age(10.0, 14.5), "4s");
        assert_eq!(age(0.0, 725.0), "12m05s");
        assert_eq!(age(0.0, 3.0 * 3600.0 + 300.0), "3h05m");
        assert_eq!(age(5.0, 1.0), "0s", "a clock never runs back");
    }
}
