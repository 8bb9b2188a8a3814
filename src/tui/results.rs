//! Which of the selected item's results (its reconstruction, its finished edits) the result pane
//! shows, and stepping through them with `j/k` in the preview pane.

use super::state::{Level, Model};
use super::update::{say, Effect};

/// The selected item's results, oldest first: its reconstruction, then its finished edits (path,
/// what to call it).
fn results(m: &Model) -> Vec<(String, String)> {
    let Some(it) = m.selected_item() else { return vec![] };
    let recon = it.reconstruction.iter().map(|r| (r.clone(), "the reconstruction".to_string()));
    let edits = it.edits.iter().filter_map(|e| {
        let old = if e.old_caption(&it.prompt).is_some() { ", made from the old caption" } else { "" };
        Some((e.output.clone()?, format!("edit {} \"{}\"{old}", e.id, e.spec.target)))
    });
    recon.chain(edits).collect()
}

/// What a result of the selected item is called (`edit e2 "a tiger …"`, `the reconstruction`).
pub fn result_name(m: &Model, path: &str) -> String {
    results(m).into_iter().find(|(p, _)| p == path).map(|(_, name)| name).unwrap_or_else(|| path.to_string())
}

/// The image the result pane shows for the selected item: the one chosen in the preview pane,
/// else its latest edit, else its reconstruction.
pub fn shown_result(m: &Model) -> Option<String> {
    let all = results(m);
    let chosen = m.shown.as_ref().filter(|p| all.iter().any(|(q, _)| q == *p));
    chosen.cloned().or_else(|| all.last().map(|(p, _)| p.clone()))
}

/// The id of the selected item's edit the result pane shows, if it shows one.
pub fn shown_edit(m: &Model) -> Option<String> {
    let shown = shown_result(m)?;
    m.selected_item()?.edits.iter().find(|e| e.output.as_ref() == Some(&shown)).map(|e| e.id.clone())
}

/// `j/k` in the preview pane: step through the selected item's results.
pub(super) fn browse_results(m: &mut Model, down: bool) -> Vec<Effect> {
    let all = results(m);
    if all.is_empty() {
        say(m, "no results yet: the reconstruction and edits appear here when done", Level::Info);
        return vec![];
    }
    let cur = shown_result(m).and_then(|p| all.iter().position(|(q, _)| *q == p)).unwrap_or(all.len() - 1);
    let next = if down { (cur + 1).min(all.len() - 1) } else { cur.saturating_sub(1) };
    let (path, name) = all[next].clone();
    m.shown = Some(path);
    say(m, format!("showing {name} ({}/{})", next + 1, all.len()), Level::Info);
    load_item_images(m)
}

pub(super) fn load_item_images(m: &Model) -> Vec<Effect> {
    let Some(it) = m.selected_item() else { return vec![] };
    let mut wanted = vec![it.image.clone()];
    wanted.extend(shown_result(m));
    wanted.into_iter().filter(|r| !m.images.contains_key(r)).map(Effect::LoadImage).collect()
}
