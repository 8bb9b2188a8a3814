//! Taking an item or one edit out of a session: the manifest is committed first, then the files
//! it no longer names are deleted (a crash in between leaves only unnamed files, which the next
//! open collects).

use super::fresh_ids::number_between;
use super::manifest::Job;
use super::store::Session;
use anyhow::{bail, Result};

impl Session {
    /// Remove item `id` with its photo, inversion, reconstruction, edits and queued jobs.
    pub fn remove_item(&mut self, id: &str) -> Result<()> {
        let Some(at) = self.manifest.items.iter().position(|i| i.id == id) else {
            bail!("session `{}` has no item `{id}` ({})", self.name(), self.manifest.item_ids_for(id));
        };
        let it = self.manifest.items.remove(at);
        self.manifest.queue.retain(|j| j.item() != id);
        let mut files = vec![it.image];
        files.extend(it.inversion.and_then(|r| r.file));
        files.extend(it.reconstruction);
        files.extend(it.edits.iter().flat_map(|e| e.pictures()).map(str::to_string));
        self.forget(files)
    }

    /// Remove edit `edit` of item `item` with its picture and its queued job.
    pub fn remove_edit(&mut self, item: &str, edit: &str) -> Result<()> {
        let name = self.name().to_string();
        let Some(it) = self.manifest.item_mut(item) else {
            bail!("session `{name}` has no item `{item}` ({})", self.manifest.item_ids_for(item));
        };
        let Some(at) = it.edits.iter().position(|e| e.id == edit) else {
            bail!("item `{item}` of session `{name}` has no edit `{edit}` ({})", it.edit_ids());
        };
        let removed = it.edits.remove(at);
        if let Some(n) = number_between(edit, "e", "") {
            it.removed_edits_up_to = it.removed_edits_up_to.max(n);
        }
        self.manifest.dequeue(&Job::Edit { item: item.into(), edit: edit.into() });
        self.forget(removed.pictures().map(str::to_string).collect())
    }

    fn forget(&mut self, files: Vec<String>) -> Result<()> {
        self.commit()?;
        files.iter().try_for_each(|f| self.remove_file(f))
    }
}

#[cfg(test)]
mod tests {
    use crate::session::manifest::{EditRecord, EditSpec, Job};
    use crate::session::testing::session_with_cat;

    #[test]
    fn an_edit_goes_with_its_picture_and_its_queued_job_and_nothing_else() {
        let root = tempfile::tempdir().unwrap();
        let mut s = session_with_cat(root.path());
        let spec = EditSpec { target: "a dog on a sofa".into(), mode: "replace".into(), cross: 0.8, self_replace: 0.4, cross_words: vec![], blend: None, blend_threshold: 0.3, reweight: vec![], prox: None, blend_except: None };
        s.write_file("edits/cat-e1.png", b"edited").unwrap();
        let edits = &mut s.manifest.items[0].edits;
        edits.push(EditRecord { output: Some("edits/cat-e1.png".into()), ..EditRecord::new("e1", spec.clone()) });
        edits.push(EditRecord::new("e2", spec));
        let e2 = Job::Edit { item: "cat".into(), edit: "e2".into() };
        s.manifest.enqueue(e2.clone());
        s.commit().unwrap();
        let e = s.remove_edit("cat", "e9").unwrap_err().to_string();
        assert!(e.contains("has no edit `e9` (its edits: e1, e2)"), "{e}");
        assert!(s.remove_edit("dog", "e1").unwrap_err().to_string().contains("has no item `dog` (its items: cat)"));
        s.remove_edit("cat", "e1").unwrap();
        assert!(!s.path("edits/cat-e1.png").unwrap().exists());
        assert_eq!(s.manifest.queue, vec![e2.clone()], "another edit's job stays");
        s.remove_edit("cat", "e2").unwrap();
        assert!(s.manifest.queue.is_empty() && s.manifest.items[0].edits.is_empty());
        assert_eq!(s.new_edit_id("cat"), "e3", "a removed edit's id is not given out again");
        assert!(s.path("images/cat.png").unwrap().exists(), "the item keeps its photo");
        let reopened = crate::session::store::Session::open_read_only(root.path(), "trip").unwrap();
        assert_eq!(reopened.manifest, s.manifest, "committed");
    }

    #[test]
    fn a_blended_edit_takes_its_mask_along_and_an_open_keeps_it() {
        let root = tempfile::tempdir().unwrap();
        let mut s = session_with_cat(root.path());
        let spec = EditSpec { target: "a dog on a sofa".into(), mode: "replace".into(), cross: 0.8, self_replace: 0.4, cross_words: vec![], blend: Some(["cat".into(), "dog".into()]), blend_threshold: 0.3, reweight: vec![], prox: None, blend_except: None };
        for f in ["edits/cat-e1.png", "edits/cat-e1-mask.png", "edits/cat-e2.png", "edits/cat-e2-mask.png"] {
            s.write_file(f, b"picture").unwrap();
        }
        let made = |id: &str| EditRecord { output: Some(format!("edits/cat-{id}.png")), blend_mask: Some(format!("edits/cat-{id}-mask.png")), ..EditRecord::new(id, spec.clone()) };
        s.manifest.items[0].edits = vec![made("e1"), made("e2")];
        s.commit().unwrap();
        // Named by the manifest: opening the session collects neither mask as a stray file.
        drop(s);
        let mut s = crate::session::store::Session::open(root.path(), "trip").unwrap();
        assert!(s.path("edits/cat-e1-mask.png").unwrap().exists() && s.path("edits/cat-e2-mask.png").unwrap().exists());
        s.remove_edit("cat", "e1").unwrap();
        assert!(!s.path("edits/cat-e1.png").unwrap().exists() && !s.path("edits/cat-e1-mask.png").unwrap().exists());
        assert!(s.path("edits/cat-e2-mask.png").unwrap().exists(), "another edit's mask stays");
        s.remove_item("cat").unwrap();
        assert!(!s.path("edits/cat-e2-mask.png").unwrap().exists());
    }
}
