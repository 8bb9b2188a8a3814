//! Moving through what the focused pane lists: a step (`j/k`), a page (PgUp/PgDn) or to either
//! end (`g/G`, Home/End). The session pane lists items, the loss pane timesteps, the preview pane
//! the selected item's results; a help window taller than the screen scrolls the same way.

use super::keymap::Action;
use super::results::{browse_results, load_item_images};
use super::state::{Level, Model, Pane};
use super::update::{say, Effect};

/// Timesteps a page moves in the loss pane.
pub const STEP_PAGE: usize = 10;

/// A move through a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Move {
    By(isize),
    First,
    Last,
}

impl Move {
    /// The move an action asks for, a page being `page` entries; `None` for other actions.
    pub fn of(a: Action, page: usize) -> Option<Move> {
        let page = page.max(1) as isize;
        Some(match a {
            Action::Up | Action::PrevStep => Move::By(-1),
            Action::Down | Action::NextStep => Move::By(1),
            Action::PageUp => Move::By(-page),
            Action::PageDown => Move::By(page),
            Action::First => Move::First,
            Action::Last => Move::Last,
            _ => return None,
        })
    }

    /// Where `cur` lands in a list of `n` entries (`n > 0`); the ends hold.
    pub fn apply(self, cur: usize, n: usize) -> usize {
        let last = n.saturating_sub(1);
        match self {
            Move::First => 0,
            Move::Last => last,
            Move::By(d) => cur.saturating_add_signed(d).min(last),
        }
    }
}

/// Items a page moves in the session pane: all but one of those the list showed (one stays in
/// view for orientation); half the screen before the first frame.
fn item_page(m: &Model) -> usize {
    match m.list_rows.get() {
        0 => (m.screen.height as usize / 2).max(1),
        shown => shown.saturating_sub(1).max(1),
    }
}

/// A move action in the normal dashboard: through the focused pane's list. `[`/`]` always
/// move through the timesteps.
pub(super) fn navigate(m: &mut Model, a: Action) -> Vec<Effect> {
    let steps = matches!(a, Action::PrevStep | Action::NextStep) || m.focus == Pane::Loss;
    if steps {
        if let Some(mv) = Move::of(a, STEP_PAGE) {
            step(m, mv);
        }
        return vec![];
    }
    let Some(mv) = Move::of(a, item_page(m)) else { return vec![] };
    if m.focus == Pane::Preview {
        return browse_results(m, mv);
    }
    let n = m.items().len();
    if n == 0 {
        say(m, format!("no images in this session yet: {} adds one", m.key(Action::AddImage)), Level::Info);
        return vec![];
    }
    let to = mv.apply(m.selected, n);
    if to == m.selected {
        return vec![];
    }
    m.selected = to;
    m.shown = None;
    // A note about the previous item's pictures ("showing edit e2 …") no longer holds.
    if m.status.as_ref().is_some_and(|(_, l)| *l == Level::Info) {
        m.status = None;
    }
    let mut fx = load_item_images(m);
    fx.extend(super::loss_pane::follow_selection(m));
    fx
}

/// Browse the finished timesteps of the loss pane; reaching the latest follows the run again.
fn step(m: &mut Model, mv: Move) {
    let total = m.run.as_ref().map(|r| r.done.max(1)).unwrap_or(0);
    if total == 0 {
        let why = if m.items().is_empty() {
            format!("no images in this session yet: {} adds one", m.key(Action::AddImage))
        } else {
            "no loss curve to step through: the selected image has no null-text timesteps yet".to_string()
        };
        return say(m, why, Level::Info);
    }
    let following = m.selected_step.is_none();
    let to = mv.apply(m.selected_step.unwrap_or(total - 1), total);
    m.selected_step = (to + 1 < total).then_some(to);
    if m.selected_step.is_none() && !following {
        say(m, "following the latest timestep", Level::Info);
    }
}

/// A move action while the help window is open: it scrolls a help taller than the screen.
/// Whether the action was a move (other keys close the help).
pub(super) fn scroll_help(m: &mut Model, a: Action) -> bool {
    let layout = super::view::help::HelpLayout::new(m.screen, &m.keys);
    let (most, page) = (layout.max_scroll(), layout.page());
    match Move::of(a, page) {
        Some(mv) if most > 0 && !matches!(a, Action::PrevStep | Action::NextStep) => {
            m.help_scroll = mv.apply(m.help_scroll.min(most), most + 1);
            true
        }
        _ => false,
    }
}

