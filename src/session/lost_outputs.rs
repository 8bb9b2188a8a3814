//! Pictures a session names but cannot show (deleted, cut short, replaced by another file): they
//! are made again from what made them, a reconstruction from the finished inversion and an edit
//! from its settings. A damaged file is moved under `trash/` first, never deleted.

use super::check::FileProblem;
use super::manifest::Job;
use super::store::Session;
use anyhow::Result;

/// One picture to make again, and the job that makes it.
struct Lost {
    problem: FileProblem,
    job: Job,
}

impl Session {
    /// Whether the file of `problem` is a picture [`Self::requeue_lost_outputs`] makes again: a
    /// reconstruction, or an edit's picture or blend mask when the edit was made for the item's
    /// present caption.
    pub fn can_remake(&self, problem: &FileProblem) -> bool {
        let Some(it) = self.manifest.item(&problem.item) else { return false };
        // Both are made from the inversion: a missing or cut one must be inverted again first.
        let inversion = it.inversion.as_ref().and_then(|r| r.file.as_deref());
        if inversion.is_some_and(|f| self.file_problem(f).is_some()) {
            return false;
        }
        let file = problem.file.as_str();
        it.reconstruction.as_deref() == Some(file) || it.edits.iter().any(|e| e.pictures().any(|p| p == file) && e.other_caption(&it.prompt).is_none())
    }

    /// The job that makes the picture of `p` again.
    fn lost(&self, problem: FileProblem) -> Option<Lost> {
        let it = self.manifest.item(&problem.item)?;
        let job = match it.edits.iter().find(|e| e.pictures().any(|p| p == problem.file)) {
            Some(e) => Job::Edit { item: it.id.clone(), edit: e.id.clone() },
            None => Job::Invert { item: it.id.clone() },
        };
        Some(Lost { problem, job })
    }

    /// Release the reconstructions, edit pictures and blend masks that are missing or damaged,
    /// queue the jobs that make them again, and say so, one line a job. An edit whose mask alone
    /// is lost keeps its picture until the job replaces both. An edit made for an old caption
    /// cannot be made again; it stays as it is (`session show` names the problem).
    pub fn requeue_lost_outputs(&mut self) -> Result<Vec<String>> {
        let lost: Vec<Lost> = self.file_problems().into_iter().filter(|p| self.can_remake(p)).filter_map(|p| self.lost(p)).collect();
        if lost.is_empty() {
            return Ok(Vec::new());
        }
        self.writable()?;
        for l in &lost {
            let Some(item) = self.manifest.item_mut(&l.problem.item) else { continue };
            let file = Some(l.problem.file.as_str());
            match &l.job {
                Job::Invert { .. } => item.reconstruction = None,
                Job::Edit { edit, .. } => {
                    for e in item.edits.iter_mut().filter(|e| &e.id == edit) {
                        if e.output.as_deref() == file {
                            e.output = None;
                        }
                        if e.blend_mask.as_deref() == file {
                            e.blend_mask = None;
                        }
                    }
                }
            }
            self.manifest.enqueue(l.job.clone());
        }
        self.commit()?;
        let mut lines = Vec::new();
        let mut said: Vec<Job> = Vec::new();
        for l in lost {
            let kept = self.set_aside(&l.problem.file)?;
            // A job is named once, by the first of its files.
            if said.contains(&l.job) {
                continue;
            }
            let what = match &l.job {
                Job::Invert { .. } => "its reconstruction is queued to be made again from the inversion".to_string(),
                Job::Edit { item, edit } => {
                    let picture = self.manifest.item(item).and_then(|i| i.edits.iter().find(|e| &e.id == edit)).is_some_and(|e| e.output.is_some());
                    let until = if picture { " (its picture stays until then)" } else { "" };
                    format!("edit {edit} is queued to be made again{until}")
                }
            };
            lines.push(format!("{}: {what}{kept}", l.problem));
            said.push(l.job);
        }
        Ok(lines)
    }

