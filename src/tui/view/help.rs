//! The help window: every key and what it does, from the keymap. Descriptions are never cut:
//! columns are used while whole descriptions fit side by side, a narrow screen gets one column
//! with descriptions wrapped under themselves (under their keys when narrower still), and a list
//! taller than the screen scrolls.

use super::width;
use crate::tui::keymap::{Action, Keymap};
use crate::tui::theme::Theme;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::Frame;

/// Columns between two columns of keys.
const GAP: usize = 3;

/// The help's last line, fullest first: the first that fits is shown.
const FOOTERS: [&str; 3] = [
    "ctrl-l redraws · ctrl-z suspends · keymap.toml rebinds · any key closes",
    "keys can be changed in keymap.toml (config folder) · any key closes",
    "any key closes",
];

/// The fewest columns a description gets beside its keys; a narrower screen stacks them.
const NARROWEST: usize = 16;

/// The help laid out for one screen size.
pub struct HelpLayout {
    /// Each row's (keys, piece of description) per column; a wrapped description continues on
    /// rows with empty keys.
    rows: Vec<Vec<(String, String)>>,
    key_w: usize,
    desc_w: usize,
    columns: usize,
    /// Rows of keys the window shows at once (its footer row aside).
    body: usize,
}

/// pivot's own keys, which no keymap binds: in the footer where it has room, else in the list.
const OWN_KEYS: [(&str, &str); 2] = [("ctrl-l", "draw the screen again"), ("ctrl-z", "suspend pivot (fg resumes it)")];

impl HelpLayout {
    pub fn new(screen: Rect, keys: &Keymap) -> Self {
        let mut entries = keys.help();
        let plain = Self::laid_out(screen, entries.clone());
        let inner_w = screen.width.saturating_sub(2) as usize;
        if plain.max_scroll() == 0 || width(&plain.fuller_footer(plain.max_scroll(), keys)) <= inner_w {
            return plain;
        }
        // A narrow list that scrolls: its footer has no room for them.
        entries.extend(OWN_KEYS.iter().map(|(k, d)| (k.to_string(), d.to_string())));
        Self::laid_out(screen, entries)
    }

    fn laid_out(screen: Rect, entries: Vec<(String, String)>) -> Self {
        let inner_w = screen.width.saturating_sub(2) as usize;
        let body = (screen.height.saturating_sub(3) as usize).max(1);
        let key_w = entries.iter().map(|(k, _)| width(k)).max().unwrap_or(1);
        let desc_max = entries.iter().map(|(_, d)| width(d)).max().unwrap_or(1);
        let whole = key_w + 2 + desc_max;
        let fit = ((inner_w + GAP) / (whole + GAP)).clamp(1, 3);
        let columns = fit.min(entries.len().div_ceil(body)).max(1);
        if columns > 1 {
            let per_column = entries.len().div_ceil(columns);
            let rows = (0..per_column).map(|r| (0..columns).filter_map(|c| entries.get(c * per_column + r).cloned()).collect()).collect();
            return Self { rows, key_w, desc_w: desc_max, columns, body };
        }
        let mut rows = Vec::new();
        if inner_w < key_w + 3 + NARROWEST {
            // Too narrow for keys beside descriptions: each entry's keys on a line of their own,
            // its description wrapped under them.
            let desc_w = inner_w.saturating_sub(3).max(1);
            for (k, d) in entries {
                rows.extend(wrap(&k, desc_w).into_iter().map(|piece| vec![(String::new(), piece)]));
                rows.extend(wrap(&d, desc_w).into_iter().map(|piece| vec![(String::new(), format!(" {piece}"))]));
            }
            return Self { rows, key_w: 0, desc_w: desc_w + 1, columns, body };
        }
        // One column spare before the border.
        let desc_w = desc_max.min(inner_w - (key_w + 3));
        for (k, d) in entries {
            for (i, piece) in wrap(&d, desc_w).into_iter().enumerate() {
                rows.push(vec![(if i == 0 { k.clone() } else { String::new() }, piece)]);
            }
        }
        Self { rows, key_w, desc_w, columns, body }
    }

