//! The session's photo copies, looked at every few seconds while the dashboard is open: one
//! deleted (or moved) is said at once rather than when a job fails on it, and one put back is
//! taken up without a restart. A few `stat`s; only the photo copies, which no job rewrites.

use super::state::{Level, Model};
use super::update::{say, Effect};
use crate::session::check::FileProblem;
use std::collections::HashSet;
use std::path::Path;

/// What a look found: photo copies gone (missing twice running: the manifest that drops a
/// deleted item arrives after its files go), and files said missing that are there again.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Seen {
    pub gone: Vec<FileProblem>,
    pub back: Vec<String>,
}

impl Seen {
    pub fn is_empty(&self) -> bool {
        self.gone.is_empty() && self.back.is_empty()
    }
}

#[derive(Default)]
pub struct PhotoWatch {
    /// Photo copies missing at the last look, not yet said.
    suspects: HashSet<String>,
}

impl PhotoWatch {
    pub fn look(&mut self, session_dir: &Path, m: &Model) -> Seen {
        let there = |rel: &str| session_dir.join(rel).is_file();
        let mut back: Vec<String> = m.file_problems.iter().filter(|p| p.is_missing() && there(&p.file)).map(|p| p.file.clone()).collect();
        back.dedup();
        let known: HashSet<&str> = m.file_problems.iter().map(|p| p.file.as_str()).collect();
        let missing: Vec<(&str, &str)> = m.items().iter().filter(|it| !known.contains(it.image.as_str()) && !there(&it.image)).map(|it| (it.id.as_str(), it.image.as_str())).collect();
        let gone = missing.iter().filter(|(_, f)| self.suspects.contains(*f)).map(|(item, file)| FileProblem::missing(item, file)).collect();
        self.suspects = missing.iter().map(|(_, f)| f.to_string()).collect();
        Seen { gone, back }
    }
}

/// What a look found, taken into the model: a gone photo copy is a file problem like those
/// the worker finds (said the same way); one back is one no longer, and its picture is read.
pub(super) fn files_seen(m: &mut Model, seen: Seen) -> Vec<Effect> {
    if !seen.back.is_empty() {
        m.file_problems.retain(|p| !(p.is_missing() && seen.back.contains(&p.file)));
        let items: Vec<String> = seen.back.iter().map(|f| m.items().iter().find(|i| &i.image == f).map_or(f.clone(), |i| format!("item {}: its photo copy {f}", i.id))).collect();
        say(m, format!("{} {} there again", items.join("; "), if items.len() == 1 { "is" } else { "are" }), Level::Info);
    }
    if !seen.gone.is_empty() {
        // The new ones first: the status line names the first.
        let mut all = seen.gone;
        all.extend(m.file_problems.iter().cloned());
        super::events::worker(m, crate::worker::Event::FileProblems(all));
    }
    super::results::load_item_images(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::showcase::manifest;
    use crate::tui::update::{update, Msg};

    fn idle_model() -> Model {
        let mut m = Model::new("kitchen", false);
        update(&mut m, Msg::Worker(crate::worker::Event::Manifest(Box::new(manifest()))));
        m
    }

    #[test]
    fn a_photo_copy_missing_twice_running_is_gone_and_one_put_back_is_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = idle_model();
        let photos: Vec<String> = m.items().iter().map(|i| i.image.clone()).collect();
        for p in &photos {
            std::fs::create_dir_all(dir.path().join(p).parent().unwrap()).unwrap();
            std::fs::write(dir.path().join(p), b"png").unwrap();
        }
        let mut watch = PhotoWatch::default();
        assert!(watch.look(dir.path(), &m).is_empty());
        std::fs::remove_file(dir.path().join(&photos[0])).unwrap();
        assert!(watch.look(dir.path(), &m).is_empty(), "once may be an item being deleted");
        let seen = watch.look(dir.path(), &m);
        assert_eq!(seen.gone, [FileProblem::missing(&m.items()[0].id, &photos[0])]);
        update(&mut m, Msg::FilesSeen(seen));
        let item = m.items()[0].id.clone();
        assert_eq!(m.item_state(&m.items()[0]), "photo missing");
        assert!(m.status.as_ref().is_some_and(|(s, l)| *l == Level::Warning && s.contains(&format!("item {item}: {} is missing: put the photo back", photos[0]))), "{:?}", m.status);
        assert!(watch.look(dir.path(), &m).is_empty(), "said once");
        std::fs::write(dir.path().join(&photos[0]), b"png").unwrap();
        let seen = watch.look(dir.path(), &m);
        assert_eq!(seen, Seen { gone: vec![], back: vec![photos[0].clone()] });
        update(&mut m, Msg::FilesSeen(seen));
        assert_ne!(m.item_state(&m.items()[0]), "photo missing");
        assert!(m.status.as_ref().is_some_and(|(s, _)| s == &format!("item {item}: its photo copy {} is there again", photos[0])), "{:?}", m.status);
    }
}