    /// A damaged file goes under `trash/`: ` (the damaged file is kept as …)`, or nothing when
    /// there was no file.
    fn set_aside(&self, rel: &str) -> Result<String> {
        Ok(match self.move_to_trash(rel)? {
            Some(to) => format!(" (the damaged file is kept as {to})"),
            None => String::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::session::manifest::{EditRecord, EditSpec, Job};
    use crate::session::testing::{png, session_with_cat};

    #[test]
    fn missing_and_damaged_pictures_are_queued_again_and_old_caption_edits_left() {
        let root = tempfile::tempdir().unwrap();
        let mut s = session_with_cat(root.path());
        let spec = |target: &str| EditSpec { target: target.into(), mode: "replace".into(), cross: 0.8, self_replace: 0.4, cross_words: vec![], blend: None, blend_threshold: 0.3, reweight: vec![], prox: None, blend_except: None };
        let made = |id: &str, target: &str, source: &str| EditRecord { output: Some(format!("edits/cat-{id}.png")), source_prompt: Some(source.into()), ..EditRecord::new(id, spec(target)) };
        let it = &mut s.manifest.items[0];
        it.reconstruction = Some("edits/cat-recon.png".into());
        it.edits = vec![made("e1", "a dog on a sofa", "a cat on a sofa"), made("e2", "a fox on a sofa", "a cat on a sofa"), made("e3", "a dog on a couch", "a cat on a couch")];
        let pic = png(3);
        s.write_file("edits/cat-e1.png", &pic[..pic.len() - 4]).unwrap();
        s.write_file("edits/cat-e2.png", &pic).unwrap();
        s.commit().unwrap();
        // The reconstruction and e3 (made for the old caption) are missing, e1 is cut short.
        let lines = s.requeue_lost_outputs().unwrap();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("item cat: edits/cat-recon.png is missing: its reconstruction is queued to be made again"), "{lines:?}");
        assert!(lines[1].contains("edits/cat-e1.png is truncated") && lines[1].contains("edit e1 is queued") && lines[1].contains("kept as trash/edits/cat-e1.png"), "{lines:?}");
        assert_eq!(s.manifest.queue, [Job::Invert { item: "cat".into() }, Job::Edit { item: "cat".into(), edit: "e1".into() }]);
        let it = &s.manifest.items[0];
        assert_eq!((it.reconstruction.as_deref(), it.edits[0].output.as_deref()), (None, None));
        assert_eq!((it.edits[1].output.as_deref(), it.edits[2].output.as_deref()), (Some("edits/cat-e2.png"), Some("edits/cat-e3.png")));
        assert!(s.dir.join("trash/edits/cat-e1.png").exists() && !s.dir.join("edits/cat-e1.png").exists());
        // Committed: a reopened session has the same queue, and nothing more to do.
        let dir = s.dir.clone();
        drop(s);
        let mut s = crate::session::store::Session::open(root.path(), "trip").unwrap();
        assert_eq!(s.manifest.queue.len(), 2);
        assert!(s.requeue_lost_outputs().unwrap().is_empty());
        assert!(dir.join("edits/cat-e2.png").exists());
    }

    #[test]
    fn a_lost_blend_mask_makes_its_edit_again_and_the_picture_stays_meanwhile() {
        let root = tempfile::tempdir().unwrap();
        let mut s = session_with_cat(root.path());
        let spec = EditSpec { target: "a dog on a sofa".into(), mode: "replace".into(), cross: 0.8, self_replace: 0.4, cross_words: vec![], blend: Some(["cat".into(), "dog".into()]), blend_threshold: 0.3, reweight: vec![], prox: None, blend_except: None };
        let caption = s.manifest.items[0].prompt.clone();
        let made = |id: &str, source: &str| EditRecord { output: Some(format!("edits/cat-{id}.png")), blend_mask: Some(format!("edits/cat-{id}-mask.png")), source_prompt: Some(source.into()), ..EditRecord::new(id, spec.clone()) };
        s.manifest.items[0].edits = vec![made("e1", &caption), made("e2", &caption), made("e3", &caption), made("e4", "a cat on a couch")];
        // e1 lost its mask; e2 its picture; e3 both; e4 (an old caption's) its mask.
        s.write_file("edits/cat-e1.png", &png(3)).unwrap();
        s.write_file("edits/cat-e2-mask.png", &png(4)).unwrap();
        s.write_file("edits/cat-e4.png", &png(5)).unwrap();
        s.commit().unwrap();
        let lines = s.requeue_lost_outputs().unwrap();
        assert_eq!(lines.len(), 3, "one line a job: {lines:?}");
        assert!(lines[0].contains("edits/cat-e1-mask.png is missing: edit e1 is queued to be made again (its picture stays until then)"), "{lines:?}");
        assert!(lines[1].contains("edits/cat-e2.png is missing: edit e2 is queued to be made again") && !lines[1].contains("stays"), "{lines:?}");
        assert!(lines[2].contains("edits/cat-e3.png is missing: edit e3 is queued"), "{lines:?}");
        let edit = |id: &str| Job::Edit { item: "cat".into(), edit: id.into() };
        assert_eq!(s.manifest.queue, [edit("e1"), edit("e2"), edit("e3")], "an old caption's edit is not made again");
        let files = |i: usize| { let e = &s.manifest.items[0].edits[i]; (e.output.clone(), e.blend_mask.clone()) };
        assert_eq!(files(0), (Some("edits/cat-e1.png".into()), None), "e1's picture stays until the job replaces both");
        assert_eq!(files(1), (None, Some("edits/cat-e2-mask.png".into())), "e2's sound mask stays named (not collected as a stray)");
        assert_eq!(files(2), (None, None));
        assert_eq!(files(3), (Some("edits/cat-e4.png".into()), Some("edits/cat-e4-mask.png".into())), "left as it is: session show names the problem");
        assert!(s.requeue_lost_outputs().unwrap().is_empty(), "said once");
        drop(s);
        let s = crate::session::store::Session::open(root.path(), "trip").unwrap();
        assert!(s.path("edits/cat-e2-mask.png").unwrap().exists(), "an open keeps the mask the manifest names");
    }
}