    /// Rows a page scrolls: all but one of those shown, so a row stays for orientation.
    pub fn page(&self) -> usize {
        self.body.saturating_sub(1).max(1)
    }

    /// The furthest the list scrolls: 0 when it fits.
    pub fn max_scroll(&self) -> usize {
        self.rows.len().saturating_sub(self.body)
    }

    /// The last line with the list scrolled to `first`. A scrolling list's is widest at its end
    /// (the counters' digits): that one decides whether the fuller text fits, so the footer and
    /// the window keep their width as it scrolls.
    fn footer(&self, first: usize, keys: &Keymap, inner_w: usize) -> String {
        if self.max_scroll() == 0 {
            // The keys no keymap binds come first where they fit.
            return FOOTERS.into_iter().find(|t| width(t) <= inner_w).unwrap_or(FOOTERS[FOOTERS.len() - 1]).to_string();
        }
        // The keys no keymap binds, where a wide screen leaves room (else the list has them).
        match width(&self.fuller_footer(self.max_scroll(), keys)) <= inner_w {
            true => self.fuller_footer(first, keys),
            false => self.scroll_footer(first, keys),
        }
    }

    fn scroll_footer(&self, first: usize, keys: &Keymap) -> String {
        let (down, up) = (keys.first_key(Action::Down), keys.first_key(Action::Up));
        let total = self.rows.len();
        format!("{down}/{up} scroll · {}–{}/{total} · other keys close", first + 1, (first + self.body).min(total))
    }

    fn fuller_footer(&self, first: usize, keys: &Keymap) -> String {
        format!("{} · ctrl-l redraws · ctrl-z suspends", self.scroll_footer(first, keys))
    }

    fn lines(&self, scroll: usize, keys: &Keymap, inner_w: usize, t: &Theme) -> Vec<Line<'static>> {
        let first = scroll.min(self.max_scroll());
        let (key_w, desc_w) = (self.key_w, self.desc_w);
        let mut lines: Vec<Line> = self.rows[first..(first + self.body).min(self.rows.len())]
            .iter()
            .map(|row| {
                let mut spans = Vec::new();
                for (i, (k, d)) in row.iter().enumerate() {
                    let gap = if i + 1 < row.len() { GAP } else { 0 };
                    spans.push(Span::styled(format!("{k:>key_w$}  "), Style::default().fg(t.accent)));
                    spans.push(Span::raw(format!("{:<w$}", super::shorten(d, desc_w), w = desc_w + gap)));
                }
                Line::from(spans)
            })
            .collect();
        let footer = self.footer(first, keys, inner_w);
        lines.push(Line::styled(super::shorten(&footer, inner_w), Style::default().fg(t.muted)));
        lines
    }

    /// Columns the window's inside needs.
    fn inner_width(&self) -> usize {
        self.columns * (self.key_w + 2 + self.desc_w) + (self.columns - 1) * GAP
    }
}