/// A move in the messages window, a message at a time: `k` and PgUp go back to older ones,
/// `g` to the oldest, `G` (or moving past the newest) back to following the newest; false for
/// other actions (they close it).
pub(super) fn scroll_messages(m: &mut Model, a: Action) -> bool {
    let layout = super::view::messages::MessagesLayout::new(m.screen, m);
    let newest = layout.newest_top();
    let first = layout.first(m.messages_top);
    match Move::of(a, layout.shown_from(first).saturating_sub(1)) {
        Some(mv) if !matches!(a, Action::PrevStep | Action::NextStep) => {
            let to = mv.apply(first, newest + 1);
            m.messages_top = (to < newest).then_some(to);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::showcase::{manifest, running_model};
    use crate::tui::state::Mode;
    use crate::tui::update::{update, Msg};
    use crate::worker::Event;

    fn act(m: &mut Model, a: Action) -> Vec<Effect> {
        update(m, Msg::Action(a))
    }

    #[test]
    fn moves_stop_at_the_ends_of_the_list() {
        assert_eq!(Move::By(1).apply(4, 5), 4);
        assert_eq!(Move::By(-1).apply(0, 5), 0);
        assert_eq!(Move::By(-10).apply(3, 5), 0);
        assert_eq!(Move::By(10).apply(3, 50), 13);
        assert_eq!(Move::By(10).apply(45, 50), 49);
        assert_eq!(Move::First.apply(7, 9), 0);
        assert_eq!(Move::Last.apply(0, 9), 8);
        assert_eq!(Move::of(Action::PageDown, 0), Some(Move::By(1)), "a page is at least one entry");
        assert_eq!(Move::of(Action::Quit, 5), None);
    }

    #[test]
    fn pages_and_ends_move_through_items_timesteps_results_and_the_help() {
        let mut m = running_model();
        let mut many = manifest();
        let cat = many.items[0].clone();
        many.items.extend((0..60).map(|i| crate::session::manifest::Item { id: format!("p{i}"), edits: vec![], ..cat.clone() }));
        update(&mut m, Msg::Worker(Event::Manifest(Box::new(many))));
        m.screen = ratatui::layout::Rect::new(0, 0, 80, 24);
        m.focus = Pane::Session;
        act(&mut m, Action::First);
        assert_eq!(m.selected, 0);
        let fx = act(&mut m, Action::PageDown);
        assert_eq!(m.selected, 12, "half of a 24-row screen before the first frame");
        assert!(fx.iter().any(|e| matches!(e, Effect::LoadImage(_))), "the new item's photo is asked for: {fx:?}");
        act(&mut m, Action::Last);
        assert_eq!(m.selected, 62);
        act(&mut m, Action::PageUp);
        assert_eq!(m.selected, 50);
        // Once drawn, a page is what the list showed, less one kept in view.
        let (theme, keys) = (crate::tui::theme::Theme::built_in("default").unwrap(), crate::tui::keymap::Keymap::default());
        let look = crate::tui::view::dashboard::Look { theme: &theme, keys: &keys, graphics: crate::tui::view::dashboard::Graphics::None };
        let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24)).unwrap();
        t.draw(|f| crate::tui::view::dashboard::draw(f, &m, &look)).unwrap();
        let rows = format!("{}", t.backend()).lines().filter(|l| l.starts_with("\"│  p") || l.starts_with("\"│▸ p")).count();
        assert_eq!(m.list_rows.get(), rows);
        act(&mut m, Action::PageUp);
        assert_eq!(m.selected, 50 - (rows - 1), "{rows} rows shown");
        for _ in 0..62 / (rows - 1) + 1 {
            act(&mut m, Action::PageDown);
        }
        assert_eq!(m.selected, 62, "a page stops at the end");
        assert!(act(&mut m, Action::PageDown).is_empty(), "and nothing more happens there");

        // The loss pane: the running job's 23 finished timesteps (the last one is live).
        act(&mut m, Action::NextPane);
        assert_eq!(m.focus, Pane::Loss);
        act(&mut m, Action::First);
        assert_eq!(m.selected_step, Some(0));
        act(&mut m, Action::PageDown);
        assert_eq!(m.selected_step, Some(STEP_PAGE));
        act(&mut m, Action::Last);
        assert_eq!(m.selected_step, None, "the end follows the run");
        assert!(m.status.as_ref().is_some_and(|(s, _)| s.contains("following")), "{:?}", m.status);
        act(&mut m, Action::PageUp);
        assert_eq!(m.selected_step, Some(22 - STEP_PAGE));

        // The preview pane: the first item's reconstruction and two edits.
        act(&mut m, Action::NextPane);
        m.selected = 0;
        act(&mut m, Action::First);
        assert_eq!(crate::tui::update::shown_result(&m).as_deref(), Some("edits/cat-recon.png"));
        act(&mut m, Action::Last);
        assert!(m.status.as_ref().is_some_and(|(s, _)| s.contains("edit e2") && s.contains("3/3")), "{:?}", m.status);
        act(&mut m, Action::PrevPane);
        assert_eq!(m.focus, Pane::Loss, "shift-tab goes back");
        act(&mut m, Action::PrevPane);
        act(&mut m, Action::PrevPane);
        assert_eq!(m.focus, Pane::Preview, "and round");

        // A help taller than the screen: pages and ends scroll it, other keys close it.
        m.screen = ratatui::layout::Rect::new(0, 0, 60, 12);
        act(&mut m, Action::Help);
        act(&mut m, Action::Last);
        let most = crate::tui::view::help::HelpLayout::new(m.screen, &m.keys).max_scroll();
        assert!(most > 0 && m.help_scroll == most, "{} of {most}", m.help_scroll);
        act(&mut m, Action::PageUp);
        assert_eq!(m.help_scroll, most.saturating_sub(8));
        act(&mut m, Action::First);
        assert_eq!((m.mode.clone(), m.help_scroll), (Mode::Help, 0));
        act(&mut m, Action::NextStep);
        assert_eq!(m.mode, Mode::Normal, "] closes the help");
    }
}
