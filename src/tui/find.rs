//! Finding a photo in a long session (`/`): by its name, its file's name, its caption or an edit's
//! target prompt, in any case. The selection moves as the text is typed (a matching edit is shown
//! in the result pane), ↑/↓ step through the matches, Enter stays, Esc goes back to where the
//! search started; afterwards `n` / `N` go to the next / previous match.

use super::keymap::Action;
use super::state::{Level, Mode, Model};
use super::update::{say, Effect, InputKey};

/// The search being typed: its text and where the selection was when it opened.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub text: String,
    pub from: Place,
}

/// Where the selection is: an item (by id: items may come and go while the line is open) and
/// what the result pane was asked to show (`Model::shown`: an edit found, the reconstruction or a
/// mask chosen, or the latest when `None`).
#[derive(Clone, Debug, PartialEq)]
pub struct Place {
    pub item: String,
    pub shown: Option<String>,
}

impl Place {
    pub fn of(m: &Model) -> Self {
        Self { item: m.selected_item().map(|it| it.id.clone()).unwrap_or_default(), shown: m.shown.clone() }
    }

    /// The item's index now, if it is still there.
    fn index(&self, m: &Model) -> Option<usize> {
        m.items().iter().position(|it| it.id == self.item)
    }

    /// The edit it shows (an edit's blend mask counts as its edit).
    fn edit(&self) -> Option<&str> {
        super::results::edit_of(self.shown.as_deref()?)
    }

    /// Its position in list order: the item, then its edits in turn.
    fn rank(&self, m: &Model) -> (usize, usize) {
        let at = self.index(m).unwrap_or(m.selected);
        let edits = m.items().get(at).map(|it| it.edits.as_slice()).unwrap_or_default();
        let edit = self.edit().and_then(|id| edits.iter().position(|e| e.id == id)).map_or(0, |i| i + 1);
        (at, edit)
    }
}

/// Every place that matches `text`, in list order: an item whose name, file or caption holds
/// it, and each edit whose target prompt does. Nothing matches blank text.
pub fn matches(m: &Model, text: &str) -> Vec<Place> {
    use crate::session::names::fold_latin;
    let needle = fold_latin(text.trim());
    if needle.is_empty() {
        return vec![];
    }
    let has = |s: &str| fold_latin(s).contains(&needle);
    let mut out = Vec::new();
    for it in m.items() {
        let file = std::path::Path::new(&it.original_path).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        // The item's own match shows its reconstruction where it has one, so that it looks
        // different from a match on its latest edit.
        if has(&it.id) || has(&file) || has(&it.prompt) {
            out.push(Place { item: it.id.clone(), shown: it.reconstruction.as_ref().map(|_| "recon".to_string()) });
        }
        out.extend(it.edits.iter().filter(|e| has(&e.spec.target)).map(|e| Place { item: it.id.clone(), shown: Some(format!("edit:{}", e.id)) }));
    }
    out
}

/// Which match the selection is on (0-based) and how many there are, for the find line.
pub fn counter(m: &Model, text: &str) -> Option<(usize, usize)> {
    let all = matches(m, text);
    let here = Place::of(m).rank(m);
    all.iter().position(|p| p.rank(m) == here).map(|i| (i, all.len()))
}

/// `/`: the find line opens, empty, remembering where the selection is.
pub(super) fn open(m: &mut Model) {
    if m.items().is_empty() {
        return say(m, format!("no images in this session yet: {} adds one", m.key(Action::AddImage)), Level::Info);
    }
    m.cursor_back = 0;
    // The find line takes the status line's place: a notice from before would come back stale
    // (warnings and errors stay: they say what to do).
    if m.status.as_ref().is_some_and(|(_, l)| *l == Level::Info) {
        m.status = None;
    }
    m.mode = Mode::Find(Finding { text: String::new(), from: Place::of(m) });
}