/// `text` in pieces of at most `w` columns, broken between words where it can be.
pub(super) fn wrap(text: &str, w: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let sep = usize::from(!line.is_empty());
        if !line.is_empty() && width(&line) + sep + width(word) > w {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
        // A word wider than the column is split where it reaches the edge.
        while width(&line) > w {
            let mut used = 0;
            let cut = line.char_indices().find(|&(_, c)| {
                used += unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
                used > w
            });
            match cut {
                Some((at, _)) if at > 0 => {
                    out.push(line[..at].to_string());
                    line = line[at..].to_string();
                }
                _ => break,
            }
        }
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

pub fn draw(f: &mut Frame, area: Rect, scroll: usize, keys: &Keymap, t: &Theme) {
    let layout = HelpLayout::new(area, keys);
    let area_inner = area.width.saturating_sub(2) as usize;
    let lines = layout.lines(scroll, keys, area_inner, t);
    // As wide as the widest footer it will show, whatever the scroll.
    let footer_w = width(&layout.footer(layout.max_scroll(), keys, area_inner)).min(area_inner);
    let w = layout.inner_width().max(footer_w) as u16 + 2;
    // Within a column or two of the screen's width, all of it: a sliver of the panes beside the
    // window reads as stray characters.
    let w = if w + 2 >= area.width { area.width } else { w };
    super::overlay::window(f, super::overlay::centred(area, w, lines.len() as u16 + 2), "Keys", lines, t);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_breaks_between_words_and_splits_only_words_too_wide() {
        assert_eq!(wrap("cancel the selected image's job", 12), ["cancel the", "selected", "image's job"]);
        assert_eq!(wrap("abcdefghij xy", 4), ["abcd", "efgh", "ij", "xy"]);
        assert_eq!(wrap("abcde", 4), ["abcd", "e"], "one column over is split too");
        assert_eq!(wrap("", 5), [""]);
    }

    #[test]
    fn every_description_is_whole_at_any_width_and_the_list_scrolls_when_tall() {
        let keys = Keymap::default();
        for (w, h) in [(120, 40), (80, 24), (60, 22), (40, 12), (30, 8), (24, 10), (20, 6), (14, 5)] {
            let layout = HelpLayout::new(Rect::new(0, 0, w, h), &keys);
            // As drawn (cut where wider than the column), every character of every description.
            let bare = |t: &str| t.chars().filter(|c| !c.is_whitespace()).collect::<String>();
            let shown: String = layout.rows.iter().flatten().map(|(_, d)| bare(&super::super::shorten(d, layout.desc_w))).collect();
            for (_, d) in keys.help() {
                assert!(shown.contains(&bare(&d)), "{w}×{h}: `{d}` is not whole in {shown}");
            }
            assert!(layout.inner_width() <= w as usize - 2, "{w}×{h}: {} columns wide", layout.inner_width());
            let tall = layout.rows.len() > h as usize - 3;
            assert_eq!(layout.max_scroll() > 0, tall, "{w}×{h}");
        }
        assert_eq!(HelpLayout::new(Rect::new(0, 0, 120, 40), &keys).max_scroll(), 0, "a big screen shows every key at once");
        // A wide but short screen scrolls, and its footer still names the keys no keymap binds.
        let footer = |w: u16| {
            let layout = HelpLayout::new(Rect::new(0, 0, w, 12), &keys);
            assert!(layout.max_scroll() > 0);
            let lines = layout.lines(0, &keys, w as usize - 2, &Theme::built_in("default").unwrap());
            lines.last().unwrap().spans.iter().map(|s| s.content.to_string()).collect::<String>()
        };
        assert!(footer(120).contains("scroll") && footer(120).contains("ctrl-z suspends"), "{}", footer(120));
        assert!(footer(50).contains("scroll") && !footer(50).contains("ctrl-z"), "{}", footer(50));
        // There the list has them, at its end.
        let narrow = HelpLayout::new(Rect::new(0, 0, 50, 12), &keys);
        let end = narrow.lines(narrow.max_scroll(), &keys, 48, &Theme::built_in("default").unwrap());
        let text: String = end.iter().flat_map(|l| l.spans.iter().map(|s| s.content.to_string())).collect();
        assert!(text.contains("ctrl-l") && text.contains("ctrl-z  suspend pivot"), "{text}");
        assert!(!HelpLayout::new(Rect::new(0, 0, 120, 12), &keys).rows.iter().flatten().any(|(k, _)| k == "ctrl-l"), "not twice");
        // Whatever the scroll, one kind of footer: the window does not change width as it scrolls.
        for w in 60..=90 {
            let layout = HelpLayout::new(Rect::new(0, 0, w, 12), &keys);
            let kinds: Vec<bool> = (0..=layout.max_scroll()).map(|s| layout.footer(s, &keys, w as usize - 2).contains("ctrl-z")).collect();
            assert!(kinds.iter().all(|k| *k == kinds[0]), "{w} columns: {kinds:?}");
        }
        assert_eq!(HelpLayout::new(Rect::new(0, 0, 80, 24), &keys).max_scroll(), 0, "so does the smallest screen pivot is made for");
    }
}
