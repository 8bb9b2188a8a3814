//! Where the user was in a session's dashboard (selected photo, focused pane, browsed result),
//! kept in the state folder when the dashboard ends so that the next one opens there.

use super::state::{Model, Pane};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Spot {
    /// The selected item's id.
    #[serde(default)]
    pub item: Option<String>,
    /// The focused pane (`session`, `loss` or `preview` in the file).
    #[serde(default)]
    pub focus: Option<Pane>,
    /// The result browsed in the preview pane (`recon`, `edit:<id>`).
    #[serde(default)]
    pub shown: Option<String>,
}

/// `<state>/dashboard/<session>.toml` (session names are safe file names).
fn file(state: &Path, session: &str) -> PathBuf {
    state.join("dashboard").join(format!("{session}.toml"))
}

/// The spot saved for `session`; nothing when there is none or it cannot be read (a lost spot
/// costs a keypress, never a refusal to start).
pub fn load(state: &Path, session: &str) -> Option<Spot> {
    toml::from_str(&std::fs::read_to_string(file(state, session)).ok()?).ok()
}

/// Forget the spot of a removed session: a later session of the same name starts afresh.
pub fn forget(state: &Path, session: &str) {
    let _ = std::fs::remove_file(file(state, session));
}

/// Where `m` is now.
fn of(m: &Model) -> Spot {
    Spot { item: m.selected_item().map(|i| i.id.clone()), focus: Some(m.focus), shown: m.shown.clone() }
}

/// Write `spot` for `session`, synced to disk when `durable`; whether it was written.
fn write(state: &Path, session: &str, spot: &Spot, durable: bool) -> bool {
    let path = file(state, session);
    let (Some(dir), Ok(text)) = (path.parent(), toml::to_string(spot)) else { return false };
    if std::fs::create_dir_all(dir).is_err() {
        return false;
    }
    if durable {
        crate::session::atomic::write_atomic(&path, text.as_bytes()).is_ok()
    } else {
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, &path)).is_ok()
    }
}

/// Keep where `m` is for the next dashboard on its session (best effort, as [`load`]).
pub fn save(state: &Path, m: &Model) {
    write(state, &m.session_name, &of(m), true);
}

/// Saves the spot whenever it changes, so that a dashboard that is killed (no chance to save at
/// its end) still reopens where the user was.
pub struct Keeper {
    state: PathBuf,
    last: Option<Spot>,
}

impl Keeper {
    pub fn new(state: PathBuf) -> Self {
        Self { state, last: None }
    }

    /// After a frame: save what changed since the last one. Without a sync to disk: this runs
    /// at every keypress, and a spot lost to a power cut costs a keypress.
    pub fn frame(&mut self, m: &Model) {
        let now = of(m);
        // Nothing to keep before the first manifest (the restore has not happened yet).
        if m.manifest.is_none() || self.last.as_ref() == Some(&now) {
            return;
        }
        if write(&self.state, &m.session_name, &now, false) {
            self.last = Some(now);
        }
    }
}

/// Go back to `spot` in the session's first manifest: an item since removed leaves the
/// selection where it is, and a result since deleted shows the latest.
pub fn restore(m: &mut Model, spot: Spot) {
    if let Some(at) = spot.item.and_then(|id| m.items().iter().position(|i| i.id == id)) {
        m.selected = at;
        m.shown = spot.shown;
    }
    m.focus = spot.focus.unwrap_or(Pane::Session);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::manifest::Manifest;
    use crate::tui::showcase::manifest;

    fn opened(man: Manifest) -> Model {
        let mut m = Model::new("kitchen", false);
        m.manifest = Some(man);
        m
    }

    #[test]
    fn the_keeper_saves_each_new_spot_as_it_comes() {
        let state = tempfile::tempdir().unwrap();
        let mut keeper = Keeper::new(state.path().to_path_buf());
        let mut m = Model::new("kitchen", false);
        keeper.frame(&m);
        assert_eq!(load(state.path(), "kitchen"), None, "nothing before the session's first manifest");
        m.manifest = Some(manifest());
        m.selected = 1;
        keeper.frame(&m);
        assert_eq!(load(state.path(), "kitchen").and_then(|s| s.item), Some("dog".into()));
        m.selected = 2;
        keeper.frame(&m);
        assert_eq!(load(state.path(), "kitchen").and_then(|s| s.item), Some("sky".into()), "no end-of-dashboard save needed (a kill)");
    }

    #[test]
    fn the_spot_survives_a_relaunch_and_a_removed_item_is_passed_over() {
        let state = tempfile::tempdir().unwrap();
        assert_eq!(load(state.path(), "kitchen"), None);
        let mut m = opened(manifest());
        m.selected = 2;
        m.focus = Pane::Preview;
        m.shown = Some("edit:e1".into());
        save(state.path(), &m);
        let spot = load(state.path(), "kitchen").expect("saved");
        assert_eq!(spot, Spot { item: Some("sky".into()), focus: Some(Pane::Preview), shown: Some("edit:e1".into()) });
        forget(state.path(), "kitchen");
        assert_eq!(load(state.path(), "kitchen"), None, "a removed session's spot goes with it");
        let mut again = opened(manifest());
        restore(&mut again, spot.clone());
        assert_eq!((again.selected, again.focus, again.shown.as_deref()), (2, Pane::Preview, Some("edit:e1")));
        // The item went meanwhile (`pivot session rm --item`): the selection stays at the top.
        let mut man = manifest();
        man.items.retain(|i| i.id != "sky");
        let mut gone = opened(man);
        restore(&mut gone, spot);
        assert_eq!((gone.selected, gone.shown), (0, None));
        // A damaged file is ignored.
        std::fs::write(file(state.path(), "kitchen"), "item = [").unwrap();
        assert_eq!(load(state.path(), "kitchen"), None);
    }
}