/// A key typed into the find line.
pub(super) fn key(m: &mut Model, mut f: Finding, k: InputKey) -> Vec<Effect> {
    match k {
        InputKey::Esc => go(m, f.from),
        InputKey::Enter if f.text.trim().is_empty() => vec![],
        InputKey::Enter if matches(m, &f.text).is_empty() => {
            // `n` then looks for this text too (it may match a photo added later), not an older one.
            m.found = Some(f.text.trim().to_string());
            let fx = go(m, f.from);
            say(m, format!("nothing in this session matches \"{}\"", f.text.trim()), Level::Warning);
            fx
        }
        InputKey::Enter => {
            m.found = Some(f.text.trim().to_string());
            // A warning or error (said before, or while the line was open) outranks the count.
            if m.status.as_ref().is_none_or(|(_, l)| *l == Level::Info) {
                announce(m, false);
            }
            vec![]
        }
        InputKey::Up | InputKey::Down => {
            let fx = step(m, &f.text, k == InputKey::Down);
            m.mode = Mode::Find(f);
            fx
        }
        other => {
            let before = f.text.clone();
            super::form::type_into(&mut f.text, other, &mut m.cursor_back);
            if f.text == before {
                // The cursor moved (or a key that types nothing): the match in view stays.
                m.mode = Mode::Find(f);
                return vec![];
            }
            let all = matches(m, &f.text);
            let start = f.from.rank(m);
            // The place shown when it matches; else the first match from its item on (the item
            // itself included, whatever result it showed), wrapping round; else back there.
            let here = all.iter().find(|p| p.rank(m) == start);
            let to = here.or_else(|| all.iter().find(|p| p.rank(m).0 >= start.0)).or(all.first()).cloned().unwrap_or_else(|| f.from.clone());
            let fx = go(m, to);
            m.mode = Mode::Find(f);
            fx
        }
    }
}

/// `n` / `N`: the next / previous match of the last search after the selection, wrapping round.
pub(super) fn again(m: &mut Model, forward: bool) -> Vec<Effect> {
    let Some(text) = m.found.clone() else {
        say(m, format!("{} finds a photo by its name, caption or an edit's prompt; then {} / {} go to the next / previous match", m.key(Action::Find), m.key(Action::FindNext), m.key(Action::FindPrev)), Level::Info);
        return vec![];
    };
    if matches(m, &text).is_empty() {
        say(m, format!("nothing in this session matches \"{text}\" now"), Level::Info);
        return vec![];
    }
    let (fx, wrapped) = step_wrapped(m, &text, forward);
    announce(m, wrapped);
    fx
}

fn step(m: &mut Model, text: &str, forward: bool) -> Vec<Effect> {
    step_wrapped(m, text, forward).0
}

/// Moves to the match after (before) the selection; whether it went round the list's end.
fn step_wrapped(m: &mut Model, text: &str, forward: bool) -> (Vec<Effect>, bool) {
    let all = matches(m, text);
    let here = Place::of(m).rank(m);
    let next = if forward { all.iter().find(|p| p.rank(m) > here) } else { all.iter().rev().find(|p| p.rank(m) < here) };
    let wrapped = next.is_none();
    let to = next.or(if forward { all.first() } else { all.last() }).cloned();
    (to.map(|p| go(m, p)).unwrap_or_default(), wrapped && all.len() > 1)
}

/// Says which match the selection is on: `"tiger": 2 of 3, cat's edit e2 · n next · N previous`.
fn announce(m: &mut Model, wrapped: bool) {
    let Some(text) = m.found.clone() else { return };
    let Some((at, of)) = counter(m, &text) else { return };
    let place = Place::of(m);
    let what = match place.edit() {
        Some(e) => format!("{}'s edit {e}", place.item),
        None => place.item.clone(),
    };
    let round = if wrapped { " (from the other end)" } else { "" };
    let keys = if of > 1 { format!(" · {} next · {} previous", m.key(Action::FindNext), m.key(Action::FindPrev)) } else { String::new() };
    say(m, format!("\"{text}\": {} of {of}, {what}{round}{keys}", at + 1), Level::Info);
}

/// Selects `to`: its item, and what the result pane is to show (an item gone meanwhile: the
/// selection stays where it is).
fn go(m: &mut Model, to: Place) -> Vec<Effect> {
    let Some(at) = to.index(m) else {
        m.shown = None;
        return super::update::load_item_images(m);
    };
    let moved = at != m.selected;
    m.selected = at;
    m.shown = to.shown;
    let mut fx = super::update::load_item_images(m);
    if moved {
        fx.extend(super::loss_pane::follow_selection(m));
    }
    fx
}
