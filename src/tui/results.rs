//! Which of the selected item's results (its reconstruction, its edits) the result pane shows,
//! and moving through them in the preview pane.

use super::state::{Level, Model};
use super::update::{say, Effect};

/// One thing the result pane can show for the selected item: its reconstruction, or one of its
/// edits (an unfinished one has no picture yet; browsing to it lets `d` and `e` act on it).
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// What `Model::shown` holds to choose it: `recon`, or `edit:<id>`.
    pub key: String,
    /// Session-relative path of its picture, once there is one.
    pub picture: Option<String>,
    /// The edit's id (none for the reconstruction).
    pub edit: Option<String>,
    /// What to call it (`edit e2 "a tiger …"`, `the reconstruction`).
    pub name: String,
}

/// The selected item's entries, oldest first: its reconstruction, then its edits, each followed
/// by its blend mask where it has one.
pub(crate) fn entries(m: &Model) -> Vec<Entry> {
    let Some(it) = m.selected_item() else { return vec![] };
    let recon = it.reconstruction.iter().map(|r| Entry { key: "recon".into(), picture: Some(r.clone()), edit: None, name: "the reconstruction".into() });
    let edits = it.edits.iter().flat_map(|e| {
        let old = if e.old_caption(&it.prompt).is_some() { ", made from the old caption" } else { "" };
        let name = format!("edit {} \"{}\"{old}", e.id, e.spec.target);
        let edit = Entry { key: format!("edit:{}", e.id), picture: e.output.clone(), edit: Some(e.id.clone()), name };
        let mask = e.blend_mask.as_ref().map(|p| Entry { key: format!("{MASK}{}", e.id), picture: Some(p.clone()), edit: Some(e.id.clone()), name: format!("the blend mask of edit {} (white: where it could change the photo)", e.id) });
        std::iter::once(edit).chain(mask)
    });
    recon.chain(edits).collect()
}

/// How `Model::shown` names an edit's blend mask (`mask:e2`).
const MASK: &str = "mask:";

/// The edit a `Model::shown` key is about: `edit:e2` and its mask `mask:e2` both name e2.
pub fn edit_of(key: &str) -> Option<&str> {
    key.strip_prefix("edit:").or_else(|| key.strip_prefix(MASK))
}

impl Entry {
    /// Whether it is an edit's blend mask (acted on as its edit; never shown unasked).
    pub fn is_mask(&self) -> bool {
        self.key.starts_with(MASK)
    }
}

/// What a result of the selected item is called, by its picture's path.
pub fn result_name(m: &Model, path: &str) -> String {
    entries(m).into_iter().find(|e| e.picture.as_deref() == Some(path)).map(|e| e.name).unwrap_or_else(|| path.to_string())
}

/// What the result pane shows for the selected item: the entry chosen in the preview pane, else
/// its latest finished edit, else its reconstruction.
pub fn shown_entry(m: &Model) -> Option<Entry> {
    let all = entries(m);
    let chosen = m.shown.as_ref().and_then(|k| all.iter().find(|e| &e.key == k));
    chosen.or_else(|| all.iter().rev().find(|e| e.picture.is_some() && !e.is_mask())).cloned()
}

/// The entry to show once the one under `key` is deleted: the next, else the one before.
pub fn neighbour(m: &Model, key: &str) -> Option<String> {
    let all = entries(m);
    let at = all.iter().position(|e| e.key == key)?;
    // Not the deleted edit's own mask, which goes with it.
    let other = |e: &&Entry| e.edit.is_none() || e.edit != all[at].edit;
    all[at + 1..].iter().find(other).or_else(|| all[..at].iter().rev().find(other)).map(|e| e.key.clone())
}

/// The picture the result pane shows, if the shown entry has one.
pub fn shown_result(m: &Model) -> Option<String> {
    shown_entry(m)?.picture
}

/// The id of the selected item's edit the result pane shows, if it shows one.
pub fn shown_edit(m: &Model) -> Option<String> {
    shown_entry(m)?.edit
}

/// `j/k` (and pages, ends) in the preview pane: through the selected item's reconstruction and
/// edits.
pub(super) fn browse_results(m: &mut Model, mv: super::navigate::Move) -> Vec<Effect> {
    let all = entries(m);
    if all.is_empty() {
        say(m, "no results yet: the reconstruction and edits appear here when done", Level::Info);
        return vec![];
    }
    let cur = shown_entry(m).and_then(|s| all.iter().position(|e| e.key == s.key)).unwrap_or(all.len() - 1);
    let next = mv.apply(cur, all.len());
    let e = all[next].clone();
    m.shown = Some(e.key);
    let waiting = if e.picture.is_none() { ", not made yet" } else { "" };
    say(m, format!("showing {}{waiting} ({}/{})", e.name, next + 1, all.len()), Level::Info);
    load_item_images(m)
}

pub(super) fn load_item_images(m: &Model) -> Vec<Effect> {
    on_screen(m).into_iter().filter(|r| !m.images.contains_key(r)).map(Effect::LoadImage).collect()
}

/// The pictures the screen shows: the selected item's photo and the result browsed.
pub(super) fn on_screen(m: &Model) -> Vec<String> {
    let Some(it) = m.selected_item() else { return vec![] };
    let mut wanted = vec![it.image.clone()];
    wanted.extend(shown_result(m));
    wanted
}
